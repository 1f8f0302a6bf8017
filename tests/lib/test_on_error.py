"""`on_error(key, index, error)` (Aerospike's per-key error callback) on every batch operation and
on the builder: called once for each key that ends `failed` or `unknown`, in input order, after
its outcome is final; an exception it raises propagates with the result so far."""

from __future__ import annotations

from typing import List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

NO_RETRY = kvbatch.RetryPolicy(attempts=1)
KEYS = [f"k{i}" for i in range(6)]
Calls = List[Tuple[str, int, kvbatch.KvError]]


def recorder() -> Tuple[Calls, object]:
    calls: Calls = []
    return calls, lambda key, index, error: calls.append((key, index, error))


def expected_calls(result: kvbatch.BatchResult, positions: List[str]) -> Calls:
    """What the callback must have seen: every failed or unknown key, in input order, with its first index."""
    return [(k, positions.index(k), result.error(k)) for k in result.order if result.outcome(k) in ("failed", "unknown")]


def test_set_many_calls_back_for_each_failed_and_unknown_key_in_input_order_with_its_index():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", times=None).fail("set", key="k4", times=None)
    faulty.fail("set", key="k1", times=None, in_doubt=True).fail("get", key="k1", times=None)
    calls, on_error = recorder()
    result = kvbatch.Bucket(faulty, chunk_size=2, retry=NO_RETRY).set_many({k: b"v" for k in KEYS}, on_error=on_error)
    assert [(k, i) for k, i, _ in calls] == [("k1", 1), ("k4", 4)]
    assert calls == expected_calls(result, KEYS)
    assert result.unknown == ("k1",) and list(result.failed) == ["k4"]


def test_the_callback_is_not_called_when_every_key_succeeds():
    calls, on_error = recorder()
    kvbatch.Bucket(MemoryBucket()).set_many({"a": b"1"}, on_error=on_error)
    assert calls == []


def test_a_duplicate_key_is_reported_once_at_its_first_position():
    faulty = FaultyBucket(MemoryBucket()).fail("set", key="b", times=None).fail("set_many", times=None)
    calls, on_error = recorder()
    kvbatch.Bucket(faulty, retry=NO_RETRY).set_many([("a", b"1"), ("b", b"2"), ("a", b"3"), ("b", b"4")],
                                                    on_error=on_error)
    assert [(k, i) for k, i, _ in calls] == [("b", 1)]


def test_get_many_calls_back_for_keys_whose_read_failed():
    faulty = FaultyBucket(MemoryBucket({"a": b"1"})).fail("*", key="b", times=None)
    calls, on_error = recorder()
    result = kvbatch.Bucket(faulty, retry=NO_RETRY).get_many(["a", "b", "c"], on_error=on_error)
    assert calls == [("b", 1, result.failed["b"])]


def test_delete_many_calls_back_for_missing_keys_when_missing_is_not_ok():
    calls, on_error = recorder()
    kvbatch.Bucket(MemoryBucket({"a": b"1"})).delete_many(["a", "gone"], missing_ok=False, on_error=on_error)
    assert calls == [("gone", 1, kvbatch.KeyNotFound("gone"))]


def test_exists_many_calls_back_for_keys_whose_check_failed():
    faulty = FaultyBucket(MemoryBucket()).fail("exists", key="b", times=None)
    calls, on_error = recorder()
    kvbatch.Bucket(faulty, retry=NO_RETRY).exists_many(["a", "b"], on_error=on_error)
    assert [(k, i) for k, i, _ in calls] == [("b", 1)]


def test_conditional_set_many_calls_back_with_the_reason_the_condition_failed():
    calls, on_error = recorder()
    kvbatch.Bucket(MemoryBucket({"b": b"x"})).set_many({"a": b"1", "b": b"2"}, only_if="absent", on_error=on_error)
    assert calls == [("b", 1, kvbatch.KeyExists("b"))]


def test_copy_many_calls_back_with_the_source_and_the_pair_index():
    calls, on_error = recorder()
    kvbatch.Bucket(MemoryBucket({"a": b"1", "b": b"2", "bb": b"x"})).copy_many(
        [("a", "aa"), ("b", "bb"), ("c", "cc")], on_error=on_error)
    assert calls == [("b", 1, kvbatch.KeyExists("bb")), ("c", 2, kvbatch.KeyNotFound("c"))]


def test_the_builder_calls_back_per_failed_op_with_the_op_index():
    calls, on_error = recorder()
    ops = (kvbatch.Bucket(MemoryBucket({"a": b"1"})).builder()
           .get("a").insert("a", b"2").update("z", b"3").set("a", b"4").execute(on_error=on_error))
    assert calls == [("a", 1, kvbatch.KeyExists("a")), ("z", 2, kvbatch.KeyNotFound("z"))]
    assert [r.status for r in ops] == ["succeeded", "failed", "failed", "succeeded"]


def test_an_exception_from_the_callback_propagates_with_the_result_so_far():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", times=None).fail("set", key="k1", times=None)

    def stop(key: str, index: int, error: kvbatch.KvError) -> None:
        raise RuntimeError(f"giving up at {key}")

    with pytest.raises(RuntimeError, match="giving up at k1") as caught:
        kvbatch.Bucket(faulty, chunk_size=2, retry=NO_RETRY).set_many({k: b"v" for k in KEYS}, on_error=stop)
    partial = caught.value.partial
    assert partial.succeeded == ("k0",) and list(partial.failed) == ["k1"]
    assert partial.not_attempted == tuple(KEYS[2:])  # the chunks after the callback's never went out


def test_an_exception_from_the_builders_callback_carries_every_ops_final_result():
    def stop(key: str, index: int, error: kvbatch.KvError) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError) as caught:
        kvbatch.Bucket(MemoryBucket({"a": b"1"})).builder().insert("a", b"2").set("b", b"3").execute(on_error=stop)
    assert [r.status for r in caught.value.partial_ops] == ["failed", "succeeded"]


def test_a_callback_that_is_not_callable_is_refused():
    with pytest.raises(TypeError, match="on_error must be callable"):
        kvbatch.Bucket(MemoryBucket()).get_many(["a"], on_error="print")  # type: ignore[arg-type]


fault_st = st.one_of(
    st.builds(lambda call, after: ("set_many", dict(call=call, after=after)), st.integers(1, 3), st.integers(0, 3)),
    st.builds(lambda key, times: ("set", dict(key=key, times=times)), st.sampled_from(KEYS), st.sampled_from([1, None])),
    st.builds(lambda key: ("set", dict(key=key, in_doubt=True, times=None)), st.sampled_from(KEYS)),
    st.builds(lambda key: ("get", dict(key=key, times=None)), st.sampled_from(KEYS)),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes=st.lists(st.tuples(st.sampled_from(KEYS), st.binary(max_size=3)), min_size=1, max_size=10),
       faults=st.lists(fault_st, max_size=4), chunk_size=st.integers(1, 4), verify=st.booleans())
def test_the_callbacks_calls_are_exactly_the_results_failed_and_unknown_keys(writes, faults, chunk_size, verify):
    faulty = FaultyBucket(MemoryBucket())
    for op, options in faults:
        faulty.fail(op, **options)
    calls, on_error = recorder()
    result = kvbatch.Bucket(faulty, chunk_size=chunk_size, retry=NO_RETRY, verify=verify).set_many(writes,
                                                                                                 on_error=on_error)
    assert calls == expected_calls(result, [k for k, _ in writes])
