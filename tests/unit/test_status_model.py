from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from sse_contract.status import JobState, StatusUpdate

pytestmark = pytest.mark.unit


def make(**extra: object) -> StatusUpdate:
    return StatusUpdate.build(session_id="s", seq=3, status="processing", progress=40, message="m", extra=extra)


def test_extra_fields_are_kept() -> None:
    update = make(language="en", eta_s=12)
    assert update.extra == {"language": "en", "eta_s": 12}
    assert json.loads(update.to_json())["language"] == "en"


@pytest.mark.parametrize("field", ["status", "progress", "seq", "session_id", "timestamp", "message"])
def test_extra_fields_can_never_override_core_fields(field: str) -> None:
    # The original design spread **status_data after the core fields, letting a caller override them.
    with pytest.raises(ValueError, match="may not override core fields"):
        make(**{field: "x"})


def test_timestamp_is_aware_utc_and_serialised_with_z() -> None:
    update = StatusUpdate.build(
        session_id="s", seq=1, status="pending", progress=0,
        timestamp=datetime(2026, 1, 2, 5, 4, 5, 6, tzinfo=timezone(timedelta(hours=2))),
    )
    assert update.timestamp.tzinfo == UTC
    assert json.loads(update.to_json())["timestamp"] == "2026-01-02T03:04:05.000006Z"


def test_naive_timestamp_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        StatusUpdate(session_id="s", seq=1, status=JobState.PENDING, progress=0,
                     timestamp=datetime(2026, 1, 1))


@pytest.mark.parametrize("progress", [-0.1, 100.1])
def test_progress_is_bounded(progress: float) -> None:
    with pytest.raises(ValidationError):
        StatusUpdate.build(session_id="s", seq=1, status="processing", progress=progress)


def test_unknown_status_is_rejected() -> None:
    with pytest.raises(ValueError):
        StatusUpdate.build(session_id="s", seq=1, status="done", progress=0)


def test_json_round_trip_and_core_fields_first() -> None:
    update = make(language="en")
    text = update.to_json()
    assert list(json.loads(text))[:6] == ["session_id", "seq", "status", "progress", "message", "timestamp"]
    assert StatusUpdate.from_json(text) == update


@pytest.mark.parametrize(("state", "terminal"), [("pending", False), ("processing", False),
                                                 ("completed", True), ("failed", True)])
def test_terminal_states(state: str, terminal: bool) -> None:
    assert StatusUpdate.build(session_id="s", seq=1, status=state, progress=0).terminal is terminal
