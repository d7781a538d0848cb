"""The synchronous publisher the Celery task uses: same Lua script as the API, with retries.

A Redis blip must not lose the terminal event: redis-py retries connection errors with exponential
backoff, and the publish id makes a retry whose first attempt did reach Redis a no-op instead of a
duplicate event.
"""

from __future__ import annotations

from typing import Any

from reference_app.bus import keys
from reference_app.bus.pools import sync_client
from reference_app.bus.publish_script import PUBLISH_LUA, prepare_publish
from sse_contract.status import StatusChange, StatusUpdate


class StatusPublisher:
    def __init__(
        self, url: str, *, maxlen: int = 1000, ttl_s: int = 24 * 3600, retries: int = 12, max_connections: int = 16
    ) -> None:
        self.redis = sync_client(url, max_connections, retries)
        self._script = self.redis.register_script(PUBLISH_LUA)
        self.maxlen = maxlen
        self.ttl_s = ttl_s

    def publish(self, session_id: str, change: StatusChange, publish_id: str | None = None) -> StatusUpdate:
        call = prepare_publish(session_id, change, publish_id, maxlen=self.maxlen, ttl_s=self.ttl_s)
        return call.result(self._script(keys=call.keys, args=call.args))

    def latest(self, session_id: str) -> StatusUpdate | None:
        raw: Any = self.redis.xrevrange(keys.log_key(session_id), count=1)
        if not raw:
            return None
        return StatusUpdate.from_json(raw[0][1][b"d"])

    def close(self) -> None:
        self.redis.close()
