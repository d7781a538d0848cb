"""The command connections to Redis: one bounded pool per process, blocking when all connections are busy
rather than opening more (redis-py's default pool raises MaxConnectionsError past its limit).

Both sides retry connection errors with exponential backoff (a publish carries a publish id, so a retry whose
first attempt did reach Redis is a no-op). The API side gives up sooner (a request is waiting) than the
worker side (a lost terminal status would leave clients waiting).
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

__all__ = ["async_client", "sync_client"]


def _options(client_name: str, wait_s: float) -> dict[str, Any]:
    return {"timeout": wait_s, "socket_connect_timeout": 2, "socket_timeout": 5, "client_name": client_name,
            "retry_on_error": [RedisConnectionError, RedisTimeoutError]}


def async_client(url: str, max_connections: int, client_name: str = "sse-api") -> aioredis.Redis:
    """The API's pool: waits up to 5 s for a connection, 3 retries."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, health_check_interval=30,
        retry=AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), 3), **_options(client_name, 5))
    return aioredis.Redis(connection_pool=pool)


def sync_client(url: str, max_connections: int, retries: int, client_name: str = "sse-publisher") -> redis.Redis:
    """The worker's pool: waits up to 30 s for a connection, ``retries`` retries (a Redis restart)."""
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries),
        **_options(client_name, 30))
    return redis.Redis(connection_pool=pool)
