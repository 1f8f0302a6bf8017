"""The fault layer on CPython: what each effect does to the store, and what the event log says."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest

from kvbatch_host.backends import MemoryBackend
from kvbatch_host import HostKvError
from kvbatch_host.faults.events import EventLog, read_jsonl
from kvbatch_host.faults import FaultLayer, FaultPlan, InjectedTrap, install
from kvbatch_host import StoreRegistry


def layer(*rules: str, inner: Optional[MemoryBackend] = None, sleep: object = None) -> FaultLayer:
    kwargs = {"sleep": sleep} if sleep is not None else {}
    return FaultLayer(inner or MemoryBackend(), FaultPlan.parse(rules), EventLog(), **kwargs)  # type: ignore[arg-type]


def test_an_error_fault_returns_the_error_and_leaves_the_key_unwritten() -> None:
    kv = layer("op=set,key=k,error=other:disk full")
    with pytest.raises(HostKvError) as caught:
        kv.set("s", "k", b"v")
    assert (caught.value.kind, caught.value.message) == ("other", "disk full")
    assert kv.inner.get("s", "k") is None
    [event] = kv.events.events
    assert (event.op, event.applied, event.result, event.fault) == ("set", False, "error", "error")


def test_an_in_doubt_fault_applies_the_write_then_returns_the_error() -> None:
    kv = layer("op=set,in-doubt=other:timeout")
    with pytest.raises(HostKvError, match="timeout"):
        kv.set("s", "k", b"v")
    assert kv.inner.get("s", "k") == b"v"
    [event] = kv.events.events
    assert (event.applied, event.result, event.fault) == (True, "error", "in-doubt")


def test_a_capability_error_fault_is_returned_as_that_kind() -> None:
    kv = layer("op=get,error=access-denied")
    with pytest.raises(HostKvError) as caught:
        kv.get("s", "k")
    assert caught.value.kind == "access-denied"


def test_a_trap_fault_raises_something_other_than_a_keyvalue_error_and_writes_nothing() -> None:
    kv = layer("op=delete,trap=host crashed")
    kv.inner.set("s", "k", b"v")
    with pytest.raises(InjectedTrap, match="host crashed"):
        kv.delete("s", "k")
    assert kv.inner.get("s", "k") == b"v"
    assert kv.events.events[-1].result == "trap"


def test_a_latency_fault_waits_through_the_injected_sleep_then_performs_the_operation() -> None:
    slept: List[float] = []
    kv = layer("op=get,latency=250ms", sleep=slept.append)
    kv.inner.set("s", "k", b"v")
    assert kv.get("s", "k") == b"v"
    assert slept == [0.25]
    assert kv.events.events[-1].fault == "latency"


def test_nth_fires_only_on_the_nth_matching_operation() -> None:
    kv = layer("op=set,nth=2,error=other:second")
    kv.set("s", "a", b"1")
    with pytest.raises(HostKvError):
        kv.set("s", "b", b"2")
    kv.set("s", "c", b"3")
    assert [e.fault for e in kv.events] == [None, "error", None]


def test_times_limits_how_often_a_rule_fires() -> None:
    kv = layer("op=set,times=2,error=other")
    results = []
    for key in "abc":
        try:
            kv.set("s", key, b"v")
            results.append("ok")
        except HostKvError:
            results.append("err")
    assert results == ["err", "err", "ok"]


def test_a_key_glob_matches_only_the_keys_it_names() -> None:
    kv = layer("key=user:*,error=other")
    kv.set("s", "order:1", b"v")
    with pytest.raises(HostKvError):
        kv.set("s", "user:1", b"v")


def test_a_store_filter_spares_other_stores() -> None:
    kv = layer("store=cache,error=other")
    kv.set("default", "k", b"v")
    with pytest.raises(HostKvError):
        kv.set("cache", "k", b"v")


def test_position_counts_the_operations_of_one_batch_call() -> None:
    kv = layer("op=set,position=2,error=other:third write")
    with pytest.raises(HostKvError, match="third write"):
        kv.set_many("s", [("a", b"1"), ("b", b"2"), ("c", b"3"), ("d", b"4")])
    assert kv.inner.get_many("s", ["a", "b", "c", "d"]) == [b"1", b"2", None, None]
    writes = [(e.key, e.position, e.applied) for e in kv.events if e.op == "set"]
    assert writes == [("a", 0, True), ("b", 1, True), ("c", 2, False)]


def test_a_position_rule_never_matches_calls_outside_a_batch() -> None:
    kv = layer("op=set,position=0,error=other")
    kv.set("s", "a", b"1")
    assert kv.inner.get("s", "a") == b"1"


def test_batch_none_matches_only_calls_outside_a_batch() -> None:
    kv = layer("op=set,batch=none,error=other")
    kv.set_many("s", [("a", b"1")])
    with pytest.raises(HostKvError):
        kv.set("s", "b", b"2")


def test_a_faulted_set_many_writes_each_distinct_key_once_with_its_last_value() -> None:
    kv = layer("op=set,key=zzz,error=other")  # can match set: key-by-key path
    kv.set_many("s", [("a", b"first"), ("b", b"x"), ("a", b"second")])
    assert kv.inner.get("s", "a") == b"second"
    assert [(e.key, e.position) for e in kv.events if e.op == "set"] == [("a", 0), ("b", 1)]


def test_a_faulted_delete_many_deletes_each_distinct_key_once_and_skips_missing() -> None:
    kv = layer("op=delete,key=zzz,error=other")
    kv.inner.set("s", "a", b"1")
    kv.delete_many("s", ["a", "missing", "a"])
    assert kv.inner.get("s", "a") is None
    assert [e.key for e in kv.events if e.op == "delete"] == ["a", "missing"]


def test_a_get_fault_inside_get_many_fails_the_whole_call() -> None:
    kv = layer("op=get,position=1,error=other:read failed")
    with pytest.raises(HostKvError, match="read failed"):
        kv.get_many("s", ["a", "b", "c"])


class CountingBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.calls: List[str] = []

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        self.calls.append("set_many")
        super().set_many(store, items)

    def set(self, store: str, key: str, value: bytes) -> None:
        self.calls.append("set")
        super().set(store, key, value)


def test_without_a_matching_rule_batches_use_the_backend_native_multi_key_call() -> None:
    inner = CountingBackend()
    kv = layer("op=get,error=other", inner=inner)
    kv.set_many("s", [("a", b"1"), ("b", b"2"), ("a", b"3")])
    assert inner.calls == ["set_many"]
    assert [(e.key, e.applied, e.position) for e in kv.events if e.op == "set"] == [("a", True, 0), ("b", True, 1)]


def test_with_a_rule_that_can_match_batches_go_key_by_key() -> None:
    inner = CountingBackend()
    kv = layer("op=set,key=nothing-matches,error=other", inner=inner)
    kv.set_many("s", [("a", b"1"), ("b", b"2")])
    assert inner.calls == ["set", "set"]


class FailingBackend(MemoryBackend):
    def set(self, store: str, key: str, value: bytes) -> None:
        raise HostKvError("other", "real failure")


def test_a_real_backend_error_is_logged_as_not_applied_and_passed_on() -> None:
    kv = FaultLayer(FailingBackend(), FaultPlan(), EventLog())
    with pytest.raises(HostKvError, match="real failure"):
        kv.set("s", "k", b"v")
    [event] = kv.events.events
    assert (event.applied, event.result, event.fault) == (False, "error", None)


def test_a_batch_call_logs_what_it_answered() -> None:
    kv = layer("op=set,position=1,error=other:x")
    with pytest.raises(HostKvError):
        kv.set_many("s", [("a", b"1"), ("b", b"2")])
    batch_event = kv.events.events[-1]
    assert (batch_event.op, batch_event.result, batch_event.error) == ("set-many", "error", {"kind": "other", "message": "x"})
    assert batch_event.detail == {"keys": 2}


def test_compare_and_swap_is_logged_as_applied_only_when_it_swapped() -> None:
    kv = layer("op=get,key=zzz,latency=1ms")
    kv.inner.set("s", "k", b"old")
    assert not kv.compare_and_swap("s", "k", b"other", b"new")
    assert kv.compare_and_swap("s", "k", b"old", b"new")
    assert [(e.applied, e.detail) for e in kv.events] == [(False, {"swapped": False}), (True, {"swapped": True})]


def test_applied_writes_gives_each_key_its_effective_writes() -> None:
    kv = layer("op=set,key=b,error=other")
    kv.set("s", "a", b"1")
    with pytest.raises(HostKvError):
        kv.set("s", "b", b"2")
    assert list(kv.events.applied_writes()) == ["a"]


def test_events_are_written_as_json_lines_as_they_happen(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog.to_file(path)
    kv = FaultLayer(MemoryBackend(), FaultPlan.parse(["op=set,key=b,error=other:no"]), log)
    kv.set("s", "a", b"1")
    with pytest.raises(HostKvError):
        kv.set("s", "b", b"2")
    rows = read_jsonl(path)
    log.close()
    assert [(r["key"], r["applied"], r.get("error")) for r in rows] == [
        ("a", True, None), ("b", False, {"kind": "other", "message": "no"})]
    assert rows[0]["value"]["size"] == 1


def test_install_wraps_each_backend_once_and_counts_nth_across_stores() -> None:
    shared = MemoryBackend()
    registry = StoreRegistry().add("one", shared).add("two", shared).add("three", MemoryBackend())
    layers = install(registry, FaultPlan.parse(["op=set,nth=2,error=other"]))
    assert len(layers) == 2
    assert registry.open("one") is registry.open("two")
    registry.open("one").set("one", "k", b"v")
    with pytest.raises(HostKvError):
        registry.open("three").set("three", "k", b"v")
