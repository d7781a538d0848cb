"""The one atomic publish step, shared by the async API side and the sync Celery side.

In one Lua call: take the next per-session ``seq`` (INCR), append the status to the session's Redis Stream
with entry id ``<seq>-0`` (capped, TTL refreshed), and PUBLISH it. Because it is atomic, the order of
PUBLISHes equals the order of seqs, and a listener that subscribes and then reads the stream sees every
seq exactly once. A ``publish_id`` makes a retried publish (the reply was lost in a Redis blip) return
the first result instead of appending a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reference_app.bus import keys
from sse_contract.status import StatusUpdate

PUBLISH_LUA = """
local pubid = ARGV[5]
if pubid ~= '' then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    local entry = redis.call('XRANGE', KEYS[2], prev .. '-0', prev .. '-0')
    if entry[1] then return {tonumber(prev), entry[1][2][2]} end
  end
end
local seq = redis.call('INCR', KEYS[1])
local payload = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'd', payload)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[3])
if pubid ~= '' then redis.call('SET', KEYS[3], seq, 'EX', ARGV[3]) end
redis.call('PUBLISH', ARGV[4], payload)
return {seq, payload}
"""


def publish_args(
    session_id: str,
    status: str,
    progress: float,
    message: str,
    extra: Mapping[str, Any] | None,
    publish_id: str | None,
    *,
    maxlen: int,
    ttl_s: int,
    timestamp: datetime | None = None,
) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV for ``PUBLISH_LUA``. Validates through the status model first, so bad input fails
    here with a clear error instead of reaching Redis."""
    update = StatusUpdate.build(
        session_id=session_id,
        seq=0,
        status=status,
        progress=progress,
        message=message,
        timestamp=timestamp,
        extra=extra,
    )
    body = update.model_dump(mode="json")
    del body["seq"]  # the script puts the real seq first
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    script_keys = [
        keys.seq_key(session_id),
        keys.log_key(session_id),
        keys.publish_id_key(session_id, publish_id or "-"),
        keys.meta_key(session_id),
    ]
    argv: list[str | int] = [payload, maxlen, ttl_s, keys.channel(session_id), publish_id or ""]
    return script_keys, argv


def parse_reply(reply: Any) -> tuple[int, str]:
    seq, payload = reply
    text = payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
    return int(seq), text
