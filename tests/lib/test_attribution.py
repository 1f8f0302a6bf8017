"""Attribution after an opaque batch error: every key's reported outcome matches the store.

The faults are injected with kvbatch.testing.FaultyBucket: a `set-many`/`delete-many` that
applies its first k items and then returns one opaque `err`, keys that fail every time, and
"in-doubt" writes that are applied and still answered with an error.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

N = 6
KEYS = [f"key{i}" for i in range(N)]
OLD = {key: b"old-" + key.encode() for key in KEYS}
NEW = {key: b"new-" + key.encode() for key in KEYS}
NO_RETRY = kvbatch.RetryPolicy(attempts=1)


def check_report_matches_store(result: kvbatch.BatchResult, store: Dict[str, bytes], old: Dict[str, Optional[bytes]],
                               new: Dict[str, Optional[bytes]]) -> None:
    """The semantics: succeeded → new state; failed and not attempted → old state; unknown → either."""
    for key in result.succeeded:
        assert store.get(key) == new[key], key
    for key in (*result.failed, *result.not_attempted):
        assert store.get(key) == old[key], key
    for key in result.unknown:
        assert store.get(key) in (old[key], new[key]), key


@pytest.mark.parametrize("position", range(N))
def test_opaque_set_many_error_at_every_position_is_attributed_exactly(position):
    store = MemoryBucket(OLD)
    broken = KEYS[position]
    faulty = FaultyBucket(store).fail("set_many", after=position).fail("set", key=broken, times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).set_many(NEW)
    assert list(result.failed) == [broken]
    assert result.succeeded == tuple(k for k in KEYS if k != broken)
    assert not result.unknown and not result.not_attempted
    assert store.data == {**NEW, broken: OLD[broken]}
    check_report_matches_store(result, store.data, dict(OLD), dict(NEW))


@pytest.mark.parametrize("position", range(N + 1))
def test_opaque_set_many_error_with_no_bad_key_ends_with_every_key_written(position):
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set_many", after=position)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).set_many(NEW)
    assert result.all_succeeded
    assert store.data == NEW
    assert result.stats.attributed == N  # one single-key call per key of the chunk


@pytest.mark.parametrize("position", range(N))
def test_opaque_delete_many_error_at_every_position_is_attributed_exactly(position):
    store = MemoryBucket(OLD)
    broken = KEYS[position]
    faulty = FaultyBucket(store).fail("delete_many", after=position).fail("delete", key=broken, times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).delete_many(KEYS)
    assert list(result.failed) == [broken]
    assert store.data == {broken: OLD[broken]}


def test_only_the_chunk_that_failed_is_attributed():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set_many", call=2, after=1)
    result = kvbatch.Bucket(faulty, chunk_size=2, retry=NO_RETRY).set_many(NEW)
    assert result.all_succeeded
    singles = [keys for op, _, keys, _ in faulty.log if op == "set"]
    assert singles == [(KEYS[2],), (KEYS[3],)]


def test_in_doubt_write_is_verified_by_reading_it_back():
    store = MemoryBucket(OLD)
    faulty = FaultyBucket(store).fail("set_many", in_doubt=True).fail("set", key="key2", in_doubt=True, times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).set_many(NEW)
    assert result.all_succeeded  # key2 holds its new value: that is what "succeeded" promises
    assert store.data == NEW
    assert result.stats.verified == 1


def test_in_doubt_write_is_unknown_without_verification():
    store = MemoryBucket(OLD)
    faulty = FaultyBucket(store).fail("set_many").fail("set", key="key2", in_doubt=True, times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY, verify=False).set_many(NEW)
    assert result.unknown == ("key2",)
    assert isinstance(result.unknown_errors["key2"], kvbatch.StoreError)
    assert "key2" not in result.succeeded and not result.failed
    check_report_matches_store(result, store.data, dict(OLD), dict(NEW))


def test_write_is_unknown_when_the_read_back_fails_too():
    store = MemoryBucket(OLD)
    faulty = FaultyBucket(store).fail("set_many").fail("set", key="key2", in_doubt=True, times=None)
    faulty.fail("get", key="key2", times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).set_many(NEW)
    assert result.unknown == ("key2",)
    assert len(result.succeeded) == N - 1


def test_unknown_keys_make_raise_for_failures_raise():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many").fail("set", key="key0", in_doubt=True)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY, verify=False).set_many(NEW)
    with pytest.raises(kvbatch.BatchFailed, match="1 unknown \\('key0'\\)"):
        result.raise_for_failures()


def test_opaque_get_many_error_is_attributed_to_the_key_that_fails():
    store = MemoryBucket(OLD)
    faulty = FaultyBucket(store).fail("*", key="key3", times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).get_many(KEYS)
    assert list(result.failed) == ["key3"]
    assert dict(result.values) == {k: v for k, v in OLD.items() if k != "key3"}


# -- the invariant, over random stores, batches and faults -------------------------------------

fault_st = st.one_of(
    st.builds(lambda call, after: ("set_many", dict(call=call, after=after)), st.integers(1, 3), st.integers(0, 5)),
    st.builds(lambda call: ("set_many", dict(call=call, in_doubt=True)), st.integers(1, 3)),
    st.builds(lambda key, times: ("set", dict(key=key, times=times)), st.sampled_from(KEYS), st.sampled_from([1, 2, None])),
    st.builds(lambda key: ("set", dict(key=key, in_doubt=True, times=None)), st.sampled_from(KEYS)),
    st.builds(lambda key: ("get", dict(key=key, times=None)), st.sampled_from(KEYS)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    old=st.dictionaries(st.sampled_from(KEYS), st.binary(max_size=3)),
    writes=st.lists(st.tuples(st.sampled_from(KEYS), st.binary(min_size=4, max_size=6)), max_size=12),
    faults=st.lists(fault_st, max_size=4),
    chunk_size=st.integers(1, 4),
    attempts=st.integers(1, 3),
    verify=st.booleans(),
    stop_on_error=st.booleans(),
)
def test_every_reported_outcome_matches_the_store(old, writes, faults, chunk_size, attempts, verify, stop_on_error):
    store = MemoryBucket(old)
    faulty = FaultyBucket(store)
    for op, options in faults:
        faulty.fail(op, **options)
    bucket = kvbatch.Bucket(faulty, chunk_size=chunk_size, verify=verify,
                            retry=kvbatch.RetryPolicy(attempts=attempts, sleep=lambda s: None))
    result = bucket.set_many(writes, stop_on_error=stop_on_error)
    new: Dict[str, Optional[bytes]] = dict(writes)
    assert set(result.order) == set(new) and result.total == len(new)
    check_report_matches_store(result, store.data, {k: old.get(k) for k in new}, new)
    untouched: List[Tuple[str, Optional[bytes]]] = [(k, old.get(k)) for k in KEYS if k not in new]
    assert all(store.data.get(k) == v for k, v in untouched)


delete_fault_st = st.one_of(
    st.builds(lambda call, after: ("delete_many", dict(call=call, after=after)), st.integers(1, 3), st.integers(0, 5)),
    st.builds(lambda call: ("delete_many", dict(call=call, in_doubt=True)), st.integers(1, 3)),
    st.builds(lambda key, times: ("delete", dict(key=key, times=times)), st.sampled_from(KEYS), st.sampled_from([1, None])),
    st.builds(lambda key: ("delete", dict(key=key, in_doubt=True, times=None)), st.sampled_from(KEYS)),
    st.builds(lambda key: ("exists", dict(key=key, times=None)), st.sampled_from(KEYS)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    old=st.dictionaries(st.sampled_from(KEYS), st.binary(min_size=1, max_size=3)),
    deletes=st.lists(st.sampled_from(KEYS), max_size=10),
    faults=st.lists(delete_fault_st, max_size=4),
    chunk_size=st.integers(1, 4),
    verify=st.booleans(),
    missing_ok=st.booleans(),
)
def test_every_reported_delete_outcome_matches_the_store(old, deletes, faults, chunk_size, verify, missing_ok):
    store = MemoryBucket(old)
    faulty = FaultyBucket(store)
    for op, options in faults:
        faulty.fail(op, **options)
    bucket = kvbatch.Bucket(faulty, chunk_size=chunk_size, verify=verify, retry=NO_RETRY)
    result = bucket.delete_many(deletes, missing_ok=missing_ok)
    olds = {k: old.get(k) for k in deletes}
    check_report_matches_store(result, store.data, olds, {k: None for k in deletes})
    not_found = [k for k, e in result.failed.items() if isinstance(e, kvbatch.KeyNotFound)]
    assert all(k not in old for k in not_found) and (not not_found or not missing_ok)
