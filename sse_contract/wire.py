"""The Server-Sent Events wire format: encoding and an incremental decoder, with no I/O.

This is the only place in the project that knows how SSE bytes look. The app's stream and bus, the async
reader ``sse_client`` (the tests' and the demo's clients), the load harness's clients and the conformance
checker all import it, so a fix here fixes all of them. (The fault proxy passes bytes through without
decoding them.)

The decoder follows the WHATWG HTML "event stream interpretation" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
UTF-8 with one optional leading BOM, lines ended by CRLF, LF or CR (a CR at the end of a chunk waits for
the next chunk, which may start with its LF), comments start with ``:``, a field without a colon has an
empty value, one space after the colon is dropped, ``id`` containing NUL is ignored, ``retry`` counts only
when it is all ASCII digits, and an event is dispatched only on a blank line — a trailing event without one
is discarded at the end of the stream.

Unlike a browser, the decoder also reports comments (heartbeats) and ``retry`` fields as items, because
a checker has to see and time them.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Comment",
    "Event",
    "Retry",
    "SSEDecoder",
    "encode_comment",
    "encode_event",
    "encode_retry",
]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Event:
    """A dispatched event, as a browser's ``MessageEvent`` would see it."""

    data: str
    event: str = "message"
    id: str = ""
    #: True when this event block itself carried an ``id:`` field. A browser carries the last id over
    #: to later events; a checker needs to know which events really had one.
    has_id: bool = False


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line (``: ping``), the usual heartbeat. ``text`` excludes the leading colon."""

    text: str


@dataclass(frozen=True, slots=True)
class Retry:
    """A valid ``retry:`` field: the reconnection time in milliseconds."""

    milliseconds: int


Item = Event | Comment | Retry


def _check_single_line(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"SSE {name} must not contain CR or LF: {value!r}")


def encode_event(
    data: str,
    *,
    event: str | None = None,
    id: str | int | None = None,
    retry: int | None = None,
) -> bytes:
    """Encode one event block, ending with the blank line that dispatches it.

    Every line of ``data`` becomes its own ``data:`` field, whatever its line ending, so data can never
    inject another field or event. ``id`` and ``event`` must be single lines; ``id`` must not hold NUL,
    which a browser would silently ignore.
    """
    parts: list[str] = []
    if retry is not None:
        if retry < 0:
            raise ValueError(f"SSE retry must be >= 0, got {retry}")
        parts.append(f"retry: {int(retry)}\n")
    if id is not None:
        id_text = str(id)
        _check_single_line("id", id_text)
        if "\0" in id_text:
            raise ValueError("SSE id must not contain NUL (browsers ignore such an id)")
        parts.append(f"id: {id_text}\n")
    if event is not None:
        _check_single_line("event", event)
        parts.append(f"event: {event}\n")
    for line in _LINE_BREAK.split(data):
        parts.append(f"data: {line}\n" if line else "data\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def encode_comment(text: str = "") -> bytes:
    """Encode a comment (one ``:`` line per line of text). Browsers ignore it; proxies see bytes flow."""
    return "".join(f": {line}\n" if line else ":\n" for line in _LINE_BREAK.split(text)).encode("utf-8")


def encode_retry(milliseconds: int) -> bytes:
    """Encode a lone ``retry:`` field; the blank line after it dispatches nothing."""
    if milliseconds < 0:
        raise ValueError(f"SSE retry must be >= 0, got {milliseconds}")
    return f"retry: {int(milliseconds)}\n\n".encode()


class SSEDecoder:
    """Incremental WHATWG event-stream parser: feed it bytes in chunks split anywhere.

    ``last_event_id`` and ``retry_ms`` persist across events, as in a browser, so a client can resume
    with ``Last-Event-ID: decoder.last_event_id`` after a cut.
    """

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        self._pending_cr = False
        self._data: list[str] = []
        self._event_type = ""
        self._block_had_id = False
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[Item]:
        """Decode ``chunk`` and return the items it completes, in order."""
        text = self._utf8.decode(chunk)
        if not self._started:
            if not text:
                return []
            self._started = True
            if text.startswith(_BOM):
                text = text[1:]
        if self._pending_cr and text:
            # The previous chunk ended with CR; a LF here belongs to it (one CRLF line break).
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
        self._buffer += text
        items: list[Item] = []
        while True:
            match = _LINE_BREAK.search(self._buffer)
            if match is None:
                break
            if match.group() == "\r" and match.end() == len(self._buffer):
                # A CR at the very end: cut the line now, but remember to eat a LF that may follow.
                self._pending_cr = True
            line = self._buffer[: match.start()]
            self._buffer = self._buffer[match.end() :]
            item = self._process_line(line)
            if item is not None:
                items.append(item)
        return items

    def feed_all(self, chunks: Iterable[bytes]) -> list[Item]:
        """Feed several chunks; the end of the stream discards an event that had no blank line."""
        items: list[Item] = []
        for chunk in chunks:
            items.extend(self.feed(chunk))
        return items

    def _process_line(self, line: str) -> Item | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            text = line[1:]
            return Comment(text[1:] if text.startswith(" ") else text)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
                self._block_had_id = True
        elif name == "retry" and value and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
            return Retry(self.retry_ms)
        return None

    def _dispatch(self) -> Event | None:
        had_id, self._block_had_id = self._block_had_id, False
        if not self._data:
            self._event_type = ""
            return None
        event = Event(
            data="\n".join(self._data),
            event=self._event_type or "message",
            id=self.last_event_id,
            has_id=had_id,
        )
        self._data = []
        self._event_type = ""
        return event
