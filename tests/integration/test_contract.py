"""Every point of docs/contract.md against the real stack: uvicorn in its own process on an ephemeral
port, a real Redis, a real Celery worker. Each streaming read is bounded by a timeout."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from conftest import bearer
from reference_app.api_client import StreamResult, collect_stream, login, new_session
from reference_app.bus import keys
from reference_app.launcher import ApiProcess, wait_until
from sse_contract.status import StatusChange

pytestmark = pytest.mark.integration


def stream_url(api: ApiProcess, sid: str) -> str:
    return f"{api.url}/api/v1/sessions/{sid}/status/stream"


def transcribe(api: ApiProcess, token: str, sid: str, **params: object) -> None:
    response = httpx.post(f"{api.url}/api/v1/sessions/{sid}/transcribe", json=params,
                          headers=bearer(token), timeout=10)
    assert response.status_code == 202, response.text


def ended(result: StreamResult) -> bool:
    return any(json.loads(e.data)["status"] in ("completed", "failed") for e in result.status_events)


def test_full_job_through_celery_streams_every_seq_once_and_ends(api: ApiProcess,
                                                                  token_for: Callable[[str], str]) -> None:
    token = token_for("alice")
    sid = new_session(api.url, token)
    result_box: list[StreamResult] = []
    reader = threading.Thread(target=lambda: result_box.append(
        collect_stream(stream_url(api, sid), token=token, timeout=30)))
    reader.start()
    wait_until(lambda: httpx.get(f"{api.url}/api/v1/streams/me", headers=bearer(token)).json()["open"] == 1,
               10, message="stream open")
    transcribe(api, token, sid, profile="steady", steps=8, interval_ms=30)
    reader.join(40)
    result = result_box[0]
    assert result.status_code == 200
    assert result.ended_by_server, "the server must end the stream after the terminal status"
    items = [item for _, item in result.items]
    assert type(items[0]).__name__ == "Retry" and items[0].milliseconds == 3000
    assert result.ids == list(range(1, len(result.ids) + 1))  # snapshot seq 1, then +1 each, no gap
    statuses = [json.loads(e.data) for e in result.status_events]
    assert statuses[0]["status"] == "pending" and statuses[-1]["status"] == "completed"
    assert [s["progress"] for s in statuses] == sorted(s["progress"] for s in statuses)
    assert len(result.ids) == 1 + 1 + 8 + 1  # pending, start, 8 steps, completed
    # a reconnect with the final id: 204, so a browser EventSource stops for good
    after = httpx.get(stream_url(api, sid), headers=bearer(token, {"Last-Event-ID": str(result.ids[-1])}))
    assert after.status_code == 204


def test_first_event_arrives_at_once(api: ApiProcess, token_for: Callable[[str], str]) -> None:
    token = token_for("alice")
    sid = new_session(api.url, token)
    result = collect_stream(stream_url(api, sid), token=token, until=lambda r: r.status_events, timeout=5)
    assert result.first_byte_at is not None
    # "at once": far below the 1 s heartbeat; the measured figure (~ms) is in docs/performance.md
    assert result.first_byte_at - result.opened_at < 0.5


def test_failing_job_ends_failed_with_a_short_message(api: ApiProcess, token_for: Callable[[str], str]) -> None:
    token = token_for("alice")
    sid = new_session(api.url, token)
    transcribe(api, token, sid, profile="fail_at", steps=5, fail_at=3, interval_ms=10)
    result = collect_stream(stream_url(api, sid), token=token, params={"lastEventId": "0"}, until=ended,
                            timeout=20)
    final = json.loads(result.status_events[-1].data)
    assert final["status"] == "failed"
    assert "Traceback" not in final["message"] and len(final["message"]) < 200
    assert result.ids == list(range(1, len(result.ids) + 1))


def test_heartbeat_while_idle(api: ApiProcess, token_for: Callable[[str], str]) -> None:
    token = token_for("alice")
    sid = new_session(api.url, token)

    def two_pings(r: StreamResult) -> bool:
        return sum(type(i).__name__ == "Comment" for _, i in r.items) >= 2

    result = collect_stream(stream_url(api, sid), token=token, until=two_pings, timeout=6)
    pings = [t for t, i in result.items if type(i).__name__ == "Comment" and i.text == "ping"]
    assert len(pings) == 2
    assert 0.5 < pings[1] - pings[0] < 2.0  # SSE_HEARTBEAT_S=1 in this fixture


def test_resume_after_a_cut_mid_job_has_no_gap_and_no_duplicate(api: ApiProcess,
                                                                  token_for: Callable[[str], str]) -> None:
    token = token_for("alice")
    sid = new_session(api.url, token)
    transcribe(api, token, sid, profile="steady", steps=30, interval_ms=40)
    first = collect_stream(stream_url(api, sid), token=token, until=lambda r: len(r.ids) >= 4, timeout=15)
    assert not first.ended_by_server
    seen = first.ids
    # the job publishes while this client is away: wait until at least 3 events were missed
    wait_until(lambda: httpx.get(f"{api.url}/api/v1/sessions/{sid}/status", headers=bearer(token)).json()["seq"]
               >= seen[-1] + 3, 10, message="events published while away")
    rest = collect_stream(stream_url(api, sid), token=token, headers={"Last-Event-ID": str(seen[-1])},
                          until=ended, timeout=20)
    combined = seen + rest.ids
    assert combined == list(range(seen[0], combined[-1] + 1))
    assert rest.ids[0] == seen[-1] + 1
    assert json.loads(rest.status_events[-1].data)["status"] == "completed"


def test_disconnect_releases_the_subscription(api: ApiProcess, redis_url: str,
                                              token_for: Callable[[str], str]) -> None:
    token = token_for("carol")
    sid = new_session(api.url, token)
    client = redis.Redis.from_url(redis_url)
    channel = keys.channel(sid)
    with httpx.Client(timeout=10) as http:
        streams = [http.stream("GET", stream_url(api, sid), headers=bearer(token)) for _ in range(5)]
        responses = [s.__enter__() for s in streams]
        assert all(r.status_code == 200 for r in responses)
        wait_until(lambda: client.pubsub_numsub(channel)[0][1] == 1, 5, message="one subscription for 5 streams")
        for stream in streams:
            stream.__exit__(None, None, None)
    wait_until(lambda: client.pubsub_numsub(channel)[0][1] == 0, 5, message="subscription released")
    wait_until(lambda: httpx.get(f"{api.url}/api/v1/streams/me", headers=bearer(token)).json()["open"] == 0,
               5, message="open stream count back to 0")


def test_one_shared_pubsub_connection_whatever_the_number_of_streams(start_api: Callable[..., ApiProcess],
                                                                     redis_url: str) -> None:
    server = start_api(SSE_MAX_STREAMS_PER_USER="100", REDIS_MAX_CONNECTIONS="4")
    token = login(server.url, "dave")
    sessions = [new_session(server.url, token) for _ in range(40)]
    client = redis.Redis.from_url(redis_url)

    def conns() -> list[dict[str, object]]:
        # this API process's connections: the ones it named
        return [c for c in client.client_list() if c.get("name") in ("sse-shared-subscriber", "sse-api")]

    baseline_subscribers = sum(c["name"] == "sse-shared-subscriber" for c in conns())
    with httpx.Client(timeout=10) as http:
        streams = [http.stream("GET", stream_url(server, s), headers=bearer(token)) for s in sessions * 2]
        for s in streams:
            assert s.__enter__().status_code == 200
        wait_until(lambda: client.pubsub_numsub(*[keys.channel(s) for s in sessions]) and all(
            n == 1 for _, n in client.pubsub_numsub(*[keys.channel(s) for s in sessions])), 10,
            message="40 channels subscribed once each")
        now = conns()
        assert sum(c["name"] == "sse-shared-subscriber" for c in now) == baseline_subscribers
        for s in streams:
            s.__exit__(None, None, None)


def test_per_user_cap_holds_under_concurrent_opens(start_api: Callable[..., ApiProcess]) -> None:
    server = start_api(SSE_MAX_STREAMS_PER_USER="5", SSE_HEARTBEAT_S="1")
    token = login(server.url, "erin")
    sid = new_session(server.url, token)
    barrier = threading.Barrier(30)
    release = threading.Event()

    def open_one(_: int) -> tuple[int, str | None]:
        with httpx.Client(timeout=10) as http:
            barrier.wait()
            with http.stream("GET", stream_url(server, sid), headers=bearer(token)) as response:
                code, retry_after = response.status_code, response.headers.get("retry-after")
                if code == 200:
                    release.wait(10)
                return code, retry_after

    with ThreadPoolExecutor(30) as pool:
        futures = [pool.submit(open_one, i) for i in range(30)]
        wait_until(lambda: sum(f.done() for f in futures) >= 25, 15, message="25 refusals")
        release.set()
        results = [f.result() for f in futures]
    codes = sorted(code for code, _ in results)
    assert codes.count(200) == 5 and codes.count(429) == 25
    assert all(retry_after and int(retry_after) > 0 for code, retry_after in results if code == 429)


def test_streams_end_after_the_jittered_connection_timeout(start_api: Callable[..., ApiProcess]) -> None:
    server = start_api(SSE_CONNECTION_TIMEOUT="2", SSE_HEARTBEAT_S="0.5")
    token = login(server.url, "frank")
    sid = new_session(server.url, token)
    result = collect_stream(stream_url(server, sid), token=token, timeout=6)
    lifetime = time.monotonic() - result.opened_at
    assert result.ended_by_server
    assert 1.6 <= lifetime < 3.0


def test_sigterm_ends_open_streams_and_the_process_exits(start_api: Callable[..., ApiProcess]) -> None:
    server = start_api(SSE_SHUTDOWN_GRACE_S="5", SSE_MAX_STREAMS_PER_USER="200")
    token = login(server.url, "grace")
    sid = new_session(server.url, token)
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=200)) as http:
        streams = [http.stream("GET", stream_url(server, sid), headers=bearer(token)) for _ in range(100)]
        responses = [s.__enter__() for s in streams]
        assert all(r.status_code == 200 for r in responses)
        started = time.monotonic()
        code = server.terminate(timeout=15)
        took = time.monotonic() - started
        # every stream was ended properly (final chunk sent), not cut: clients resume with Last-Event-ID
        bodies = [r.read() for r in responses]
        for s in streams:
            s.__exit__(None, None, None)
    assert all(b.startswith(b"retry: ") for b in bodies)
    # uvicorn re-raises the captured SIGTERM after its graceful shutdown, so -15 is a clean exit too
    assert code in (0, -signal.SIGTERM)
    assert took < 5 + 2, f"exit took {took:.1f}s with a 5 s grace period"


def test_redis_restart_mid_stream_loses_nothing(fresh_redis: object, start_api: Callable[..., ApiProcess]) -> None:
    from reference_app.embedded_redis import EmbeddedRedis
    from reference_app.worker.publisher import StatusPublisher

    assert isinstance(fresh_redis, EmbeddedRedis)
    server = start_api(redis=fresh_redis.url, SSE_HEARTBEAT_S="0.5")
    token = login(server.url, "henry")
    sid = new_session(server.url, token)
    publisher = StatusPublisher(fresh_redis.url)
    box: list[StreamResult] = []
    reader = threading.Thread(target=lambda: box.append(
        collect_stream(stream_url(server, sid), token=token, until=ended, timeout=30)))
    reader.start()
    wait_until(lambda: httpx.get(f"{server.url}/api/v1/streams/me", headers=bearer(token)).json()["open"] == 1,
               10, message="stream open")
    publisher.publish(sid, StatusChange("processing", 10, "before the crash"))
    fresh_redis.kill()
    wait_until(lambda: httpx.get(f"{server.url}/healthz", timeout=5).status_code == 503, 10,
               message="/healthz degraded")
    fresh_redis.restart()
    for p in (20, 30, 40):  # published right after the restart, possibly before the subscriber is back
        publisher.publish(sid, StatusChange("processing", p, "after the crash"))
    publisher.publish(sid, StatusChange("completed", 100, "done"))
    reader.join(35)
    result = box[0]
    assert result.ids == [1, 2, 3, 4, 5, 6], "every event exactly once, in order, across the Redis restart"
    wait_until(lambda: httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200, 10, message="ok again")
    assert "sse_redis_reconnects_total 1.0" in httpx.get(f"{server.url}/metrics").text
