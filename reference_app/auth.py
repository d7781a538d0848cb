"""Signed bearer tokens (PyJWT, HS256 only) and the one function that turns a request into a user.

A browser EventSource cannot set headers, so the token is also accepted from the HttpOnly cookie
``access_token``. A real service swaps authentication by passing its own ``authenticate`` to
``create_app(authenticate=...)``: both the FastAPI dependency ``current_user`` and the lean stream endpoint
call it, and nothing else in the app reads credentials.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, cast

import jwt
from fastapi import Depends, HTTPException, Request, status
from starlette.requests import HTTPConnection

from reference_app.settings import Settings

ALGORITHM = "HS256"
COOKIE_NAME = "access_token"


@dataclass(frozen=True, slots=True)
class User:
    id: str


#: ``(connection, settings) -> User``; raises ``HTTPException(401)`` when the caller is not authenticated.
Authenticate = Callable[[HTTPConnection, Settings], Awaitable[User]]


def issue_token(username: str, secret: str, ttl_s: int) -> str:
    now = int(time.time())
    return jwt.encode({"sub": username, "iat": now, "exp": now + ttl_s}, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> str | None:
    """The username in a valid token, else None (bad signature, expired, ``alg: none``, garbage)."""
    verified = _verify(token, secret)
    if verified is None:
        return None
    username, expires = verified
    return username if time.time() < expires else None


@lru_cache(maxsize=4096)
def _verify(token: str, secret: str) -> tuple[str, float] | None:
    # Signature checks are pure, so they are cached: one browser reconnecting, or a load test opening
    # thousands of streams with one token, pays for one HMAC. Expiry is still checked on every call.
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return None
    return sub, float(claims["exp"])


def _credentials(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.cookies.get(COOKIE_NAME) or None


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticate_jwt(conn: HTTPConnection, settings: Settings) -> User:
    """The default: this app's own HS256 tokens, from the Authorization header or the cookie."""
    token = _credentials(conn)
    if token is None:
        raise unauthorized("not authenticated: send Authorization: Bearer <token> or the access_token cookie")
    username = decode_token(token, settings.auth_secret)
    if username is None:
        raise unauthorized("invalid or expired token")
    return User(id=username)


async def current_user(request: Request) -> User:
    authenticate = cast(Authenticate, request.app.state.authenticate)
    return await authenticate(request, request.app.state.settings)


CurrentUser = Annotated[User, Depends(current_user)]
