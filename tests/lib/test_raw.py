"""WitBucket over generated-binding look-alikes: both get-many shapes, error mapping, per-key fallback, wrap."""

from __future__ import annotations

import types
from typing import Dict, List, Optional, Tuple

import pytest

import kvbatch
from kvbatch.raw import WitBucket
from kvbatch.testing import MemoryBucket


class Err(Exception):
    """Like componentize_py_types.Err: carries the WIT `error` value."""

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


class Error_Other:  # noqa: N801 - the generated bindings' class names
    def __init__(self, value: str) -> None:
        self.value = value


class Error_AccessDenied:  # noqa: N801
    pass


class Handle:
    """A bucket resource: `bad` never takes a write; `denied` is off limits."""

    def __init__(self, data: Optional[Dict[str, bytes]] = None) -> None:
        self.data: Dict[str, bytes] = dict(data or {})
        self.calls: List[str] = []

    def _check(self, key: str) -> None:
        if key == "denied":
            raise Err(Error_AccessDenied())

    def get(self, key: str) -> Optional[bytes]:
        self.calls.append("get")
        self._check(key)
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.calls.append("set")
        self._check(key)
        if key == "bad":
            raise Err(Error_Other("disk full"))
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.calls.append("delete")
        self.data.pop(key, None)

    def exists(self, key: str) -> bool:
        self.calls.append("exists")
        return key in self.data


def batch_module(version: str) -> types.ModuleType:
    """A `wasi:keyvalue/batch` binding of `version` ("draft" or "draft2")."""
    module = types.ModuleType(f"batch_{version}")

    def get_many(handle: Handle, keys: List[str]) -> list:  # type: ignore[type-arg]
        handle.calls.append("get_many")
        if version == "draft":  # list<option<tuple<string, list<u8>>>>
            return [None if key not in handle.data else (key, handle.data[key]) for key in keys]
        return [(key, handle.data.get(key)) for key in keys]  # list<tuple<string, option<list<u8>>>>

    def set_many(handle: Handle, items: List[Tuple[str, bytes]]) -> None:
        handle.calls.append("set_many")
        for key, value in items:
            handle.set(key, value)

    def delete_many(handle: Handle, keys: List[str]) -> None:
        handle.calls.append("delete_many")
        for key in keys:
            handle.delete(key)

    module.get_many = get_many  # type: ignore[attr-defined]
    module.set_many = set_many  # type: ignore[attr-defined]
    module.delete_many = delete_many  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize("version", ["draft", "draft2"])
def test_get_many_of_either_binding_version_gives_one_value_or_none_per_key(version):
    raw = WitBucket.wrap(Handle({"a": b"1"}), "s", batch_module=batch_module(version), err_type=Err, atomics_module=None)
    assert raw.get_many(["a", "b", "a"]) == [b"1", None, b"1"]


@pytest.mark.parametrize("version", ["draft", "draft2"])
def test_library_results_are_the_same_over_either_version(version):
    handle = Handle({"a": b"1"})
    bucket = kvbatch.Bucket(WitBucket.wrap(handle, "s", batch_module=batch_module(version), err_type=Err, atomics_module=None))
    result = bucket.get_many(["a", "b"])
    assert dict(result.values) == {"a": b"1"} and result.missing == ("b",)
    assert "get_many" in handle.calls


def test_binding_errors_become_typed_kvbatch_errors():
    raw = WitBucket.wrap(Handle(), "s", batch_module=None, err_type=Err, atomics_module=None)
    with pytest.raises(kvbatch.StoreError, match="disk full"):
        raw.set("bad", b"1")
    with pytest.raises(kvbatch.AccessDenied, match="'s'"):
        raw.get("denied")


def test_an_opaque_binding_error_in_set_many_is_attributed():
    handle = Handle()
    bucket = kvbatch.Bucket(WitBucket.wrap(handle, "s", batch_module=batch_module("draft2"), err_type=Err, atomics_module=None),
                            retry=kvbatch.NO_RETRY)
    result = bucket.set_many([("a", b"1"), ("bad", b"2"), ("c", b"3")])
    assert result.succeeded == ("a", "c") and list(result.failed) == ["bad"]
    assert handle.data == {"a": b"1", "c": b"3"}


def test_without_a_batch_binding_calls_go_key_by_key():
    handle = Handle()
    raw = WitBucket.wrap(handle, "s", use_batch=True, batch_module=None, err_type=Err, atomics_module=None)
    assert not raw.has_native_batch
    kvbatch.Bucket(raw).set_many({"a": b"1", "b": b"2"})
    assert handle.calls == ["set", "set"]


def test_use_batch_false_ignores_a_batch_binding():
    raw = WitBucket.wrap(Handle(), "s", use_batch=False, batch_module=batch_module("draft"), err_type=Err, atomics_module=None)
    assert not raw.has_native_batch


def test_wrap_takes_a_bucket_or_a_raw_bucket():
    bucket = kvbatch.Bucket(MemoryBucket())
    assert kvbatch.wrap(bucket) is bucket
    wrapped = kvbatch.wrap(MemoryBucket(), chunk_size=7)
    assert isinstance(wrapped, kvbatch.Bucket) and wrapped.chunk_size == 7


def test_wrapping_a_handle_of_unrecognized_bindings_names_every_argument_to_pass():
    with pytest.raises(kvbatch.BindingNotFound, match="pass batch_module= and atomics_module=.*and err_type="):
        kvbatch.wrap(Handle(), "s")


def test_explicit_binding_arguments_need_no_lookup():
    raw = WitBucket.wrap(Handle(), "s", batch_module=batch_module("draft2"), atomics_module=None, err_type=Err)
    assert raw.has_native_batch and not raw.has_cas


def test_key_by_key_a_binding_error_is_that_keys_typed_failure():
    handle = Handle()
    bucket = kvbatch.Bucket(WitBucket.wrap(handle, "s", batch_module=None, err_type=Err, atomics_module=None),
                            retry=kvbatch.NO_RETRY)
    result = bucket.set_many([("a", b"1"), ("bad", b"2"), ("c", b"3")])
    assert result.succeeded == ("a", "c") and list(result.failed) == ["bad"]
    error = result.failed["bad"]
    assert isinstance(error, kvbatch.StoreError) and "disk full" in str(error)
    assert handle.calls == ["set", "set", "set", "get"]  # the failed key read back (verify)


def test_key_by_key_an_access_denied_binding_error_ends_the_operation_with_its_partial():
    handle = Handle({"a": b"1"})
    bucket = kvbatch.Bucket(WitBucket.wrap(handle, "s", batch_module=None, err_type=Err, atomics_module=None))
    with pytest.raises(kvbatch.AccessDenied, match="'s'") as info:
        bucket.get_many(["a", "denied", "b"], chunk_size=1)
    assert info.value.partial is not None
    assert info.value.partial.succeeded == ("a",) and "denied" in info.value.partial.not_attempted
    assert isinstance(info.value.__cause__, type(None)) and info.value.__suppress_context__


def test_a_subclass_overriding_a_single_key_call_is_called_itself():
    class Counting(WitBucket):
        sets = 0

        def set(self, key: str, value: bytes) -> None:
            Counting.sets += 1
            super().set(key, value)

    handle = Handle()
    kvbatch.Bucket(Counting(handle, "s", None, Err)).set_many({"a": b"1", "b": b"2"})
    assert Counting.sets == 2 and handle.data == {"a": b"1", "b": b"2"}
