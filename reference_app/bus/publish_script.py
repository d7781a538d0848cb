"""The one atomic publish step, shared by the async API side and the sync Celery side.

In one Lua call: take the next per-session ``seq`` (INCR), append the status to the session's Redis Stream
with entry id ``<seq>-0`` (capped, TTL refreshed), and PUBLISH it. Because it is atomic, the order of
PUBLISHes equals the order of seqs, and a listener that subscribes and then reads the stream sees every
seq exactly once. A ``publish_id`` makes a retried publish (the reply was lost in a Redis blip) return
the first result instead of appending a duplicate.

The status is validated and encoded once, here, by the status model; the script only puts the seq it
assigned between the two halves of that JSON (``StatusUpdate.json_around_seq``), so the stored text is
byte for byte ``update.to_json()`` and the publisher knows its result without parsing anything back. Only a
repeated ``publish_id`` answers with the stored text (the first attempt's status), which is then parsed once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reference_app.bus import keys
from sse_contract.status import StatusChange, StatusUpdate

__all__ = ["PUBLISH_LUA", "PublishCall", "prepare_publish"]

# KEYS: seq, log, publish id, meta. ARGV: JSON head, JSON tail, maxlen, ttl, channel, publish id.
PUBLISH_LUA = """
local prev = redis.call('GET', KEYS[3])
if prev then
  local entry = redis.call('XRANGE', KEYS[2], prev .. '-0', prev .. '-0')
  if entry[1] then return {tonumber(prev), entry[1][2][2]} end
end
local seq = redis.call('INCR', KEYS[1])
local payload = ARGV[1] .. seq .. ARGV[2]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'd', payload)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('SET', KEYS[3], seq, 'EX', ARGV[4])
redis.call('PUBLISH', ARGV[5], payload)
return {seq}
"""


@dataclass(frozen=True, slots=True)
class PublishCall:
    """KEYS and ARGV of one ``PUBLISH_LUA`` call, and the validated status they carry (seq 0 until then)."""

    update: StatusUpdate
    keys: list[str]
    args: list[str | int]

    def result(self, reply: Any) -> StatusUpdate:
        """The published status: ours with the assigned seq, or the first attempt's on a repeated id."""
        if len(reply) == 1:
            return self.update.model_copy(update={"seq": int(reply[0])})
        return StatusUpdate.from_json(reply[1])


def prepare_publish(
    session_id: str,
    change: StatusChange,
    publish_id: str | None,
    *,
    maxlen: int,
    ttl_s: int,
    timestamp: datetime | None = None,
) -> PublishCall:
    """Validate through the status model first, so bad input fails here with a clear error instead of
    reaching Redis. Without a ``publish_id`` a random one still makes redis-py's own retry of a lost reply
    a no-op."""
    update = change.to_update(session_id, seq=0, timestamp=timestamp)
    head, tail = update.json_around_seq()
    publish_id = publish_id or uuid.uuid4().hex
    script_keys = [
        keys.seq_key(session_id),
        keys.log_key(session_id),
        keys.publish_id_key(session_id, publish_id),
        keys.meta_key(session_id),
    ]
    return PublishCall(update, script_keys, [head, tail, maxlen, ttl_s, keys.channel(session_id), publish_id])
