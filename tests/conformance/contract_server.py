"""The contract app in a process of its own, for the SIGTERM checks (contract point 8): the signal must reach
the process serving the stream, which the in-process server of the other mutants cannot be.

    python -m tests.conformance.contract_server FD '{"ignore_sigterm": true}'

serves ``create_app`` on the listening socket FD (bound by the parent, so the port is known before the child
starts). On SIGTERM the clean app ends every stream and keeps answering for ``LINGER_S`` (as an instance does
while a load balancer deregisters it), so the checker's new opens meet the 503; then uvicorn shuts down.
``ContractServer`` is the fixture side: start, wait for /healthz, and kill whatever is left at the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from types import FrameType
from typing import Any

import uvicorn

from reference_app.launcher import listening_socket, wait_until
from reference_app.processes import python_module, spawn
from tests.conformance.contract_app import Flaws, begin_shutdown, create_app

#: how long the clean app answers 503 shutting_down before uvicorn stops listening
LINGER_S = 0.5
HEARTBEAT_S = 0.5


class ContractAppServer(uvicorn.Server):
    flaws: Flaws = Flaws()
    app: Any = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.flaws.ignore_sigterm:  # plain uvicorn: waits for the streams, which never end
            super().handle_exit(sig, frame)
            return
        loop = self._loop
        loop.call_soon_threadsafe(begin_shutdown, self.app)
        if self.flaws.shutdown_never_exits:
            return
        loop.call_soon_threadsafe(loop.call_later, LINGER_S, super().handle_exit, sig, frame)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        import asyncio

        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)


def main(fd: int, flaws_json: str) -> None:
    flaws = Flaws(**json.loads(flaws_json))
    app = create_app(flaws, heartbeat_s=HEARTBEAT_S)
    # ignore_sigterm: no graceful-shutdown timeout either, as plain `uvicorn app:app` runs
    config = uvicorn.Config(app, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=None if flaws.ignore_sigterm else 5)
    server = ContractAppServer(config)
    server.flaws, server.app = flaws, app
    server.run(sockets=[socket.socket(fileno=fd)])


@dataclass
class ContractServer:
    flaws: Flaws
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def __enter__(self) -> ContractServer:
        sock = listening_socket()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            self.process = spawn(python_module("tests.conformance.contract_server", str(sock.fileno()),
                                               json.dumps(asdict(self.flaws))), pass_fds=[sock.fileno()])
        finally:
            sock.close()
        import httpx

        def healthy() -> bool:
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(healthy, 15, interval=0.05, message="the contract app process")
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(10)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
