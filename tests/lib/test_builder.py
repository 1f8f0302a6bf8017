"""The mixed-operation builder: input-ordered results with index, read-your-writes, few calls."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket


def test_results_come_back_in_input_order_with_their_index():
    store = MemoryBucket({"a": b"1"})
    results = kvbatch.Bucket(store).builder().get("a").set("b", b"2").delete("a").get("zz").execute()
    assert [(r.index, r.op, r.key, r.status) for r in results] == [
        (0, "get", "a", "succeeded"), (1, "set", "b", "succeeded"),
        (2, "delete", "a", "succeeded"), (3, "get", "zz", "succeeded")]
    assert results[0].value == b"1" and results[0].found
    assert results[3].value is None and not results[3].found
    assert store.data == {"b": b"2"}


def test_a_get_after_a_set_of_the_same_key_sees_the_new_value():
    store = MemoryBucket({"k": b"old"})
    results = kvbatch.Bucket(store).builder().get("k").set("k", b"new").get("k").delete("k").get("k").execute()
    assert [r.value for r in results if r.op == "get"] == [b"old", b"new", None]


def test_independent_keys_take_one_call_per_kind():
    store = MemoryBucket({"x": b"1"})
    builder = kvbatch.Bucket(store).builder()
    builder.set_many({"a": b"1", "b": b"2"}).get_many(["x", "y"]).delete_many(["p", "q"]).set("c", b"3").get("z")
    builder.execute()
    assert [op for op, _ in store.calls] == ["get_many", "set_many", "delete_many"]


def test_plan_shows_the_batch_calls_in_order():
    builder = kvbatch.Bucket(MemoryBucket()).builder().set("k", b"1").get("k").get("j").set("j", b"2")
    assert [(p.kind, p.ops) for p in builder.plan()] == [("get", (2,)), ("set", (0, 3)), ("get", (1,))]


def test_two_sets_of_one_key_in_a_row_share_a_call_and_the_last_wins():
    store = MemoryBucket()
    results = kvbatch.Bucket(store).builder().set("k", b"1").set("k", b"2").get("k").execute()
    assert [op for op, _ in store.calls] == ["set", "get"]  # one key: single calls
    assert results[2].value == b"2"


def test_a_failed_op_reports_its_error_and_others_still_run():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("set_many", key="b", times=None).fail("set", key="b", times=None)
    results = (kvbatch.Bucket(faulty, retry=kvbatch.NO_RETRY).builder()
               .set("a", b"1").set("b", b"2").get("a").get("b").execute())
    assert [r.status for r in results] == ["succeeded", "failed", "succeeded", "succeeded"]
    assert isinstance(results[1].error, kvbatch.StoreError)
    assert results[3].value is None  # b was not written: the read says so


def test_stop_on_error_leaves_later_phases_not_attempted():
    faulty = FaultyBucket(MemoryBucket()).fail("set", key="a", times=None)
    results = (kvbatch.Bucket(faulty, retry=kvbatch.NO_RETRY).builder()
               .set("a", b"1").get("a").execute(stop_on_error=True))
    assert [r.status for r in results] == ["failed", "not_attempted"]


def test_bad_ops_are_rejected_when_added_naming_their_index():
    builder = kvbatch.Bucket(MemoryBucket()).builder().get("a")
    with pytest.raises(kvbatch.ValidationError, match="item 1: empty key"):
        builder.set("", b"1")
    assert len(builder) == 1


op_st = st.one_of(
    st.tuples(st.just("get"), st.sampled_from("abcd"), st.none()),
    st.tuples(st.just("set"), st.sampled_from("abcd"), st.binary(min_size=1, max_size=2)),
    st.tuples(st.just("delete"), st.sampled_from("abcd"), st.none()),
)


@settings(max_examples=200, deadline=None)
@given(start=st.dictionaries(st.sampled_from("abcd"), st.binary(min_size=1, max_size=2)), ops=st.lists(op_st, max_size=15))
def test_builder_behaves_as_if_ops_ran_one_by_one_in_order(start, ops):
    store = MemoryBucket(start)
    builder = kvbatch.Bucket(store).builder()
    for kind, key, value in ops:
        getattr(builder, kind)(key, value) if kind == "set" else getattr(builder, kind)(key)
    results = builder.execute()
    model = dict(start)
    for (kind, key, value), result in zip(ops, results):
        assert (result.op, result.key, result.status) == (kind, key, "succeeded")
        if kind == "get":
            assert result.value == model.get(key)
        elif kind == "set":
            model[key] = value
        else:
            model.pop(key, None)
    assert store.data == model
    batch_calls = len(builder.plan())
    assert batch_calls <= len(ops)


def test_insert_writes_only_an_absent_key_and_update_only_a_present_one():
    store = MemoryBucket({"here": b"old"})
    results = (kvbatch.Bucket(store).builder()
               .insert("here", b"1").insert("new", b"2").update("here", b"3").update("gone", b"4").execute())
    assert [(r.op, r.key, r.status, type(r.error).__name__) for r in results] == [
        ("insert", "here", "failed", "KeyExists"), ("insert", "new", "succeeded", "NoneType"),
        ("update", "here", "succeeded", "NoneType"), ("update", "gone", "failed", "KeyNotFound")]
    assert store.data == {"here": b"3", "new": b"2"}


def test_upsert_is_set():
    store = MemoryBucket({"a": b"old"})
    results = kvbatch.Bucket(store).builder().upsert("a", b"1").upsert("b", b"2").execute()
    assert [(r.op, r.status) for r in results] == [("set", "succeeded"), ("set", "succeeded")]
    assert store.data == {"a": b"1", "b": b"2"}


def test_an_insert_whose_swap_erred_is_unknown_on_another_writers_identical_value():
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("swap", key="lock")
    faulty.before("swap", lambda: store.set("lock", b"1"), key="lock")
    bucket = kvbatch.Bucket(faulty, retry=kvbatch.RetryPolicy(attempts=2, sleep=lambda s: None))
    (result,) = bucket.builder().insert("lock", b"1").execute()
    assert result.status == "unknown" and not isinstance(result.error, kvbatch.KeyExists)


def test_an_update_after_an_insert_of_the_same_key_sees_the_insert():
    store = MemoryBucket()
    results = kvbatch.Bucket(store).builder().insert("k", b"1").update("k", b"2").insert("k", b"3").execute()
    assert [r.status for r in results] == ["succeeded", "succeeded", "failed"]
    assert store.data == {"k": b"2"}


def test_a_conditional_op_never_shares_a_phase_with_another_op_on_its_key():
    builder = kvbatch.Bucket(MemoryBucket()).builder().set("k", b"1").insert("k", b"2").set("j", b"3").update("j", b"4")
    assert [(p.kind, p.ops) for p in builder.plan()] == [("set", (0, 2)), ("set", (1, 3))]


def test_a_builder_with_an_insert_on_a_bucket_without_cas_is_refused_before_anything_is_sent():
    store = MemoryBucket(cas=False)
    with pytest.raises(kvbatch.Unsupported, match="builder insert"):
        kvbatch.Bucket(store).builder().get("a").insert("b", b"1").execute()
    assert store.calls == []


def test_a_racing_writer_between_an_inserts_check_and_write_is_not_overwritten():
    store = MemoryBucket()
    faulty = FaultyBucket(store).before("swap", lambda: store.set("k", b"theirs"), key="k")
    results = kvbatch.Bucket(faulty).builder().insert("k", b"mine").execute()
    assert results[0].status == "failed" and store.data == {"k": b"theirs"}
