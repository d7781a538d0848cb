"""What the load clients need of a received status, parsed without filling anything in.

The contract's ``StatusUpdate`` is the model of a correct status; whether a server sends correct ones is
the checker's question. A load client must measure whatever arrives: a status without ``timestamp`` is
still an event with a sequence id (counted, accounted for gaps and duplicates), but its publish-to-receive
latency is *unknown* — never the time it was parsed, which would report a 300 ms delay as 0 ms.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sse_contract.status import TERMINAL_STATES, JobState

__all__ = ["ObservedStatus"]


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
