"""Conditional writes: `set_many(only_if="absent" | "present")`, race-free through compare-and-swap.

A racing writer is simulated with `FaultyBucket.before("swap", ...)`: it changes the key after
the library's check (`cas`, which sees the value) and before its write (`swap`). The promise:
an `insert` never overwrites a value someone else wrote, an `update` never resurrects a key
someone deleted, and every reported outcome matches the store.
"""

from __future__ import annotations

from typing import Dict, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

KEYS = [f"key{i}" for i in range(6)]
NO_RETRY = kvbatch.RetryPolicy(attempts=1)
RETRY_ONCE = kvbatch.RetryPolicy(attempts=2, sleep=lambda s: None)
MINE = {key: b"mine-" + key.encode() for key in KEYS}
THEIRS = b"theirs"


def test_only_if_absent_writes_absent_keys_and_fails_existing_ones_with_key_exists():
    store = MemoryBucket({"key0": b"old"})
    result = kvbatch.Bucket(store).set_many({"key0": b"new", "key1": b"new"}, only_if="absent")
    assert result.succeeded == ("key1",)
    assert result.failed == {"key0": kvbatch.KeyExists("key0")}
    assert store.data == {"key0": b"old", "key1": b"new"}


def test_only_if_present_writes_existing_keys_and_fails_absent_ones_with_key_not_found():
    store = MemoryBucket({"key0": b"old"})
    result = kvbatch.Bucket(store).set_many({"key0": b"new", "key1": b"new"}, only_if="present")
    assert result.succeeded == ("key0",)
    assert result.failed == {"key1": kvbatch.KeyNotFound("key1")}
    assert store.data == {"key0": b"new"}


def test_the_failure_reason_names_the_condition_that_did_not_hold():
    store = MemoryBucket({"a": b"1"})
    result = kvbatch.Bucket(store).set_many({"a": b"2"}, only_if="absent")
    assert str(result.failed["a"]) == "a value already exists at key 'a'"


def test_a_conditional_write_goes_through_cas_and_swap_per_key():
    store = MemoryBucket()
    kvbatch.Bucket(store).set_many({"a": b"1", "b": b"2"}, only_if="absent")
    assert [op for op, _ in store.calls] == ["cas", "swap", "cas", "swap"]


def test_an_insert_never_overwrites_a_writer_that_raced_in_between_check_and_write():
    store = MemoryBucket()
    faulty = FaultyBucket(store).before("swap", lambda: store.set("key1", THEIRS), key="key1")
    result = kvbatch.Bucket(faulty).set_many({"key0": b"mine", "key1": b"mine"}, only_if="absent")
    assert store.data == {"key0": b"mine", "key1": THEIRS}
    assert result.failed == {"key1": kvbatch.KeyExists("key1")}


def test_an_update_never_resurrects_a_key_deleted_in_between_check_and_write():
    store = MemoryBucket({"key0": b"old"})
    faulty = FaultyBucket(store).before("swap", lambda: store.delete("key0"), key="key0")
    result = kvbatch.Bucket(faulty).set_many({"key0": b"mine"}, only_if="present")
    assert store.data == {}
    assert result.failed == {"key0": kvbatch.KeyNotFound("key0")}


def test_an_update_that_lost_a_race_to_another_update_checks_again_and_writes():
    store = MemoryBucket({"key0": b"old"})
    faulty = FaultyBucket(store).before("swap", lambda: store.set("key0", THEIRS), key="key0")
    result = kvbatch.Bucket(faulty).set_many({"key0": b"mine"}, only_if="present")
    assert result.all_succeeded and store.data == {"key0": b"mine"}
    assert store.count("cas") == 2


def test_a_key_that_changes_under_every_swap_fails_with_cas_conflict():
    store = MemoryBucket({"key0": b"old"})
    counter = iter(range(1000))
    faulty = FaultyBucket(store).before("swap", lambda: store.set("key0", b"%d" % next(counter)), times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).set_many({"key0": b"mine"}, only_if="present")
    error = result.failed["key0"]
    assert isinstance(error, kvbatch.CasConflict) and error.attempts == kvbatch.MAX_CAS_ATTEMPTS
    assert store.count("swap") == kvbatch.MAX_CAS_ATTEMPTS and store.data["key0"] != b"mine"


def test_a_swap_that_answered_an_error_after_writing_is_unknown_not_key_exists():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("swap", key="key0", in_doubt=True)
    result = kvbatch.Bucket(faulty, retry=RETRY_ONCE).set_many({"key0": b"mine"}, only_if="absent")
    assert result.unknown == ("key0",) and store.data == {"key0": b"mine"}
    assert isinstance(result.error("key0"), kvbatch.StoreError)  # the swap's error, not KeyExists


def test_an_in_doubt_swap_read_back_holding_our_value_is_unknown_it_may_be_another_writers():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("swap", key="key0", in_doubt=True)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).set_many({"key0": b"mine"}, only_if="absent")
    assert result.unknown == ("key0",) and result.stats.verified == 1


def test_an_in_doubt_swap_read_back_finding_the_old_state_is_failed():
    store = MemoryBucket({"key0": b"old"})
    faulty = FaultyBucket(store).fail("swap", key="key0")  # errs without writing
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).set_many({"key0": b"mine"}, only_if="present")
    assert list(result.failed) == ["key0"] and isinstance(result.failed["key0"], kvbatch.StoreError)
    assert store.data == {"key0": b"old"} and result.stats.verified == 1


def test_a_retry_that_finds_the_old_state_after_an_erring_swap_writes_and_succeeds():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("swap", key="key0")  # errs without writing
    result = kvbatch.Bucket(faulty, retry=RETRY_ONCE).set_many({"key0": b"mine"}, only_if="absent")
    assert result.all_succeeded and store.data == {"key0": b"mine"} and store.count("swap") == 1


@pytest.mark.parametrize("verify", [True, False])
def test_an_insert_overwritten_after_an_in_doubt_swap_is_unknown_not_key_exists(verify):
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("swap", key="k", in_doubt=True)
    faulty.before("cas", lambda: store.set("k", b"theirs"), key="k", call=2)
    result = kvbatch.Bucket(faulty, retry=RETRY_ONCE, verify=verify).set_many({"k": b"mine"}, only_if="absent")
    assert result.unknown == ("k",) and store.data == {"k": b"theirs"}
    assert not isinstance(result.error("k"), kvbatch.KeyExists)


@pytest.mark.parametrize("verify", [True, False])
def test_an_update_deleted_after_an_in_doubt_swap_is_unknown_not_key_not_found(verify):
    store = MemoryBucket({"k": b"old"})
    faulty = FaultyBucket(store).fail("swap", key="k", in_doubt=True)
    faulty.before("cas", lambda: store.delete("k"), key="k", call=2)
    result = kvbatch.Bucket(faulty, retry=RETRY_ONCE, verify=verify).set_many({"k": b"mine"}, only_if="present")
    assert result.unknown == ("k",) and store.data == {}


def test_an_update_overwritten_after_an_in_doubt_swap_writes_again_and_succeeds_on_its_own_swap():
    store = MemoryBucket({"k": b"old"})
    faulty = FaultyBucket(store).fail("swap", key="k", in_doubt=True)
    faulty.before("cas", lambda: store.set("k", b"theirs"), key="k", call=2)
    result = kvbatch.Bucket(faulty, retry=RETRY_ONCE).set_many({"k": b"mine"}, only_if="present")
    assert result.all_succeeded and store.data == {"k": b"mine"}


@pytest.mark.parametrize("attempts", [1, 2])
def test_an_insert_whose_swap_erred_is_never_succeeded_on_another_writers_identical_value(attempts):
    """Two workers inserting the same lock value: only the one whose own swap answered ok created it."""
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("swap", key="lock")  # ours errs, unapplied...
    faulty.before("swap", lambda: store.set("lock", b"1"), key="lock")  # ...after the other worker took it
    result = kvbatch.Bucket(faulty, retry=kvbatch.RetryPolicy(attempts=attempts, sleep=lambda s: None)).set_many(
        {"lock": b"1"}, only_if="absent")
    assert result.unknown == ("lock",) and store.data == {"lock": b"1"}


def test_an_in_doubt_swap_that_cannot_be_read_back_is_unknown():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("swap", key="key0", in_doubt=True).fail("get", key="key0", times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).set_many({"key0": b"mine"}, only_if="absent")
    assert result.unknown == ("key0",)


def test_a_failed_cas_is_retried_and_the_write_then_succeeds():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("cas", key="key0")
    result = kvbatch.Bucket(faulty, retry=kvbatch.RetryPolicy(attempts=2, sleep=lambda s: None)).set_many(
        {"key0": b"mine"}, only_if="absent")
    assert result.all_succeeded and result.stats.retries == 1


def test_a_bucket_without_cas_refuses_a_conditional_write_before_sending_anything():
    store = MemoryBucket(cas=False)
    with pytest.raises(kvbatch.Unsupported, match="needs wasi:keyvalue/atomics cas"):
        kvbatch.Bucket(store).set_many({"a": b"1"}, only_if="absent")
    assert store.calls == []


def test_an_unknown_condition_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="only_if must be one of 'absent', 'present' or None, got 'maybe'"):
        kvbatch.Bucket(MemoryBucket()).set_many({"a": b"1"}, only_if="maybe")  # type: ignore[arg-type]


def test_a_capability_error_in_a_cas_propagates_with_the_partial_result():
    faulty = FaultyBucket(MemoryBucket()).fail("cas", key="key2", error=kvbatch.AccessDenied("s"))
    with pytest.raises(kvbatch.AccessDenied) as caught:
        kvbatch.Bucket(faulty, chunk_size=2).set_many({k: b"v" for k in KEYS[:4]}, only_if="absent")
    partial = caught.value.partial
    assert partial.succeeded == ("key0", "key1") and partial.unknown == ("key2", "key3")


@pytest.mark.parametrize("op, options", [
    ("cas", {}), ("swap", {}), ("swap", {"in_doubt": True}),
])
@pytest.mark.parametrize("position", range(4))
def test_a_fault_at_every_position_of_a_conditional_write_is_reported_as_the_store_says(op, options, position):
    old = {"key1": b"old", "key3": b"old"}
    store = MemoryBucket(old)
    key = KEYS[position]
    faulty = FaultyBucket(store).fail(op, key=key, times=None, **options)
    result = kvbatch.Bucket(faulty, chunk_size=2, retry=NO_RETRY).set_many({k: MINE[k] for k in KEYS[:4]},
                                                                           only_if="absent")
    for k, status in result.outcomes().items():
        if status == "succeeded":
            assert store.data[k] == MINE[k]
        elif status == "unknown":
            assert store.data.get(k) in (old.get(k), MINE[k]) and options.get("in_doubt"), k
        else:
            assert store.data.get(k) == old.get(k), k
    assert set(result.failed) >= {"key1", "key3"}  # they exist: the condition fails, whatever the fault


# -- the invariant, with racing writers and faults --------------------------------------------

race_st = st.tuples(st.sampled_from(KEYS), st.sampled_from(["set", "delete"]))
cond_fault_st = st.one_of(
    st.builds(lambda key: ("cas", dict(key=key)), st.sampled_from(KEYS)),
    st.builds(lambda key, doubt: ("swap", dict(key=key, in_doubt=doubt)), st.sampled_from(KEYS), st.booleans()),
    st.builds(lambda key: ("get", dict(key=key, times=None)), st.sampled_from(KEYS)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    old=st.dictionaries(st.sampled_from(KEYS), st.just(b"old")),
    keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=6, unique=True),
    only_if=st.sampled_from(["absent", "present"]),
    races=st.lists(race_st, max_size=3, unique_by=lambda r: r[0]),
    faults=st.lists(cond_fault_st, max_size=3),
    chunk_size=st.integers(1, 4),
    attempts=st.integers(1, 3),
)
def test_racing_writers_are_never_clobbered_and_every_outcome_matches_the_store(old, keys, only_if, races, faults,
                                                                                chunk_size, attempts):
    store = MemoryBucket(old)
    faulty = FaultyBucket(store)
    raced: Dict[str, str] = {}

    def racer(key: str, what: str):
        def act() -> None:
            raced[key] = what
            store.set(key, THEIRS) if what == "set" else store.delete(key)
        return act

    for key, what in races:
        faulty.before("swap", racer(key, what), key=key)
    for op, options in faults:
        faulty.fail(op, **options)
    bucket = kvbatch.Bucket(faulty, chunk_size=chunk_size, retry=kvbatch.RetryPolicy(attempts=attempts,
                                                                                     sleep=lambda s: None))
    result = bucket.set_many({k: MINE[k] for k in keys}, only_if=only_if)
    assert set(result.order) == set(keys)
    for key in keys:
        status, stored = result.outcome(key), store.data.get(key)
        before: Optional[bytes] = old.get(key)
        if status == "succeeded":
            assert stored == MINE[key]
            if raced.get(key) == "set" and only_if == "absent":
                pytest.fail(f"{key}: an insert reported succeeded over a racing writer's value")
        elif status == "failed":
            assert stored != MINE[key], key  # not written by us
        if raced.get(key) == "set" and only_if == "absent":
            assert stored == THEIRS and status != "succeeded", key  # the racer's write is never lost
        if raced.get(key) == "delete" and only_if == "present" and status != "unknown":
            assert status == "failed" and stored is None, key  # never resurrected
        if key not in raced and status == "failed" and not isinstance(result.failed[key], kvbatch.StoreError):
            assert (before is None) == (only_if == "present"), key  # the condition really did not hold
