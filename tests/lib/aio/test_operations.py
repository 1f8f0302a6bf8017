"""kvbatch.aio on CPython: each batch operation's per-key outcomes over an in-memory async store."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, List, Optional, TypeVar

import pytest

import kvbatch
import kvbatch.aio
from kvbatch import NO_RETRY, AccessDenied, KeyExists, KeyNotFound, NoSuchStore, StoreError, Unsupported, ValidationError
from kvbatch.aio.testing import MemoryStore

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def bucket(store: MemoryStore, **options: Any) -> kvbatch.aio.AsyncBucket:
    options.setdefault("retry", NO_RETRY)
    return kvbatch.aio.wrap(store, store.name, **options)


# -- reads -------------------------------------------------------------------------------------


def test_get_many_answers_values_missing_and_duplicates_in_input_order():
    store = MemoryStore({"a": b"1", "c": b"3"}, cas=False)
    result = run(bucket(store).get_many(["c", "b", "a", "c"]))
    assert result.order == ("c", "b", "a") and result.all_succeeded
    assert dict(result.values) == {"c": b"3", "a": b"1"} and result.missing == ("b",)
    assert result.duplicates == ("c",)
    assert sorted(store.calls) == [("get", "a"), ("get", "b"), ("get", "c")]  # each distinct key read once


def test_a_failed_read_is_failed_and_the_other_keys_are_read():
    store = MemoryStore({"a": b"1", "b": b"2"}, cas=False).fail("get", key="b", times=None)
    result = run(bucket(store).get_many(["a", "b"]))
    assert result.succeeded == ("a",) and isinstance(result.failed["b"], StoreError)
    assert dict(result.values) == {"a": b"1"}


def test_exists_many_is_a_mapping_of_the_keys_answered():
    store = MemoryStore({"a": b"1"}, cas=False).fail("exists", key="c")
    result = run(bucket(store).exists_many(["a", "b", "c"]))
    assert dict(result) == {"a": True, "b": False} and list(result.failed) == ["c"]
    assert result.present() == ("a",)


def test_raise_on_error_raises_batch_failed_naming_the_keys():
    store = MemoryStore(cas=False).fail("get", key="x")
    with pytest.raises(kvbatch.BatchFailed, match="'x'"):
        run(bucket(store).get_many(["x", "y"], raise_on_error=True))


# -- writes ------------------------------------------------------------------------------------


def test_set_many_writes_the_last_value_of_a_key_named_twice():
    store = MemoryStore(cas=False)
    result = run(bucket(store).set_many([("a", b"1"), ("b", b"2"), ("a", b"3")]))
    assert store.data == {"a": b"3", "b": b"2"}
    assert result.order == ("a", "b") and result.duplicates == ("a",) and result.all_succeeded
    assert store.calls.count(("set", "a")) == 1


def test_a_failed_write_keeps_its_old_value_and_is_reported_failed():
    store = MemoryStore({"b": b"old"}, cas=False).fail("set", key="b", times=None)
    result = run(bucket(store).set_many({"a": b"1", "b": b"new"}))
    assert result.succeeded == ("a",) and list(result.failed) == ["b"]
    assert store.data == {"a": b"1", "b": b"old"}


def test_a_write_applied_before_its_error_is_verified_succeeded():
    store = MemoryStore(cas=False).fail("set", key="a", in_doubt=True)
    b = bucket(store)
    result = run(b.set_many({"a": b"1"}))
    assert result.succeeded == ("a",) and store.data == {"a": b"1"}
    assert result.stats.verified == 1


def test_without_verification_a_write_that_errored_is_unknown():
    store = MemoryStore(cas=False).fail("set", key="a", in_doubt=True)
    result = run(bucket(store).set_many({"a": b"1"}, verify=False))
    assert result.unknown == ("a",) and isinstance(result.unknown_errors["a"], StoreError)


def test_a_write_whose_read_back_fails_too_is_unknown():
    store = MemoryStore(cas=False).fail("set", key="a", in_doubt=True).fail("get", key="a")
    result = run(bucket(store).set_many({"a": b"1"}))
    assert result.unknown == ("a",)


def test_a_transient_error_is_retried_and_only_that_key_is_resent():
    slept: List[float] = []
    policy = kvbatch.RetryPolicy(attempts=3, base_delay=0.01, jitter=0, sleep=slept.append)
    store = MemoryStore(cas=False).fail("set", key="b")
    result = run(bucket(store, retry=policy).set_many({"a": b"1", "b": b"2"}))
    assert result.all_succeeded and store.data == {"a": b"1", "b": b"2"}
    assert store.calls.count(("set", "b")) == 2 and store.calls.count(("set", "a")) == 1
    assert slept == [0.01] and result.stats.retries == 1


def test_an_async_sleep_in_the_policy_is_awaited():
    awaited: List[float] = []

    async def sleep(delay: float) -> None:
        awaited.append(delay)

    policy = kvbatch.RetryPolicy(attempts=2, base_delay=0.02, jitter=0, sleep=sleep)  # type: ignore[arg-type]
    store = MemoryStore(cas=False).fail("get", key="a")
    assert run(bucket(store, retry=policy).get_many(["a"])).all_succeeded and awaited == [0.02]


def test_delete_many_skips_missing_keys_and_missing_ok_false_refuses_them():
    store = MemoryStore({"a": b"1"}, cas=False)
    assert run(bucket(store).delete_many(["a", "b"])).all_succeeded and store.data == {}
    store.data["c"] = b"3"
    result = run(bucket(store).delete_many(["c", "d"], missing_ok=False))
    assert result.succeeded == ("c",) and result.failed["d"] == KeyNotFound("d")


def test_a_delete_applied_before_its_error_is_verified_succeeded():
    store = MemoryStore({"a": b"1"}, cas=False).fail("delete", key="a", in_doubt=True)
    assert run(bucket(store).delete_many(["a"])).succeeded == ("a",)


# -- conditional writes ------------------------------------------------------------------------


def test_only_if_on_a_store_without_compare_and_swap_is_refused_before_anything_is_sent():
    store = MemoryStore(cas=False)
    with pytest.raises(Unsupported, match="spin:key-value@3.0.0 has no cas"):
        run(bucket(store).set_many({"a": b"1"}, only_if="absent"))
    assert store.calls == []


def test_only_if_absent_writes_absent_keys_and_fails_present_ones():
    store = MemoryStore({"a": b"old"})
    result = run(bucket(store).set_many({"a": b"1", "b": b"2"}, only_if="absent"))
    assert result.succeeded == ("b",) and result.failed["a"] == KeyExists("a")
    assert store.data == {"a": b"old", "b": b"2"}


def test_only_if_present_fails_missing_keys():
    store = MemoryStore({"a": b"old"})
    result = run(bucket(store).set_many({"a": b"1", "b": b"2"}, only_if="present"))
    assert result.succeeded == ("a",) and result.failed["b"] == KeyNotFound("b")


def test_a_writer_racing_between_check_and_swap_is_never_overwritten():
    store = MemoryStore()

    def racer() -> None:
        store.data.setdefault("a", b"theirs")

    store.before("compare_and_swap", racer, key="a")
    result = run(bucket(store).set_many({"a": b"mine"}, only_if="absent"))
    assert result.failed["a"] == KeyExists("a") and store.data == {"a": b"theirs"}


def test_a_swap_that_errored_is_failed_when_the_old_state_is_read_back():
    store = MemoryStore().fail("compare_and_swap", key="a")
    result = run(bucket(store).set_many({"a": b"1"}, only_if="absent"))
    assert list(result.failed) == ["a"] and store.data == {}


def test_a_swap_that_errored_after_writing_is_unknown_never_succeeded():
    store = MemoryStore().fail("compare_and_swap", key="a", in_doubt=True)
    result = run(bucket(store).set_many({"a": b"1"}, only_if="absent"))
    assert result.unknown == ("a",) and store.data == {"a": b"1"}


def test_the_builder_refuses_insert_on_a_store_without_compare_and_swap():
    store = MemoryStore(cas=False)
    with pytest.raises(Unsupported):
        run(bucket(store).builder().set("a", b"1").insert("b", b"2").execute())
    assert store.calls == []


# -- copy ----------------------------------------------------------------------------------------


def test_copy_many_without_overwrite_needs_compare_and_swap():
    store = MemoryStore({"a": b"1"}, cas=False)
    with pytest.raises(Unsupported, match="overwrite=True"):
        run(bucket(store).copy_many({"a": "b"}))
    assert store.calls == []


def test_copy_many_with_overwrite_copies_and_reports_by_source():
    store = MemoryStore({"a": b"1", "b": b"2", "d": b"old"}, cas=False)
    result = run(bucket(store).copy_many({"a": "d", "b": "e", "x": "f"}, overwrite=True))
    assert result.succeeded == ("a", "b") and result.failed["x"] == KeyNotFound("x")
    assert store.data == {"a": b"1", "b": b"2", "d": b"1", "e": b"2"}
    assert result.destination("a") == "d"


def test_copy_many_keeps_existing_destinations_and_lists_missing_sources():
    store = MemoryStore({"a": b"1", "b": b"2", "d": b"old"})
    result = run(bucket(store).copy_many({"a": "d", "b": "e", "x": "f"}, missing_ok=True))
    assert result.failed["a"] == KeyExists("d") and set(result.succeeded) == {"b", "x"} and result.missing == ("x",)
    assert store.data["d"] == b"old" and store.data["e"] == b"2"


def test_copy_many_into_another_bucket():
    source, target = MemoryStore({"a": b"1"}, cas=False), MemoryStore(name="other", cas=False)
    result = run(bucket(source).copy_many({"a": "a"}, overwrite=True, to=bucket(target)))
    assert result.all_succeeded and target.data == {"a": b"1"}


# -- errors that end an operation ----------------------------------------------------------------


def test_a_capability_error_propagates_at_once_with_every_key_accounted_for():
    store = MemoryStore(cas=False).fail("set", key="k2", error=AccessDenied("default"))
    with pytest.raises(AccessDenied) as caught:
        run(bucket(store, max_concurrency=1).set_many({f"k{i}": b"v" for i in range(5)}))
    partial = caught.value.partial
    assert partial.outcomes() == {"k0": "succeeded", "k1": "succeeded", "k2": "unknown", "k3": "not_attempted",
                                  "k4": "not_attempted"}


def test_a_capability_error_is_never_retried_whatever_the_policy():
    store = MemoryStore(cas=False).fail("get", key="a", error=NoSuchStore("x"), times=None)
    with pytest.raises(NoSuchStore):
        run(bucket(store, retry=kvbatch.RetryPolicy(attempts=5, base_delay=0)).get_many(["a"]))
    assert store.calls == [("get", "a")]


def test_a_non_kvbatch_exception_from_the_store_propagates_with_partial():
    class Broken(MemoryStore):
        async def get(self, key: str) -> Optional[bytes]:
            if key == "b":
                raise ZeroDivisionError("bug")
            return await super().get(key)

    with pytest.raises(ZeroDivisionError) as caught:
        run(bucket(Broken({"a": b"1"}, cas=False), max_concurrency=1).get_many(["a", "b", "c"]))
    partial = caught.value.partial  # type: ignore[attr-defined]
    assert partial.outcomes() == {"a": "succeeded", "b": "not_attempted", "c": "not_attempted"}
    assert dict(partial.values) == {"a": b"1"}


def test_an_exception_from_a_progress_callback_propagates_with_partial():
    def progress(p: kvbatch.Progress) -> None:
        raise RuntimeError("callback broke")

    store = MemoryStore(cas=False)
    with pytest.raises(RuntimeError) as caught:
        run(bucket(store, chunk_size=2).set_many({f"k{i}": b"v" for i in range(6)}, progress=progress))
    assert caught.value.partial.total == 6  # type: ignore[attr-defined]


def test_bad_input_is_rejected_before_anything_is_sent():
    store = MemoryStore(cas=False)
    with pytest.raises(ValidationError, match="item 1"):
        run(bucket(store).set_many([("a", b"1"), ("b", "text")]))
    with pytest.raises(ValidationError, match="limit is 256"):
        run(bucket(store).get_many(["a", "k" * 300]))
    assert store.calls == []


def test_max_concurrency_must_be_a_positive_int():
    with pytest.raises(ValueError, match="max_concurrency"):
        bucket(MemoryStore(), max_concurrency=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        run(bucket(MemoryStore()).get_many(["a"], max_concurrency=-1))


# -- concurrency, progress, on_error, stop_on_error -------------------------------------------------


def test_at_most_max_concurrency_calls_are_in_flight_and_the_limit_is_used():
    store = MemoryStore(cas=False).delay("set", 0.002)
    run(bucket(store, max_concurrency=5).set_many({f"k{i}": b"v" for i in range(40)}))
    assert store.peak_in_flight == 5


def test_max_concurrency_one_sends_one_call_at_a_time_in_input_order():
    store = MemoryStore(cas=False).delay("get", lambda key: 0.002 if key == "k0" else 0)
    run(bucket(store, max_concurrency=1).get_many([f"k{i}" for i in range(5)]))
    assert store.peak_in_flight == 1 and [k for _, k in store.calls] == [f"k{i}" for i in range(5)]


def test_progress_is_reported_every_chunk_size_keys_and_at_the_end():
    seen: List[kvbatch.Progress] = []
    store = MemoryStore(cas=False).fail("set", key="k3", times=None)
    run(bucket(store, chunk_size=2).set_many({f"k{i}": b"v" for i in range(5)}, progress=seen.append))
    assert [p.done for p in seen] == [2, 4, 5] and seen[-1] == kvbatch.Progress(5, 5, 4, 1, 0)


def test_on_error_is_called_once_per_key_that_did_not_succeed_with_its_input_index():
    calls: List[Any] = []
    store = MemoryStore(cas=False).fail("set", key="b", times=None)
    run(bucket(store).set_many([("a", b"1"), ("b", b"2"), ("a", b"3")],
                               on_error=lambda key, index, error: calls.append((key, index, type(error)))))
    assert calls == [("b", 1, StoreError)]


def test_stop_on_error_starts_no_key_after_the_first_failure():
    store = MemoryStore(cas=False).fail("set", key="k1", times=None)
    result = run(bucket(store, max_concurrency=1).set_many({f"k{i}": b"v" for i in range(4)}, stop_on_error=True))
    assert result.outcomes() == {"k0": "succeeded", "k1": "failed", "k2": "not_attempted", "k3": "not_attempted"}
    assert "k2" not in store.data


def test_stats_count_calls_on_the_result_and_accumulate_on_the_bucket():
    b = bucket(MemoryStore(cas=False))
    first = run(b.set_many({"a": b"1", "b": b"2"}))
    run(b.get_many(["a"]))
    assert first.stats.calls == 2 and b.stats.calls == 3


# -- cancellation ----------------------------------------------------------------------------------


async def _cancel_after(operation: Awaitable[T], seconds: float) -> BaseException:
    task = asyncio.ensure_future(operation)
    await asyncio.sleep(seconds)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError as err:
        return err
    raise AssertionError("the operation finished before it was cancelled")


def test_a_cancelled_write_batch_accounts_for_every_key_and_matches_the_store():
    store = MemoryStore(cas=False).delay("set", 0.005)
    items = {f"k{i:02d}": b"new" for i in range(30)}
    err = run(_cancel_after(bucket(store, max_concurrency=4).set_many(items), 0.012))
    partial = err.partial  # type: ignore[attr-defined]
    assert set(partial.order) == set(items) and len(partial.unknown) == 4
    for key in partial.succeeded:
        assert store.data[key] == b"new"
    for key in partial.not_attempted:
        assert ("set", key) not in store.calls


def test_a_cancelled_read_batch_reports_keys_in_flight_not_attempted():
    store = MemoryStore({f"k{i}": b"v" for i in range(10)}, cas=False).delay("get", 0.005)
    err = run(_cancel_after(bucket(store, max_concurrency=3).get_many([f"k{i}" for i in range(10)]), 0.007))
    partial = err.partial  # type: ignore[attr-defined]
    assert partial.unknown == () and len(partial.succeeded) == 3 and len(partial.not_attempted) == 7
    assert set(partial.values) == set(partial.succeeded)


def test_cancellation_leaves_no_task_running_behind():
    store = MemoryStore(cas=False).delay("set", 0.005)

    async def scenario() -> int:
        await _cancel_after(bucket(store, max_concurrency=4).set_many({f"k{i}": b"v" for i in range(20)}), 0.007)
        calls = len(store.calls)
        await asyncio.sleep(0.03)
        return len(store.calls) - calls

    assert run(scenario()) == 0 and store.in_flight == 0


# -- streams ----------------------------------------------------------------------------------------


def test_the_completion_stream_yields_each_key_once_with_its_input_index_as_it_completes():
    store = MemoryStore({"a": b"1", "b": b"2", "c": b"3"}, cas=False)
    store.delay("get", lambda key: {"a": 0.02, "b": 0.0, "c": 0.01}[key])

    async def scenario() -> List[kvbatch.aio.Completed]:
        stream = bucket(store, max_concurrency=3).stream_get_many(["a", "b", "c", "a"])
        return [done async for done in stream]

    completed = run(scenario())
    assert [(c.index, c.key, c.value) for c in completed] == [(1, "b", b"2"), (2, "c", b"3"), (0, "a", b"1")]


def test_a_completion_stream_closed_early_still_accounts_for_every_key():
    store = MemoryStore(cas=False).delay("set", 0.003)

    async def scenario() -> kvbatch.BatchResult:
        stream = bucket(store, max_concurrency=2).stream_set_many({f"k{i}": b"v" for i in range(10)})
        async for _ in stream:
            break
        await stream.aclose()
        return stream.result

    result = run(scenario())
    assert result.total == 10 and len(result.succeeded) >= 1 and result.not_attempted


def test_the_completion_stream_raises_a_capability_error_after_the_keys_completed_before_it():
    store = MemoryStore(cas=False).fail("delete", key="k1", error=AccessDenied("default"))

    async def scenario() -> List[str]:
        seen: List[str] = []
        stream = bucket(store, max_concurrency=1).stream_delete_many(["k0", "k1", "k2"])
        with pytest.raises(AccessDenied):
            async for done in stream:
                seen.append(done.key)
        assert stream.result.outcomes()["k2"] == "not_attempted"
        return seen

    assert run(scenario()) == ["k0"]


def test_iter_get_many_yields_chunks_in_input_order_taking_keys_only_as_needed():
    taken: List[str] = []

    def keys():
        for i in range(5):
            taken.append(f"k{i}")
            yield f"k{i}"

    store = MemoryStore({"k1": b"1"}, cas=False)

    async def scenario() -> List[Any]:
        chunks = []
        async for result in bucket(store).iter_get_many(keys(), chunk_size=2):
            chunks.append((result.order, len(taken)))
        return chunks

    assert run(scenario()) == [(("k0", "k1"), 2), (("k2", "k3"), 4), (("k4",), 5)]


def test_iter_set_many_takes_an_async_iterable_and_names_bad_items_by_position():
    async def items():
        yield ("a", b"1")
        yield ("b", b"2")
        yield ("c", "not bytes")

    store = MemoryStore(cas=False)

    async def scenario() -> None:
        async for result in bucket(store).iter_set_many(items(), chunk_size=2):
            assert result.all_succeeded

    with pytest.raises(ValidationError, match="item 2"):
        run(scenario())
    assert store.data == {"a": b"1", "b": b"2"}


def test_items_taken_for_a_chunk_that_is_never_sent_are_reported_not_attempted():
    def items():
        yield ("a", b"1")
        yield ("b", b"2")
        raise OSError("the caller's source broke")

    store = MemoryStore(cas=False)

    async def scenario() -> None:
        async for _ in bucket(store).iter_set_many(items(), chunk_size=5):
            pass

    with pytest.raises(OSError) as caught:
        run(scenario())
    assert caught.value.partial.not_attempted == ("a", "b") and store.calls == []  # type: ignore[attr-defined]


# -- writer and builder ------------------------------------------------------------------------------


def test_the_writer_flushes_at_the_threshold_and_on_a_clean_exit():
    store = MemoryStore({"z": b"old"}, cas=False)

    async def scenario() -> kvbatch.aio.AsyncWriter:
        async with bucket(store).writer(flush_at=3) as w:
            for i in range(4):
                await w.set(f"k{i}", b"v")
            await w.delete("z")
            assert len(w.flushes) == 1 and w.pending == 2
        return w

    w = run(scenario())
    assert w.results.all_succeeded and w.results.total == 5 and "z" not in store.data


def test_the_writer_discards_unflushed_writes_when_the_block_raises():
    store = MemoryStore(cas=False)

    async def scenario() -> kvbatch.aio.AsyncWriter:
        w = bucket(store).writer(flush_at=10)
        with pytest.raises(RuntimeError):
            async with w:
                await w.set("a", b"1")
                raise RuntimeError("block failed")
        return w

    w = run(scenario())
    assert store.data == {} and w.results.not_attempted == ("a",)


def test_the_builder_reads_its_own_writes_in_op_order():
    store = MemoryStore({"b": b"old"})
    results = run(bucket(store).builder().set("a", b"1").get("a").delete("b").get("b").insert("b", b"2").execute())
    assert [(r.op, r.status, r.value) for r in results] == [
        ("set", "succeeded", None), ("get", "succeeded", b"1"), ("delete", "succeeded", None),
        ("get", "succeeded", None), ("insert", "succeeded", None)]
    assert store.data == {"a": b"1", "b": b"2"}


# -- wrapping a Spin SDK store ------------------------------------------------------------------------


class Err(Exception):
    """Shaped like componentize_py_types.Err: the binding's error in `value`."""

    def __init__(self, value: object) -> None:
        self.value = value


class Error_AccessDenied:  # noqa: N801 - the generated binding's class name
    pass


class Error_Other:  # noqa: N801
    def __init__(self, value: str) -> None:
        self.value = value


class SpinLikeStore:
    """A spin_sdk.key_value.Store look-alike: raises Err(Error_...) as the generated binding does."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.closed = False

    async def get(self, key: str) -> Optional[bytes]:
        if key == "denied":
            raise Err(Error_AccessDenied())
        if key == "broken":
            raise Err(Error_Other("disk on fire"))
        return self.data.get(key)

    async def set(self, key: str, value: bytes) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def exists(self, key: str) -> bool:
        return key in self.data

    def __exit__(self, *exc: object) -> None:
        self.closed = True


def test_wrap_translates_the_bindings_errors_into_kvbatch_errors():
    spin = SpinLikeStore()
    b = kvbatch.aio.wrap(spin, "default", retry=NO_RETRY)
    result = run(b.get_many(["broken", "fine"]))
    assert result.failed["broken"] == StoreError("disk on fire") and result.succeeded == ("fine",)
    with pytest.raises(AccessDenied, match="'default'"):
        run(b.get_many(["denied"]))
    assert not b.has_cas


def test_closing_the_bucket_releases_the_store_resource():
    spin = SpinLikeStore()

    async def scenario() -> None:
        async with kvbatch.aio.wrap(spin, "default"):
            pass

    run(scenario())
    assert spin.closed


def test_wrap_refuses_an_object_that_is_not_a_store():
    with pytest.raises(TypeError, match="no get, set, delete, exists"):
        kvbatch.aio.wrap(object(), "x")


def test_open_outside_a_spin_component_says_what_to_use_instead():
    with pytest.raises(RuntimeError, match="kvbatch.aio.wrap"):
        run(kvbatch.aio.open("default"))
