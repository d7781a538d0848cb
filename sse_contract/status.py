"""The status model: one job's state at one moment, as published, stored, streamed and polled.

Core fields are fixed; extra fields are allowed (a transcription may add ``language`` or ``eta_s``) but
can never override a core field — the original design spread ``**status_data`` after the core fields,
so any caller could overwrite ``status`` or ``progress``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

__all__ = ["CORE_FIELDS", "TERMINAL_STATES", "JobState", "StatusChange", "StatusUpdate", "utc_now"]


class JobState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED})
CORE_FIELDS = frozenset({"session_id", "seq", "status", "progress", "message", "timestamp"})


def utc_now() -> datetime:
    """An aware UTC timestamp (``datetime.utcnow()`` is naive and deprecated)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What a job reports at one step: the part of a status its producer decides.

    The bus adds the rest (``session_id``, ``seq``, ``timestamp``) when it publishes, in one place, so a
    status travels from the simulator to the browser as one value instead of loose arguments.
    """

    status: str
    progress: float
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    def to_update(self, session_id: str, seq: int, timestamp: datetime | None = None) -> StatusUpdate:
        """Validate through the status model (a bad state or a core field in ``extra`` raises here)."""
        return StatusUpdate.build(session_id=session_id, seq=seq, status=self.status, progress=self.progress,
                                  message=self.message, timestamp=timestamp, extra=self.extra)


class StatusUpdate(BaseModel):
    """One status of one session. ``seq`` is assigned by the bus, strictly increasing by 1 per session."""

    model_config = ConfigDict(extra="allow", frozen=True)

    session_id: str
    seq: int = Field(ge=0)
    status: JobState
    progress: float = Field(ge=0, le=100)
    message: str = ""
    #: required: set by the publisher (``build``); a parser never fills it in, so a received status is
    #: judged (and its latency measured) as it was sent
    timestamp: datetime

    @field_validator("timestamp")
    @classmethod
    def _must_be_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware (UTC)")
        return value.astimezone(UTC)

    @field_serializer("timestamp")
    def _iso_utc(self, value: datetime) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @classmethod
    def build(
        cls,
        *,
        session_id: str,
        seq: int,
        status: JobState | str,
        progress: float,
        message: str = "",
        timestamp: datetime | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> StatusUpdate:
        """Build an update; ``extra`` may add fields but naming a core field in it is an error."""
        extra = dict(extra or {})
        clash = CORE_FIELDS.intersection(extra)
        if clash:
            raise ValueError(f"extra fields may not override core fields: {sorted(clash)}")
        return cls(
            session_id=session_id,
            seq=seq,
            status=JobState(status),
            progress=progress,
            message=message,
            timestamp=timestamp or utc_now(),
            **extra,
        )

    def to_json(self) -> str:
        """Compact JSON with core fields first; this exact text is stored, published and streamed."""
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)

    def json_around_seq(self) -> tuple[str, str]:
        """``to_json()`` cut around the value of ``seq``: ``head + str(seq) + tail == to_json()``.

        The Redis publish script assigns the seq atomically and joins the two halves, so the stored text is
        exactly what this model encodes, and the publisher knows the result without parsing it back.
        ``session_id`` is the only field before ``seq`` and a JSON string cannot hold an unescaped quote, so
        the first ``,"seq":N,`` is the key itself.
        """
        text = self.to_json()
        head, sep, tail = text.partition(f',"seq":{self.seq},')
        if not sep:  # cannot happen while session_id and seq are the first two fields
            raise AssertionError("status JSON does not start with session_id, seq")
        return head + ',"seq":', "," + tail

    @classmethod
    def from_json(cls, text: str | bytes) -> StatusUpdate:
        return cls.model_validate_json(text)
