"""get_many, set_many, delete_many and exists_many over an in-memory bucket: values, order,
duplicates, chunking, stop_on_error, missing_ok, capability errors, progress and stats."""

from __future__ import annotations

from typing import List

import pytest

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

NO_WAIT = kvbatch.RetryPolicy(attempts=1)


def items(n: int, prefix: str = "k") -> List[tuple[str, bytes]]:
    return [(f"{prefix}{i:02d}", f"v{i}".encode()) for i in range(n)]


def test_set_many_writes_every_item_in_one_call_per_chunk():
    store = MemoryBucket()
    result = kvbatch.Bucket(store, chunk_size=4).set_many(items(10))
    assert result.all_succeeded and result.succeeded == tuple(k for k, _ in items(10))
    assert store.data == dict(items(10))
    assert [op for op, _ in store.calls] == ["set_many"] * 3
    assert [len(keys) for _, keys in store.calls] == [4, 4, 2]


def test_set_many_accepts_a_mapping():
    store = MemoryBucket()
    kvbatch.Bucket(store).set_many({"a": b"1", "b": b"2"})
    assert store.data == {"a": b"1", "b": b"2"}


def test_set_many_duplicate_keys_last_write_wins_and_are_answered_once():
    store = MemoryBucket()
    result = kvbatch.Bucket(store).set_many([("a", b"1"), ("b", b"2"), ("a", b"3")])
    assert store.data == {"a": b"3", "b": b"2"}
    assert result.succeeded == ("a", "b") and result.total == 2 and result.duplicates == ("a",)
    assert store.calls == [("set_many", ("a", "b"))]


def test_set_many_cuts_chunks_by_bytes_as_well_as_by_count():
    store = MemoryBucket()
    bucket = kvbatch.Bucket(store, chunk_size=100, chunk_bytes=25)
    bucket.set_many([("a", b"x" * 10), ("b", b"x" * 10), ("c", b"x" * 10), ("d", b"x" * 40)])
    assert [keys for _, keys in store.calls] == [("a", "b"), ("c",), ("d",)]


def test_get_many_separates_values_missing_and_failed_keys():
    store = MemoryBucket({"a": b"1", "c": b"3"})
    faulty = FaultyBucket(store).fail("*", key="d", times=None)  # every call naming d fails
    result = kvbatch.Bucket(faulty, retry=NO_WAIT).get_many(["a", "b", "c", "d"])
    assert dict(result.values) == {"a": b"1", "c": b"3"}
    assert result.missing == ("b",)
    assert list(result.failed) == ["d"] and isinstance(result.failed["d"], kvbatch.StoreError)
    assert result.succeeded == ("a", "b", "c") and not result.all_succeeded


def test_get_many_does_not_raise_for_partial_failure_unless_asked():
    faulty = FaultyBucket(MemoryBucket()).fail("*", key="b", times=None)
    bucket = kvbatch.Bucket(faulty, retry=NO_WAIT)
    assert list(bucket.get_many(["a", "b"]).failed) == ["b"]
    with pytest.raises(kvbatch.BatchFailed, match="'b'"):
        bucket.get_many(["a", "b"], raise_on_error=True)


def test_get_many_reads_a_duplicate_key_once():
    store = MemoryBucket({"a": b"1"})
    result = kvbatch.Bucket(store).get_many(["a", "b", "a"])
    assert store.calls == [("get_many", ("a", "b"))]
    assert result.duplicates == ("a",) and result.values == {"a": b"1"}


def test_delete_many_skips_missing_keys_by_default():
    store = MemoryBucket({"a": b"1"})
    result = kvbatch.Bucket(store).delete_many(["a", "b", "a"])
    assert result.all_succeeded and result.succeeded == ("a", "b") and result.duplicates == ("a",)
    assert store.data == {}


def test_delete_many_with_missing_ok_false_reports_missing_keys_as_failed():
    store = MemoryBucket({"a": b"1", "c": b"3"})
    result = kvbatch.Bucket(store).delete_many(["a", "b", "c"], missing_ok=False)
    assert result.succeeded == ("a", "c")
    assert result.failed == {"b": kvbatch.KeyNotFound("b")}
    assert store.data == {}


def test_exists_many_maps_each_key_to_whether_it_holds_a_value():
    store = MemoryBucket({"a": b"1"})
    result = kvbatch.Bucket(store).exists_many(["a", "b"])
    assert dict(result) == {"a": True, "b": False} and result.all_succeeded


def test_exists_many_reports_keys_whose_check_failed():
    faulty = FaultyBucket(MemoryBucket({"a": b"1"})).fail("exists", key="a", times=None)
    result = kvbatch.Bucket(faulty, retry=NO_WAIT).exists_many(["a", "b"])
    assert dict(result) == {"b": False} and list(result.failed) == ["a"]


def test_stop_on_error_leaves_later_chunks_not_attempted():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set", key="k02", times=None).fail("set_many", key="k02")
    result = kvbatch.Bucket(faulty, chunk_size=3, retry=NO_WAIT).set_many(items(9), stop_on_error=True)
    assert result.succeeded == ("k00", "k01")
    assert list(result.failed) == ["k02"]
    assert result.not_attempted == ("k03", "k04", "k05", "k06", "k07", "k08")
    assert sorted(store.data) == ["k00", "k01"]


def test_without_stop_on_error_later_chunks_still_run():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set", key="k02", times=None).fail("set_many", key="k02")
    result = kvbatch.Bucket(faulty, chunk_size=3, retry=NO_WAIT).set_many(items(9))
    assert list(result.failed) == ["k02"] and len(result.succeeded) == 8 and not result.not_attempted


@pytest.mark.parametrize("error", [kvbatch.NoSuchStore("s"), kvbatch.AccessDenied("s")], ids=type)
@pytest.mark.parametrize("stop_on_error", [False, True])
def test_capability_errors_raise_at_once_whatever_stop_on_error_says(error, stop_on_error):
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", call=2, error=error)
    bucket = kvbatch.Bucket(faulty, chunk_size=2)
    with pytest.raises(type(error)):
        bucket.set_many(items(6), stop_on_error=stop_on_error)
    assert faulty.counts["set_many"] == 2 and faulty.counts["set"] == 0  # neither attributed nor retried


@pytest.mark.parametrize("op", ["get", "exists", "delete"])
def test_capability_errors_raise_from_single_key_calls_too(op):
    faulty = FaultyBucket(MemoryBucket({"a": b"1"}))
    faulty.fail("*", error=kvbatch.StoreError("opaque"))  # the batch call (if any) fails opaquely...
    faulty.fail(op, error=kvbatch.AccessDenied("s"), times=None)  # ...and the key-by-key calls are denied
    bucket = kvbatch.Bucket(faulty)
    call = {"get": bucket.get_many, "exists": bucket.exists_many, "delete": bucket.delete_many}[op]
    with pytest.raises(kvbatch.AccessDenied):
        call(["a", "b"])


def test_progress_is_reported_after_each_chunk():
    seen: List[kvbatch.Progress] = []
    faulty = FaultyBucket(MemoryBucket()).fail("set", key="k04", times=None).fail("set_many", key="k04")
    kvbatch.Bucket(faulty, chunk_size=2, retry=NO_WAIT).set_many(items(5), progress=seen.append)
    assert seen == [
        kvbatch.Progress(done=2, total=5, succeeded=2, failed=0),
        kvbatch.Progress(done=4, total=5, succeeded=4, failed=0),
        kvbatch.Progress(done=5, total=5, succeeded=4, failed=1),
    ]


def test_stats_count_calls_chunks_and_time_per_result_and_per_bucket():
    store = MemoryBucket()
    bucket = kvbatch.Bucket(store, chunk_size=4)
    first = bucket.set_many(items(10))
    second = bucket.get_many([k for k, _ in items(10)])
    assert (first.stats.calls, first.stats.batch_calls, first.stats.chunks) == (3, 3, 3)
    assert second.stats.chunks == 3
    assert bucket.stats.calls == 6 and bucket.stats.chunks == 6 and bucket.stats.retries == 0
    assert bucket.stats.elapsed >= first.stats.elapsed >= 0
    bucket.stats.reset()
    assert bucket.stats == kvbatch.Stats()


def test_chunk_size_can_be_set_per_call():
    store = MemoryBucket()
    kvbatch.Bucket(store, chunk_size=100).set_many(items(6), chunk_size=2)
    assert store.count("set_many") == 3


def test_invalid_chunk_size_is_rejected():
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1"):
        kvbatch.Bucket(MemoryBucket(), chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1"):
        kvbatch.Bucket(MemoryBucket()).get_many(["a"], chunk_size=0)


def test_without_native_batch_every_key_is_sent_alone_and_answered_exactly():
    store = MemoryBucket(native_batch=False)
    faulty = FaultyBucket(store).fail("set", key="k01", times=None)
    result = kvbatch.Bucket(faulty, retry=NO_WAIT).set_many(items(3))
    assert [op for op, _ in store.calls if op != "get"] == ["set", "set"]
    assert result.succeeded == ("k00", "k02") and list(result.failed) == ["k01"]
    assert sorted(store.data) == ["k00", "k02"]
    assert kvbatch.Bucket(store).get_many(["k00", "k01"]).values == {"k00": b"v0"}


def test_open_outside_a_component_says_where_it_works():
    with pytest.raises(RuntimeError, match="inside a component"):
        kvbatch.open("default")


def test_an_empty_batch_makes_no_call():
    store = MemoryBucket()
    result = kvbatch.Bucket(store).set_many([])
    assert result.total == 0 and result.all_succeeded and store.calls == []


def test_a_capability_error_carries_the_partial_result():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set_many", call=2, error=kvbatch.AccessDenied("s"))
    with pytest.raises(kvbatch.AccessDenied) as info:
        kvbatch.Bucket(faulty, chunk_size=2).set_many(items(5))
    partial = info.value.partial
    assert partial is not None
    assert partial.succeeded == ("k00", "k01")
    assert partial.unknown == ("k02", "k03")  # in flight when the error came: the store may have applied them
    assert partial.not_attempted == ("k04",)
