"""The shared subscriber and the command pool read the same Redis URL the same way (both through redis-py):
a password, an ACL user, a db number and ``rediss://`` with its ``ssl_*`` options, against a real
redis-server that requires a password and also listens with TLS (a throw-away certificate from openssl).

Each case publishes through ``RedisBus`` (the command pool) and must receive the status through the shared
subscriber's mailbox; a wrong password or an unverifiable certificate must leave the subscriber
disconnected, and its log line must name the URL with the password masked.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from reference_app.bus.message import BusMessage
from reference_app.bus.redis_bus import RedisBus
from reference_app.embedded_redis import find_redis_server, free_port
from sse_contract.status import StatusChange

pytestmark = pytest.mark.integration

PASSWORD = "s3cr:t@pw"  # characters a URL must percent-encode
QUOTED = "s3cr%3At%40pw"
USER, USER_PASSWORD = "app", "apppw"


@dataclass
class SecuredRedis:
    port: int
    tls_port: int
    ca: Path


@pytest.fixture(scope="module")
def secured_redis() -> Iterator[SecuredRedis]:
    binary = find_redis_server()
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificate")
    work = Path(tempfile.mkdtemp(prefix="sse-harness-tls-"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    port, tls_port = free_port(), free_port()
    process = subprocess.Popen([
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(work), "--requirepass", PASSWORD,
        "--tls-port", str(tls_port), "--tls-cert-file", str(work / "cert.pem"),
        "--tls-key-file", str(work / "key.pem"), "--tls-ca-cert-file", str(work / "cert.pem"),
        "--tls-auth-clients", "no", "--logfile", str(work / "redis.log"),
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=PASSWORD, socket_connect_timeout=0.5)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                log = (work / "redis.log").read_text(errors="replace")[-500:]
                pytest.fail(f"redis-server with TLS did not start (no TLS in this build?): {log}")
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-server with TLS did not answer within 10 s")
                time.sleep(0.05)
        client.acl_setuser(USER, enabled=True, passwords=[f"+{USER_PASSWORD}"], keys=["*"], channels=["*"],
                           commands=["+@all"])
        yield SecuredRedis(port, tls_port, work / "cert.pem")
    finally:
        client.close()
        process.kill()
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


async def _published_and_received(url: str) -> tuple[BusMessage, int]:
    """Publish one status through the command pool, receive it through the shared subscriber; also the
    db number the subscriber's connection selected (from CLIENT LIST, by its client name)."""
    bus = RedisBus(url)
    try:
        await bus.start()
        assert bus.subscriber.connected, "the shared subscriber did not connect"
        record = await bus.create_session("alice", "t")
        async with asyncio.timeout(10), bus.listen(record.id, capacity=8) as mailbox:
            await bus.publish(record.id, StatusChange("processing", 40, "via the pool"))
            got = await mailbox.get()
        clients = await bus.redis.client_list()
        dbs = [int(c["db"]) for c in clients if c.get("name") == "sse-shared-subscriber"]
        assert len(dbs) == 1, clients
        assert isinstance(got, BusMessage)
        return got, dbs[0]
    finally:
        await bus.stop()


@pytest.mark.parametrize("db", [0, 5])
async def test_password_and_db_number(secured_redis: SecuredRedis, db: int) -> None:
    got, selected = await _published_and_received(f"redis://:{QUOTED}@127.0.0.1:{secured_redis.port}/{db}")
    assert (got.seq, got.status) == (2, "processing")
    assert selected == db


async def test_acl_user(secured_redis: SecuredRedis) -> None:
    got, selected = await _published_and_received(
        f"redis://{USER}:{USER_PASSWORD}@127.0.0.1:{secured_redis.port}/3")
    assert got.seq == 2 and selected == 3


async def test_rediss_with_the_servers_ca(secured_redis: SecuredRedis) -> None:
    url = f"rediss://:{QUOTED}@127.0.0.1:{secured_redis.tls_port}/2?ssl_ca_certs={secured_redis.ca}"
    got, selected = await _published_and_received(url)
    assert got.seq == 2 and selected == 2


@pytest.mark.parametrize("case", ["wrong password", "untrusted certificate"])
async def test_cannot_connect_leaves_it_disconnected_and_logs_the_masked_url(
    secured_redis: SecuredRedis, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    if case == "wrong password":
        url, secret = f"redis://:wrong-{QUOTED}@127.0.0.1:{secured_redis.port}/0", f"wrong-{QUOTED}"
    else:  # TLS without the CA: the default context verifies the certificate and must refuse it
        url, secret = f"rediss://:{QUOTED}@127.0.0.1:{secured_redis.tls_port}/0", QUOTED
    bus = RedisBus(url)
    caplog.set_level(logging.WARNING, logger="reference_app.bus.subscriber")
    try:
        await bus.subscriber.start(timeout=1.0)
        assert not bus.subscriber.connected
        assert (await bus.healthy())["subscriber"] is False
    finally:
        await bus.stop()
    lines = [r.getMessage() for r in caplog.records if "lost Redis" in r.getMessage()]
    assert lines, "no log line says the subscriber cannot reach Redis"
    assert all(secret not in line and PASSWORD not in line for line in lines)
    assert "127.0.0.1:" in lines[0] and ":***@" in lines[0]


async def test_subscribe_unsubscribe_churn_keeps_the_order_of_commands(secured_redis: SecuredRedis) -> None:
    """Sends are tasks: a channel left and joined again at once must end up subscribed (UNSUBSCRIBE before
    SUBSCRIBE on the wire), and Redis must hold exactly the channels with listeners."""
    bus = RedisBus(f"redis://:{QUOTED}@127.0.0.1:{secured_redis.port}/0")
    try:
        await bus.start()
        record = await bus.create_session("alice", "t")
        async with asyncio.timeout(20):
            for _ in range(30):
                async with bus.listen(record.id, capacity=4):
                    pass
            async with bus.listen(record.id, capacity=8) as mailbox:
                await bus.publish(record.id, StatusChange("processing", 10))
                got = await mailbox.get()
                assert isinstance(got, BusMessage) and got.seq == 2
                channels = await bus.redis.pubsub_channels()
                assert channels == [f"sse:status:{record.id}".encode()]
            assert bus.subscriber_stats()["channels"] == 0  # (PUBSUB NUMSUB back to 0: test_mass_disconnect)
    finally:
        await bus.stop()
