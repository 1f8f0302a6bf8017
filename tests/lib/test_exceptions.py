"""Every key is accounted for on every exit path: arbitrary exceptions raised at arbitrary points
of bucket, writer and builder operations (by the raw bucket, a progress callback, a retry
policy's sleep or clock) propagate unchanged and carry the per-key result so far, and that
result tells the truth about the store."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kvbatch
from kvbatch import BatchResult, Bucket, NoSuchStore, RetryPolicy, StoreError
from kvbatch.testing import MemoryBucket


class Abort(BaseException):
    """Not even an `Exception`: the library must account for keys on this exit path too."""


EXCEPTIONS = [
    lambda: ConnectionError("connection reset by peer"),
    lambda: RuntimeError("driver bug"),
    lambda: ValueError("bad value from the driver"),
    lambda: Abort("interrupted"),
    lambda: NoSuchStore("default"),
    lambda: StoreError("transient"),  # handled by the library itself: never escapes
]
KEYS = [f"k{i}" for i in range(8)]
exception_factories = st.sampled_from(EXCEPTIONS)


class RaisingBucket(MemoryBucket):
    """A `MemoryBucket` whose call number `at` (counting every call) raises `error`: before
    the call is applied, after it, or (a `*_many` call) after its first half."""

    def __init__(self, data: Dict[str, bytes], at: int, error: BaseException, mode: str, native: bool) -> None:
        super().__init__(data, native_batch=native)
        self.at, self.error, self.mode, self.number = at, error, mode, 0

    def _maybe(self, apply, items: Sequence[object]) -> object:  # type: ignore[no-untyped-def]
        self.number += 1
        if self.number != self.at:
            return apply(items)
        if self.mode == "after":
            apply(items)
        elif self.mode == "half" and len(items) > 1:
            apply(items[: len(items) // 2])
        raise self.error

    def get(self, key: str) -> Optional[bytes]:
        return self._maybe(lambda ks: super(RaisingBucket, self).get(ks[0]), [key])  # type: ignore[return-value]

    def set(self, key: str, value: bytes) -> None:
        self._maybe(lambda its: super(RaisingBucket, self).set(*its[0]), [(key, value)])

    def delete(self, key: str) -> None:
        self._maybe(lambda ks: super(RaisingBucket, self).delete(ks[0]), [key])

    def exists(self, key: str) -> bool:
        return self._maybe(lambda ks: super(RaisingBucket, self).exists(ks[0]), [key])  # type: ignore[return-value]

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        return self._maybe(lambda ks: super(RaisingBucket, self).get_many(ks), list(keys))  # type: ignore[return-value]

    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        self._maybe(lambda its: super(RaisingBucket, self).set_many(its), list(items))

    def delete_many(self, keys: Sequence[str]) -> None:
        self._maybe(lambda ks: super(RaisingBucket, self).delete_many(ks), list(keys))


def assert_truthful(result: BatchResult, op: str, old: Dict[str, bytes], new: Dict[str, bytes],
                    store: Dict[str, bytes]) -> None:
    """The semantics: `succeeded` holds its new state, `failed` and `not_attempted` their old one."""
    for key in result.succeeded:
        if op == "set_many":
            assert store.get(key) == new[key], key
        elif op == "delete_many":
            assert key not in store, key
    for key in (*result.failed, *result.not_attempted):
        assert store.get(key) == old.get(key), key


setups = st.fixed_dictionaries({
    "old": st.dictionaries(st.sampled_from(KEYS), st.binary(min_size=1, max_size=3), max_size=6),
    "keys": st.lists(st.sampled_from(KEYS), min_size=1, max_size=10),
    "at": st.integers(min_value=1, max_value=14),
    "mode": st.sampled_from(["before", "after", "half"]),
    "native": st.booleans(),
    "chunk_size": st.integers(min_value=1, max_value=4),
})


@settings(max_examples=300, deadline=None)
@given(setup=setups, op=st.sampled_from(["get_many", "set_many", "delete_many", "exists_many"]),
       make_error=exception_factories, verify=st.booleans())
def test_an_exception_from_the_raw_bucket_carries_a_truthful_partial_result(setup, op, make_error, verify):
    error = make_error()
    raw = RaisingBucket(setup["old"], setup["at"], error, setup["mode"], setup["native"])
    bucket = Bucket(raw, chunk_size=setup["chunk_size"], retry=RetryPolicy(attempts=2, sleep=lambda s: None), verify=verify)
    new = {key: f"new-{key}".encode() for key in setup["keys"]}
    call = {
        "get_many": lambda: bucket.get_many(setup["keys"]),
        "set_many": lambda: bucket.set_many([(k, new[k]) for k in setup["keys"]]),
        "delete_many": lambda: bucket.delete_many(setup["keys"], verify=verify),
        "exists_many": lambda: bucket.exists_many(setup["keys"]),
    }[op]
    try:
        result = call()
    except BaseException as raised:
        assert raised is error, "the exception propagates unchanged"
        assert not isinstance(raised, StoreError), "StoreError is attributed to keys, never raised"
        result = raised.partial  # type: ignore[attr-defined]
        assert isinstance(result, BatchResult)
    assert list(result.order) == list(dict.fromkeys(setup["keys"])), "every distinct key, in one group each"
    assert_truthful(result, op, setup["old"], new, raw.data)
    if op == "get_many":
        for key in result.succeeded:
            assert result.get(key) == setup["old"].get(key), key


@settings(max_examples=200, deadline=None)
@given(setup=setups, make_error=exception_factories, where=st.sampled_from(["progress", "sleep", "clock"]),
       at=st.integers(min_value=1, max_value=6))
def test_an_exception_from_a_callback_or_a_policy_carries_a_truthful_partial_result(setup, make_error, where, at):
    error = make_error()
    calls = {"n": 0}

    def hook(*_: object) -> float:
        calls["n"] += 1
        if calls["n"] == at:
            raise error
        return 0.0

    raw = RaisingBucket(setup["old"], 0, error, "before", setup["native"])  # never raises itself
    policy = RetryPolicy(attempts=3, jitter=0, sleep=hook if where == "sleep" else lambda s: None,
                         clock=hook if where == "clock" else (lambda: 0.0))
    flaky = kvbatch.testing.FaultyBucket(raw).fail("*", error=StoreError("flaky"), times=3)
    bucket = Bucket(flaky, chunk_size=setup["chunk_size"], retry=policy)
    new = {key: b"v" + key.encode() for key in setup["keys"]}
    try:
        result = bucket.set_many([(k, new[k]) for k in setup["keys"]], progress=hook if where == "progress" else None)
    except BaseException as raised:
        assert raised is error
        result = raised.partial  # type: ignore[attr-defined]
    assert list(result.order) == list(dict.fromkeys(setup["keys"]))
    assert_truthful(result, "set_many", setup["old"], new, raw.data)


writer_ops = st.lists(st.tuples(st.sampled_from(["set", "delete"]), st.sampled_from(KEYS)), min_size=1, max_size=16)


@settings(max_examples=300, deadline=None)
@given(setup=setups, ops=writer_ops, make_error=exception_factories, flush_at=st.integers(min_value=1, max_value=5))
def test_a_writer_accounts_for_every_key_when_a_flush_raises(setup, ops, make_error, flush_at):
    error = make_error()
    raw = RaisingBucket(setup["old"], setup["at"], error, setup["mode"], setup["native"])
    bucket = Bucket(raw, chunk_size=setup["chunk_size"], retry=RetryPolicy(attempts=1))
    last: Dict[str, Optional[bytes]] = {}
    writer = bucket.writer(flush_at=flush_at)
    try:
        with writer as w:
            for n, (kind, key) in enumerate(ops):
                last[key] = b"%d" % n if kind == "set" else None  # given (a flush may raise in the call)
                if kind == "set":
                    w.set(key, b"%d" % n)
                else:
                    w.delete(key)
    except BaseException as raised:
        assert raised is error
        assert isinstance(raised.partial, BatchResult)  # type: ignore[attr-defined]
    results = writer.results
    assert set(results.order) == set(last), "every key given to the writer has an outcome"
    for key in results.succeeded:
        assert raw.data.get(key) == last[key], key


builder_ops = st.lists(st.tuples(st.sampled_from(["get", "set", "delete"]), st.sampled_from(KEYS[:4])), min_size=1,
                       max_size=12)


@settings(max_examples=300, deadline=None)
@given(setup=setups, ops=builder_ops, make_error=exception_factories)
def test_a_builder_accounts_for_every_op_when_a_phase_raises(setup, ops, make_error):
    error = make_error()
    raw = RaisingBucket(setup["old"], setup["at"], error, setup["mode"], setup["native"])
    builder = Bucket(raw, chunk_size=setup["chunk_size"], retry=RetryPolicy(attempts=1)).builder()
    for n, (kind, key) in enumerate(ops):
        getattr(builder, kind)(*((key, b"%d" % n) if kind == "set" else (key,)))
    try:
        results = builder.execute()
    except BaseException as raised:
        assert raised is error
        results = raised.partial_ops  # type: ignore[attr-defined]
    assert [(r.index, r.op, r.key) for r in results] == [(n, kind, key) for n, (kind, key) in enumerate(ops)]
    phases = builder.plan()
    reached = max((p for p, phase in enumerate(phases) if any(results[i].status != "not_attempted" for i in phase.ops)),
                  default=-1)
    for phase in phases[reached + 1:]:
        assert all(results[i].status == "not_attempted" for i in phase.ops)


def test_a_non_kv_error_from_set_many_carries_the_chunks_already_written():
    raw = RaisingBucket({}, 3, ConnectionError("reset"), "before", True)
    with pytest.raises(ConnectionError) as info:
        Bucket(raw, chunk_size=2).set_many({f"k{i}": b"v" for i in range(6)})
    partial = info.value.partial  # type: ignore[attr-defined]
    assert partial.succeeded == ("k0", "k1", "k2", "k3")
    assert partial.unknown == ("k4", "k5")
    assert raw.data == {"k0": b"v", "k1": b"v", "k2": b"v", "k3": b"v"}


def test_writer_results_keep_the_keys_of_a_flush_that_raised_a_capability_error():
    raw = RaisingBucket({}, 2, NoSuchStore("default"), "before", True)
    bucket = Bucket(raw)
    with pytest.raises(NoSuchStore):
        with bucket.writer(flush_at=2) as w:
            for key in ("a", "b", "c", "d", "e"):
                w.set(key, b"1")
    assert writer_outcomes(w) == {"a": "succeeded", "b": "succeeded", "c": "unknown", "d": "unknown"}


def test_writer_results_keep_written_sets_when_the_deletes_of_the_same_flush_raise():
    raw = RaisingBucket({"x": b"old"}, 2, NoSuchStore("default"), "before", True)
    w = Bucket(raw).writer(flush_at=10)
    w.set("a", b"1")
    w.set("b", b"2")
    w.delete("x")
    w.delete("y")
    with pytest.raises(NoSuchStore) as info:
        w.flush()
    assert writer_outcomes(w) == {"a": "succeeded", "b": "succeeded", "x": "unknown", "y": "unknown"}
    assert info.value.partial.outcomes() == writer_outcomes(w)  # type: ignore[union-attr]


def writer_outcomes(writer: kvbatch.Writer) -> Dict[str, str]:
    return dict(writer.results.outcomes())


@pytest.mark.parametrize("field,value", [("base_delay", float("inf")), ("base_delay", float("nan")),
                                         ("max_delay", float("nan")), ("budget", float("inf")),
                                         ("budget", float("nan")), ("jitter", float("nan")),
                                         ("multiplier", float("inf")), ("base_delay", "0.1"), ("attempts", True)])
def test_retry_policy_rejects_non_finite_or_non_numeric_settings_at_construction(field, value):
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})


def test_retry_policy_backoff_that_would_overflow_is_the_max_delay():
    policy = RetryPolicy(attempts=10, base_delay=1.0, multiplier=1e308, max_delay=3.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 9)] == [1.0, 3.0, 3.0, 3.0]
