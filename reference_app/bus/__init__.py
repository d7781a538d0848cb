"""The status bus: publish a session's statuses once, fan them out to every listener, replay on resume.

``RedisBus`` is production (Redis Streams for the log, one shared pub/sub connection per process for
fan-out); ``MemoryBus`` has the same interface for unit tests of logic above the bus.
"""

from reference_app.bus.mailbox import Mailbox, Resync
from reference_app.bus.memory import MemoryBus
from reference_app.bus.message import BusMessage
from reference_app.bus.protocol import SessionRecord, StatusBus
from reference_app.bus.redis_bus import RedisBus

__all__ = ["BusMessage", "Mailbox", "MemoryBus", "RedisBus", "Resync", "SessionRecord", "StatusBus"]
