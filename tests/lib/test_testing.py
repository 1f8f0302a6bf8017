"""kvbatch.testing: MemoryBucket keeps the batch semantics; FaultyBucket injects what it is told."""

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


def test_memory_cas_swaps_only_if_the_key_still_holds_what_it_saw():
    store = MemoryBucket({"a": b"1"})
    first, second = store.cas("a"), store.cas("a")
    assert first.current() == b"1" and first.swap(b"2") is True
    assert second.swap(b"3") is False and store.data == {"a": b"2"}


def test_memory_cas_on_an_absent_key_creates_it_only_if_it_is_still_absent():
    store = MemoryBucket()
    first, second = store.cas("a"), store.cas("a")
    assert first.current() is None and first.swap(b"1") is True
    assert second.swap(b"2") is False and store.data == {"a": b"1"}


def test_a_memory_cas_handle_is_used_once():
    handle = MemoryBucket().cas("a")
    handle.swap(b"1")
    with pytest.raises(RuntimeError, match="already used"):
        handle.swap(b"2")


def test_a_memory_bucket_made_without_cas_says_so():
    assert kvbatch.has_cas(MemoryBucket()) and not kvbatch.has_cas(MemoryBucket(cas=False))
    assert not kvbatch.has_cas(FaultyBucket(MemoryBucket(cas=False)))


def test_faulty_swap_fails_without_writing_and_in_doubt_writes_then_fails():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("swap", key="a").fail("swap", key="b", in_doubt=True)
    with pytest.raises(kvbatch.StoreError):
        faulty.cas("a").swap(b"1")
    with pytest.raises(kvbatch.StoreError):
        faulty.cas("b").swap(b"2")
    assert store.data == {"b": b"2"}


def test_faulty_cas_fails_the_check():
    faulty = FaultyBucket(MemoryBucket()).fail("cas", key="a", error=kvbatch.AccessDenied("s"))
    with pytest.raises(kvbatch.AccessDenied):
        faulty.cas("a")


def test_a_before_hook_runs_just_before_the_matching_call_and_the_call_goes_on():
    store = MemoryBucket()
    order = []
    faulty = FaultyBucket(store).before("set", lambda: order.append(dict(store.data)), key="b")
    faulty.set("a", b"1")
    faulty.set("b", b"2")
    faulty.set("b", b"3")  # times=1: once only
    assert order == [{"a": b"1"}] and store.data == {"a": b"1", "b": b"3"}


def test_a_hook_on_an_unknown_op_is_refused():
    with pytest.raises(ValueError, match="unknown op 'swop'"):
        FaultyBucket(MemoryBucket()).before("swop", lambda: None)


@pytest.mark.parametrize("op, call", [
    ("set", lambda f: f.set("a", b"1")),
    ("set_many", lambda f: f.set_many(ITEMS)),
    ("get", lambda f: f.get("a")),
    ("swap", lambda f: f.cas("a").swap(b"1")),
])
def test_each_firing_raises_a_fresh_exception_so_a_caught_one_keeps_its_partial(op, call):
    faulty = FaultyBucket(MemoryBucket()).fail(op, times=None)
    with pytest.raises(kvbatch.StoreError) as first:
        call(faulty)
    first.value.partial = "the caller's"  # what a library attaches once it has caught it
    with pytest.raises(kvbatch.StoreError) as second:
        call(faulty)
    assert second.value is not first.value and first.value.partial == "the caller's"
    assert not hasattr(second.value, "partial") and str(second.value) == str(first.value)
    assert type(second.value) is type(first.value)


def test_a_fresh_exception_keeps_the_given_errors_type_and_fields():
    faulty = FaultyBucket(MemoryBucket()).fail("set", error=kvbatch.CasConflict("k", 3), times=None)
    raised = []
    for _ in range(2):
        with pytest.raises(kvbatch.CasConflict) as caught:
            faulty.set("k", b"v")
        raised.append(caught.value)
    assert raised[0] is not raised[1] and raised[1].key == "k" and raised[1].attempts == 3
    assert faulty.faults[0].error is not raised[0]  # the rule's error is a template, never raised itself
