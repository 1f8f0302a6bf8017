"""The fast path's converters and call hooks: everything that reads wasmtime-py's private names
(`_linker.FUNCTIONS`, `func_impl`, `_enter.LAST_EXCEPTION`, `_func.Func.__call__`, `_from_ptr`,
the C value layout). Written for wasmtime-py 50.0.1; loaded only by `kvbatch_host.fastpath.install()`,
which falls back to the plain path if this module fails to load or `patch()` fails.

The converters are

* built once per function type (from wasmtime-py's own type objects) and cached;
* bulk: a `list<u8>` is read from, or written into, the C value array
  (`wasmtime_component_val_t`: 32 bytes, kind at offset 0, payload at offset 8) with strided
  byte slices (numpy for large values), and the array is handed to wasmtime in one call;
* specialised for the shapes `wasi:keyvalue` moves (strings, `list<u8>`, lists, tuples,
  options, results); every other type (records, variants, resources, numbers...) is
  converted by wasmtime-py's own code, so values are the same Python objects either way.

What remains for a large value is wasmtime's own per-byte conversion on the Rust side of the
dynamic API (one `Val` per byte), which no Python-side change can avoid.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from wasmtime import StoreContext, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import _enter, _func, _linker, _types

from kvbatch_host.fastpath import HostErr, HostRep, active, host_resource_ids

if TYPE_CHECKING:
    import numpy as np
else:
    class _LazyNumpy:
        """numpy, imported on first use: only lists of `VECTOR_MIN` elements or more and values of
        `BULK_BYTES` or more need it, and its import is a third of a small run's start."""

        def __getattr__(self, name: str) -> Any:
            import numpy

            globals()["np"] = numpy
            return getattr(numpy, name)

    np = _LazyNumpy()

BULK_BYTES = 64 * 1024
"""From this size on, `list<u8>` is converted with numpy views straight over wasmtime's array."""

VAL_SIZE = 32
_BOOL, _U8, _STRING, _LIST, _TUPLE, _OPTION, _RESULT = 0, 2, 12, 13, 15, 18, 19
assert ctypes.sizeof(ffi.wasmtime_component_val_t) == VAL_SIZE
assert ffi.wasmtime_component_val_t.of.offset == 8
assert (ffi.WASMTIME_COMPONENT_U8.value, ffi.WASMTIME_COMPONENT_STRING.value, ffi.WASMTIME_COMPONENT_LIST.value,
        ffi.WASMTIME_COMPONENT_TUPLE.value, ffi.WASMTIME_COMPONENT_OPTION.value,
        ffi.WASMTIME_COMPONENT_RESULT.value) == (_U8, _STRING, _LIST, _TUPLE, _OPTION, _RESULT)

# Our own prototypes over the same library: wasmtime-py's function objects keep their argtypes.
_lib = ctypes.CDLL(ffi.dll._name)


def _proto(name: str, restype: Any, *argtypes: Any) -> Any:
    fn = getattr(_lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_vp, _sz = ctypes.c_void_p, ctypes.c_size_t
_byte_vec_new = _proto("wasm_byte_vec_new", None, _vp, _sz, ctypes.c_char_p)
_vallist_new = _proto("wasmtime_component_vallist_new", None, _vp, _sz, _vp)
_vallist_new_uninit = _proto("wasmtime_component_vallist_new_uninit", None, _vp, _sz)
_vallist_new_empty = _proto("wasmtime_component_vallist_new_empty", None, _vp)
_valtuple_new = _proto("wasmtime_component_valtuple_new", None, _vp, _sz, _vp)
_val_new = _proto("wasmtime_component_val_new", _vp, _vp)
_val_delete = _proto("wasmtime_component_val_delete", None, _vp)

_string_at = ctypes.string_at
_unpack_from = struct.unpack_from
_pack_into = struct.pack_into
_QQ = struct.Struct("<QQ")
_Q = struct.Struct("<Q")


def _address(buf: bytearray) -> Tuple[int, Any]:
    """The address of `buf`'s storage, and the export that keeps it from moving."""
    anchor = ctypes.c_char.from_buffer(buf)
    return ctypes.addressof(anchor), anchor


class _Raw:
    """Exposes `nbytes` of memory at `address` to numpy without copying."""

    def __init__(self, address: int, nbytes: int) -> None:
        self.__array_interface__ = {"data": (address, False), "shape": (nbytes,), "typestr": "|u1", "version": 3}


def _view(address: int, nbytes: int) -> "np.ndarray[Any, Any]":
    return np.asarray(_Raw(address, nbytes))


_kind_runs: Dict[Tuple[int, int], bytes] = {}


def _kinds(kind: int, n: int) -> bytes:
    """`n` copies of the byte `kind` (cached for small `n`)."""
    if n > 4096:
        return bytes((kind,)) * n
    run = _kind_runs.get((kind, n))
    if run is None:
        run = _kind_runs[(kind, n)] = bytes((kind,)) * n
    return run


Raw = Union[bytes, "memoryview[int]"]
"""Where a converter reads C values: a copy of them, or `_MEM` (the address space itself)."""


class KindMismatch(Exception):
    """A C value's kind is not the one its cached converter expects (never reaches a guest)."""


# -- converters ------------------------------------------------------------------------------
#
# A converter lifts a value from C (`lift(raw, off, addr)`: `raw` holds a copy of the value's 32
# bytes at offset `off`, `addr` is where the value itself lives) and lowers a Python value into
# a 32-byte slot of a bytearray (`fill(store, value, buf, off, addr)`, `addr` being the slot's
# address, so wasmtime can write a vector's size and pointer straight into it). Lifting does not
# free anything: whoever owns the C values drops them as a whole afterwards.


class Conv:
    """Converter for one component type."""

    needs_context = False
    """Whether lifting needs the call's store context (`lift_in`) rather than `lift`."""

    def lift_in(self, context: int, raw: Raw, off: int, addr: int) -> Any:
        """`lift` for a value whose conversion needs the call's store context (address)."""
        return self.lift(raw, off, addr)

    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        raise NotImplementedError

    def lift_many(self, raw: Raw, n: int, addr: int) -> List[Any]:
        return [self.lift(raw, i * VAL_SIZE, addr + i * VAL_SIZE) for i in range(n)]

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        raise NotImplementedError

    def fill_many(self, store: Any, values: Sequence[Any], buf: bytearray, off: int, addr: int) -> None:
        for i, value in enumerate(values):
            self.fill(store, value, buf, off + i * VAL_SIZE, addr + i * VAL_SIZE)

    def box(self, store: Any, value: Any) -> int:
        """Lowers `value` into a new C value boxed by wasmtime (as `option`/`result` payloads
        are held); returns the box's address."""
        slot = bytearray(VAL_SIZE)
        slot_addr, anchor = _address(slot)
        self.fill(store, value, slot, 0, slot_addr)
        pointer = _val_new(slot_addr)  # moves the value into a box of wasmtime's
        del anchor
        return int(pointer)

    def place(self, store: Any, value: Any, dest: int) -> None:
        """Lowers `value` into the C value at address `dest` (which must hold no value)."""
        buf = bytearray(VAL_SIZE)
        addr, anchor = _address(buf)
        self.fill(store, value, buf, 0, addr)
        del anchor
        ctypes.memmove(dest, bytes(buf), VAL_SIZE)


class Delegate(Conv):
    """wasmtime-py's own conversion, for the types this module does not specialise."""

    def __init__(self, ty: Any) -> None:
        self.ty = ty

    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        value = self.ty.convert_from_c(ffi.wasmtime_component_val_t.from_address(addr))
        ctypes.memset(addr, 0, VAL_SIZE)  # consumed: leave a `bool` so the owner's drop is a no-op
        return value

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        slot = ffi.wasmtime_component_val_t()
        self.ty.convert_to_c(store, value, ctypes.pointer(slot))
        buf[off : off + VAL_SIZE] = ctypes.string_at(ctypes.addressof(slot), VAL_SIZE)


_any_to_host = _proto("wasmtime_component_resource_any_to_host", _vp, _vp, _vp, _vp)
_host_rep = _proto("wasmtime_component_resource_host_rep", ctypes.c_uint32, _vp)
_host_delete = _proto("wasmtime_component_resource_host_delete", None, _vp)
_any_delete = _proto("wasmtime_component_resource_any_delete", None, _vp)
_RESOURCE = ffi.WASMTIME_COMPONENT_RESOURCE.value


class HostBorrowConv(Conv):
    """`borrow<R>` of a resource registered with `host_resource()`, lifted to a `HostRep`.

    Four C calls with plain pointer arguments, where wasmtime-py's path builds and frees two
    wrapper objects and a typed pointer per call. Lifting needs the call's store context.
    """

    needs_context = True

    def __init__(self) -> None:
        self._out = ctypes.c_void_p()
        self._out_ref = ctypes.byref(self._out)

    def lift_in(self, context: int, raw: Raw, off: int, addr: int) -> HostRep:
        if raw[off] != _RESOURCE:
            raise KindMismatch("resource")
        (resource,) = _Q.unpack_from(raw, off + 8)
        # The `resource_any` stays in its slot: wasmtime frees it with the call's arguments.
        error = _any_to_host(context, resource, self._out_ref)
        if error:
            raise ffi_error(error)
        host = self._out.value
        try:
            return HostRep(_host_rep(host))
        finally:
            _host_delete(host)


def ffi_error(pointer: int) -> Exception:
    """The `WasmtimeError` a C call returned as a raw pointer."""
    return WasmtimeError._from_ptr(ctypes.cast(pointer, ctypes.POINTER(ffi.wasmtime_error_t)))


_host_types: Dict[int, Any] = {}


def _is_host_borrow(ty: Any) -> bool:
    """Whether `ty` borrows a resource type registered with `kvbatch_host.fastpath.host_resource`."""
    if not isinstance(ty, _types.BorrowType):
        return False
    from wasmtime.component import ResourceType

    for type_id in host_resource_ids():
        known = _host_types.get(type_id)
        if known is None:
            known = _host_types[type_id] = ResourceType.host(type_id)
        if ty.ty == known:
            return True
    return False


class U32Conv(Conv):
    """`u32` (the bridge's bucket handles)."""

    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        if raw[off] != _U32:
            raise KindMismatch("u32")
        (value,) = _U32_AT.unpack_from(raw, off + 8)
        return value

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF_FFFF:
            raise TypeError("expected u32 value")
        _U32_AT.pack_into(buf, off + 8, value)
        buf[off] = _U32


_U32 = ffi.WASMTIME_COMPONENT_U32.value
_U32_AT = struct.Struct("<I")


class StringConv(Conv):
    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        if raw[off] != _STRING:
            raise KindMismatch("string")
        size, data = _QQ.unpack_from(raw, off + 8)
        if not size:
            return ""
        at = data - _SPACE_BASE
        return _MEM[at:at + size].tobytes().decode("utf-8")

    def lift_many(self, raw: Raw, n: int, addr: int) -> List[Any]:
        if raw[0 : n * VAL_SIZE : VAL_SIZE] != _kinds(_STRING, n):
            raise KindMismatch("list<string>")
        words = memoryview(raw).cast("Q")
        base = _SPACE_BASE
        mem = _MEM
        return [mem[data - base:data - base + size].tobytes().decode("utf-8") if size else ""
                for size, data in zip(words[1::4], words[2::4])]

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        if not isinstance(value, str):
            raise TypeError("expected string type")
        data = value.encode("utf-8")
        _byte_vec_new(addr + 8, len(data), data)
        buf[off] = _STRING

    def box(self, store: Any, value: Any) -> int:
        if not isinstance(value, str):
            raise TypeError("expected string type")
        pointer: int = _val_new(_STRING_VAL.pack(_STRING, 0, 0))  # a box holding "", then its vector is set in place
        if value:
            data = value.encode("utf-8")
            _byte_vec_new(pointer + 8, len(data), data)
        return pointer

    def fill_many(self, store: Any, values: Sequence[Any], buf: bytearray, off: int, addr: int) -> None:
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise TypeError("expected string type")
            data = value.encode("utf-8")
            _byte_vec_new(addr + i * VAL_SIZE + 8, len(data), data)
        buf[off : off + len(values) * VAL_SIZE : VAL_SIZE] = _kinds(_STRING, len(values))


class BytesConv(Conv):
    """`list<u8>` as `bytes`."""

    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        if raw[off] != _LIST:
            raise KindMismatch("list<u8>")
        size, data = _QQ.unpack_from(raw, off + 8)
        return read_bytes(data, size)

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        if not isinstance(value, bytes):
            raise TypeError("expected bytes value")
        write_bytes(value, addr + 8)
        buf[off] = _LIST


def read_bytes(data: int, size: int) -> bytes:
    """The bytes of a C `list<u8>` array of `size` values at `data`."""
    if size == 0:
        return b""
    if size >= BULK_BYTES:
        view = _view(data, size * VAL_SIZE)
        if view[0] != _U8:
            raise KindMismatch("list<u8>")
        return view[8::VAL_SIZE].tobytes()
    raw = _string_at(data, size * VAL_SIZE)
    if raw[0] != _U8:
        raise KindMismatch("list<u8>")
    return raw[8::VAL_SIZE]


def write_bytes(value: bytes, out: int) -> None:
    """Makes a C `list<u8>` array holding `value`; writes its size and pointer at `out`."""
    n = len(value)
    if n == 0:
        _vallist_new_empty(out)
        return
    if n >= BULK_BYTES:
        _vallist_new_uninit(out, n)
        (data,) = _Q.unpack(_string_at(out + 8, 8))
        view = _view(data, n * VAL_SIZE)
        view[0::VAL_SIZE] = _U8
        view[8::VAL_SIZE] = np.frombuffer(value, dtype=np.uint8)
        return
    pattern = bytearray(n * VAL_SIZE)
    pattern[0::VAL_SIZE] = _kinds(_U8, n)
    pattern[8::VAL_SIZE] = value
    _vallist_new(out, n, ctypes.addressof(ctypes.c_char.from_buffer(pattern)))


class ListConv(Conv):
    def __init__(self, element: Conv) -> None:
        self.element = element

    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        if raw[off] != _LIST:
            raise KindMismatch("list")
        size, data = _QQ.unpack_from(raw, off + 8)
        if size == 0:
            return []
        return self.element.lift_many(_string_at(data, size * VAL_SIZE), size, data)

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        if not isinstance(value, list):
            raise TypeError("expected list value")
        n = len(value)
        if n == 0:
            _vallist_new_empty(addr + 8)
        else:
            items = bytearray(n * VAL_SIZE)
            items_addr, anchor = _address(items)
            self.element.fill_many(store, value, items, 0, items_addr)
            _vallist_new(addr + 8, n, items_addr)
            del anchor
        buf[off] = _LIST


class TupleConv(Conv):
    def __init__(self, elements: Sequence[Conv]) -> None:
        self.elements = tuple(elements)
        self.size = len(self.elements) * VAL_SIZE

    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        if raw[off] != _TUPLE:
            raise KindMismatch("tuple")
        size, data = _QQ.unpack_from(raw, off + 8)
        if size != len(self.elements):
            raise KindMismatch("tuple length")
        at = data - _SPACE_BASE
        return tuple(conv.lift(_MEM, at + i * VAL_SIZE, data + i * VAL_SIZE) for i, conv in enumerate(self.elements))

    def lift_many(self, raw: Raw, n: int, addr: int) -> List[Any]:
        if raw[0 : n * VAL_SIZE : VAL_SIZE] != _kinds(_TUPLE, n):
            raise KindMismatch("list<tuple>")
        words = memoryview(raw).cast("Q")
        width = len(self.elements)
        if any(size != width for size in words[1::4]):
            raise KindMismatch("tuple length")
        convs = self.elements
        if width == 2:
            first, second = convs
            out = []
            for data in words[2::4].tolist():
                inner = _string_at(data, 64)
                out.append((first.lift(inner, 0, data), second.lift(inner, VAL_SIZE, data + VAL_SIZE)))
            return out
        return [
            tuple(conv.lift(inner, i * VAL_SIZE, data + i * VAL_SIZE) for i, conv in enumerate(convs))
            for data, inner in ((data, _string_at(data, self.size)) for data in words[2::4].tolist())
        ]

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        if not isinstance(value, tuple):
            raise TypeError("expected tuple type")
        if len(value) != len(self.elements):
            raise TypeError("tuple length mismatch")
        inner = bytearray(self.size)
        inner_addr, anchor = _address(inner)
        for i, (conv, element) in enumerate(zip(self.elements, value)):
            conv.fill(store, element, inner, i * VAL_SIZE, inner_addr + i * VAL_SIZE)
        _valtuple_new(addr + 8, len(self.elements), inner_addr)
        del anchor
        buf[off] = _TUPLE

    def fill_many(self, store: Any, values: Sequence[Any], buf: bytearray, off: int, addr: int) -> None:
        n, width = len(values), len(self.elements)
        for value in values:
            if not isinstance(value, tuple):
                raise TypeError("expected tuple type")
            if len(value) != width:
                raise TypeError("tuple length mismatch")
        inner = bytearray(n * self.size)  # every tuple's elements, side by side
        inner_addr, anchor = _address(inner)
        for j, value in enumerate(values):
            for i, conv in enumerate(self.elements):
                at = j * self.size + i * VAL_SIZE
                conv.fill(store, value[i], inner, at, inner_addr + at)
        for j in range(n):
            _valtuple_new(addr + j * VAL_SIZE + 8, width, inner_addr + j * self.size)
        del anchor
        buf[off : off + n * VAL_SIZE : VAL_SIZE] = _kinds(_TUPLE, n)


class VariantLikeConv(Conv):
    """`option<T>` and `result<T, E>`, tagged or untagged exactly as wasmtime-py decides."""

    def __init__(self, ty: Any, cases: Sequence[Tuple[str, Optional[Conv], Any]], tagged: bool) -> None:
        self.ty = ty
        self.cases = tuple(cases)  # (name, converter or None, the Python classes that select it)
        self.tagged = tagged

    def _payload(self, store: Any, value: Any) -> Tuple[int, int]:
        """The case `value` selects, and its payload boxed by wasmtime (0 for a case without one)."""
        index, conv, payload = self._choose(value)
        return index, (conv.box(store, payload) if conv is not None else 0)

    def _choose(self, value: Any) -> Tuple[int, Optional[Conv], Any]:
        if self.tagged:
            if not isinstance(value, _types.Variant):
                raise TypeError("expected Variant type")
            for index, (name, conv, _classes) in enumerate(self.cases):
                if name == value.tag:
                    return index, conv, value.payload
        else:
            for index, (_name, conv, classes) in enumerate(self.cases):
                if conv is None:
                    if value is None:
                        return index, None, None
                elif isinstance(value, classes):
                    return index, conv, value
        raise ValueError("value not valid for this variant")

    def _lift_case(self, index: int, pointer: int) -> Any:
        name, conv, _classes = self.cases[index]
        if conv is None:
            return _types.Variant(name) if self.tagged else None
        payload = conv.lift(_MEM, pointer - _SPACE_BASE, pointer)
        return _types.Variant(name, payload) if self.tagged else payload


class OptionConv(VariantLikeConv):
    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        if raw[off] != _OPTION:
            raise KindMismatch("option")
        (pointer,) = _Q.unpack_from(raw, off + 8)
        return self._lift_case(1 if pointer else 0, pointer)

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        _index, pointer = self._payload(store, value)
        _Q.pack_into(buf, off + 8, pointer)
        buf[off] = _OPTION

    def box(self, store: Any, value: Any) -> int:
        _index, pointer = self._payload(store, value)
        boxed: int = _val_new(_OPTION_VAL.pack(_OPTION, pointer))
        return boxed


class ResultConv(VariantLikeConv):
    def place(self, store: Any, value: Any, dest: int) -> None:
        if value is None and not self.tagged and self.cases[0][1] is None:
            at = dest - _SPACE_BASE  # `ok` of `result<_, E>`: every store.set/delete answers it
            _MEM[at:at + VAL_SIZE] = _OK_UNIT
            return
        index, pointer = self._payload(store, value)
        at = dest - _SPACE_BASE
        _MEM[at:at + VAL_SIZE] = _RESULT_VAL.pack(_RESULT, 1 if index == 0 else 0, pointer)

    def _choose(self, value: Any) -> Tuple[int, Optional[Conv], Any]:
        if isinstance(value, HostErr):  # what a host function returns for `err`
            return 1, self.cases[1][1], value.payload
        return super()._choose(value)

    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        if raw[off] != _RESULT:
            raise KindMismatch("result")
        is_ok = raw[off + 8]
        (pointer,) = _Q.unpack_from(raw, off + 16)
        return self._lift_case(0 if is_ok else 1, pointer)

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        index, pointer = self._payload(store, value)
        buf[off + 8] = 1 if index == 0 else 0
        _Q.pack_into(buf, off + 16, pointer)
        buf[off] = _RESULT


# -- vectorised lists: the shapes wasi:keyvalue batches move -------------------------------------
#
# Reading: every pointer and size of a list's elements is gathered with numpy from a view over
# the process's address space (`_space()`; only addresses wasmtime handed over are touched), so a
# list of N keys costs a few numpy operations plus one slice per key instead of N*3 FFI calls.
# Writing: the whole list is laid out in one arena of ours (element array, tuples, option boxes,
# key bytes, value arrays) with numpy, then wasmtime deep-copies it in ONE call
# (`wasmtime_component_val_clone`) into memory it owns.

VECTOR_MIN = 256
"""Lists shorter than this are converted element by element (through `_MEM`, without numpy)."""

GATHER_CHUNK = 1 << 21
"""Bytes gathered per numpy step (bounds the index arrays to 16 MiB)."""

ARENA_MAX = 256 * 1024 * 1024
"""A list whose arena would exceed this is converted element by element."""

_SPACE_BASE = 4096
_SPACE_BYTES = (1 << 47) - _SPACE_BASE
_MEM = memoryview((ctypes.c_ubyte * _SPACE_BYTES).from_address(_SPACE_BASE)).cast("B")
"""The address space as a writable `memoryview`: `_MEM[address - _SPACE_BASE]` reads or writes the
byte at `address` without a C call (`ctypes.string_at` and `memmove` cost far more per call)."""
_space_view: Optional["np.ndarray[Any, Any]"] = None


def _space() -> "np.ndarray[Any, Any]":
    """The address space as a numpy byte array (made on first use)."""
    global _space_view
    if _space_view is None:
        _space_view = _view(_SPACE_BASE, _SPACE_BYTES)
    return _space_view
_val_clone = _proto("wasmtime_component_val_clone", None, _vp, _vp)


def _gather(starts: "np.ndarray[Any, Any]", lengths: "np.ndarray[Any, Any]", stride: int) -> bytes:
    """The bytes at `starts[i] + k*stride` for `k < lengths[i]`, for every i, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return b""
    pieces = []
    ends = np.cumsum(lengths)
    first = 0
    while first < len(lengths):
        limit = (ends[first - 1] if first else 0) + GATHER_CHUNK
        last = max(first + 1, int(np.searchsorted(ends, limit, side="right")))
        lens = lengths[first:last]
        count = int(lens.sum())
        if count:
            run_starts = np.repeat(starts[first:last].astype(np.int64) - _SPACE_BASE, lens)
            offsets = np.arange(count, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
            pieces.append(_space()[run_starts + offsets * stride].tobytes())
        first = last
    return b"".join(pieces)


def _split(joined: bytes, lengths: "np.ndarray[Any, Any]") -> List[bytes]:
    bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
    return [joined[a:b] for a, b in zip(bounds, bounds[1:])]


def _decode_all(joined: bytes, lengths: "np.ndarray[Any, Any]") -> List[str]:
    if joined.isascii():  # byte offsets are character offsets: decode once
        text = joined.decode("ascii")
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        return [text[a:b] for a, b in zip(bounds, bounds[1:])]
    return [piece.decode("utf-8") for piece in _split(joined, lengths)]


def _element_words(raw: Raw, n: int, kind: int, what: str) -> "np.ndarray[Any, Any]":
    words = np.frombuffer(raw, dtype=np.uint64, count=n * 4).reshape(n, 4)
    if not ((words[:, 0] & 0xFF) == kind).all():
        raise KindMismatch(what)
    return words


def _read_vectors(kind_words: "np.ndarray[Any, Any]", sizes: "np.ndarray[Any, Any]", datas: "np.ndarray[Any, Any]",
                  kind: int, what: str) -> List[bytes]:
    """The `list<u8>` values whose (kind word, size, data) columns are given."""
    if not ((kind_words & 0xFF) == kind).all():
        raise KindMismatch(what)
    lengths = sizes.astype(np.int64)
    if len(lengths) and int(lengths.sum()) >= BULK_BYTES * 4 and int(lengths.max()) >= BULK_BYTES:
        return [read_bytes(int(d), int(n)) for d, n in zip(datas.tolist(), lengths.tolist())]
    present = lengths > 0
    if present.any():
        first = datas[present]
        heads = _space()[first.astype(np.int64) - _SPACE_BASE]
        if not (heads == _U8).all():
            raise KindMismatch("list<u8>")
    return _split(_gather(datas + 8, lengths, VAL_SIZE), lengths)


class StringListConv(ListConv):
    """`list<string>`: lifted element by element straight from memory (`_MEM`), which is as fast
    as gathering with numpy at 20,000 keys and needs no import; lowered in one arena when long."""

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        if not isinstance(value, list) or len(value) < VECTOR_MIN:
            return super().fill(store, value, buf, off, addr)
        for key in value:
            if not isinstance(key, str):
                raise TypeError("expected string type")
        encoded = [key.encode("utf-8") for key in value]
        n = len(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        joined = b"".join(encoded)
        keys_at = n * VAL_SIZE
        root_at = keys_at + _pad8(len(joined))
        arena = _Arena(root_at + VAL_SIZE)
        out = arena.words(0, n, 4)
        out[:, 0] = _STRING
        out[:, 1] = lengths
        out[:, 2] = arena.base + keys_at + np.concatenate(([0], np.cumsum(lengths)[:-1]))
        arena.put(keys_at, joined)
        arena.clone_list(root_at, n, 0, buf, off)


class KeyValueListConv(ListConv):
    """`list<tuple<string, list<u8>>>` and `list<tuple<string, option<list<u8>>>>`."""

    def __init__(self, element: TupleConv, optional: bool) -> None:
        super().__init__(element)
        self.optional = optional

    def lift(self, raw: Raw, off: int, addr: int) -> Any:
        if raw[off] != _LIST:
            raise KindMismatch("list")
        size, data = _QQ.unpack_from(raw, off + 8)
        if size < VECTOR_MIN:
            return super().lift(raw, off, addr)
        outer = _element_words(_string_at(data, size * VAL_SIZE), size, _TUPLE, "list<tuple>")
        if not (outer[:, 1] == 2).all():
            raise KindMismatch("tuple length")
        tuples = np.frombuffer(_gather(outer[:, 2], np.full(size, 64, dtype=np.int64), 1), dtype=np.uint64).reshape(size, 8)
        if not ((tuples[:, 0] & 0xFF) == _STRING).all():
            raise KindMismatch("tuple<string, _>")
        key_lengths = tuples[:, 1].astype(np.int64)
        keys = _decode_all(_gather(tuples[:, 2], key_lengths, 1), key_lengths)
        if not self.optional:
            values = _read_vectors(tuples[:, 4], tuples[:, 5], tuples[:, 6], _LIST, "tuple<_, list<u8>>")
            return list(zip(keys, values))
        if not ((tuples[:, 4] & 0xFF) == _OPTION).all():
            raise KindMismatch("tuple<_, option<_>>")
        boxes = tuples[:, 5]
        present = boxes != 0
        found: List[Optional[bytes]] = [None] * size
        where = np.nonzero(present)[0]
        if len(where):
            boxed = np.frombuffer(_gather(boxes[where], np.full(len(where), VAL_SIZE, dtype=np.int64), 1),
                                  dtype=np.uint64).reshape(len(where), 4)
            for i, value in zip(where.tolist(), _read_vectors(boxed[:, 0], boxed[:, 1], boxed[:, 2], _LIST, "option<list<u8>>")):
                found[i] = value
        return list(zip(keys, found))

    def fill(self, store: Any, value: Any, buf: bytearray, off: int, addr: int) -> None:
        if not isinstance(value, list) or len(value) < VECTOR_MIN:
            return super().fill(store, value, buf, off, addr)
        for item in value:
            if not isinstance(item, tuple):
                raise TypeError("expected tuple type")
            if len(item) != 2:
                raise TypeError("tuple length mismatch")
            key, data = item
            if not isinstance(key, str):
                raise TypeError("expected string type")
            if not isinstance(data, bytes) and not (self.optional and data is None):
                raise TypeError("expected bytes value")
        n = len(value)
        encoded = [key.encode("utf-8") for key, _data in value]
        datas = [data for _key, data in value if data is not None]
        key_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        value_lengths = np.fromiter(map(len, datas), dtype=np.int64, count=len(datas))
        total = int(value_lengths.sum())
        keys = b"".join(encoded)
        tuples_at = n * VAL_SIZE
        boxes_at = tuples_at + n * 64
        values_at = boxes_at + (len(datas) * VAL_SIZE if self.optional else 0)
        keys_at = values_at + total * VAL_SIZE
        root_at = keys_at + _pad8(len(keys))
        if root_at > ARENA_MAX:
            return super().fill(store, value, buf, off, addr)
        arena = _Arena(root_at + VAL_SIZE)
        outer = arena.words(0, n, 4)
        outer[:, 0] = _TUPLE
        outer[:, 1] = 2
        outer[:, 2] = arena.base + tuples_at + 64 * np.arange(n, dtype=np.uint64)
        tuples = arena.words(tuples_at, n, 8)
        tuples[:, 0] = _STRING
        tuples[:, 1] = key_lengths
        tuples[:, 2] = arena.base + keys_at + np.concatenate(([0], np.cumsum(key_lengths)[:-1])).astype(np.uint64)
        value_starts = arena.base + values_at + VAL_SIZE * np.concatenate(([0], np.cumsum(value_lengths)[:-1])).astype(np.uint64)
        if self.optional:
            present = np.fromiter((data is not None for _key, data in value), dtype=bool, count=n)
            tuples[:, 4] = _OPTION
            box_addrs = np.zeros(n, dtype=np.uint64)
            box_addrs[present] = arena.base + boxes_at + VAL_SIZE * np.arange(len(datas), dtype=np.uint64)
            tuples[:, 5] = box_addrs
            lists = arena.words(boxes_at, len(datas), 4)
        else:
            lists = tuples[:, 4:8]
        lists[:, 0] = _LIST
        lists[:, 1] = value_lengths
        lists[:, 2] = value_starts
        if total:
            cells = arena.cells[values_at : values_at + total * VAL_SIZE]
            cells[0::VAL_SIZE] = _U8
            cells[8::VAL_SIZE] = np.frombuffer(b"".join(datas), dtype=np.uint8)
        arena.put(keys_at, keys)
        arena.clone_list(root_at, n, 0, buf, off)


def _pad8(n: int) -> int:
    return (n + 7) & ~7


ARENA_KEEP = 128 * 1024 * 1024
"""Arenas up to this size are kept (one per thread) and reused: no page faults, no zeroing."""

_state = threading.local()
"""Per thread: the arena kept for reuse."""


class _Arena:
    """Memory of ours laid out as C values, deep-copied into wasmtime's memory by `clone_list`.

    Every field wasmtime reads is written before the copy, so a reused arena needs no zeroing.
    """

    def __new__(cls, size: int) -> "_Arena":
        kept: Optional[_Arena] = getattr(_state, "arena", None)
        if kept is not None and len(kept.buffer) >= size:
            return kept
        arena = super().__new__(cls)
        arena.buffer = bytearray(max(size, 1 << 20))
        arena.cells = np.frombuffer(arena.buffer, dtype=np.uint8)
        arena.base, arena._anchor = _address(arena.buffer)
        if len(arena.buffer) <= ARENA_KEEP:
            _state.arena = arena
        return arena

    buffer: bytearray
    cells: "np.ndarray[Any, Any]"
    base: int
    _anchor: Any

    def words(self, at: int, rows: int, width: int) -> "np.ndarray[Any, Any]":
        return self.cells[at : at + rows * width * 8].view(np.uint64).reshape(rows, width)

    def put(self, at: int, data: bytes) -> None:
        self.buffer[at : at + len(data)] = data

    def clone_list(self, root_at: int, n: int, items_at: int, buf: bytearray, off: int) -> None:
        """Deep-copies the list of `n` elements at `items_at` into wasmtime's memory, as the
        value at `buf[off]`."""
        _QQ.pack_into(self.buffer, root_at + 8, n, self.base + items_at)
        self.buffer[root_at] = _LIST
        copy = ffi.wasmtime_component_val_t()
        _val_clone(self.base + root_at, ctypes.addressof(copy))
        buf[off : off + VAL_SIZE] = _string_at(ctypes.addressof(copy), VAL_SIZE)


_OK_UNIT = bytes((_RESULT,)) + bytes(7) + b"\x01" + bytes(23)
_STRING_VAL = struct.Struct("<B7xQQ8x")
"""A `string` C value: kind, size, address of the bytes."""
_OPTION_VAL = struct.Struct("<B7xQ16x")
"""An `option` C value: kind, then the address of its boxed payload (0: none)."""
_RESULT_VAL = struct.Struct("<B7xB7xQ8x")
"""A `result` C value: kind, is-ok, then the address of its boxed payload (0: none)."""
assert _STRING_VAL.size == _OPTION_VAL.size == _RESULT_VAL.size == VAL_SIZE
# `wasmtime_component_val_new` moves out of its argument: it overwrites the source with a `bool`.
# The boxes above are made from freshly packed bytes that nothing else refers to, never from a
# shared constant.


def converter(ty: Any) -> Conv:
    """The converter for a wasmtime-py `ValType` (built once per function type)."""
    if _is_host_borrow(ty):
        return HostBorrowConv()
    if isinstance(ty, _types.String):
        return StringConv()
    if isinstance(ty, _types.U32):
        return U32Conv()
    if isinstance(ty, _types.ListType):
        element = ty.element
        if isinstance(element, _types.U8):
            return BytesConv()
        if isinstance(element, _types.String):
            return StringListConv(StringConv())
        if isinstance(element, _types.TupleType):
            parts = element.elements
            if len(parts) == 2 and isinstance(parts[0], _types.String):
                second = parts[1]
                if _is_bytes(second):
                    return KeyValueListConv(TupleConv([StringConv(), BytesConv()]), optional=False)
                if isinstance(second, _types.OptionType) and _is_bytes(second.payload):
                    return KeyValueListConv(TupleConv([StringConv(), converter(second)]), optional=True)
        return ListConv(converter(element))
    if isinstance(ty, _types.TupleType):
        return TupleConv([converter(e) for e in ty.elements])
    if isinstance(ty, (_types.OptionType, _types.ResultType)):
        cases: List[Tuple[str, Optional[Conv], Tuple[Any, ...]]] = []
        for name, case_ty in ty._cases():
            if case_ty is None:
                cases.append((name, None, ()))
            else:
                classes: Set[type] = set()
                case_ty.add_classes(classes)
                cases.append((name, converter(case_ty), tuple(classes)))
        kind = OptionConv if isinstance(ty, _types.OptionType) else ResultConv
        return kind(ty, cases, ty._tagged())
    return Delegate(ty)


def _is_bytes(ty: Any) -> bool:
    return isinstance(ty, _types.ListType) and isinstance(ty.element, _types.U8)


@dataclass
class Plan:
    """The converters of one function type: its parameters and its result."""

    params: Tuple[Conv, ...]
    result: Optional[Conv]
    result_ty: Any
    offsets: Tuple[Tuple[Conv, int], ...] = ()
    """Each parameter's converter with the offset of its C value in the argument array."""

    @classmethod
    def of(cls, fty: Any) -> "Plan":
        result_ty = fty.result
        params = tuple(converter(ty) for _name, ty in fty.params)
        return cls(params, None if result_ty is None else converter(result_ty), result_ty,
                   tuple((conv, i * VAL_SIZE) for i, conv in enumerate(params)))


# -- installation ------------------------------------------------------------------------------

_FUNCTIONS = _linker.FUNCTIONS
_host_plans: Dict[int, Plan] = {}
_original_call: Optional[Callable[..., Any]] = None


class _CallStore(StoreContext):
    """The store context of one host call, made into wasmtime-py's typed pointer only if asked
    for (most calls never are)."""

    __slots__ = ("_address", "_pointer")

    def __init__(self, address: int) -> None:
        self._address: Optional[int] = address
        self._pointer: Any = None

    def _context(self) -> Any:
        if self._address is None:
            raise ValueError("caller is no longer valid")
        if self._pointer is None:
            self._pointer = ctypes.cast(self._address, ctypes.POINTER(ffi.wasmtime_context_t))
        return self._pointer

    def _invalidate(self) -> None:
        self._address = None
        self._pointer = None


def _host_call(idx: int, context: int, ty_raw: int, args: int, nargs: int, results: int, nresults: int) -> int:
    """One call of a host function: 0, or a `wasmtime_error_t` pointer (as wasmtime-py's
    `catch_exceptions` returns, `_enter.LAST_EXCEPTION` included)."""
    store = _CallStore(context)
    try:
        func = _FUNCTIONS.get(idx)
        if not active():
            _plain_host_call(func, store, ty_raw, args, nargs, results, nresults)
            return 0
        plan = _host_plans.get(idx)
        if plan is None:
            with _types.FuncType._from_ptr(_func_type_pointer(ty_raw), owner=store) as fty:
                plan = _host_plans[idx] = Plan.of(fty)
        if len(plan.params) != nargs or (plan.result is None) != (nresults == 0):
            raise KindMismatch("host function arity")
        if nargs:
            at = args - _SPACE_BASE  # the arguments read in place, through the address-space view
            pyargs = [conv.lift_in(context, _MEM, at + off, args + off) if conv.needs_context else conv.lift(_MEM, at + off, args + off)
                      for conv, off in plan.offsets]
            result = func(store, *pyargs)
        else:
            result = func(store)
        if plan.result is None:
            assert result is None
        else:
            plan.result.place(store, result, results)
        return 0
    except WasmtimeError as err:
        return _error_pointer(err)
    except Exception as err:
        _enter.LAST_EXCEPTION = err
        return _error_pointer(WasmtimeError("python exception"))
    finally:
        store._invalidate()


def _error_pointer(err: Any) -> int:
    return ctypes.cast(err._consume(), ctypes.c_void_p).value or 0


def _func_type_pointer(ty_raw: int) -> Any:
    return ctypes.cast(ty_raw, ctypes.POINTER(ffi.wasmtime_component_func_type_t))


def _plain_host_call(func: Any, store: Any, ty_raw: int, args: int, nargs: int, results: int, nresults: int) -> None:
    # What wasmtime-py 50.0.1's `_linker.func_impl` does.
    with _types.FuncType._from_ptr(_func_type_pointer(ty_raw), owner=store) as fty:
        param_tys = fty.params
        result_ty = fty.result
        values = (ffi.wasmtime_component_val_t * max(nargs, 1)).from_address(args) if nargs else ()
        pyargs = [ty.convert_from_c(values[i]) for (_name, ty), i in zip(param_tys, range(nargs))]
        result = func(store, *pyargs)
        if result_ty is None:
            assert result is None
        else:
            result_ty.convert_to_c(store, result, ctypes.cast(results, ctypes.POINTER(ffi.wasmtime_component_val_t)))


_raw_callback_t = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t)
"""wasmtime's `wasmtime_component_func_callback_t` with every pointer as a plain address, so a
call converts no typed pointers (wasmtime-py's type declares them typed)."""


@_raw_callback_t
def _raw_func_impl(idx, context, ty_raw, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
    return _host_call(idx or 0, context, ty_raw, args or 0, nargs, results or 0, nresults)


_func_impl = ctypes.cast(_raw_func_impl, ffi.wasmtime_component_func_callback_t)
"""The same C function under the type wasmtime-py's `add_func` passes (`_raw_func_impl` keeps it alive)."""


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _func_finalize(idx):  # type: ignore[no-untyped-def]
    _host_plans.pop(idx or 0, None)  # the slot may be reused by another function
    if _linker.FUNCTIONS:
        _linker.FUNCTIONS.deallocate(idx or 0)


def _export_call(self: Any, store: Any, *params: Any) -> Any:
    if not active():
        assert _original_call is not None
        return _original_call(self, store, *params)
    plan: Optional[Plan] = self.__dict__.get("_kvbatch_plan")
    if plan is None:
        plan = self._kvbatch_plan = Plan.of(self.type(store))
    if len(params) != len(plan.params):
        raise TypeError("wrong number of parameters provided: given %s, expected %s" % (len(params), len(plan.params)))
    param_capi = (ffi.wasmtime_component_val_t * len(params))()
    base = ctypes.addressof(param_capi)
    n = 0
    try:
        for conv, value in zip(plan.params, params):
            conv.place(store, value, base + n * VAL_SIZE)
            n += 1
        result_space = ffi.wasmtime_component_val_t() if plan.result is not None else None

        def run() -> Any:
            return ffi.wasmtime_component_func_call(
                ctypes.byref(self._func), store._context(), param_capi, n,
                ctypes.byref(result_space) if result_space is not None else None, 1 if result_space is not None else 0)

        _func.enter_wasm(run)  # type: ignore[attr-defined]
        if result_space is None or plan.result is None:
            return None
        at = ctypes.addressof(result_space)
        try:
            return plan.result.lift(_string_at(at, VAL_SIZE), 0, at)
        finally:
            _val_delete(at)
    finally:
        for i in range(n):
            _val_delete(base + i * VAL_SIZE)


def patch() -> None:
    """Puts the fast path into wasmtime-py: export calls (`Func.__call__`) and host functions
    defined from now on (`func_impl`, `func_finalize`) convert values here (call once)."""
    global _original_call
    original = _func.Func.__call__
    for name in ("func_impl", "func_finalize"):  # each must exist before anything is replaced
        if not hasattr(_linker, name):
            raise AttributeError(f"wasmtime.component._linker has no {name}")
    _original_call = original
    _func.Func.__call__ = _export_call  # type: ignore[method-assign]
    _linker.func_impl = _func_impl
    _linker.func_finalize = _func_finalize
