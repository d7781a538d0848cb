"""Shared fixtures for tests/ and e2e/: real Redis, real API processes, a real Celery worker.

Every service binds a free port and is stopped at the end, whatever happened. ``REDIS_URL`` in the
environment makes the suite use that server instead of starting an embedded one.

Property-based and schema fuzz tests (hypothesis, schemathesis on top of it) are deterministic here: the
``deterministic`` profile derives every example from the test itself (``derandomize``), so ``make test``
gives the same result on every run and machine. ``make explore`` runs them under the ``explore`` profile
(``--hypothesis-profile=explore``): a random seed per run, to find what the fixed examples miss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import hypothesis
import pytest

from reference_app.api_client import env_redis_url, login
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, WorkerProcess
from tests.auth import bearer

hypothesis.settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
hypothesis.settings.register_profile("explore", derandomize=False, database=None, print_blob=True)
hypothesis.settings.load_profile("deterministic")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One real Redis for the whole run (sessions have random ids, so tests do not collide)."""
    url = env_redis_url()
    if url:
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
def fresh_redis() -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, for tests that kill or restart it (AOF on, as in production)."""
    with EmbeddedRedis(appendonly=True) as server:
        yield server


@pytest.fixture(scope="session")
def celery_worker(redis_url: str) -> Iterator[WorkerProcess]:
    with WorkerProcess(redis_url) as worker:
        yield worker


@pytest.fixture(scope="session")
def api(redis_url: str, celery_worker: WorkerProcess) -> Iterator[ApiProcess]:
    """The reference API with default settings except a 1 s heartbeat, plus a worker: the usual stack."""
    with ApiProcess(redis_url, env={"SSE_HEARTBEAT_S": "1"}) as server:
        yield server


@pytest.fixture
def start_api(redis_url: str) -> Iterator[Callable[..., ApiProcess]]:
    """Factory for an API process with its own settings, e.g. ``start_api(SSE_MAX_STREAMS_PER_USER="5")``;
    ``redis=`` picks another Redis URL."""
    started: list[ApiProcess] = []

    def start(redis: str | None = None, log_path: str | None = None, **env: str) -> ApiProcess:
        server = ApiProcess(redis or redis_url, env=dict(env), log_path=log_path).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def token_for(api: ApiProcess) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def get(username: str) -> str:
        if username not in cache:
            cache[username] = login(api.url, username)
        return cache[username]

    return get


__all__ = ["bearer"]  # tests still import it from here; e2e/conftest.py imports tests.auth
