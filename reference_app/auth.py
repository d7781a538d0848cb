"""Signed bearer tokens (PyJWT, HS256 only) and the one dependency that turns a request into a user.

A browser EventSource cannot set headers, so the token is also accepted from the HttpOnly cookie
``access_token``. A real service replaces authentication by overriding ``current_user`` in
``app.dependency_overrides``; nothing else in the app reads credentials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status

from reference_app.deps import SettingsDep

ALGORITHM = "HS256"
COOKIE_NAME = "access_token"


@dataclass(frozen=True, slots=True)
class User:
    id: str


def issue_token(username: str, secret: str, ttl_s: int) -> str:
    now = int(time.time())
    return jwt.encode({"sub": username, "iat": now, "exp": now + ttl_s}, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> str | None:
    """The username in a valid token, else None (bad signature, expired, ``alg: none``, garbage)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) and sub else None


def _credentials(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE_NAME) or None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def current_user(request: Request, settings: SettingsDep) -> User:
    token = _credentials(request)
    if token is None:
        raise _unauthorized("not authenticated: send Authorization: Bearer <token> or the access_token cookie")
    username = decode_token(token, settings.auth_secret)
    if username is None:
        raise _unauthorized("invalid or expired token")
    return User(id=username)


CurrentUser = Annotated[User, Depends(current_user)]
