"""Reading the server from outside: Prometheus metrics, RSS, Redis subscriptions."""

from __future__ import annotations

import httpx
import psutil
import redis
from prometheus_client.parser import text_string_to_metric_families

from reference_app.bus import keys


def metrics(base_url: str) -> dict[str, float]:
    """Every sample of ``/metrics`` by name (labels dropped: the fault suite reads unlabelled series)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples}


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def subscribers(redis_url: str, session_ids: list[str]) -> int:
    """Redis' own count of subscriptions to these sessions' channels (PUBSUB NUMSUB), summed."""
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(int(n) for _, n in client.pubsub_numsub(*[keys.channel(s) for s in session_ids]))
    finally:
        client.close()


def established_from(pid: int, local_port: int) -> list[str]:
    """TCP states of the server's connections to one client port (empty once the server let go)."""
    return [c.status for c in psutil.Process(pid).net_connections("tcp")
            if c.raddr and c.raddr.port == local_port]
