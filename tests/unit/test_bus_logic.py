"""Bus logic without a server: the publish script on fakeredis (Lua via lupa), URL masking, MemoryBus.

fakeredis is only for these unit tests; everything with sockets runs against a real Redis."""

from __future__ import annotations

import json

import fakeredis
import pytest

from reference_app.bus import keys
from reference_app.bus.memory import MemoryBus
from reference_app.bus.message import BusMessage
from reference_app.bus.publish_script import PUBLISH_LUA, prepare_publish
from sse_client import redact_url
from sse_contract.status import StatusChange, StatusUpdate

pytestmark = pytest.mark.unit


@pytest.fixture
def fake() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def publish(fake: fakeredis.FakeRedis, sid: str, progress: float, publish_id: str | None = None,
            status: str = "processing", maxlen: int = 1000) -> tuple[int, str]:
    """The seq and the JSON text the publisher returns (what Redis stored is checked by the callers)."""
    script = fake.register_script(PUBLISH_LUA)
    change = StatusChange(status, progress, "m", {"lang": "en"})
    call = prepare_publish(sid, change, publish_id, maxlen=maxlen, ttl_s=60)
    update = call.result(script(keys=call.keys, args=call.args))
    return update.seq, update.to_json()


def test_seq_is_assigned_per_session_strictly_increasing(fake: fakeredis.FakeRedis) -> None:
    seqs_a = [publish(fake, "a", p)[0] for p in (1, 2, 3)]
    seqs_b = [publish(fake, "b", p)[0] for p in (1, 2)]
    assert seqs_a == [1, 2, 3]
    assert seqs_b == [1, 2]


def test_stored_and_published_text_is_the_models_json_with_the_assigned_seq(fake: fakeredis.FakeRedis) -> None:
    pubsub = fake.pubsub()
    pubsub.subscribe(keys.channel("a"))
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"  # type: ignore[index]
    publish(fake, "a", 5)
    seq, payload = publish(fake, "a", 10)
    data = json.loads(payload)
    assert list(data)[:2] == ["session_id", "seq"] and data["seq"] == seq == 2 and data["lang"] == "en"
    entries = fake.xrange(keys.log_key("a"))
    assert entries[1][0] == b"2-0"
    assert entries[1][1][b"d"].decode() == payload  # the publisher's result is what Redis holds, unparsed
    published = [pubsub.get_message(timeout=1) for _ in range(2)]
    assert published[1]["data"].decode() == payload  # type: ignore[index]
    assert StatusUpdate.from_json(payload).to_json() == payload


def test_json_halves_around_seq_rebuild_the_models_json_for_any_session_id() -> None:
    for sid in ("a", 'x","seq":0,"', "ü,\\"):
        update = StatusChange("processing", 1.5, "m").to_update(sid, seq=0)
        head, tail = update.json_around_seq()
        assert head + "41" + tail == update.model_copy(update={"seq": 41}).to_json()


def test_retried_publish_with_same_id_is_not_applied_twice(fake: fakeredis.FakeRedis) -> None:
    first = publish(fake, "a", 10, publish_id="task:1")
    again = publish(fake, "a", 10, publish_id="task:1")
    assert again == first  # the first attempt's status, read back from the log (same timestamp, same seq)
    assert fake.xlen(keys.log_key("a")) == 1
    assert publish(fake, "a", 20, publish_id="task:2")[0] == 2


def test_publish_sets_ttl_on_all_session_keys(fake: fakeredis.FakeRedis) -> None:
    fake.hset(keys.meta_key("a"), "owner", "u")
    publish(fake, "a", 1)
    for key in (keys.seq_key("a"), keys.log_key("a"), keys.meta_key("a")):
        assert 0 < fake.ttl(key) <= 60


def test_publish_rejects_bad_status_before_reaching_redis() -> None:
    with pytest.raises(ValueError):
        prepare_publish("a", StatusChange("bogus", 1), None, maxlen=10, ttl_s=60)
    with pytest.raises(ValueError, match="core fields"):
        prepare_publish("a", StatusChange("processing", 1, "", {"seq": 9}), None, maxlen=10, ttl_s=60)


def test_all_keys_of_a_session_share_one_cluster_slot() -> None:
    names = [keys.seq_key("s1"), keys.log_key("s1"), keys.meta_key("s1"), keys.publish_id_key("s1", "x")]
    assert {n[n.index("{") : n.index("}") + 1] for n in names} == {"{s1}"}


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("rediss://app:s3cr%40t@cache.example:6380/2?ssl_cert_reqs=none") == (
        "rediss://app:***@cache.example:6380/2?ssl_cert_reqs=none")
    assert redact_url("redis://:pw@127.0.0.1/0") == "redis://:***@127.0.0.1/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


async def test_memory_bus_fans_out_and_replays() -> None:
    bus = MemoryBus(maxlen=5)
    record = await bus.create_session("alice", "t")
    async with bus.listen(record.id, capacity=16) as one, bus.listen(record.id, capacity=16) as two:
        await bus.publish(record.id, StatusChange("processing", 50, "half"))
        got_one, got_two = await one.get(), await two.get()
        assert isinstance(got_one, BusMessage) and got_one is got_two and got_one.seq == 2
    assert bus.subscriber_stats()["channels"] == 0
    for p in range(10):
        await bus.publish(record.id, StatusChange("processing", p))
    retained = await bus.read_after(record.id, 0)
    assert [m.seq for m in retained] == [8, 9, 10, 11, 12]
    assert (await bus.snapshot(record.id)).seq == 12  # type: ignore[union-attr]
