"""Exact attribution under random faults: the library's report is the truth, key by key.

Hypothesis generates batches (0-500 items, duplicate keys, empty and large values) and fault
plans (errors of every kind at random positions, keys and call counts, in-doubt failures,
latency, host traps), runs them through the kvbatch library and a batch implementation under the harness
(the provider component, or host-native batch) and checks every reported outcome against the
store's final state and the event log:

* `succeeded` keys hold their new state, `failed` and `not_attempted` keys their old one;
* `unknown` keys hold one of the two, and only where a fault left the key in doubt;
* no key is ever in a third state; capability errors raise instead of becoming per-key failures;
  after a trap (the call raises) every key is still old or new, and a fresh store goes on.

CI runs the `ci` profile (a bounded number of examples); the long run is one command:
`./dev.sh test tests/reliability/test_attribution.py --hypothesis-profile=long` (10,000 examples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime import WasmtimeError

import kvbatch
from kvbatch_host import faults
from kvbatch_host.backends import MemoryBackend
from kvbatch_host import EventLog
from kvbatch_host import HarnessBucket
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

pytestmark = pytest.mark.component

STORE = "default"
KEYS = [f"k{i:02d}" for i in range(60)]

values = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=64),
    st.binary(min_size=60_000, max_size=70_000).map(lambda b: b[:1] * len(b)),  # large, cheap to generate
)
items = st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=500)
error_kinds = st.sampled_from(["other:injected", "other", "access-denied", "no-such-store"])


@st.composite
def fault_rules(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(["set", "delete", "get", "exists", "set|delete"]))
    where = draw(st.sampled_from(["position", "key", "nth", "any"]))
    fields = [f"op={op}"]
    if where == "position":
        lo = draw(st.integers(0, 40))
        fields.append(f"position={lo}" if draw(st.booleans()) else f"position={lo}-{lo + draw(st.integers(0, 5))}")
    elif where == "key":
        fields.append(f"key={draw(st.sampled_from(KEYS))}" if draw(st.booleans()) else "key=k1*")
    elif where == "nth":
        fields.append(f"nth={draw(st.integers(1, 30))}")
    effect = draw(st.sampled_from(["error", "error", "in-doubt", "in-doubt", "latency", "trap"]))
    if effect == "latency":
        fields.append("latency=1ms")
    elif effect == "trap":
        fields.append("trap=backend crashed")
    else:
        kind = draw(error_kinds) if effect == "error" else draw(st.sampled_from(["other:timeout", "other"]))
        fields.append(f"{effect}={kind}")
    if where != "nth" and draw(st.booleans()):
        fields.append(f"times={draw(st.integers(1, 3))}")
    return ",".join(fields)


plans = st.lists(fault_rules(), max_size=3)


@dataclass
class Rig:
    """One harness per batch path, reused across examples; each example gets a fresh store."""

    harness: Harness
    layer: faults.FaultLayer
    events: EventLog
    bucket: HarnessBucket

    def reset(self, plan: faults.FaultPlan, old: Dict[str, bytes]) -> MemoryBackend:
        backend = MemoryBackend()
        backend.set_many(STORE, list(old.items()))
        self.layer.inner = backend
        self.layer.use_plan(plan)
        return backend


def make_rig(batch: str, provider_path) -> Rig:
    registry = StoreRegistry().add(STORE, MemoryBackend())
    events = EventLog()
    (layer,) = faults.install(registry, events=events, sleep=lambda seconds: None)
    harness = Harness(registry, batch=batch, provider_path=provider_path)
    return Rig(harness, layer, events, HarnessBucket(harness, STORE))


@pytest.fixture(scope="module", params=["provider", "native"])
def rig(request, built) -> Rig:
    return make_rig(request.param, built("provider") if request.param == "provider" else None)


def doubtful_keys(events: EventLog, mark: int) -> set[str]:
    """Keys some operation left in doubt (an in-doubt fault) during this example."""
    return {e.key for e in events.since(mark) if e.key is not None and e.fault == "in-doubt"}


def check(result: kvbatch.BatchResult, old: Dict[str, bytes], new: Dict[str, Optional[bytes]],
          final: Dict[str, bytes], doubtful: set[str]) -> List[str]:
    """Every misattributed key, with why (empty when the report is the truth)."""
    wrong = []
    for key in result.order:
        before, after, now = old.get(key), new[key], final.get(key)
        if now not in (before, after):
            wrong.append(f"{key}: third state {now!r:.30}")
        status = result.outcome(key)
        if status == "succeeded" and now != after:
            wrong.append(f"{key}: reported succeeded, store holds the old state")
        if status in ("failed", "not_attempted") and now != before:
            wrong.append(f"{key}: reported {status}, store holds the new state")
        if status == "unknown" and key not in doubtful and before != after:
            wrong.append(f"{key}: reported unknown without any doubt")
    return wrong


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
          deadline=None)
@given(
    op=st.sampled_from(["set_many", "delete_many"]),
    batch=items,
    old=st.dictionaries(st.sampled_from(KEYS), st.binary(max_size=16), max_size=40),
    rules=plans,
    attempts=st.integers(1, 3),
    stop_on_error=st.booleans(),
    chunk_size=st.sampled_from([7, 64, 1000]),
)
def test_every_reported_outcome_matches_the_store(rig, op, batch, old, rules, attempts, stop_on_error, chunk_size):
    plan = faults.FaultPlan.parse(rules)
    backend = rig.reset(plan, old)
    mark = rig.events.mark()
    bucket = kvbatch.Bucket(rig.bucket, chunk_size=chunk_size,
                            retry=kvbatch.RetryPolicy(attempts=attempts, sleep=lambda s: None, budget=None))
    if op == "set_many":
        new: Dict[str, Optional[bytes]] = dict(batch)
        call = lambda: bucket.set_many(batch, stop_on_error=stop_on_error)  # noqa: E731
    else:
        new = {key: None for key, _ in batch}
        call = lambda: bucket.delete_many([key for key, _ in batch], stop_on_error=stop_on_error)  # noqa: E731
    try:
        result = call()
    except WasmtimeError:  # a trap: the instance is gone, but no key may be in a third state
        final = dict(backend.all_items(STORE))
        third = [k for k in new if final.get(k) not in (old.get(k), new[k])]
        assert not third, f"keys in a third state after a trap: {third}"
        assert any(e.fault == "trap" for e in rig.events.since(mark))
        rig.harness.new_store()
        rig.bucket = HarnessBucket(rig.harness, STORE)
        return
    except kvbatch.CapabilityError:
        final = dict(backend.all_items(STORE))
        third = [k for k in new if final.get(k) not in (old.get(k), new[k])]
        assert not third, f"keys in a third state after a capability error: {third}"
        assert any(e.error and e.error["kind"] in ("access-denied", "no-such-store") for e in rig.events.since(mark))
        return
    assert sorted(result.order) == sorted(new)
    wrong = check(result, old, new, dict(backend.all_items(STORE)), doubtful_keys(rig.events, mark))
    assert not wrong, "\n".join(wrong[:20])


def test_in_doubt_write_that_cannot_be_read_back_is_reported_unknown(rig):
    """The write is applied, then an error; the read-back fails too: nobody knows, so `unknown`."""
    plan = faults.FaultPlan.parse(["op=set,key=k05,in-doubt=other:timeout", "op=get,key=k05,error=other:unreachable"])
    backend = rig.reset(plan, {"k05": b"old"})
    bucket = kvbatch.Bucket(rig.bucket, retry=kvbatch.NO_RETRY)
    result = bucket.set_many({"k04": b"a", "k05": b"new", "k06": b"b"})
    assert result.unknown == ("k05",)
    assert backend.get(STORE, "k05") == b"new"
    assert set(result.succeeded) == {"k04", "k06"}


def test_in_doubt_write_that_can_be_read_back_is_reported_as_it_is(rig):
    plan = faults.FaultPlan.parse(["op=set,key=k05,in-doubt=other:timeout"])
    backend = rig.reset(plan, {})
    result = kvbatch.Bucket(rig.bucket, retry=kvbatch.NO_RETRY).set_many({"k05": b"new", "k06": b"b"})
    assert result.outcome("k05") == "succeeded" and backend.get(STORE, "k05") == b"new"


def test_the_checker_catches_a_misreported_key():
    reported = kvbatch.BatchResult(succeeded=("a",), failed={"b": kvbatch.StoreError("x")}, unknown=("c",))
    old = {"a": b"old", "b": b"old", "c": b"old"}
    new: Dict[str, Optional[bytes]] = {"a": b"new", "b": b"new", "c": b"new"}
    final = {"a": b"old", "b": b"new", "c": b"third"}
    wrong = check(reported, old, new, final, doubtful=set())
    assert any("a: reported succeeded" in w for w in wrong)
    assert any("b: reported failed" in w for w in wrong)
    assert any("c: third state" in w for w in wrong)
