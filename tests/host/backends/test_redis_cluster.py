"""The Redis Cluster backend against a real 3-master cluster of its own (fixture `redis_cluster`)."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import pytest
import redis

from kvbatch_host.backends import open_backend
from kvbatch_host.backends.redis_cluster import ClusterBatchError, RedisClusterBackend, _node
from kvbatch_host import HostKvError
from kvbatch_host import EventLog
from kvbatch_host.faults import FaultLayer
from kvbatch_host.redis_server import free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def backend(redis_cluster_url: str) -> Iterator[RedisClusterBackend]:
    b = RedisClusterBackend(redis_cluster_url)
    yield b
    b.close()


def keys_on_each_master(cluster: Any, backend: RedisClusterBackend, store: str) -> Dict[int, List[str]]:
    """Port of each master → the store's keys it really holds (asked of the master itself)."""
    prefix = backend.prefix(store)
    held: Dict[int, List[str]] = {}
    for master in cluster.masters():
        with redis.Redis(host="127.0.0.1", port=master.port) as client:
            held[master.port] = sorted(raw.decode()[len(prefix):] for raw in client.scan_iter(match=prefix + "*", count=1000))
    return held


def test_open_backend_routes_cluster_urls_to_the_cluster_backend(redis_cluster_url: str) -> None:
    backend = open_backend(redis_cluster_url)
    assert isinstance(backend, RedisClusterBackend)
    backend.close()


def test_set_get_delete_exists_round_trip(backend: RedisClusterBackend) -> None:
    backend.set("s", "k", b"v")
    assert backend.get("s", "k") == b"v" and backend.exists("s", "k")
    backend.delete("s", "k")
    assert backend.get("s", "k") is None and not backend.exists("s", "k")


def test_get_many_answers_in_request_order_with_duplicates_and_missing_keys(backend: RedisClusterBackend) -> None:
    items = [(f"k{i:03d}", b"v%d" % i) for i in range(200)]
    backend.set_many("s", items)
    asked = ["missing", "k150", "k003", "k150", "k199", "k000"]
    assert backend.get_many("s", asked) == [None, b"v150", b"v3", b"v150", b"v199", b"v0"]


def test_a_batch_spans_many_slots_and_every_master(backend: RedisClusterBackend) -> None:
    keys = [f"user:{i:04d}" for i in range(300)]
    slots = {backend.slot("s", key) for key in keys}
    owners = {backend.client.nodes_manager.get_node_from_slot(slot).name for slot in slots}
    assert len(slots) > 250 and len(owners) == 3


def test_keys_of_one_store_really_spread_over_every_master(redis_cluster: Any, backend: RedisClusterBackend) -> None:
    keys = [f"user:{i:04d}" for i in range(300)]
    backend.set_many("s", [(key, b"x") for key in keys])
    held = keys_on_each_master(redis_cluster, backend, "s")
    assert len(held) == 3
    assert all(len(on_master) >= 50 for on_master in held.values()), {port: len(k) for port, k in held.items()}
    assert sorted(key for on_master in held.values() for key in on_master) == keys
    owners = redis_cluster.slot_owners()
    for port, on_master in held.items():
        assert all(owners[backend.slot("s", key)] == port for key in on_master)


def test_a_store_name_with_braces_does_not_pin_the_store_to_one_slot(backend: RedisClusterBackend) -> None:
    keys = [f"k{i}" for i in range(100)]
    assert len({backend.slot("{tag}", key) for key in keys}) > 90
    backend.set_many("{tag}", [(key, key.encode()) for key in keys])
    assert backend.get_many("{tag}", keys) == [key.encode() for key in keys]
    assert backend.get("tag", "k1") is None


def test_a_hash_tag_in_the_key_keeps_those_keys_in_one_slot(backend: RedisClusterBackend) -> None:
    assert backend.slot("s", "{user1}:name") == backend.slot("s", "{user1}:mail") != backend.slot("s", "{user2}:name")


def test_set_many_writes_the_last_value_of_a_duplicated_key(backend: RedisClusterBackend) -> None:
    backend.set_many("s", [("a", b"first"), ("b", b"x"), ("a", b"second")])
    assert backend.get_many("s", ["a", "b"]) == [b"second", b"x"]


def test_delete_many_skips_missing_and_duplicated_keys(backend: RedisClusterBackend) -> None:
    backend.set_many("s", [("a", b"1"), ("b", b"2"), ("c", b"3")])
    backend.delete_many("s", ["a", "missing", "a", "c"])
    assert backend.get_many("s", ["a", "b", "c"]) == [None, b"2", None]


def test_empty_batches_do_nothing(backend: RedisClusterBackend) -> None:
    backend.set_many("s", [])
    backend.delete_many("s", [])
    assert backend.get_many("s", []) == []


def test_more_keys_in_one_slot_than_one_command_takes_are_sent_in_several(backend: RedisClusterBackend) -> None:
    keys = [f"{{same}}:{i:04d}" for i in range(2500)]  # > MAX_KEYS_PER_COMMAND, all in one slot
    backend.set_many("s", [(key, key.encode()) for key in keys])
    assert backend.get_many("s", keys) == [key.encode() for key in keys]
    backend.delete_many("s", keys)
    assert set(backend.get_many("s", keys)) == {None}


def test_increment_counts_on_the_keys_master_from_missing_as_zero(backend: RedisClusterBackend) -> None:
    assert backend.increment("s", "n", 5) == 5
    assert backend.increment("s", "n", -2) == 3
    assert backend.get("s", "n") == b"3"


def test_increment_of_a_non_integer_is_an_error(backend: RedisClusterBackend) -> None:
    backend.set("s", "n", b"text")
    with pytest.raises(HostKvError) as caught:
        backend.increment("s", "n", 1)
    assert caught.value.kind == "other"


def test_cas_swaps_only_when_the_key_holds_the_expected_value(backend: RedisClusterBackend) -> None:
    assert backend.compare_and_swap("s", "c", None, b"one")
    assert not backend.compare_and_swap("s", "c", None, b"two")
    assert backend.compare_and_swap("s", "c", b"one", b"two")
    assert backend.get("s", "c") == b"two"


def test_cas_fails_when_another_writer_changed_the_key_first(backend: RedisClusterBackend) -> None:
    backend.set("s", "c", b"seen")
    backend.client.set(backend.redis_key("s", "c"), b"theirs")
    assert not backend.compare_and_swap("s", "c", b"seen", b"ours")
    assert backend.get("s", "c") == b"theirs"


def test_list_keys_pages_across_every_master_and_names_each_key_once(backend: RedisClusterBackend) -> None:
    keys = {f"k{i:04d}" for i in range(1000)}
    backend.set_many("s", [(key, b"x") for key in keys])
    backend.set("other", "k0000", b"not listed")
    listed: List[str] = []
    cursor = None
    pages = 0
    masters_seen = set()
    while True:
        page, cursor = backend.list_keys("s", cursor, limit=70)
        listed += page
        pages += 1
        if cursor is not None:
            masters_seen.add(cursor.split(":")[0])
            assert len(page) >= 1
        if cursor is None:
            break
    assert len(listed) == len(set(listed)) == 1000 and set(listed) == keys
    assert pages >= 1000 // 70 and len(masters_seen) == 3


def test_list_keys_of_an_empty_store_ends_at_once(backend: RedisClusterBackend) -> None:
    assert backend.list_keys("empty", None) == ([], None)


@pytest.mark.parametrize("cursor", ["", "7", "a:1", "1:-1", "99999:0"])
def test_an_invalid_list_keys_cursor_is_an_error(backend: RedisClusterBackend, cursor: str) -> None:
    with pytest.raises(HostKvError) as caught:
        backend.list_keys("s", cursor)
    assert caught.value.kind == "other" and "cursor" in caught.value.message


def test_all_items_returns_every_pair_in_key_order(backend: RedisClusterBackend) -> None:
    backend.set_many("s", [("b", b"2"), ("a", b"1"), ("c", b"3")])
    assert list(backend.all_items("s")) == [("a", b"1"), ("b", b"2"), ("c", b"3")]


def test_a_batch_follows_moved_when_the_client_slot_table_is_stale(backend: RedisClusterBackend) -> None:
    keys = [f"k{i:03d}" for i in range(60)]
    manager = backend.client.nodes_manager
    masters = backend.masters()
    slot = backend.slot("s", keys[0])
    right = manager.slots_cache[slot][0]
    wrong = next(node for node in masters if node.name != right.name)
    manager.slots_cache[slot] = [wrong]  # the client now sends this slot's command to the wrong master
    backend.set_many("s", [(key, b"v") for key in keys])
    assert manager.slots_cache[slot][0].name == right.name, "the MOVED answer patched the slot table"
    manager.slots_cache[slot] = [wrong]
    assert backend.get_many("s", keys) == [b"v"] * 60


def test_a_batch_follows_ask_while_a_slot_migrates(redis_cluster: Any, backend: RedisClusterBackend) -> None:
    key = "migrating-key"
    slot = backend.slot("s", key)
    owners = redis_cluster.slot_owners()
    source = redis_cluster.node(owners[slot])
    target = next(m for m in redis_cluster.masters() if m.port != source.port)
    with redis.Redis(port=source.port) as src, redis.Redis(port=target.port) as dst:
        assert src.execute_command("CLUSTER COUNTKEYSINSLOT", slot) == 0
        src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
        try:
            backend.set_many("s", [(key, b"moved along"), ("elsewhere", b"x")])  # absent at the source: -ASK
            assert dst.execute_command("ASKING") and dst.get(backend.redis_key("s", key)) == b"moved along"
        finally:
            for master in redis_cluster.masters():
                with redis.Redis(port=master.port) as client:
                    client.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    redis_cluster.wait_healthy()
    backend.client.nodes_manager.initialize()
    assert backend.get("s", key) == b"moved along"


def test_a_slot_whose_master_cannot_be_reached_fails_alone_and_the_log_says_so_per_key(
        backend: RedisClusterBackend) -> None:
    keys = [f"k{i:03d}" for i in range(90)]
    events = EventLog()
    layer = FaultLayer(backend, events=events)
    # The client believes one slot lives on a closed port: its command is never sent (refused).
    slot = backend.slot("s", keys[7])
    manager = backend.client.nodes_manager
    real = manager.slots_cache[slot]
    manager.slots_cache[slot] = [_node("127.0.0.1", free_port())]
    try:
        with pytest.raises(HostKvError) as caught:
            layer.set_many("s", [(key, b"new") for key in keys])
    finally:
        manager.slots_cache[slot] = real
    assert isinstance(caught.value, ClusterBatchError)
    same_slot = {key for key in keys if backend.slot("s", key) == slot}
    applied = {e.key: e.applied for e in events if e.op == "set"}
    assert applied == {key: (False if key in same_slot else True) for key in keys}
    held = dict(zip(keys, backend.get_many("s", keys)))
    assert all(held[key] == b"new" for key in keys if key not in same_slot)
    assert f"{len(same_slot)} of 90 keys failed (0 in doubt" in caught.value.message
