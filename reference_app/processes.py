"""Child processes that never outlive their parent (the demo, the test fixtures, the benchmark)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    stdout: int | None = None,
    stderr: int | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start a child that gets SIGTERM if this process dies, even by SIGKILL (Linux).

    Only from the main thread: PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so a child
    started from a worker thread (``asyncio.to_thread``, an executor) would be killed as soon as that thread
    is retired — an embedded Redis restarted that way died seconds later (tests/faults/test_redis_restart.py).
    """
    full_env = {**os.environ, **(env or {})}
    tied = sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
    return subprocess.Popen(
        list(args),
        env=full_env,
        stdout=stdout,
        stderr=stderr,
        pass_fds=tuple(pass_fds),
        preexec_fn=_die_with_parent if tied else None,
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM, wait, then SIGKILL: the exit code (negative for a signal)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return int(process.returncode)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def celery_worker_args(
    concurrency: int = 8, pool: str = "threads", loglevel: str = "warning", *, quiet: bool = False
) -> list[str]:
    # --quiet is a global celery option: it must come before the sub-command.
    return python_module(
        "celery", "-A", "reference_app.worker.main", *(["--quiet"] if quiet else []), "worker",
        f"--pool={pool}", f"--concurrency={concurrency}", f"--loglevel={loglevel}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    )


def api_args(host: str, port: int, log_level: str = "warning", fd: int | None = None) -> list[str]:
    extra = ["--fd", str(fd)] if fd is not None else []
    return python_module("sse_harness.cli", "serve", "--host", host, "--port", str(port),
                         "--log-level", log_level, *extra)
