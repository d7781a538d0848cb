"""What the load clients need of a received status, parsed without filling anything in.

The contract's ``StatusUpdate`` is the model of a correct status; whether a server sends correct ones is
the checker's question. A load client must measure whatever arrives: a status without ``timestamp`` is
still an event with a sequence id (counted, accounted for gaps and duplicates), but its publish-to-receive
latency is *unknown* — never the time it was parsed, which would report a 300 ms delay as 0 ms.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sse_contract.status import TERMINAL_STATES, JobState

__all__ = ["CLOCK_SKEW_TOLERANCE_MS", "ObservedStatus", "latency_ms"]

#: a receive time this far before the publish time is a clock difference between the publisher and this
#: client, not a latency: the latency is unknown (timestamps carry microseconds, so rounding is far smaller)
CLOCK_SKEW_TOLERANCE_MS = 5.0


class ObservedStatus(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: int = Field(ge=0)
    status: JobState
    #: None when the server sent none: the latency of this event is unknown.
    timestamp: AwareDatetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    @property
    def published(self) -> float | None:
        """Publish time as a Unix timestamp, or None when unknown."""
        return None if self.timestamp is None else self.timestamp.timestamp()

    @classmethod
    def from_json(cls, text: str | bytes) -> ObservedStatus:
        return cls.model_validate_json(text)


def latency_ms(received: float, published: float | None) -> float | None:
    """Publish-to-receive latency, or None when unknown: no timestamp, or a clock that runs ahead of ours
    (recording 0 ms there would let a latency SLO pass on numbers nobody measured)."""
    if published is None:
        return None
    value = (received - published) * 1000
    if value < -CLOCK_SKEW_TOLERANCE_MS:
        return None
    return max(0.0, value)
