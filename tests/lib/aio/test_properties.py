"""kvbatch.aio's promise under random faults, delays, concurrency limits and cancellation (hypothesis).

For any mix: every distinct key is in exactly one group; a key reported `succeeded` holds its
new value, `failed` or `not_attempted` its old one; never more than `max_concurrency` calls in
flight; the completion-order stream yields every key exactly once, with its input index.
Example counts are bounded for the default run; `-m soak` runs many more.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvbatch
import kvbatch.aio
from kvbatch.aio.testing import MemoryStore

KEYS = st.sampled_from([f"k{i}" for i in range(12)])
FAULT = st.sampled_from(["none", "once", "always", "in-doubt", "in-doubt-always"])
POLICIES = st.sampled_from([kvbatch.NO_RETRY, kvbatch.RetryPolicy(attempts=2, base_delay=0, jitter=0)])
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOAK = settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenarios(draw: Any) -> Dict[str, Any]:
    keys = draw(st.lists(KEYS, min_size=0, max_size=16))
    old = {k: b"old-" + k.encode() for k in draw(st.sets(KEYS))}
    faults = {k: draw(FAULT) for k in dict.fromkeys(keys)}
    delays = {k: draw(st.sampled_from([0.0, 0.0005, 0.001, 0.002])) for k in dict.fromkeys(keys)}
    return {"keys": keys, "old": old, "faults": faults, "delays": delays,
            "concurrency": draw(st.integers(1, 6)), "policy": draw(POLICIES), "verify": draw(st.booleans()),
            "answer_late": draw(st.booleans())}


def _store(s: Dict[str, Any], op: str) -> MemoryStore:
    store = MemoryStore(s["old"], cas=False)
    store.delay(op, lambda key: s["delays"].get(key, 0.0), answer_late=s["answer_late"])
    for key, fault in s["faults"].items():
        if fault != "none":
            store.fail(op, key=key, times=None if fault.endswith("always") else 1, in_doubt=fault.startswith("in-doubt"))
    return store


def _check_write_report(result: kvbatch.BatchResult, store: MemoryStore, old: Dict[str, bytes],
                        new: Dict[str, Optional[bytes]], keys: List[str]) -> None:
    groups = [*result.succeeded, *result.failed, *result.unknown, *result.not_attempted]
    assert sorted(groups) == sorted(set(keys)) and len(groups) == len(set(keys))
    assert result.order == tuple(dict.fromkeys(keys))
    for key in result.succeeded:
        assert store.data.get(key) == new[key], key
    for key in (*result.failed, *result.not_attempted):
        assert store.data.get(key) == old.get(key), key


def _set_many(s: Dict[str, Any]) -> Tuple[kvbatch.BatchResult, MemoryStore]:
    store = _store(s, "set")
    bucket = kvbatch.aio.wrap(store, "default", max_concurrency=s["concurrency"], retry=s["policy"], verify=s["verify"])
    items = [(k, f"new-{k}-{i}".encode()) for i, k in enumerate(s["keys"])]
    result = asyncio.run(bucket.set_many(items))
    assert store.peak_in_flight <= s["concurrency"]
    return result, store


def _property_set_many(s: Dict[str, Any]) -> None:
    result, store = _set_many(s)
    new: Dict[str, Optional[bytes]] = dict((k, f"new-{k}-{i}".encode()) for i, k in enumerate(s["keys"]))
    _check_write_report(result, store, s["old"], new, s["keys"])
    for key in result.unknown:  # only a write whose error left it in doubt is unknown
        assert s["faults"][key] != "none"


@EXAMPLES
@given(scenarios())
def test_set_many_reports_every_key_truthfully_within_the_concurrency_limit(s: Dict[str, Any]):
    _property_set_many(s)


@EXAMPLES
@given(scenarios())
def test_delete_many_reports_every_key_truthfully(s: Dict[str, Any]):
    store = _store(s, "delete")
    bucket = kvbatch.aio.wrap(store, "default", max_concurrency=s["concurrency"], retry=s["policy"], verify=s["verify"])
    result = asyncio.run(bucket.delete_many(s["keys"]))
    assert store.peak_in_flight <= s["concurrency"]
    _check_write_report(result, store, s["old"], dict.fromkeys(s["keys"]), s["keys"])


@EXAMPLES
@given(scenarios())
def test_get_many_never_misreports_a_value(s: Dict[str, Any]):
    store = _store(s, "get")
    bucket = kvbatch.aio.wrap(store, "default", max_concurrency=s["concurrency"], retry=s["policy"])
    result = asyncio.run(bucket.get_many(s["keys"]))
    assert store.peak_in_flight <= s["concurrency"]
    assert sorted([*result.succeeded, *result.failed]) == sorted(set(s["keys"])) and not result.unknown
    for key in result.succeeded:
        assert result.values.get(key) == s["old"].get(key)
        assert (key in result.missing) == (key not in s["old"])


@EXAMPLES
@given(scenarios())
def test_the_completion_stream_covers_every_key_once_with_its_input_index(s: Dict[str, Any]):
    store = _store(s, "get")
    bucket = kvbatch.aio.wrap(store, "default", max_concurrency=s["concurrency"], retry=s["policy"])

    async def scenario() -> Tuple[List[kvbatch.aio.Completed], kvbatch.GetResult]:
        stream = bucket.stream_get_many(s["keys"])
        return [done async for done in stream], stream.result

    completed, result = asyncio.run(scenario())
    assert sorted(c.key for c in completed) == sorted(set(s["keys"]))
    for c in completed:
        assert s["keys"][c.index] == c.key and s["keys"].index(c.key) == c.index
        assert c.status == result.outcome(c.key) and c.value == result.values.get(c.key)
    assert store.peak_in_flight <= s["concurrency"]


@EXAMPLES
@given(scenarios(), st.integers(0, 8))
def test_a_batch_cancelled_at_any_point_accounts_for_every_key(s: Dict[str, Any], yields: int):
    store = _store(s, "set")
    bucket = kvbatch.aio.wrap(store, "default", max_concurrency=s["concurrency"], retry=s["policy"], verify=s["verify"])
    items = [(k, f"new-{k}".encode()) for k in s["keys"]]

    async def scenario() -> Optional[kvbatch.BatchResult]:
        task = asyncio.ensure_future(bucket.set_many(items))
        for _ in range(yields):
            await asyncio.sleep(0)
        task.cancel()
        try:
            return await task
        except asyncio.CancelledError as err:
            return getattr(err, "partial", None)  # none when cancelled before the operation began

    result = asyncio.run(scenario())
    if result is None:
        assert yields == 0 and store.calls == []
        return
    _check_write_report(result, store, s["old"], {k: f"new-{k}".encode() for k in s["keys"]}, s["keys"])
    assert store.in_flight == 0


@pytest.mark.soak
@SOAK
@given(scenarios())
def test_soak_set_many_reports_every_key_truthfully(s: Dict[str, Any]):
    _property_set_many(s)
