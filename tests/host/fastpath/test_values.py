"""The fast value path converts exactly as wasmtime-py's plain path does, value by value.

Each test lowers a value with one path and lifts it with the other, on the real function types
of the bench guest's `wasi:keyvalue` imports (host functions) and the provider's exports (export
calls), and compares the Python values byte for byte.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Dict

import pytest
from wasmtime import _ffi as ffi
from wasmtime.component import Variant

from kvbatch_host import fastpath
from kvbatch_host.prepare import components

MIB = 1024 * 1024
ALL_BYTES = bytes(range(256))
MAX_VALUE = bytes((i * 7 + 3) % 256 for i in range(MIB))

pytestmark = [pytest.mark.component, pytest.mark.skipif(not fastpath.install(), reason="fast path needs the pinned wasmtime")]

from kvbatch_host.fastpath import wasmtime_internals as internals  # noqa: E402 - loaded by install(), as the harness loads it

LARGE_VALUE = MAX_VALUE[: internals.BULK_BYTES + 5]  # above the numpy threshold


def _functions(component_path: str, prefix: str, exports: bool) -> Dict[str, Any]:
    engine = components.engine()
    component = components.load_component(component_path)
    items = component.type.exports(engine) if exports else component.type.imports(engine)
    (instance,) = [item.ty for name, item in items.items() if name.startswith(prefix)]
    return {name: item.ty for name, item in instance.exports(engine).items()}


@pytest.fixture(scope="module")
def host_types(built: Callable[..., Any]) -> Dict[str, Any]:
    """Types the harness's host functions see: the bench guest's draft2 imports."""
    batch = _functions(str(built("bench")), "wasi:keyvalue/batch@", exports=False)
    store = _functions(str(built("bench")), "wasi:keyvalue/store@", exports=False)
    return {
        "set-many items": batch["set-many"].params[1][1],
        "get-many keys": batch["get-many"].params[1][1],
        "get-many result": batch["get-many"].result,
        "set value": store["[method]bucket.set"].params[2][1],
        "get result": store["[method]bucket.get"].result,
        "set-many result": batch["set-many"].result,
    }


@pytest.fixture(scope="module")
def provider_types(built: Callable[..., Any]) -> Dict[str, Any]:
    """Types of the provider's exports (what a composed guest calls)."""
    batch = _functions(str(built("provider")), "wasi:keyvalue/batch@", exports=True)
    return {"get-many result": batch["get-many"].result, "set-many items": batch["set-many"].params[1][1]}


def fast_lower_plain_lift(ty: Any, value: Any) -> Any:
    slot = ffi.wasmtime_component_val_t()
    internals.converter(ty).place(None, value, ctypes.addressof(slot))
    return ty.convert_from_c(slot)


def plain_lower_fast_lift(ty: Any, value: Any) -> Any:
    slot = ffi.wasmtime_component_val_t()
    ty.convert_to_c(None, value, ctypes.pointer(slot))
    at = ctypes.addressof(slot)
    try:
        return internals.converter(ty).lift(ctypes.string_at(at, 32), 0, at)
    finally:
        internals._val_delete(at)


def both_ways(ty: Any, value: Any) -> None:
    """Asserts the fast path lowers and lifts `value` exactly as the plain path does."""
    lifted_plain = fast_lower_plain_lift(ty, value)
    lifted_fast = plain_lower_fast_lift(ty, value)
    assert lifted_plain == value
    assert lifted_fast == value
    assert _types_of(lifted_fast) == _types_of(value)


def _types_of(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_types_of(v) for v in value])
    return type(value).__name__


def items(n: int, size: int) -> list:
    return [(f"key:{i:05d}", bytes((i + j) % 256 for j in range(size))) for i in range(n)]


@pytest.mark.parametrize("value", [b"", b"\x00", ALL_BYTES, ALL_BYTES * 300, MAX_VALUE], ids=["empty", "zero", "all-bytes", "75KiB", "1MiB"])
def test_a_single_value_crosses_identically_both_ways(host_types: Dict[str, Any], value: bytes) -> None:
    both_ways(host_types["set value"], value)


@pytest.mark.parametrize("value", [None, b"", ALL_BYTES, MAX_VALUE], ids=["none", "empty", "all-bytes", "1MiB"])
def test_get_results_lower_identically(host_types: Dict[str, Any], value: Any) -> None:
    both_ways(host_types["get result"], value)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1000])
def test_set_many_items_cross_identically_at_every_list_length(host_types: Dict[str, Any], n: int) -> None:
    both_ways(host_types["set-many items"], items(n, 100))


def test_set_many_items_with_empty_unicode_and_large_values(host_types: Dict[str, Any]) -> None:
    mixed = [("", b""), ("ключ-日本-🔑", ALL_BYTES), ("big", LARGE_VALUE)] + items(20, 0) + [("tail", b"\xff")]
    both_ways(host_types["set-many items"], mixed)


@pytest.mark.parametrize("n", [0, 3, 16, 500])
def test_key_lists_cross_identically(host_types: Dict[str, Any], n: int) -> None:
    keys = [f"k{i}" for i in range(n)] + (["", "ключ-日本-🔑", "k0"] if n else [])
    both_ways(host_types["get-many keys"], keys)


def test_get_many_results_with_missing_and_empty_values_cross_identically(host_types: Dict[str, Any]) -> None:
    entries = [(key, value if i % 3 else None) for i, (key, value) in enumerate(items(40, 64))]
    entries += [("empty", b""), ("missing", None), ("big", LARGE_VALUE), ("ключ", ALL_BYTES)]
    both_ways(host_types["get-many result"], entries)


def test_get_many_result_of_only_missing_keys(host_types: Dict[str, Any]) -> None:
    both_ways(host_types["get-many result"], [(f"k{i}", None) for i in range(32)])


def test_provider_export_types_cross_identically(provider_types: Dict[str, Any]) -> None:
    both_ways(provider_types["set-many items"], items(50, 33) + [("e", b"")])
    both_ways(provider_types["get-many result"], [("a", b"x"), ("b", None)] * 20)


def test_an_error_result_lifts_as_the_plain_path_lifts_it(host_types: Dict[str, Any]) -> None:
    ty = host_types["get-many result"]
    slot = ffi.wasmtime_component_val_t()
    ty.convert_to_c(None, Variant("other", "disk on fire"), ctypes.pointer(slot))
    at = ctypes.addressof(slot)
    assert internals.converter(ty).lift(ctypes.string_at(at, 32), 0, at) == Variant("other", "disk on fire")


def test_a_host_err_lowers_as_the_err_case(host_types: Dict[str, Any]) -> None:
    assert fast_lower_plain_lift(host_types["get result"], fastpath.HostErr(Variant("access-denied"))) == Variant("access-denied")
    assert fast_lower_plain_lift(host_types["set-many result"], fastpath.HostErr(Variant("other", "x"))) == Variant("other", "x")


def test_an_ok_unit_result_lowers_as_none(host_types: Dict[str, Any]) -> None:
    assert fast_lower_plain_lift(host_types["set-many result"], None) is None


@pytest.mark.parametrize(
    "bad, message",
    [([("k", "not bytes")] * 20, "expected bytes value"), ([("k", b"v")] * 3 + [["k", b"v"]], "expected tuple type"),
     ([(1, b"v")] * 20, "expected string type"), (("k", b"v"), "expected list value")],
)
def test_wrong_python_types_are_refused_with_the_plain_paths_message(host_types: Dict[str, Any], bad: Any, message: str) -> None:
    slot = ffi.wasmtime_component_val_t()
    with pytest.raises(TypeError, match=message):
        internals.converter(host_types["set-many items"]).place(None, bad, ctypes.addressof(slot))


def test_a_value_of_another_kind_is_refused_not_misread(host_types: Dict[str, Any]) -> None:
    slot = ffi.wasmtime_component_val_t()
    host_types["get-many keys"].convert_to_c(None, ["a"] * 20, ctypes.pointer(slot))
    at = ctypes.addressof(slot)
    with pytest.raises(internals.KindMismatch):
        internals.converter(host_types["set-many items"]).lift(ctypes.string_at(at, 32), 0, at)
    internals._val_delete(at)
