"""The status bus: publish a session's statuses once, fan them out to every listener, replay on resume.

``RedisBus`` is production (Redis Streams for the log, one shared pub/sub connection per process for
fan-out); ``MemoryBus`` has the same interface for unit tests of logic above the bus.
"""

from reference_app.bus.base import BusMessage, Mailbox, Resync, SessionRecord, StatusBus
from reference_app.bus.memory import MemoryBus
from reference_app.bus.redis_bus import RedisBus

__all__ = ["BusMessage", "Mailbox", "MemoryBus", "RedisBus", "Resync", "SessionRecord", "StatusBus"]
