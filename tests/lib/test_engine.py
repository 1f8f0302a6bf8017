"""The library's engine: one options value per operation, chunk bounds, the fast all-succeeded
path, and one place where an exception becomes a result of the operation's own type."""

from __future__ import annotations

import itertools
import random

import pytest

import kvbatch
from kvbatch import BatchResult, Bucket, CopyResult, ExistsResult, GetResult, RetryPolicy, ValidationError
from kvbatch.bucket import _bounds
from kvbatch.chunking import chunked
from kvbatch.results import _all_succeeded
from kvbatch.stats import Stats
from kvbatch.testing import MemoryBucket
from kvbatch.validation import check_items, check_latest


class Broken(Exception):
    """What the raw bucket below raises: not a `KvError`, so it ends the operation."""


class BreakingBucket(MemoryBucket):
    """A `MemoryBucket` whose every call of `op` raises `Broken`."""

    def __init__(self, op: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.op = op

    def _log(self, op: str, *keys: str) -> None:
        super()._log(op, *keys)
        if op == self.op:
            raise Broken(op)


def test_options_take_each_setting_not_given_from_the_bucket() -> None:
    policy = RetryPolicy(attempts=2)
    bucket = Bucket(MemoryBucket(), chunk_size=7, chunk_bytes=900, retry=policy, verify=False)
    options = bucket._options(chunk_size=3)
    assert (options.chunk_size, options.chunk_bytes, options.retry, options.verify) == (3, 900, policy, False)
    assert bucket._options(verify=True, chunk_bytes=5).verify is True


def test_options_refuse_a_chunk_size_below_one_and_an_on_error_that_is_not_callable() -> None:
    bucket = Bucket(MemoryBucket())
    with pytest.raises(ValueError, match="chunk_size"):
        bucket._options(chunk_size=0)
    with pytest.raises(TypeError, match="on_error must be callable"):
        bucket._options(on_error="print")  # type: ignore[arg-type]


def test_byte_bounds_cut_where_chunked_cuts() -> None:
    rng = random.Random(26)
    for _ in range(200):
        weights = [rng.choice((1, 5, 40, 200, 1000)) for _ in range(rng.randint(1, 60))]
        size, limit = rng.randint(1, 12), rng.choice((1, 100, 500, 2000))
        running = list(itertools.accumulate(weights))
        cut = [list(range(start, end)) for start, end in _bounds(len(weights), size, running, limit)]
        assert cut == chunked(list(range(len(weights))), size, limit, weights.__getitem__)


def test_set_many_sends_the_callers_pairs_one_chunk_per_call_and_records_every_key() -> None:
    raw = MemoryBucket()
    items = [(f"k{i:03d}", b"v%d" % i) for i in range(250)]
    result = Bucket(raw, chunk_size=100).set_many(items)
    assert [len(keys) for op, keys in raw.calls] == [100, 100, 50]
    assert result.succeeded == tuple(k for k, _ in items) and result.all_succeeded
    assert raw.data == dict(items)


def test_set_many_cut_by_bytes_keeps_every_call_under_the_limit() -> None:
    raw = MemoryBucket()
    items = [(f"k{i:02d}", bytes(90)) for i in range(30)]
    Bucket(raw, chunk_size=100, chunk_bytes=500).set_many(items)
    assert all(len(keys) * 93 <= 500 for _, keys in raw.calls)
    assert sum(len(keys) for _, keys in raw.calls) == 30


def test_get_many_answers_values_and_missing_keys_without_a_failure() -> None:
    raw = MemoryBucket({"a": b"1", "c": b"3"})
    result = Bucket(raw, chunk_size=2).get_many(["a", "b", "c", "d", "a"])
    assert result.all_succeeded and result.duplicates == ("a",)
    assert dict(result.values) == {"a": b"1", "c": b"3"} and result.missing == ("b", "d")


def test_a_bad_value_behind_a_repeated_key_is_refused_before_anything_is_sent() -> None:
    raw = MemoryBucket()
    with pytest.raises(ValidationError, match="item 0"):
        Bucket(raw).set_many([("a", "text"), ("a", b"bytes")])  # type: ignore[list-item]
    assert raw.calls == []


@pytest.mark.parametrize("items", [
    [("a", b"1"), ("b", b"2"), ("a", b"3")],
    {"a": b"1", "b": bytearray(b"2")},
    [["a", b"1"], ("b", memoryview(b"2"))],
    [("é", b"1"), ("b", b"2")],
    (pair for pair in [("a", b"1"), ("b", b"2")]),
])
def test_check_latest_checks_as_check_items_and_keeps_each_keys_last_value(items: object) -> None:
    materialized = list(items) if not isinstance(items, (list, dict)) else items
    checked = check_latest(materialized)  # type: ignore[arg-type]
    assert checked.pairs == check_items(materialized)  # type: ignore[arg-type]
    assert checked.latest == dict(check_items(materialized))  # type: ignore[arg-type]


def test_an_all_succeeded_result_equals_one_built_from_its_groups() -> None:
    order = ("a", "b", "c")
    fast = _all_succeeded(GetResult, order, ("a",), "get_many", Stats(), values={"a": b"1"}, missing=("b", "c"))
    slow = GetResult(succeeded=order, duplicates=("a",), order=order, operation="get_many", values={"a": b"1"},
                     missing=("b", "c"))
    assert fast == slow and fast.all_succeeded and fast.outcomes() == slow.outcomes()


def test_all_succeeded_results_do_not_share_their_stats() -> None:
    first = _all_succeeded(BatchResult, ("a",), (), "set_many", Stats(calls=1))
    second = _all_succeeded(BatchResult, ("b",), (), "set_many", Stats(calls=2))
    assert (first.stats.calls, second.stats.calls) == (1, 2) and first.failed == {} and first.unknown_errors == {}


def test_stats_add_sums_every_counter() -> None:
    from dataclasses import fields

    total = Stats(**{f.name: i + 1 for i, f in enumerate(fields(Stats))})
    total.add(Stats(**{f.name: 10 * (i + 1) for i, f in enumerate(fields(Stats))}))
    assert [getattr(total, f.name) for f in fields(Stats)] == [11 * (i + 1) for i in range(len(fields(Stats)))]


@pytest.mark.parametrize("operation, op, expected", [
    ("get_many", "get_many", GetResult),
    ("exists_many", "exists", ExistsResult),
    ("copy_many", "get_many", CopyResult),
    ("set_many", "set_many", BatchResult),
    ("delete_many", "delete_many", BatchResult),
])
def test_an_exception_carries_a_partial_result_of_the_operations_own_type(operation: str, op: str,
                                                                          expected: type) -> None:
    raw = BreakingBucket(op, data={"a": b"1", "b": b"2"})
    bucket = Bucket(raw, chunk_size=1 if op == "exists" else 100)
    call = {
        "get_many": lambda: bucket.get_many(["a", "b"]),
        "exists_many": lambda: bucket.exists_many(["a", "b"]),
        "copy_many": lambda: bucket.copy_many({"a": "x", "b": "y"}, overwrite=True),
        "set_many": lambda: bucket.set_many({"a": b"3", "b": b"4"}),
        "delete_many": lambda: bucket.delete_many(["a", "b"]),
    }[operation]
    with pytest.raises(Broken) as caught:
        call()
    partial = caught.value.partial  # type: ignore[attr-defined]
    assert type(partial) is expected
    assert set(partial.order) == {"a", "b"} and not partial.succeeded


def test_a_policy_clock_that_raises_leaves_every_key_not_attempted() -> None:
    def clock() -> float:
        raise Broken("clock")

    raw = MemoryBucket()
    with pytest.raises(Broken) as caught:
        Bucket(raw).get_many(["a", "b"], retry=RetryPolicy(clock=clock))
    partial = caught.value.partial  # type: ignore[attr-defined]
    assert isinstance(partial, GetResult) and partial.not_attempted == ("a", "b") and raw.calls == []


def test_the_per_key_path_reports_each_key_as_the_batch_path_does() -> None:
    items = {f"k{i}": b"%d" % i for i in range(5)}
    for native in (True, False):
        raw = MemoryBucket(native_batch=native)
        bucket = kvbatch.wrap(raw, chunk_size=2)
        assert bucket.set_many(items).all_succeeded
        got = bucket.get_many([*items, "zz"])
        assert dict(got.values) == items and got.missing == ("zz",)
        assert bucket.delete_many(items).all_succeeded and raw.data == {}
