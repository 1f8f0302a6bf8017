"""Lowering `HostErr` as the `err` case of a `result` (touches wasmtime-py's internals; loaded
only by `kvbatch_host.fastpath.install_err_lowering`).

wasmtime-py 50 lowers a host function's `result` return value untagged when it looks
unambiguous. For `result<option<T>, error>` (the type of `bucket.get`) the `none` case counts
as "any object", so an `err` value is taken for the ok payload and lowering fails with
`value not valid for this variant`. `patch()` teaches `ResultType.convert_to_c` to lower a
`HostErr` with the err type.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import _types

from kvbatch_host.fastpath import HostErr


def patch() -> None:
    """Wraps `ResultType.convert_to_c` so a `HostErr` lowers as `err` (call once)."""
    original = _types.ResultType.convert_to_c

    def convert_to_c(self: Any, store: Any, val: Any, ptr: Any) -> None:
        if not isinstance(val, HostErr):
            return original(self, store, val, ptr)
        err_ty = self.err
        raw_ptr = None
        if err_ty is not None:
            raw = ffi.wasmtime_component_val_t()
            err_ty.convert_to_c(store, val.payload, ctypes.pointer(raw))
            raw_ptr = ffi.wasmtime_component_val_new(ctypes.byref(raw))
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_RESULT
        ptr.contents.of.result.is_ok = False
        ptr.contents.of.result.val = raw_ptr

    _types.ResultType.convert_to_c = convert_to_c  # type: ignore[method-assign]
