"""All configuration, from the environment (pydantic-settings). One class, validated at start-up."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from sse_client import redact_url

DEFAULT_SECRET = "dev-only-insecure-secret-change-me"
REDIS_SCHEMES = ("redis", "rediss", "unix")


class SettingsError(ValueError):
    """A setting from the environment that cannot be used; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    #: Unset means "start an embedded Redis" in ``sse-harness demo``; ``serve`` and ``worker`` need it.
    redis_url: str | None = None
    redis_max_connections: int = Field(default=16, ge=2, description="command pool size per process")
    redis_pool_timeout_s: float = Field(
        default=5.0, gt=0, description="a command waiting this long for a pooled connection fails (503 pool_saturated)"
    )

    sse_heartbeat_s: float = Field(default=15.0, gt=0, description="comment ping interval while idle")
    sse_retry_ms: int = Field(default=3000, ge=0, description="the retry: field sent to clients")
    sse_connection_timeout: float = Field(default=300.0, gt=0, description="max stream lifetime (jittered)")
    sse_max_streams_per_user: int = Field(default=20, ge=1)
    sse_send_timeout_s: float = Field(default=10.0, gt=0, description="a write blocked longer ends the stream")
    sse_client_queue: int = Field(default=64, ge=2, description="events buffered per client before coalescing")
    sse_shutdown_grace_s: float = Field(default=5.0, ge=0)
    sse_open_queue_max: int = Field(
        default=20_000, ge=1, description="stream opens that may wait for admission per process; beyond: 503"
    )
    sse_open_deadline_s: float = Field(
        default=20.0, gt=0, description="an open not admitted within this long gets 503 with Retry-After"
    )
    sse_listen_sockets: int = Field(
        default=4, ge=1, le=64, description="listening sockets per API process (SO_REUSEPORT): each queues up to "
        "somaxconn new connections, so a reconnect storm is not dropped into SYN retries"
    )
    sse_instance_id: str | None = Field(
        default=None, description="where this API process runs (serve: host:port:worker); a process started "
        "again with the same id frees the cap leases its crashed predecessor left"
    )
    sse_lease_ttl_s: float = Field(
        default=30.0, ge=3, description="per-user cap leases in Redis expire this long after a crash"
    )

    status_stream_maxlen: int = Field(default=1000, ge=10, description="events retained per session")
    status_ttl_s: int = Field(default=24 * 3600, ge=60, description="how long a session's events live")
    status_stall_after_s: float = Field(
        default=120.0, gt=0, description="a processing job silent this long is reported as stalled"
    )

    celery_visibility_timeout_s: int = Field(
        default=3600, ge=1, description="a task whose worker died is redelivered after this long"
    )

    auth_dev_login: bool = False
    auth_secret: str = DEFAULT_SECRET
    auth_token_ttl_s: int = Field(default=12 * 3600, ge=60)
    auth_cookie_secure: bool = False

    cors_origins: list[str] = Field(default_factory=list)

    def check_api_secrets(self) -> None:
        """Raise unless the API may start: no default secret outside dev login (the worker needs none)."""
        if not self.auth_dev_login and self.auth_secret == DEFAULT_SECRET:
            raise ValueError(
                "AUTH_SECRET is the built-in development secret while AUTH_DEV_LOGIN is off: "
                "set AUTH_SECRET to a long random value (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
        if len(self.auth_secret) < 32:
            raise ValueError("AUTH_SECRET must be at least 32 characters (HS256 needs a 256-bit key)")


def load_settings() -> Settings:
    """``Settings()``, but a bad value is one ``SettingsError`` line naming the environment variable
    (``SSE_HEARTBEAT_S=abc: Input should be a valid number ...``) instead of pydantic's multi-line dump."""
    try:
        settings = Settings()
    except ValidationError as exc:
        parts = []
        for error in exc.errors():
            name = "_".join(str(p) for p in error.get("loc", ())).upper()
            value = error.get("input")
            shown = f"={value}" if isinstance(value, str) and not _secret(name) and len(value) < 60 else ""
            parts.append(f"{name}{shown}: {error.get('msg', 'invalid')}")
        raise SettingsError("; ".join(parts)) from None
    if settings.redis_url:
        check_redis_url(settings.redis_url, "REDIS_URL")
    return settings


def _secret(name: str) -> bool:
    return any(word in name for word in ("SECRET", "TOKEN", "PASSWORD", "URL"))


def check_redis_url(url: str, name: str = "--redis-url") -> None:
    """Refuse a URL redis-py cannot use (``http://...``, a port out of range) with one line, before any
    connection is tried; the URL in the message has its password masked."""
    from redis.connection import parse_url

    if urlsplit(url).scheme not in REDIS_SCHEMES:
        raise SettingsError(f"{name} must be a redis://, rediss:// or unix:// URL, got {redact_url(url)!r}")
    try:
        parse_url(url)  # type: ignore[no-untyped-call]
        port = urlsplit(url).port
    except ValueError as exc:
        raise SettingsError(f"{name} {redact_url(url)!r} is not a valid Redis URL: {exc}") from None
    if port == 0:
        raise SettingsError(f"{name} {redact_url(url)!r}: port must be 1-65535")


@lru_cache
def get_settings() -> Settings:
    return load_settings()
