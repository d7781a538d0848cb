"""Contract point 7 in the test app: a body write that the client does not take within the send timeout
ends the stream and resets the connection (uvicorn alone would wait forever to flush to it).
"""

from __future__ import annotations

import asyncio
import socket
import struct

from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

__all__ = ["ABORT_KEY", "ContractApp", "SendTimeout"]

ABORT_KEY = "contract_app.abort"


def aborter(send: Send) -> object:
    """Reset uvicorn's connection under ``send`` (its RequestResponseCycle holds the transport).

    Why: raising out of a blocked ``send`` only makes uvicorn ``transport.close()``, which waits forever to
    flush to a client that reads nothing (the reference app sets TCP_USER_TIMEOUT for this). SO_LINGER 0
    then ``abort()`` drops the connection and its buffers at once (an RST), which is what point 7 asks."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)

    def abort() -> None:
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return abort


class ContractApp(Starlette):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[ABORT_KEY] = aborter(send)  # uvicorn's own send: Starlette's middleware wraps it below
        await super().__call__(scope, receive, send)


class SendTimeout(StreamingResponse):
    """Point 7: a body write that does not complete within ``send_timeout_s`` (uvicorn's flow control holds
    ``send`` while the client reads nothing) ends the stream and resets the connection."""

    send_timeout_s: float | None = None
    abort_on_timeout: bool = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timeout = self.send_timeout_s
        if timeout is None:
            return await super().__call__(scope, receive, send)

        async def timed(message: Message) -> None:
            try:
                await asyncio.wait_for(send(message), timeout)
            except TimeoutError:
                abort = scope.get(ABORT_KEY)
                if self.abort_on_timeout and callable(abort):
                    abort()
                raise ConnectionAbortedError("the client did not read within the send timeout") from None

        try:
            await super().__call__(scope, receive, timed)
        finally:
            # Starlette leaves the body suspended at its ``yield`` when ``send`` raises: close it so that its
            # ``finally`` (the stream's release from the per-user count) runs now, not at garbage collection
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
