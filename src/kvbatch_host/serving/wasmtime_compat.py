"""Small, version-pinned adjustments to wasmtime-py's component value conversions.

wasmtime-py 50 lowers a host function's `result` return value untagged when it looks
unambiguous. For `result<option<T>, error>` (the type of `bucket.get`) the `none` case counts
as "any object", so an `err` value is taken for the ok payload and lowering fails with
`value not valid for this variant`. `HostErr` marks a return value as the `err` case
explicitly; `install()` teaches `ResultType.convert_to_c` to lower it with the err type.

`install()` checks the wasmtime version it was written against and, on any other version,
leaves wasmtime untouched and says so with a warning: errors from `get` then trap instead
of reaching the guest.
"""

from __future__ import annotations

import ctypes
import warnings
from dataclasses import dataclass
from typing import Any

from importlib.metadata import version
from wasmtime import _ffi as ffi
from wasmtime.component import _types

PINNED_WASMTIME = "50.0.1"
WASMTIME_VERSION = version("wasmtime")

_installed = False


@dataclass(frozen=True)
class HostErr:
    """The `err` case of a `result`, with its payload (for `error`: a `Variant`)."""

    payload: Any


def installed() -> bool:
    """Whether `HostErr` is understood by this process's wasmtime-py."""
    return _installed


def install() -> bool:
    """Teaches wasmtime-py to lower `HostErr`; returns whether it could (idempotent)."""
    global _installed
    if _installed:
        return True
    if WASMTIME_VERSION != PINNED_WASMTIME:
        warnings.warn(
            f"kvbatch: wasmtime {WASMTIME_VERSION} is not the pinned {PINNED_WASMTIME}; "
            "errors from bucket.get will trap instead of reaching the guest",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
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
    _installed = True
    return True
