"""The provider component (build/provider.wasm) holds the batch semantics under the harness."""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import pytest

from kvbatch_host.backends import MemoryBackend
from kvbatch_host.errors import ErrorKind, HostKvError
from kvbatch_host.keyvalue_functions import OpenBucket
from kvbatch_host import Harness

pytestmark = pytest.mark.component


class FailingBackend(MemoryBackend):
    """A memory backend whose `fail_on`-th write (1-based, sets and deletes counted apart) raises."""

    def __init__(self, op: str = "set", fail_on: int = 0, kind: ErrorKind = "other", message: str = "disk full") -> None:
        super().__init__()
        self.op, self.fail_on, self.kind, self.message = op, fail_on, kind, message
        self.calls: List[Tuple[str, str]] = []

    def _maybe_fail(self, op: str, key: str) -> None:
        self.calls.append((op, key))
        if op == self.op and sum(1 for o, _ in self.calls if o == op) == self.fail_on:
            raise HostKvError(self.kind, self.message if self.kind == "other" else None)

    def set(self, store: str, key: str, value: bytes) -> None:
        self._maybe_fail("set", key)
        super().set(store, key, value)

    def delete(self, store: str, key: str) -> None:
        self._maybe_fail("delete", key)
        super().delete(store, key)

    def get(self, store: str, key: str) -> Optional[bytes]:
        self._maybe_fail("get", key)
        return super().get(store, key)


Setup = Tuple[Harness, object, OpenBucket]


@pytest.fixture
def provider(harness_for: Callable[..., Harness]) -> Callable[[MemoryBackend], Setup]:
    def make(backend: MemoryBackend) -> Setup:
        harness = harness_for(backend, batch="provider")
        ops, bucket = harness.batch_ops(), harness.keyvalue.open_bucket("default")
        ops.get_many(bucket, [])  # the driver opens its own handle to the store on its first call, and keeps it
        return harness, ops, bucket

    return make


def test_get_many_answers_each_key_in_order_with_none_for_missing(provider):
    backend = MemoryBackend()
    backend.set("default", "a", b"1")
    backend.set("default", "c", b"3")
    _, ops, bucket = provider(backend)
    assert ops.get_many(bucket, ["a", "b", "c"]) == [b"1", None, b"3"]


def test_get_many_answers_duplicate_keys(provider):
    backend = MemoryBackend()
    backend.set("default", "a", b"1")
    _, ops, bucket = provider(backend)
    assert ops.get_many(bucket, ["a", "x", "a"]) == [b"1", None, b"1"]


def test_get_many_of_no_keys_is_empty(provider):
    _, ops, bucket = provider(MemoryBackend())
    assert ops.get_many(bucket, []) == []


def test_set_many_writes_every_pair(provider):
    backend = MemoryBackend()
    _, ops, bucket = provider(backend)
    ops.set_many(bucket, [(f"k{i}", bytes([i]) * i) for i in range(50)])
    assert dict(backend.all_items("default")) == {f"k{i}": bytes([i]) * i for i in range(50)}


def test_set_many_duplicate_key_last_value_wins_written_once(provider):
    backend = FailingBackend()
    _, ops, bucket = provider(backend)
    ops.set_many(bucket, [("a", b"1"), ("b", b"2"), ("a", b"3")])
    assert backend.get("default", "a") == b"3"
    assert [key for op, key in backend.calls if op == "set"] == ["a", "b"]


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_set_many_error_at_kth_write_keeps_earlier_writes_and_reports_error_unchanged(provider, k):
    backend = FailingBackend("set", fail_on=k, message=f"disk full at {k}")
    for key in "abcd":
        backend._stores.setdefault("default", {})[key] = b"old"
    _, ops, bucket = provider(backend)
    with pytest.raises(HostKvError) as raised:
        ops.set_many(bucket, [(key, b"new") for key in "abcd"])
    assert (raised.value.kind, raised.value.message) == ("other", f"disk full at {k}")
    assert [backend.get("default", key) for key in "abcd"] == [b"new"] * (k - 1) + [b"old"] * (5 - k)


def test_set_many_after_an_error_the_same_instance_still_works(provider):
    backend = FailingBackend("set", fail_on=2)
    _, ops, bucket = provider(backend)
    with pytest.raises(HostKvError):
        ops.set_many(bucket, [("a", b"1"), ("b", b"2")])
    ops.set_many(bucket, [("c", b"3")])
    assert ops.get_many(bucket, ["a", "b", "c"]) == [b"1", None, b"3"]


def test_get_many_error_reaches_the_caller_unchanged(provider):
    backend = FailingBackend("get", fail_on=2, message="read timeout")
    _, ops, bucket = provider(backend)
    with pytest.raises(HostKvError) as raised:
        ops.get_many(bucket, ["a", "b", "c"])
    assert (raised.value.kind, raised.value.message) == ("other", "read timeout")


def test_delete_many_skips_missing_keys(provider):
    backend = MemoryBackend()
    backend.set("default", "a", b"1")
    _, ops, bucket = provider(backend)
    ops.delete_many(bucket, ["missing", "a", "also-missing"])
    assert list(backend.all_items("default")) == []


def test_delete_many_duplicate_key_is_deleted_once(provider):
    backend = FailingBackend()
    backend.set("default", "a", b"1")
    _, ops, bucket = provider(backend)
    ops.delete_many(bucket, ["a", "a", "a"])
    assert [key for op, key in backend.calls if op == "delete"] == ["a"]


def test_delete_many_error_keeps_earlier_deletes_and_later_keys(provider):
    backend = MemoryBackend()
    for key in "abc":
        backend.set("default", key, b"v")
    failing = FailingBackend("delete", fail_on=2)
    failing._stores = backend._stores
    _, ops, bucket = provider(failing)
    with pytest.raises(HostKvError):
        ops.delete_many(bucket, ["a", "b", "c"])
    assert [failing.get("default", key) for key in "abc"] == [None, b"v", b"v"]


@pytest.mark.parametrize("kind", ["access-denied", "no-such-store"])
def test_capability_errors_pass_through_unchanged(provider, kind):
    backend = FailingBackend("set", fail_on=1, kind=kind)
    _, ops, bucket = provider(backend)
    with pytest.raises(HostKvError) as raised:
        ops.set_many(bucket, [("a", b"1")])
    assert raised.value.kind == kind


def test_borrowed_bucket_is_released_on_success_and_error_paths(provider):
    backend = FailingBackend("set", fail_on=3)
    harness, ops, bucket = provider(backend)
    open_before = harness.keyvalue.open_buckets
    for round_ in range(20):
        try:
            ops.set_many(bucket, [(f"r{round_}-{i}", b"x") for i in range(3)])
        except HostKvError:
            pass
        ops.get_many(bucket, ["r0-0"])
        ops.delete_many(bucket, [f"r{round_}-0"])
    assert harness.keyvalue.open_buckets == open_before
    assert ops.get_many(bucket, ["r0-1"]) == [b"x"]


def test_large_value_round_trips_intact(provider):
    backend = MemoryBackend()
    _, ops, bucket = provider(backend)
    value = bytes(range(256)) * 256  # 64 KiB
    ops.set_many(bucket, [("big", value)])
    assert ops.get_many(bucket, ["big"]) == [value]


def test_provider_is_replaced_after_its_recycle_bytes_and_keeps_every_value(harness_for):
    backend = MemoryBackend()
    harness = harness_for(backend, batch="provider", driver_recycle_bytes=4096)
    ops, bucket = harness.batch_ops(), harness.keyvalue.open_bucket("default")
    for round_ in range(10):
        ops.set_many(bucket, [(f"r{round_}-{i}", bytes([round_]) * 500) for i in range(4)])
    assert ops.get_many(bucket, [f"r{r}-0" for r in range(10)]) == [bytes([r]) * 500 for r in range(10)]
    assert harness._driver.instances >= 4  # 10 rounds of ~2 KB with a 4 KiB threshold


def test_after_a_provider_trap_the_next_call_gets_a_fresh_instance(harness_for, built):
    from wasmtime import WasmtimeError

    backend = FailingBackend("set", fail_on=2)
    harness = harness_for(backend, batch="provider", provider_path=built("broken-trap"))
    ops, bucket = harness.batch_ops(), harness.keyvalue.open_bucket("default")
    with pytest.raises(WasmtimeError):
        ops.set_many(bucket, [("a", b"1"), ("b", b"2")])
    ops.set_many(bucket, [("c", b"3")])
    assert backend.get("default", "c") == b"3"
    assert harness._driver.instances == 2
