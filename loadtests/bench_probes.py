"""What ``bench capacity`` measures a process by: the machine, the client process it talks to, CPU, RSS and
Redis connections of a process tree (``serve --workers N`` runs the API in N children), and a Prometheus
gauge. No gevent here (the client process has it).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import select
import subprocess
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
import redis

__all__ = ["ClientProcess", "cpu_s", "machine", "metric", "redis_connections", "rss"]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


class ClientProcess:
    """The gevent stream holder, spoken to over stdin/stdout JSON lines."""

    def __init__(self, args: list[str], stderr: IO[bytes]) -> None:
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the bench client said nothing for {timeout:.0f}s")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the bench client exited ({self.process.poll()}); see its stderr above")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send("quit")
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _tree(pid: int) -> list[psutil.Process]:
    """The process and its children (``serve --workers N`` runs the API in N child processes)."""
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def cpu_s(pid: int) -> float:
    total = 0.0
    for process in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def rss(pid: int) -> int:
    return sum(int(p.memory_info().rss) for p in _tree(pid))


def redis_connections(redis_url: str, pid: int) -> dict[str, Any]:
    """Redis clients whose address is a socket of process ``pid`` (or its children): total, pub/sub, names."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    own = {f"{c.laddr.ip}:{c.laddr.port}" for p in _tree(pid) for c in p.net_connections(kind="tcp")
           if c.raddr and c.raddr.port == port}
    client = redis.Redis.from_url(redis_url)
    try:
        entries = [e for e in client.client_list() if e.get("addr") in own]
    finally:
        client.close()
    pubsub = [e for e in entries if int(e.get("sub", 0)) + int(e.get("psub", 0)) > 0 or "P" in e.get("flags", "")]
    return {"total": len(entries), "pubsub": len(pubsub),
            "names": sorted({str(e.get("name") or "-") for e in entries})}


def metric(url: str, name: str) -> float | None:
    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None
