"""`Bucket.copy_many`: `(source, destination)` pairs, outcomes keyed by source (remote_store's
`batch_copy`), `overwrite=False` race-free through compare-and-swap, into this bucket or another."""

from __future__ import annotations

from typing import Dict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

NO_RETRY = kvbatch.RetryPolicy(attempts=1)
SOURCES = [f"src{i}" for i in range(5)]
DESTS = [f"dst{i}" for i in range(5)]
VALUES = {s: b"value-" + s.encode() for s in SOURCES}


def test_pairs_are_copied_within_the_bucket_and_keyed_by_source():
    store = MemoryBucket({"a": b"1", "b": b"2"})
    result = kvbatch.Bucket(store).copy_many([("a", "a2"), ("b", "b2")])
    assert result.all_succeeded and result.succeeded == ("a", "b")
    assert dict(result.pairs) == {"a": "a2", "b": "b2"} and result.destination("b") == "b2"
    assert store.data == {"a": b"1", "b": b"2", "a2": b"1", "b2": b"2"}


def test_a_mapping_of_source_to_destination_is_accepted():
    store = MemoryBucket({"a": b"1"})
    assert kvbatch.Bucket(store).copy_many({"a": "b"}).all_succeeded and store.data["b"] == b"1"


def test_pairs_are_copied_into_another_bucket_with_to():
    here, there = MemoryBucket({"a": b"1"}, name="here"), MemoryBucket(name="there")
    result = kvbatch.Bucket(here).copy_many([("a", "a")], to=kvbatch.Bucket(there))
    assert result.all_succeeded and there.data == {"a": b"1"} and here.data == {"a": b"1"}


def test_an_existing_destination_is_left_alone_and_the_pair_fails_with_key_exists():
    store = MemoryBucket({"a": b"1", "b": b"old"})
    result = kvbatch.Bucket(store).copy_many([("a", "b")])
    assert result.failed == {"a": kvbatch.KeyExists("b")}
    assert store.data["b"] == b"old"


def test_overwrite_replaces_an_existing_destination():
    store = MemoryBucket({"a": b"1", "b": b"old"})
    assert kvbatch.Bucket(store).copy_many([("a", "b")], overwrite=True).all_succeeded
    assert store.data["b"] == b"1"


def test_a_destination_created_by_a_racing_writer_is_never_clobbered():
    store = MemoryBucket({"a": b"1"})
    faulty = FaultyBucket(store).before("swap", lambda: store.set("b", b"theirs"), key="b")
    result = kvbatch.Bucket(faulty).copy_many([("a", "b")])
    assert store.data["b"] == b"theirs" and result.failed == {"a": kvbatch.KeyExists("b")}


def test_a_missing_source_fails_with_key_not_found():
    store = MemoryBucket({"a": b"1"})
    result = kvbatch.Bucket(store).copy_many([("a", "a2"), ("gone", "g2")])
    assert result.succeeded == ("a",) and result.failed == {"gone": kvbatch.KeyNotFound("gone")}
    assert "g2" not in store.data


def test_with_missing_ok_a_missing_source_succeeds_copies_nothing_and_is_listed_missing():
    store = MemoryBucket({"g2": b"keep"})
    result = kvbatch.Bucket(store).copy_many([("gone", "g2")], missing_ok=True, overwrite=True)
    assert result.all_succeeded and result.missing == ("gone",)
    assert store.data == {"g2": b"keep"}


def test_overwrite_false_into_a_bucket_without_cas_is_refused_before_anything_is_sent():
    store = MemoryBucket({"a": b"1"}, cas=False)
    with pytest.raises(kvbatch.Unsupported, match="overwrite=False.*needs wasi:keyvalue/atomics cas"):
        kvbatch.Bucket(store).copy_many([("a", "b")])
    assert store.calls == []


def test_overwrite_true_needs_no_cas():
    store = MemoryBucket({"a": b"1"}, cas=False)
    assert kvbatch.Bucket(store).copy_many([("a", "b")], overwrite=True).all_succeeded


@pytest.mark.parametrize("pairs, problem", [
    ([("a", "b"), ("a", "c")], "item 1: source 'a' is named twice \\(items 0 and 1\\)"),
    ([("a", "c"), ("b", "c")], "item 1: destination 'c' is named twice"),
    ([("a", "b"), ("b", "c")], "key 'b' is both a source and a destination"),
    ([("a", "a")], "key 'a' is both a source and a destination"),
    ([("a", "")], "item 0: empty key"),
    (["ab"], "item 0: 'ab' is not a \\(source, destination\\) pair"),
])
def test_ambiguous_or_bad_pairs_are_refused_before_anything_is_sent(pairs, problem):
    store = MemoryBucket({"a": b"1", "b": b"2"})
    with pytest.raises(kvbatch.ValidationError, match=problem):
        kvbatch.Bucket(store).copy_many(pairs)
    assert store.calls == []


def test_a_key_may_be_source_and_destination_when_copying_into_another_bucket():
    here, there = MemoryBucket({"a": b"1", "b": b"2"}), MemoryBucket()
    result = kvbatch.Bucket(here).copy_many([("a", "b"), ("b", "a")], to=kvbatch.Bucket(there))
    assert result.all_succeeded and there.data == {"b": b"1", "a": b"2"}


@pytest.mark.parametrize("position", range(5))
def test_an_opaque_set_many_error_during_an_overwriting_copy_is_attributed_by_source(position):
    store = MemoryBucket(VALUES)
    bad = DESTS[position]
    faulty = FaultyBucket(store).fail("set_many", after=position).fail("set", key=bad, times=None)
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).copy_many(list(zip(SOURCES, DESTS)), overwrite=True)
    assert list(result.failed) == [SOURCES[position]]
    assert {d: store.data.get(d) for d in DESTS} == {d: (None if d == bad else VALUES[s]) for s, d in zip(SOURCES, DESTS)}


@pytest.mark.parametrize("op, options", [
    ("get_many", {}), ("get", {}), ("cas", {}), ("swap", {}), ("swap", {"in_doubt": True}), ("set", {}),
    ("set_many", {"after": 2}),
])
@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("position", range(5))
def test_a_fault_at_every_position_leaves_each_destination_as_its_source_outcome_says(op, options, overwrite, position):
    store = MemoryBucket(VALUES)
    faulty = FaultyBucket(store)
    if op in ("get_many", "set_many"):
        faulty.fail(op, **options)
    else:
        faulty.fail(op, key=(SOURCES if op == "get" else DESTS)[position], times=None, **options)
    result = kvbatch.Bucket(faulty, chunk_size=2, retry=NO_RETRY).copy_many(list(zip(SOURCES, DESTS)),
                                                                            overwrite=overwrite)
    for src, dst in zip(SOURCES, DESTS):
        status = result.outcome(src)
        if status == "succeeded":
            assert store.data[dst] == VALUES[src], src
        elif status == "failed":
            assert dst not in store.data, src
    assert store.data.items() >= VALUES.items()  # sources untouched


def test_a_capability_error_carries_the_partial_result_as_a_copy_result():
    faulty = FaultyBucket(MemoryBucket(VALUES)).fail("get_many", call=2, error=kvbatch.AccessDenied("s"))
    with pytest.raises(kvbatch.AccessDenied) as caught:
        kvbatch.Bucket(faulty, chunk_size=2).copy_many(list(zip(SOURCES, DESTS)))
    partial = caught.value.partial
    assert isinstance(partial, kvbatch.CopyResult)
    assert partial.succeeded == ("src0", "src1") and partial.not_attempted == ("src4",)


@pytest.mark.parametrize("verify", [True, False])
def test_a_create_only_copy_whose_swap_erred_is_unknown_on_another_writers_identical_value(verify):
    store = MemoryBucket({"src0": VALUES["src0"]})
    faulty = FaultyBucket(store).fail("swap", key="dst0")  # ours errs, unapplied, after another copier wrote
    faulty.before("swap", lambda: store.set("dst0", VALUES["src0"]), key="dst0")
    result = kvbatch.Bucket(faulty, retry=kvbatch.RetryPolicy(attempts=2, sleep=lambda s: None),
                            verify=verify).copy_many([("src0", "dst0")])
    assert result.unknown == ("src0",) and store.data["dst0"] == VALUES["src0"]


def test_a_create_only_copy_overwritten_after_an_in_doubt_swap_is_unknown_not_key_exists():
    store = MemoryBucket({"src0": VALUES["src0"]})
    faulty = FaultyBucket(store).fail("swap", key="dst0", in_doubt=True)
    faulty.before("cas", lambda: store.set("dst0", b"theirs"), key="dst0", call=2)
    result = kvbatch.Bucket(faulty, retry=kvbatch.RetryPolicy(attempts=2, sleep=lambda s: None)).copy_many(
        [("src0", "dst0")])
    assert result.unknown == ("src0",) and store.data["dst0"] == b"theirs"


# -- the invariant, with racing writers and faults --------------------------------------------

copy_fault_st = st.one_of(
    st.builds(lambda call: ("get_many", dict(call=call)), st.integers(1, 3)),
    st.builds(lambda key: ("get", dict(key=key)), st.sampled_from(SOURCES)),
    st.builds(lambda key: ("cas", dict(key=key)), st.sampled_from(DESTS)),
    st.builds(lambda key, doubt: ("swap", dict(key=key, in_doubt=doubt)), st.sampled_from(DESTS), st.booleans()),
    st.builds(lambda key: ("get", dict(key=key, times=None)), st.sampled_from(DESTS)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    present=st.sets(st.sampled_from(SOURCES)),
    existing=st.dictionaries(st.sampled_from(DESTS), st.just(b"old")),
    count=st.integers(1, 5),
    racers=st.sets(st.sampled_from(DESTS), max_size=3),
    faults=st.lists(copy_fault_st, max_size=3),
    chunk_size=st.integers(1, 4),
    attempts=st.integers(1, 3),
)
def test_no_destination_is_clobbered_and_every_outcome_matches_the_store(present, existing, count, racers, faults,
                                                                         chunk_size, attempts):
    store = MemoryBucket({**{s: VALUES[s] for s in present}, **existing})
    faulty = FaultyBucket(store)
    raced: Dict[str, bool] = {}

    def racer(key: str):
        def act() -> None:
            raced[key] = True
            store.set(key, b"theirs")
        return act

    for key in racers:
        faulty.before("swap", racer(key), key=key)
    for op, options in faults:
        faulty.fail(op, **options)
    bucket = kvbatch.Bucket(faulty, chunk_size=chunk_size,
                            retry=kvbatch.RetryPolicy(attempts=attempts, sleep=lambda s: None))
    pairs = list(zip(SOURCES, DESTS))[:count]
    result = bucket.copy_many(pairs)
    for src, dst in pairs:
        status, stored = result.outcome(src), store.data.get(dst)
        if dst in existing:
            assert stored == b"old" and status != "succeeded", dst  # never overwritten
        elif raced.get(dst):
            assert stored == b"theirs" and status != "succeeded", dst  # the racer's write is kept
        if status == "succeeded":
            assert stored == VALUES[src] and src in present
        elif status == "failed":
            assert stored != VALUES[src]
            if isinstance(result.failed[src], kvbatch.KeyNotFound):
                assert src not in present
