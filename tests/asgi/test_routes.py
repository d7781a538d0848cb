"""Routes in-process (httpx.ASGITransport over the real app, MemoryBus + inline jobs): status codes,
headers, auth, replay rules. ASGITransport buffers a response, so streams here are ones that end."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from reference_app.app import create_app
from reference_app.auth import issue_token
from reference_app.bus.memory import MemoryBus
from reference_app.settings import DEFAULT_SECRET, Settings
from sse_contract.status import StatusChange
from sse_contract.wire import Event, SSEDecoder
from tests.asgi.harness import make_app

pytestmark = pytest.mark.asgi


class Ctx:
    def __init__(self, client: httpx.AsyncClient, bus: MemoryBus, settings: Settings, app: Any) -> None:
        self.client, self.bus, self.settings, self.app = client, bus, settings, app

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(user, self.settings.auth_secret, 600)}"}

    async def finished_session(self, user: str = "alice", updates: int = 3) -> str:
        record = await self.bus.create_session(user, "t")
        for p in range(1, updates + 1):
            await self.bus.publish(record.id, StatusChange("processing", p * 10))
        await self.bus.publish(record.id, StatusChange("completed", 100))
        return record.id


@pytest.fixture
async def ctx() -> AsyncIterator[Ctx]:
    app, bus, settings = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        yield Ctx(client, bus, settings, app)


def events_of(response: httpx.Response) -> list[Event]:
    return [i for i in SSEDecoder().feed(response.content) if isinstance(i, Event)]


# --- auth ----------------------------------------------------------------------------------------------

async def test_dev_login_sets_token_and_httponly_cookie(ctx: Ctx) -> None:
    response = await ctx.client.post("/api/v1/auth/dev-login", json={"username": "alice"})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert jwt.decode(body["access_token"], ctx.settings.auth_secret, algorithms=["HS256"])["sub"] == "alice"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("access_token=") and "HttpOnly" in cookie
    # the cookie alone authenticates (a browser EventSource cannot send headers)
    created = await ctx.client.post("/api/v1/sessions", json={})
    assert created.status_code == 201


async def test_dev_login_is_off_unless_enabled() -> None:
    settings = Settings(auth_dev_login=False, auth_secret="x" * 40)
    app = create_app(settings, bus=MemoryBus())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        response = await client.post("/api/v1/auth/dev-login", json={"username": "alice"})
    assert response.status_code == 404
    assert "disabled" in response.json()["detail"]


def test_app_refuses_to_start_with_default_secret_when_dev_login_is_off() -> None:
    with pytest.raises(ValueError, match="AUTH_SECRET"):
        create_app(Settings(auth_dev_login=False, auth_secret=DEFAULT_SECRET), bus=MemoryBus())


def forged(secret: str, **claims: Any) -> str:
    return jwt.encode({"sub": "alice", "exp": int(time.time()) + 600, **claims}, secret, algorithm="HS256")


@pytest.mark.parametrize("case", ["missing", "garbage", "expired", "tampered", "alg_none", "no_exp"])
async def test_bad_credentials_get_401(ctx: Ctx, case: str) -> None:
    secret = ctx.settings.auth_secret
    tokens = {
        "garbage": "not-a-jwt",
        "expired": forged(secret, exp=int(time.time()) - 5),
        "tampered": forged(secret)[:-3] + "abc",
        "alg_none": jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, None, algorithm="none"),
        "no_exp": jwt.encode({"sub": "alice"}, secret, algorithm="HS256"),
    }
    sid = await ctx.finished_session()
    headers = {} if case == "missing" else {"Authorization": f"Bearer {tokens[case]}"}
    for path in (f"/api/v1/sessions/{sid}/status/stream", f"/api/v1/sessions/{sid}/status", "/api/v1/sessions"):
        method = "POST" if path.endswith("sessions") else "GET"
        response = await ctx.client.request(method, path, headers=headers)
        assert response.status_code == 401, (case, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Traceback" not in response.text and secret not in response.text


async def test_other_users_session_and_missing_session_answer_the_same_404(ctx: Ctx) -> None:
    sid = await ctx.finished_session("alice")
    missing = "00000000-0000-4000-8000-000000000000"
    for path in ("/status/stream", "/status", ""):
        theirs = await ctx.client.get(f"/api/v1/sessions/{sid}{path}", headers=ctx.auth("mallory"))
        nothing = await ctx.client.get(f"/api/v1/sessions/{missing}{path}", headers=ctx.auth("mallory"))
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.json() == nothing.json()


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "%00", "a" * 300])
async def test_malformed_session_id_is_a_4xx(ctx: Ctx, bad_id: str) -> None:
    response = await ctx.client.get(f"/api/v1/sessions/{bad_id}/status/stream", headers=ctx.auth())
    assert response.status_code == 422
    assert bad_id not in response.text or len(bad_id) < 3


# --- sessions, jobs, polling -----------------------------------------------------------------------------

async def test_session_job_and_polling_with_etag(ctx: Ctx) -> None:
    created = await ctx.client.post("/api/v1/sessions", json={"title": "call"}, headers=ctx.auth())
    assert created.status_code == 201
    sid = created.json()["id"]
    first = await ctx.client.get(f"/api/v1/sessions/{sid}/status", headers=ctx.auth())
    assert first.status_code == 200 and first.json()["status"] == "pending"
    etag = first.headers["etag"]
    assert etag == '"1"'
    same = await ctx.client.get(f"/api/v1/sessions/{sid}/status", headers={**ctx.auth(), "If-None-Match": etag})
    assert same.status_code == 304 and same.headers["etag"] == etag and not same.content
    weak = await ctx.client.get(f"/api/v1/sessions/{sid}/status",
                                headers={**ctx.auth(), "If-None-Match": f'"9", W/{etag}'})
    assert weak.status_code == 304
    await ctx.bus.publish(sid, StatusChange("processing", 30))
    changed = await ctx.client.get(f"/api/v1/sessions/{sid}/status", headers={**ctx.auth(), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] == '"2"' and changed.json()["progress"] == 30


async def test_transcribe_accepts_once_and_validates_parameters(ctx: Ctx) -> None:
    sid = (await ctx.client.post("/api/v1/sessions", headers=ctx.auth())).json()["id"]
    bad = await ctx.client.post(f"/api/v1/sessions/{sid}/transcribe", headers=ctx.auth(),
                                json={"profile": "fail_at", "steps": 3})
    assert bad.status_code == 422 and "fail_at" in bad.text
    ok = await ctx.client.post(f"/api/v1/sessions/{sid}/transcribe", headers=ctx.auth(),
                               json={"profile": "steady", "steps": 2, "interval_ms": 0})
    assert ok.status_code == 202 and ok.json()["task_id"]
    again = await ctx.client.post(f"/api/v1/sessions/{sid}/transcribe", headers=ctx.auth(), json={})
    assert again.status_code == 409


# --- stream contract ---------------------------------------------------------------------------------------

async def test_stream_headers_and_no_compression_even_when_offered(ctx: Ctx) -> None:
    sid = await ctx.finished_session()
    response = await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream",
                                    headers={**ctx.auth(), "Accept-Encoding": "gzip, deflate, br"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache, no-transform"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    assert "content-encoding" not in response.headers
    assert "connection" not in response.headers
    assert response.content.startswith(b"retry: 3000\n\n")


async def test_fresh_connect_to_finished_session_sends_snapshot_and_ends(ctx: Ctx) -> None:
    sid = await ctx.finished_session()
    events = events_of(await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream", headers=ctx.auth()))
    assert [(e.event, e.id, json.loads(e.data)["status"]) for e in events] == [("status", "5", "completed")]


@pytest.mark.parametrize("via", ["header", "query"])
async def test_resume_replays_everything_after_the_id_in_order(ctx: Ctx, via: str) -> None:
    sid = await ctx.finished_session(updates=6)  # seqs 1..8, 8 = completed
    headers = {**ctx.auth(), **({"Last-Event-ID": "3"} if via == "header" else {})}
    params = {"lastEventId": "3"} if via == "query" else {}
    events = events_of(await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream", headers=headers,
                                            params=params))
    assert [e.id for e in events] == ["4", "5", "6", "7", "8"]
    assert all(e.event == "status" and json.loads(e.data)["seq"] == int(e.id) for e in events)


async def test_header_wins_over_query(ctx: Ctx) -> None:
    sid = await ctx.finished_session(updates=6)
    events = events_of(await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream",
                                            headers={**ctx.auth(), "Last-Event-ID": "6"},
                                            params={"lastEventId": "2"}))
    assert [e.id for e in events] == ["7", "8"]


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", " ", "9" * 40, "1e3"])
async def test_malformed_last_event_id_counts_as_absent(ctx: Ctx, bad: str) -> None:
    sid = await ctx.finished_session()
    response = await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream",
                                    headers={**ctx.auth(), "Last-Event-ID": bad})
    assert response.status_code == 200
    assert [e.id for e in events_of(response)] == ["5"]  # the snapshot, as on a fresh connect


async def test_reconnect_after_the_end_gets_204(ctx: Ctx) -> None:
    sid = await ctx.finished_session()
    for last in ("5", "6"):
        response = await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream",
                                        headers={**ctx.auth(), "Last-Event-ID": last})
        assert response.status_code == 204 and not response.content


async def test_id_older_than_the_retained_log_gets_reset_then_snapshot() -> None:
    app, bus, settings = make_app(MemoryBus(maxlen=5))
    record = await bus.create_session("alice", "t")
    for p in range(20):
        await bus.publish(record.id, StatusChange("processing", p))
    await bus.publish(record.id, StatusChange("completed", 100))  # seq 22; log keeps 18..22
    auth = {"Authorization": f"Bearer {issue_token('alice', settings.auth_secret, 600)}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        old = events_of(await client.get(f"/api/v1/sessions/{record.id}/status/stream",
                                         headers={**auth, "Last-Event-ID": "3"}))
        retained = events_of(await client.get(f"/api/v1/sessions/{record.id}/status/stream",
                                              headers={**auth, "Last-Event-ID": "17"}))
    assert [e.event for e in old] == ["reset", "status"]
    assert json.loads(old[0].data)["reason"] == "last_event_id_not_retained"
    assert old[1].id == "22"
    assert [e.id for e in retained] == ["18", "19", "20", "21", "22"]


async def test_per_user_cap_answers_429_with_retry_after(ctx: Ctx) -> None:
    sid = await ctx.finished_session()
    leases = ctx.app.state.streams.leases  # the cap's store: fill alice's slots as other streams would
    assert all([await leases.acquire("alice", f"held-{i}") for i in range(ctx.settings.sse_max_streams_per_user)])
    response = await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream", headers=ctx.auth())
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "at most 20" in response.json()["detail"]
    other = await ctx.client.get(f"/api/v1/sessions/{await ctx.finished_session('bob')}/status/stream",
                                 headers=ctx.auth("bob"))
    assert other.status_code == 200  # the cap is per user
    leases.release("alice", "held-0")
    assert (await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream", headers=ctx.auth())).status_code == 200


async def test_health_and_metrics(ctx: Ctx) -> None:
    health = await ctx.client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    sid = await ctx.finished_session()
    await ctx.client.get(f"/api/v1/sessions/{sid}/status/stream", headers=ctx.auth())
    text = (await ctx.client.get("/metrics")).text
    assert "sse_streams_opened_total 1.0" in text
    assert "sse_active_streams 0.0" in text
    assert "sse_events_sent_total 1.0" in text


async def test_polling_marks_a_silent_processing_job_stalled() -> None:
    app, bus, settings = make_app(status_stall_after_s=0.1)
    record = await bus.create_session("alice", "t")
    await bus.publish(record.id, StatusChange("processing", 10))
    auth = {"Authorization": f"Bearer {issue_token('alice', settings.auth_secret, 600)}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        fresh = await client.get(f"/api/v1/sessions/{record.id}/status", headers=auth)
        assert "stalled" not in fresh.json()
        for _ in range(40):  # bounded poll: the status becomes stalled once 0.1 s passed
            later = await client.get(f"/api/v1/sessions/{record.id}/status", headers=auth)
            if later.json().get("stalled"):
                break
            await asyncio.sleep(0.05)
    assert later.json()["stalled"] is True
    assert later.headers["etag"] == '"2-stalled"' != fresh.headers["etag"]
