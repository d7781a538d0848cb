"""Error answers built in one place: both entrances of the stream (the FastAPI route and the lean fast path)
and the other routes use these, so a 404, a 422 or a 503 reads the same whichever code path produced it.

Why the 503s are split: a healthy Redis behind a saturated command pool is not "Redis unavailable". redis-py's
``BlockingConnectionPool`` raises ``ConnectionError("No connection available.")`` when every pooled
connection stayed busy for the pool's timeout; reporting that as an outage sent operators to look at a Redis
that was fine (issue 13). The body, the log line and the metric label now say which of the two it was.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import HTTPException, status
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from starlette.responses import JSONResponse

from reference_app.auth import User
from reference_app.bus.protocol import SessionRecord

__all__ = ["NOT_FOUND", "owned", "parse_session_id", "redis_failure", "store_unavailable", "validation_error"]

log = logging.getLogger(__name__)

NOT_FOUND = "session not found"
_UUID = TypeAdapter(uuid.UUID)
#: redis-py's message when a ``BlockingConnectionPool`` had no free connection within its timeout
POOL_EXHAUSTED = "No connection available"


def owned(record: SessionRecord | None, user: User) -> SessionRecord:
    """The one ownership check: the session if ``user`` owns it; 404 alike for "missing" and "someone
    else's" (an id that exists must not be distinguishable from one that does not)."""
    if record is None or record.owner != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
    return record


def http_error(exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


def validation_error(errors: Iterable[Mapping[str, Any]]) -> JSONResponse:
    """422 naming the field and the reason, never echoing the input (it may hold a token). ``type`` too:
    the OpenAPI ValidationError schema requires it."""
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)


def parse_session_id(raw: str) -> str | JSONResponse:
    """The path's session id as FastAPI would validate it (same pydantic type, same message), or its 422."""
    try:
        return str(_UUID.validate_python(raw))
    except ValidationError as exc:
        return validation_error({**e, "loc": ("path", "session_id")} for e in exc.errors())


def redis_failure(exc: RedisError) -> str:
    """``pool_saturated`` (Redis is fine, every pooled connection was busy) or ``redis_unreachable``."""
    if isinstance(exc, RedisConnectionError) and POOL_EXHAUSTED in str(exc):
        return "pool_saturated"
    return "redis_unreachable"


def store_unavailable(exc: RedisError | None = None, *, what: str = "request") -> JSONResponse:
    """503 with Retry-After (contract point 11), never a bare 500 — a client retries a 503. The body and the
    log say whether the command pool was saturated or Redis could not be reached."""
    reason = redis_failure(exc) if exc is not None else "redis_unreachable"
    if reason == "pool_saturated":
        log.warning("%s refused: Redis command pool saturated (every connection busy; Redis itself answered)",
                    what)
        detail, retry_after = "server busy: Redis command pool saturated, retry shortly", "1"
    else:
        log.warning("%s refused: Redis unreachable (%s)", what, type(exc).__name__ if exc else "no answer")
        detail, retry_after = "status store unavailable, retry shortly", "2"
    return JSONResponse({"detail": detail, "reason": reason}, status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": retry_after})
