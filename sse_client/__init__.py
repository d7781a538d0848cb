"""The project's one async SSE reader (httpx + the contract's decoder) and its one HTTP origin parser.

Layer 1, next to ``simulators``: imports ``sse_contract`` and httpx only. Pure decoding stays in
``sse_contract.wire`` (no I/O); this package is the I/O around it.
"""

from sse_client.origin import Origin, redact_url
from sse_client.reader import Arrival, SSEStream, open_stream

__all__ = ["Arrival", "Origin", "SSEStream", "open_stream", "redact_url"]
