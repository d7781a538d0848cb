"""Property tests of the one SSE wire module (``sse_contract/wire.py``): hostile text can never change the
shape of the stream.

The example-based tables live in tests/unit/test_sse_wire.py; here hypothesis throws arbitrary text at the
encoder (CR, LF, CRLF, NUL, BOM, any unicode) and arbitrary bytes and chunkings at the decoder.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reference_app.bus.message import BusMessage
from reference_app.bus.publish_script import prepare_publish
from sse_contract.status import StatusChange
from sse_contract.wire import Comment, Event, Retry, SSEDecoder, encode_comment, encode_event, encode_retry

pytestmark = pytest.mark.unit

#: characters that matter to the wire format, mixed into otherwise arbitrary text
SPECIALS = ["\r", "\n", "\r\n", "\0", "\ufeff", ":", " ", "data:", "event: x", "id: 9", "retry: 1", "\u2028", "\x85"]
hostile_text = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(SPECIALS)), max_size=12).map("".join)
single_line = hostile_text.map(lambda s: re.sub(r"[\r\n]", "", s))
event_name = single_line.filter(bool)
event_id = single_line.map(lambda s: s.replace("\0", ""))


def normalised(data: str) -> str:
    """What a browser's ``MessageEvent.data`` holds: every CRLF, CR or LF becomes LF."""
    return re.sub(r"\r\n|\r|\n", "\n", data)


def split(blob: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(blob) + 1) for c in cuts})
    return [blob[a:b] for a, b in zip([0, *points], [*points, len(blob)], strict=True)]


def decode(*chunks: bytes) -> list[Event | Comment | Retry]:
    return SSEDecoder().feed_all(chunks)


@given(data=hostile_text, event=st.none() | event_name, id=st.none() | event_id)
@example(data="\n\nevent: x", event="status", id="1")
@example(data="x\r\n\r\nid: 666\n\ndata: evil", event=None, id=None)
@example(data="\ufeff", event=None, id=None)
def test_any_data_is_exactly_one_event_with_that_data(data: str, event: str | None, id: str | None) -> None:
    items = decode(encode_event(data, event=event, id=id))
    assert items == [Event(data=normalised(data), event=event or "message", id=id or "", has_id=id is not None)]


@given(data=hostile_text, cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_chunking_never_changes_what_is_decoded(data: str, cuts: list[int]) -> None:
    """Split anywhere — inside a CRLF, inside a multi-byte character — the events are the same."""
    blob = encode_retry(5) + encode_event(data, event="status", id=3) + encode_comment(data) + encode_event(data)
    assert decode(*split(blob, cuts)) == decode(blob)


@given(payloads=st.lists(hostile_text, min_size=1, max_size=6))
def test_a_stream_of_events_decodes_to_the_same_events_in_order(payloads: list[str]) -> None:
    blob = b"".join(encode_event(p, event="status", id=i) for i, p in enumerate(payloads, 1))
    events = decode(blob)
    assert [(e.data, e.id, e.event) for e in events if isinstance(e, Event)] == [
        (normalised(p), str(i), "status") for i, p in enumerate(payloads, 1)]
    assert len(events) == len(payloads)


@given(text=hostile_text)
def test_a_comment_never_becomes_an_event(text: str) -> None:
    items = decode(encode_comment(text))
    assert all(isinstance(i, Comment) for i in items)
    assert "\n".join(i.text for i in items if isinstance(i, Comment)) == normalised(text)


@given(value=hostile_text.filter(lambda s: bool(re.search(r"[\r\n]", s))))
def test_id_and_event_with_a_line_break_are_refused_not_sent(value: str) -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        encode_event("x", id=value)
    with pytest.raises(ValueError, match="CR or LF"):
        encode_event("x", event=value)


@given(value=single_line.map(lambda s: s + "\0"))
def test_id_with_nul_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="NUL"):
        encode_event("x", id=value)


@given(data=hostile_text)
def test_one_leading_bom_is_dropped_and_only_one(data: str) -> None:
    frame = encode_event(data, id=1)
    assert decode(b"\xef\xbb\xbf" + frame) == decode(frame)
    # a second BOM is the start of the first line: that line is then an unknown field, not "id"
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbf" + frame) != decode(frame)


@settings(max_examples=300)
@given(blob=st.binary(max_size=300) | hostile_text.map(str.encode), cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_the_decoder_takes_any_bytes_without_raising(blob: bytes, cuts: list[int]) -> None:
    """Bytes from the network are untrusted: invalid UTF-8, stray CRs, NULs, junk fields are all fine."""
    whole = decode(blob)
    assert decode(*split(blob, cuts)) == whole
    assert all(isinstance(i, Event | Comment | Retry) for i in whole)
    assert all(i.milliseconds >= 0 for i in whole if isinstance(i, Retry))


@given(message=hostile_text, extra_value=hostile_text)
@example(message="\n\nevent: reset\ndata: {}", extra_value="\r\nid: 99")
def test_a_status_with_hostile_text_is_one_status_event_on_the_wire(message: str, extra_value: str) -> None:
    """The app's frames: whatever a worker puts in ``message`` or an extra field reaches the browser as
    the same text inside one ``event: status`` with the right id (JSON escapes every control character)."""
    call = prepare_publish("s-1", StatusChange("processing", 50, message, {"note": extra_value}), "p",
                           maxlen=10, ttl_s=60)
    payload = f"{call.args[0]}7{call.args[1]}"  # what the publish script stores and publishes
    items = decode(BusMessage.from_payload(payload).frame)
    assert len(items) == 1 and isinstance(items[0], Event)
    event = items[0]
    assert (event.event, event.id) == ("status", "7")
    status = json.loads(event.data)
    assert (status["message"], status["note"], status["seq"]) == (message, extra_value, 7)
