"""Two API processes on one Redis behind nginx: fan-out and resume do not depend on which process a
client lands on.

This is what makes the API scale out (compose ``--scale api=N``, several Render instances): every process
holds one shared pub/sub connection and reads the per-session log from Redis, so any process can serve
any client and any resume. nginx runs the shipped ``deploy/nginx/default.conf`` with only its upstream
servers and listen address replaced. Which process served a stream is read from each process's own
``GET /api/v1/streams/me`` counters, queried directly (not through nginx).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import pytest
import redis

from reference_app.api_client import login
from reference_app.bus import keys
from reference_app.bus.message import BusMessage
from reference_app.embedded_redis import free_port
from reference_app.launcher import ApiProcess, WorkerProcess, wait_until
from reference_app.processes import spawn, stop
from sse_contract.status import StatusUpdate
from sse_contract.wire import Event, SSEDecoder

pytestmark = [pytest.mark.integration, pytest.mark.nginx]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SHIPPED_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "default.conf"
#: Bound for a whole stream read: the longest job here runs ~3 s; the rest is start-up slack on a busy box.
STREAM_TIMEOUT_S = 30.0
SUBSCRIBER_NAME = "sse-shared-subscriber"


def render_nginx_conf(shipped: str, upstreams: list[str], listen: str, prefix: Path) -> str:
    """The shipped server config inside a minimal top-level nginx.conf that runs unprivileged in ``prefix``.

    Only the parts that name compose's network change: the ``server api:8000 resolve`` line (one line per
    test upstream; ``max_fails=0`` so a process restarted by one test is not benched for the next) and
    ``listen 80``. Everything that matters for SSE is the shipped text.
    """
    servers = "\n".join(f"    server {u} max_fails=0;" for u in upstreams)
    body, n_servers = re.subn(r"^\s*server\s+api:8000[^;]*;", servers, shipped, flags=re.M)
    body, n_listen = re.subn(r"^\s*listen\s+80;", f"    listen {listen};", body, flags=re.M)
    assert n_servers == 1 and n_listen == 1, "deploy/nginx/default.conf no longer has the expected lines"
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
{body}
}}
"""


@dataclass
class Nginx:
    url: str
    process: subprocess.Popen[bytes]
    prefix: Path

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""


def start_nginx(upstreams: list[str]) -> Nginx:
    prefix = Path(tempfile.mkdtemp(prefix="sse-harness-nginx-"))
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_conf(SHIPPED_CONF.read_text(), upstreams, f"127.0.0.1:{port}", prefix))
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t rejected the rendered config:\n{check.stderr}"
    process = spawn([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")])
    nginx = Nginx(f"http://127.0.0.1:{port}", process, prefix)

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}: {nginx.error_log()}")
        try:
            return httpx.get(f"{nginx.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 15, 0.05, "nginx to proxy /healthz")
    return nginx


@dataclass
class Cluster:
    nginx: Nginx
    apis: list[ApiProcess]
    redis_url: str


@pytest.fixture(scope="module")
def cluster(redis_url: str, celery_worker: WorkerProcess) -> Iterator[Cluster]:
    if not Path(NGINX).exists():
        pytest.fail(f"nginx is required for the multi-process test and was not found at {NGINX} "
                    "(apt-get install nginx)")
    env = {"SSE_HEARTBEAT_S": "1", "SSE_SHUTDOWN_GRACE_S": "1"}
    apis = [ApiProcess(redis_url, env=env).start(), ApiProcess(redis_url, env=env).start()]
    nginx: Nginx | None = None
    try:
        nginx = start_nginx([f"127.0.0.1:{a.port}" for a in apis])
        yield Cluster(nginx, apis, redis_url)
    finally:
        if nginx is not None:
            stop(nginx.process, 10)
            shutil.rmtree(nginx.prefix, ignore_errors=True)
        for api in apis:
            api.__exit__()


# --- clients ---------------------------------------------------------------------------------------


@dataclass
class StreamRead:
    status_code: int = 0
    events: list[Event] = field(default_factory=list)

    @property
    def seqs(self) -> list[int]:
        return [int(e.id) for e in self.events]

    @property
    def terminal(self) -> bool:
        return bool(self.events) and StatusUpdate.from_json(self.events[-1].data).terminal


async def read_stream(client: httpx.AsyncClient, session_id: str, *, last_event_id: str | None = None,
                      max_events: int | None = None,
                      on_event: Callable[[StreamRead], None] | None = None) -> StreamRead:
    """One connection, as a browser makes it: collect ``status`` events until the server ends the stream
    or ``max_events`` arrived (every event decoded by then is kept, so the next Last-Event-ID is exact)."""
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    result = StreamRead()
    decoder = SSEDecoder()
    async with client.stream("GET", f"/api/v1/sessions/{session_id}/status/stream", headers=headers) as resp:
        result.status_code = resp.status_code
        if resp.status_code != 200:
            return result
        async for chunk in resp.aiter_raw():
            for item in decoder.feed(chunk):
                if isinstance(item, Event) and item.event == "status":
                    result.events.append(item)
                    if on_event is not None:
                        on_event(result)
            if max_events is not None and len(result.events) >= max_events:
                break
    return result



def user_client(base_url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                             timeout=httpx.Timeout(10, read=STREAM_TIMEOUT_S))


def my_streams(apis: list[ApiProcess], token: str) -> list[dict[str, int]]:
    """``/streams/me`` of every process, asked directly: which process holds (or held) the streams."""
    return [httpx.get(f"{a.url}/api/v1/streams/me", headers={"Authorization": f"Bearer {token}"},
                      timeout=5).json() for a in apis]


def served_by(before: list[dict[str, int]], after: list[dict[str, int]]) -> int:
    grew = [i for i, (b, a) in enumerate(zip(before, after, strict=True))
            if a["opened_total"] > b["opened_total"]]
    assert len(grew) == 1, f"expected exactly one process to open a stream: {before} -> {after}"
    return grew[0]


async def new_session(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v1/sessions", json={"title": "multi-process"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def start_job(client: httpx.AsyncClient, session_id: str, *, steps: int, interval_ms: int) -> None:
    response = await client.post(f"/api/v1/sessions/{session_id}/transcribe",
                                 json={"profile": "steady", "steps": steps, "interval_ms": interval_ms})
    assert response.status_code == 202, response.text


def published_log(redis_url: str, session_id: str) -> list[BusMessage]:
    """Everything the worker published for the session, read straight from its Redis Stream log."""
    client = redis.Redis.from_url(redis_url)
    try:
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(keys.log_key(session_id)))
        return [BusMessage.from_payload(fields[b"d"]) for _id, fields in entries]
    finally:
        client.close()


def subscriber_connections(redis_url: str, pid: int) -> list[dict[str, str]]:
    """The Redis clients named ``sse-shared-subscriber`` whose socket belongs to process ``pid``."""
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    local = {f"{c.laddr.ip}:{c.laddr.port}" for c in psutil.Process(pid).net_connections("tcp")
             if c.raddr and c.raddr.port == redis_port}
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [c for c in client.client_list() if c["addr"] in local and c["name"] == SUBSCRIBER_NAME]
    finally:
        client.close()


def assert_complete(events: list[Event], log: list[BusMessage]) -> None:
    """The client saw every published status exactly once, in order, ending with the terminal one."""
    seqs = [int(e.id) for e in events]
    assert seqs == [m.seq for m in log], f"gap, duplicate or reorder: client {seqs}, published {[m.seq for m in log]}"
    assert [e.data for e in events] == [m.payload for m in log]
    assert seqs == list(range(1, len(log) + 1))
    assert StatusUpdate.from_json(events[-1].data).status.value == "completed"


async def wait_first_events(tasks: list[asyncio.Task[StreamRead]], started: list[asyncio.Event]) -> None:
    """Until every stream got its snapshot (so it is subscribed); fail fast if one ends before that."""
    all_started: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*(e.wait() for e in started)))
    while not all_started.done():
        waiting: list[asyncio.Future[Any]] = [all_started, *tasks]
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not all_started:
                all_started.cancel()
                raise AssertionError(f"a stream ended before its first event: {task.result()}")


def setter(flag: asyncio.Event) -> Callable[[StreamRead], None]:
    return lambda _read: flag.set()


# --- tests -----------------------------------------------------------------------------------------

FANOUT_CLIENTS = 6


async def test_a_job_reaches_clients_on_both_processes(cluster: Cluster) -> None:
    token = login(cluster.nginx.url, "mp-fanout")
    async with user_client(cluster.nginx.url, token) as client, asyncio.timeout(STREAM_TIMEOUT_S):
        session_id = await new_session(client)
        started = [asyncio.Event() for _ in range(FANOUT_CLIENTS)]
        tasks = [asyncio.create_task(read_stream(client, session_id, on_event=setter(e))) for e in started]
        await wait_first_events(tasks, started)

        open_per_process = [s["open"] for s in await asyncio.to_thread(my_streams, cluster.apis, token)]
        assert sum(open_per_process) == FANOUT_CLIENTS
        assert all(n >= 1 for n in open_per_process), f"nginx did not spread the streams: {open_per_process}"
        for api, n_open in zip(cluster.apis, open_per_process, strict=True):
            subs = await asyncio.to_thread(subscriber_connections, cluster.redis_url, api.pid)
            assert len(subs) == 1, f"API pid {api.pid} with {n_open} streams holds {len(subs)} pub/sub connections"
            assert "P" in subs[0]["flags"] and int(subs[0]["sub"]) >= 1, subs[0]

        await start_job(client, session_id, steps=10, interval_ms=50)
        reads = await asyncio.gather(*tasks)

    log = published_log(cluster.redis_url, session_id)
    assert len(log) >= 12, log  # pending + 10 steps + completed, at least
    for read in reads:
        assert read.status_code == 200
        assert_complete(read.events, log)


async def test_reconnects_switching_process_resume_without_gap_or_duplicate(cluster: Cluster) -> None:
    """A browser that reconnects after every couple of events, landing on whichever process nginx picks."""
    token = login(cluster.nginx.url, "mp-resume")
    events: list[Event] = []
    served: list[int] = []
    async with user_client(cluster.nginx.url, token) as client, asyncio.timeout(STREAM_TIMEOUT_S):
        session_id = await new_session(client)
        first = await read_stream(client, session_id, max_events=1)  # the "pending" snapshot, seq 1
        events += first.events
        await start_job(client, session_id, steps=20, interval_ms=100)
        while not StatusUpdate.from_json(events[-1].data).terminal:
            before = await asyncio.to_thread(my_streams, cluster.apis, token)
            read = await read_stream(client, session_id, last_event_id=events[-1].id, max_events=2)
            assert read.status_code == 200, f"resume after id {events[-1].id} answered {read.status_code}"
            served.append(served_by(before, await asyncio.to_thread(my_streams, cluster.apis, token)))
            events += read.events

    assert_complete(events, published_log(cluster.redis_url, session_id))
    assert set(served) == {0, 1}, f"every reconnect went to one process: {served}"


async def test_deploy_cuts_a_stream_and_it_resumes_on_the_other_process(cluster: Cluster) -> None:
    """SIGTERM the process that serves a stream (what a deploy does): the stream ends at once, the client
    reconnects through nginx with Last-Event-ID, lands on the surviving process and misses nothing."""
    token = login(cluster.nginx.url, "mp-deploy")
    enough = asyncio.Event()
    victim: ApiProcess | None = None
    try:
        async with user_client(cluster.nginx.url, token) as client, asyncio.timeout(STREAM_TIMEOUT_S):
            session_id = await new_session(client)
            started = asyncio.Event()

            def on_event(read: StreamRead) -> None:
                started.set()
                if len(read.events) >= 4:
                    enough.set()

            task = asyncio.create_task(read_stream(client, session_id, on_event=on_event))
            await wait_first_events([task], [started])
            await start_job(client, session_id, steps=50, interval_ms=100)
            await enough.wait()

            before = await asyncio.to_thread(my_streams, cluster.apis, token)
            serving = [i for i, s in enumerate(before) if s["open"] == 1]
            assert len(serving) == 1, before
            victim = cluster.apis[serving[0]]
            survivor = 1 - serving[0]
            # uvicorn re-raises the SIGTERM it handled once it is done: -15 is a clean exit, -9 is not.
            assert await asyncio.to_thread(victim.terminate) in (0, -signal.SIGTERM)
            cut = await task
            assert not cut.terminal, "the job ended before the deploy: the test needs a longer job"

            resumed = await read_stream(client, session_id, last_event_id=cut.events[-1].id)
            assert resumed.status_code == 200
            after = await asyncio.to_thread(my_streams, [cluster.apis[survivor]], token)
            assert after[0]["opened_total"] == before[survivor]["opened_total"] + 1
    finally:
        if victim is not None:
            await asyncio.to_thread(victim.start)

    assert_complete(cut.events + resumed.events, published_log(cluster.redis_url, session_id))
