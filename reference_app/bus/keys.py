"""Redis key names. All keys of one session share a ``{hash tag}`` so they live in one Cluster slot
(the publish script touches several of them atomically)."""

from __future__ import annotations

PREFIX = "sse"


def seq_key(session_id: str) -> str:
    return f"{PREFIX}:{{{session_id}}}:seq"


def log_key(session_id: str) -> str:
    """The Redis Stream holding the session's statuses; entry id ``<seq>-0``."""
    return f"{PREFIX}:{{{session_id}}}:log"


def meta_key(session_id: str) -> str:
    return f"{PREFIX}:{{{session_id}}}:meta"


def publish_id_key(session_id: str, publish_id: str) -> str:
    """Remembers that a publish already happened, so a retried publish is not applied twice."""
    return f"{PREFIX}:{{{session_id}}}:pub:{publish_id}"


def channel(session_id: str) -> str:
    return f"{PREFIX}:status:{session_id}"


def session_id_from_channel(name: str) -> str:
    return name.removeprefix(f"{PREFIX}:status:")
