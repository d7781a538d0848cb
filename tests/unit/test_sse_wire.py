"""Byte-exact tests of the SSE wire module, including the WHATWG spec's own examples."""

from __future__ import annotations

import pytest

from sse_contract.wire import Comment, Event, Retry, SSEDecoder, encode_comment, encode_event, encode_retry

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"data": "hello"}, b"data: hello\n\n"),
        ({"data": ""}, b"data\n\n"),
        ({"data": "a\nb"}, b"data: a\ndata: b\n\n"),
        ({"data": "a\r\nb\rc"}, b"data: a\ndata: b\ndata: c\n\n"),
        ({"data": "x\n"}, b"data: x\ndata\n\n"),
        ({"data": "{}", "event": "status", "id": 7}, b"id: 7\nevent: status\ndata: {}\n\n"),
        ({"data": "d", "retry": 3000}, b"retry: 3000\ndata: d\n\n"),
        ({"data": "d", "id": ""}, b"id: \ndata: d\n\n"),
        ({"data": "\u00e9\u2028"}, "data: \u00e9\u2028\n\n".encode()),
        ({"data": "\n\nevent: x"}, b"data\ndata\ndata: event: x\n\n"),
    ],
)
def test_encode_event_is_byte_exact(kwargs: dict[str, object], expected: bytes) -> None:
    assert encode_event(**kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": "x", "id": "1\n2"}, "id must not contain CR or LF"),
        ({"data": "x", "id": "1\0"}, "NUL"),
        ({"data": "x", "event": "a\rb"}, "event must not contain"),
        ({"data": "x", "retry": -1}, "retry must be >= 0"),
    ],
)
def test_encode_event_rejects_fields_that_would_corrupt_the_stream(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_event(**kwargs)  # type: ignore[arg-type]


def test_comment_and_retry_encoding() -> None:
    assert encode_comment("ping") == b": ping\n"
    assert encode_comment("") == b":\n"
    assert encode_comment("a\nb") == b": a\n: b\n"
    assert encode_retry(1500) == b"retry: 1500\n\n"


def decode(*chunks: bytes) -> list[object]:
    return SSEDecoder().feed_all(chunks)


def events(*chunks: bytes) -> list[Event]:
    return [i for i in decode(*chunks) if isinstance(i, Event)]


# --- the examples of the WHATWG HTML spec, section 9.2.6, verbatim ------------------------------------

def test_spec_example_stock_ticker() -> None:
    stream = b"data: YHOO\ndata: +2\ndata: 10\n\n"
    assert events(stream) == [Event(data="YHOO\n+2\n10")]


def test_spec_example_ids_and_comment() -> None:
    stream = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
    items = decode(stream)
    assert items[0] == Comment("test stream")
    got = [(e.data, e.id) for e in items if isinstance(e, Event)]
    assert got == [("first event", "1"), ("second event", ""), (" third event", "")]


def test_spec_example_empty_data_fields() -> None:
    stream = b"data\n\ndata\ndata\n\ndata:"
    assert [e.data for e in events(stream)] == ["", "\n"]


def test_spec_example_space_after_colon_is_optional() -> None:
    stream = b"data:test\n\ndata: test\n\n"
    assert [e.data for e in events(stream)] == ["test", "test"]


# --- line endings, chunking, encoding -----------------------------------------------------------------

@pytest.mark.parametrize("newline", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending_is_accepted(newline: bytes) -> None:
    stream = b"event: status" + newline + b"id: 3" + newline + b"data: x" + newline + newline
    assert events(stream) == [Event(data="x", event="status", id="3", has_id=True)]


def test_crlf_split_across_chunks_is_one_line_break() -> None:
    # "\r" ends one chunk and "\n" starts the next: one line break, not an extra blank line.
    items = decode(b"data: a\r", b"\ndata: b\r\n\r", b"\n")
    assert items == [Event(data="a\nb")]


def test_lone_cr_at_chunk_end_then_other_text() -> None:
    assert events(b"data: a\r", b"data: b\r\r") == [Event(data="a\nb")]


def test_one_byte_chunks_including_multibyte_utf8() -> None:
    stream = "id: 9\ndata: caf\u00e9 \U0001f600\n\n".encode()
    assert events(*(stream[i : i + 1] for i in range(len(stream)))) == [
        Event(data="caf\u00e9 \U0001f600", id="9", has_id=True)
    ]


def test_leading_bom_is_stripped_once() -> None:
    assert events(b"\xef\xbb\xbf", b"data: x\n\n") == [Event(data="x")]
    # a second BOM is data, and a BOM not at the start makes the field name unknown
    assert events(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []


def test_unicode_line_separator_is_not_a_newline() -> None:
    assert events("data: a\u2028b\n\n".encode()) == [Event(data="a\u2028b")]


def test_event_without_final_blank_line_is_not_dispatched() -> None:
    assert events(b"data: complete\n\ndata: partial\n") == [Event(data="complete")]


def test_id_with_nul_is_ignored_and_id_persists_across_events() -> None:
    decoder = SSEDecoder()
    items = decoder.feed(b"id: 5\ndata: a\n\nid: 6\0\ndata: b\n\ndata: c\n\n")
    assert [(e.data, e.id, e.has_id) for e in items if isinstance(e, Event)] == [
        ("a", "5", True), ("b", "5", False), ("c", "5", False)
    ]
    assert decoder.last_event_id == "5"


@pytest.mark.parametrize(
    ("value", "expected"), [(b"2500", 2500), (b"25x", None), (b"", None), (b"  1", None), (b" 7", 7)]
)
def test_retry_counts_only_when_all_ascii_digits(value: bytes, expected: int | None) -> None:
    decoder = SSEDecoder()
    items = decoder.feed(b"retry:" + value + b"\n\n")
    assert decoder.retry_ms == expected
    assert items == ([Retry(expected)] if expected is not None else [])


def test_unknown_fields_and_fields_without_colon() -> None:
    assert events(b"foo: bar\nevent\ndata\n\n") == [Event(data="", event="message")]


def test_event_type_resets_after_dispatch() -> None:
    got = events(b"event: status\ndata: 1\n\ndata: 2\n\n")
    assert [(e.event, e.data) for e in got] == [("status", "1"), ("message", "2")]


def test_comment_without_space() -> None:
    assert decode(b":ping\n") == [Comment("ping")]


def test_encoder_output_round_trips_through_decoder() -> None:
    data = 'line one\nline "two"\r\n\n: not a comment\nid: 99'
    frame = encode_event(data, event="status", id=42, retry=10)
    decoder = SSEDecoder()
    items = decoder.feed(frame)
    assert items == [Retry(10), Event(data=data.replace("\r\n", "\n"), event="status", id="42", has_id=True)]
