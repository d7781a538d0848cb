"""Authentication and isolation against the real API process (uvicorn, Redis, the lean stream entrance),
every credential channel (header and cookie) and every route that touches a session.

The in-process variants (tests/asgi/test_routes.py) check the decisions; these check that nothing between the
socket and the decision (proxy headers, the stream fast path, cookie parsing) lets anyone through.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from conftest import bearer
from reference_app.api_client import new_session
from reference_app.launcher import TEST_SECRET, ApiProcess
from reference_app.settings import DEFAULT_SECRET

pytestmark = pytest.mark.integration


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def signed(secret: str = TEST_SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    with warnings.catch_warnings():  # HS512 with the app's 44-byte secret: short for SHA-512, fine for a forgery
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode({"sub": "alice", "exp": int(time.time()) + 600, **claims}, secret, algorithm=algorithm)


def forged_tokens(valid_alice: str) -> dict[str, str | None]:
    """Every way a token can be wrong. ``None``: no credentials at all."""
    header, _payload, signature = valid_alice.split(".")
    now = int(time.time())
    return {
        "missing": None,
        "garbage": "not-a-jwt",
        "empty_segments": "..",
        "expired": signed(exp=now - 5),
        "not_yet_issued_but_expired": signed(iat=now + 3600, exp=now - 1),
        "tampered_payload": f"{header}.{b64({'sub': 'alice', 'exp': now + 10**6})}.{signature}",
        "tampered_signature": valid_alice[:-4] + ("AAAA" if not valid_alice.endswith("AAAA") else "BBBB"),
        "alg_none": jwt.encode({"sub": "alice", "exp": now + 600}, None, algorithm="none"),
        "alg_none_uppercase": f"{b64({'alg': 'NONE', 'typ': 'JWT'})}.{b64({'sub': 'alice', 'exp': now + 600})}.",
        "wrong_secret": signed(secret="x" * 48),
        "default_dev_secret": signed(secret=DEFAULT_SECRET),
        "hs512_same_secret": signed(algorithm="HS512"),
        "no_exp": jwt.encode({"sub": "alice"}, TEST_SECRET, algorithm="HS256"),
        "empty_sub": signed(sub=""),
        "numeric_sub": signed(sub=12345),
    }


def routes(sid: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/api/v1/sessions/{sid}/status/stream", None),
        ("GET", f"/api/v1/sessions/{sid}/status", None),
        ("GET", f"/api/v1/sessions/{sid}", None),
        ("POST", f"/api/v1/sessions/{sid}/transcribe", {"steps": 1, "interval_ms": 0}),
        ("POST", "/api/v1/sessions", {"title": "x"}),
        ("GET", "/api/v1/streams/me", None),
    ]


def clean(response: httpx.Response, token: str | None) -> None:
    """No error answer may carry the signing secret, a traceback or the token it was sent."""
    text = response.text
    assert TEST_SECRET not in text and "Traceback" not in text and 'File "' not in text
    assert not token or len(token) < 8 or token not in text


@pytest.mark.parametrize("channel", ["header", "cookie"])
def test_every_bad_token_is_401_on_every_route(api: ApiProcess, token_for: Callable[[str], str], channel: str) -> None:
    alice = token_for("alice")
    sid = new_session(api.url, alice)
    outcomes: dict[tuple[str, str], int] = {}
    with httpx.Client(base_url=api.url, timeout=10) as http:
        for case, token in forged_tokens(alice).items():
            for method, path, body in routes(sid):
                headers: dict[str, str] = {}
                if token is not None and channel == "header":
                    headers["Authorization"] = f"Bearer {token}"
                elif token is not None:
                    headers["Cookie"] = f"access_token={token}"
                response = http.request(method, path, json=body, headers=headers)
                outcomes[(case, f"{method} {path.replace(sid, '{id}')}")] = response.status_code
                clean(response, token)
                if response.status_code == 401:
                    assert response.headers["www-authenticate"] == "Bearer"
    not_401 = {k: v for k, v in outcomes.items() if v != 401}
    assert not not_401, f"let through or mis-answered: {not_401}"
    # and nothing happened to alice's session: no job was started by any of those requests
    status = httpx.get(f"{api.url}/api/v1/sessions/{sid}/status", headers=bearer(alice), timeout=10).json()
    assert (status["seq"], status["status"]) == (1, "pending")


@pytest.mark.parametrize("scheme", ["Basic", "Token", "bearer", "BEARER"])
def test_only_the_bearer_scheme_counts(api: ApiProcess, token_for: Callable[[str], str], scheme: str) -> None:
    alice = token_for("alice")
    response = httpx.get(f"{api.url}/api/v1/streams/me", headers={"Authorization": f"{scheme} {alice}"}, timeout=10)
    # the scheme is case-insensitive (RFC 9110 11.1); any other scheme is no credential at all
    assert response.status_code == (200 if scheme.lower() == "bearer" else 401)


def test_another_users_session_and_a_missing_one_are_indistinguishable(
    api: ApiProcess, token_for: Callable[[str], str]
) -> None:
    alice, mallory = token_for("alice"), token_for("mallory")
    sid = new_session(api.url, alice)
    # alice's job finishes, so a Last-Event-ID at its end would get 204 — for alice only
    started = httpx.post(f"{api.url}/api/v1/sessions/{sid}/transcribe", json={"steps": 1, "interval_ms": 0},
                         headers=bearer(alice), timeout=10)
    assert started.status_code == 202
    final_seq = 4  # pending, start, 1 step, completed

    def finished() -> bool:
        status = httpx.get(f"{api.url}/api/v1/sessions/{sid}/status", headers=bearer(alice), timeout=5).json()
        return bool(status["seq"] == final_seq and status["status"] == "completed")

    from reference_app.launcher import wait_until

    wait_until(finished, 20, message="alice's job to finish")
    missing = str(uuid.uuid4())
    with httpx.Client(base_url=api.url, timeout=10) as http:
        for extra in ({}, {"Last-Event-ID": str(final_seq)}, {"Last-Event-ID": "0"}):
            for method, path, body in routes("{id}")[:4]:
                theirs = http.request(method, path.replace("{id}", sid), json=body, headers=bearer(mallory, extra))
                nothing = http.request(method, path.replace("{id}", missing), json=body,
                                       headers=bearer(mallory, extra))
                assert theirs.status_code == nothing.status_code == 404, (path, extra)
                assert theirs.content == nothing.content
                varying = {"date", "content-length"}
                assert {k: v for k, v in theirs.headers.items() if k not in varying} == {
                    k: v for k, v in nothing.headers.items() if k not in varying}
        # mallory's transcribe attempts did not touch alice's session
        assert http.get(f"/api/v1/sessions/{sid}", headers=bearer(alice)).json()["task_id"] == started.json()[
            "task_id"]
        # while alice herself gets the 204 that ends a browser's reconnect loop
        own = http.get(f"/api/v1/sessions/{sid}/status/stream", headers=bearer(alice, {"Last-Event-ID": "4"}))
        assert own.status_code == 204
