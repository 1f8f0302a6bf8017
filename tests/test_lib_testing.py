"""kvbatch.testing: MemoryBucket keeps DESIGN.md's semantics; FaultyBucket injects what it is told."""

from __future__ import annotations

import pytest

import kvbatch
from kvbatch.testing import Fault, FaultyBucket, MemoryBucket

ITEMS = [("a", b"1"), ("b", b"2"), ("c", b"3")]


def test_memory_bucket_set_many_last_value_wins_and_delete_many_skips_missing():
    store = MemoryBucket()
    store.set_many([("a", b"1"), ("a", b"2")])
    store.delete_many(["a", "zz"])
    store.set("b", b"3")
    assert store.data == {"b": b"3"} and store.get_many(["b", "a"]) == [b"3", None]


def test_memory_bucket_logs_calls():
    store = MemoryBucket()
    store.set_many(ITEMS)
    store.exists("a")
    assert store.calls == [("set_many", ("a", "b", "c")), ("exists", ("a",))] and store.count("exists") == 1


@pytest.mark.parametrize("after", [0, 1, 2, 3])
def test_faulty_set_many_applies_the_first_k_items_then_raises(after):
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set_many", after=after)
    with pytest.raises(kvbatch.StoreError):
        faulty.set_many(ITEMS)
    assert store.data == dict(ITEMS[:after])


def test_faulty_many_call_naming_a_key_applies_the_items_before_it():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set_many", key="c")
    with pytest.raises(kvbatch.StoreError):
        faulty.set_many(ITEMS)
    assert store.data == {"a": b"1", "b": b"2"}


def test_in_doubt_fault_applies_the_write_and_raises():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set", in_doubt=True).fail("delete_many", in_doubt=True)
    with pytest.raises(kvbatch.StoreError):
        faulty.set("a", b"1")
    assert store.data == {"a": b"1"}
    with pytest.raises(kvbatch.StoreError):
        faulty.delete_many(["a"])
    assert store.data == {}


def test_fault_at_a_given_call_number_fires_once_by_default():
    faulty = FaultyBucket(MemoryBucket()).fail("get", call=2)
    faulty.get("a")
    with pytest.raises(kvbatch.StoreError):
        faulty.get("a")
    faulty.get("a")
    assert [entry[3] is not None for entry in faulty.log] == [False, True, False] and faulty.fired == 1


def test_fault_with_times_none_fires_on_every_match_and_carries_its_error():
    faulty = FaultyBucket(MemoryBucket(), Fault("exists", error=kvbatch.AccessDenied("s"), times=None))
    for _ in range(3):
        with pytest.raises(kvbatch.AccessDenied):
            faulty.exists("a")


def test_unknown_op_is_rejected():
    with pytest.raises(ValueError, match="unknown op 'put'"):
        FaultyBucket(MemoryBucket()).fail("put")
