"""The buffered writer: coalescing, auto-flush, flush on clean exit, discard on an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

NO_RETRY = kvbatch.RetryPolicy(attempts=1)


def test_writes_are_buffered_until_the_block_exits():
    store = MemoryBucket()
    with kvbatch.Bucket(store).writer() as w:
        w.set("a", b"1")
        w.delete("b")
        assert store.calls == [] and w.pending == 2
    assert store.data == {"a": b"1"}
    assert w.results.succeeded == ("a", "b") and w.results.all_succeeded


def test_the_same_key_is_coalesced_last_write_wins():
    store = MemoryBucket({"c": b"old"})
    with kvbatch.Bucket(store).writer() as w:
        w.set("a", b"1")
        w.set("a", b"2")
        w.set("b", b"x")
        w.delete("b")
        w.delete("c")
        w.set("c", b"new")
    assert store.data == {"a": b"2", "c": b"new"}
    assert store.calls == [("set_many", ("a", "c")), ("delete", ("b",))]  # a batch of one is a single call


def test_it_flushes_automatically_at_the_threshold():
    store = MemoryBucket()
    with kvbatch.Bucket(store).writer(flush_at=3) as w:
        for i in range(7):
            w.set(f"k{i}", b"v")
            if i == 2:
                assert store.count("set_many") == 1 and w.pending == 0
    assert [len(keys) for _, keys in store.calls] == [3, 3, 1]
    assert len(w.flushes) == 3 and w.results.total == 7


def test_it_flushes_automatically_at_the_byte_threshold():
    store = MemoryBucket()
    with kvbatch.Bucket(store).writer(flush_at=100, flush_bytes=10) as w:
        w.set("a", b"12345")
        w.set("b", b"12345")
        assert store.count("set_many") == 1
    assert store.data == {"a": b"12345", "b": b"12345"}


def test_an_exception_in_the_block_discards_unflushed_writes_and_propagates():
    store = MemoryBucket()
    with pytest.raises(RuntimeError, match="boom"):
        with kvbatch.Bucket(store).writer(flush_at=2) as w:
            w.set("a", b"1")
            w.set("b", b"2")  # flushed here
            w.set("c", b"3")
            raise RuntimeError("boom")
    assert store.data == {"a": b"1", "b": b"2"}
    assert w.results.succeeded == ("a", "b") and w.results.not_attempted == ("c",)


def test_flush_on_error_sends_the_buffer_even_when_the_block_raised():
    store = MemoryBucket()
    with pytest.raises(RuntimeError):
        with kvbatch.Bucket(store).writer(flush_on_error=True) as w:
            w.set("a", b"1")
            raise RuntimeError("boom")
    assert store.data == {"a": b"1"} and w.results.all_succeeded


def test_failures_are_collected_in_results_not_raised():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set_many", key="b", times=None).fail("set", key="b", times=None)
    with kvbatch.Bucket(faulty, retry=NO_RETRY).writer() as w:
        w.set("a", b"1")
        w.set("b", b"2")
    assert w.results.succeeded == ("a",) and list(w.results.failed) == ["b"]
    with pytest.raises(kvbatch.BatchFailed, match="'b'"):
        w.results.raise_for_failures()


def test_stop_on_error_raises_at_the_first_failed_flush_and_discards_the_rest():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set_many", key="b", times=None).fail("set", key="b", times=None)
    w = kvbatch.Bucket(faulty, retry=NO_RETRY).writer(flush_at=2, stop_on_error=True)
    with pytest.raises(kvbatch.BatchFailed):
        with w:
            w.set("a", b"1")
            w.set("b", b"2")
            w.set("c", b"3")
    assert w.closed and "c" not in store.data


def test_a_later_flush_outcome_replaces_an_earlier_one_for_the_same_key():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set", key="a", times=1)
    with kvbatch.Bucket(faulty, retry=NO_RETRY).writer(flush_at=1) as w:
        w.set("a", b"1")  # fails once (a single key is sent with `set`)
        w.set("a", b"2")  # succeeds
    assert w.results.succeeded == ("a",) and not w.results.failed
    assert store.data == {"a": b"2"}


def test_a_discarded_operation_on_a_key_an_earlier_flush_wrote_reports_both():
    store = MemoryBucket()
    with pytest.raises(RuntimeError):
        with kvbatch.Bucket(store).writer() as w:
            w.set("k", b"v1")
            w.flush()
            w.set("k", b"v2")
            raise RuntimeError("boom")
    assert store.data == {"k": b"v1"}
    assert w.results.outcomes() == {"k": "not_attempted"}  # the latest operation: discarded
    assert w.results.earlier is not None and w.results.earlier.outcome("k") == "succeeded"  # the flush: landed


def test_a_key_only_ever_discarded_has_no_earlier_outcome():
    with pytest.raises(RuntimeError):
        with kvbatch.Bucket(MemoryBucket()).writer() as w:
            w.set("a", b"1")
            w.flush()
            w.set("b", b"2")
            raise RuntimeError("boom")
    assert w.results.outcomes() == {"a": "succeeded", "b": "not_attempted"} and w.results.earlier is None


def test_the_earlier_outcome_is_the_last_flush_that_sent_the_key():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set", key="k", call=2)
    with pytest.raises(RuntimeError):
        with kvbatch.Bucket(faulty, retry=NO_RETRY).writer(flush_at=1) as w:
            w.set("k", b"v1")  # flushed: succeeded
            w.set("k", b"v2")  # flushed: failed, the store keeps v1
            w.flush_at = 10
            w.set("k", b"v3")  # discarded
            raise RuntimeError("boom")
    assert w.results.outcome("k") == "not_attempted" and w.results.earlier.outcome("k") == "failed"
    assert store.data == {"k": b"v1"}


def test_the_summary_and_batch_failed_mention_keys_an_earlier_flush_wrote():
    with pytest.raises(RuntimeError):
        with kvbatch.Bucket(MemoryBucket()).writer() as w:
            w.set("k", b"v1")
            w.flush()
            w.set("k", b"v2")
            raise RuntimeError("boom")
    assert w.results.summary().endswith("; 1 of them written earlier (1 succeeded)")
    with pytest.raises(kvbatch.BatchFailed, match="1 of them written earlier"):
        w.results.raise_for_failures()


def test_bad_input_is_rejected_at_set_time():
    with kvbatch.Bucket(MemoryBucket()).writer() as w:
        with pytest.raises(kvbatch.ValidationError, match="empty key"):
            w.set("", b"1")
        with pytest.raises(kvbatch.ValidationError, match="values must be bytes"):
            w.set("k", 1)  # type: ignore[arg-type]


def test_a_closed_writer_refuses_more_writes():
    with kvbatch.Bucket(MemoryBucket()).writer() as w:
        w.set("a", b"1")
    with pytest.raises(RuntimeError, match="writer is closed"):
        w.set("b", b"2")


@settings(max_examples=150, deadline=None)
@given(start=st.dictionaries(st.sampled_from("abcde"), st.binary(min_size=1, max_size=2)),
       ops=st.lists(st.tuples(st.sampled_from("abcde"), st.one_of(st.none(), st.binary(min_size=1, max_size=2))),
                    max_size=20),
       flush_at=st.integers(1, 6))
def test_the_store_ends_as_if_every_write_was_applied_in_order(start, ops, flush_at):
    store = MemoryBucket(start)
    with kvbatch.Bucket(store).writer(flush_at=flush_at) as w:
        for key, value in ops:
            w.set(key, value) if value is not None else w.delete(key)
    model = dict(start)
    for key, value in ops:
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value
    assert store.data == model
    assert set(w.results.succeeded) == {key for key, _ in ops} and w.results.all_succeeded
