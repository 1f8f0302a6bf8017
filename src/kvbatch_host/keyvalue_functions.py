"""`wasi:keyvalue` served to components from a `StoreRegistry`, in either version.

`KeyValueHost` holds the per-`Store` state (open buckets and CAS handles) and defines the
`store`, `atomics` and, for host-native batch, `batch` interfaces on a wasmtime `Linker`.
`define_bridge` serves the same functions to the byte bridge (`kvbatch_host.prepare.bridge`), where
values are latin-1 strings and batch values travel packed.

Every function turns a `HostKvError` from a backend into the `err(error)` the guest sees,
and a borrowed `bucket` is always released before the function returns (a leaked borrow
makes the guest's export call trap with "borrow handles still remain").
"""

from __future__ import annotations

import itertools
import sys
from array import array
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from wasmtime.component import LinkerInstance, Record, ResourceAny, ResourceHost, ResourceType, Variant

from kvbatch_host import fastpath
from kvbatch_host.backends import DEFAULT_PAGE_SIZE, Backend
from kvbatch_host.backends.stores import StoreRegistry
from kvbatch_host.errors import HostKvError
from kvbatch_host.prepare import bridge
from kvbatch_host.versions import DRAFT2, KEYVALUE_VERSIONS

BUCKET_TYPE = 0x6B76_0001
CAS_TYPE = 0x6B76_0002
"""The host resource type ids of `bucket` and `cas`: the same in every `KeyValueHost` (handles
never cross stores, and each host keeps its own reps), so the fast path recognises their
borrows once (`fastpath.host_resource`)."""


@dataclass(frozen=True)
class OpenBucket:
    """What a `bucket` handle stands for: a store name and the backend serving it."""

    name: str
    backend: Backend
    rep: int


@dataclass
class _Cas:
    bucket: OpenBucket
    key: str
    seen: Optional[bytes]


@dataclass(frozen=True)
class ValueCodec:
    """How a value crosses: `to_guest` turns backend bytes into what the host function returns,
    `from_guest` turns what it receives into bytes."""

    to_guest: Callable[[bytes], Any]
    from_guest: Callable[[Any], bytes]


def _same(value: Any) -> Any:
    return value


def _to_latin1(value: bytes) -> str:
    return value.decode("latin-1")


def _from_latin1(value: str) -> bytes:
    return value.encode("latin-1")


AS_BYTES = ValueCodec(_same, _same)
"""`list<u8>`, as `wasi:keyvalue` declares values."""

AS_LATIN1 = ValueCodec(_to_latin1, _from_latin1)
"""A latin-1 `string` (one character per byte), as the byte bridge carries values."""

ABSENT = 0xFFFF_FFFF
"""The size `packed-values` gives a key without a value."""

_SIZES = "I"
assert array(_SIZES).itemsize == 4


def pack_values(values: Sequence[Optional[bytes]]) -> Record:
    """The bridge's `packed-values` for `values` (`None`: no value)."""
    sizes = array(_SIZES, [ABSENT if v is None else len(v) for v in values])
    if sys.byteorder != "little":
        sizes.byteswap()
    packed = Record()
    setattr(packed, "data", b"".join(v for v in values if v is not None).decode("latin-1"))
    setattr(packed, "sizes", sizes.tobytes().decode("latin-1"))
    return packed


def unpack_values(packed: Any, count: int) -> List[bytes]:
    """The `count` values of a `packed-values` the bridge sent (none may be absent).

    Raises `ValueError` when the sizes do not account for the data exactly: that is a bridge
    fault, which must trap rather than store misattributed bytes.
    """
    data = packed.data.encode("latin-1")
    sizes = array(_SIZES)
    sizes.frombytes(packed.sizes.encode("latin-1"))
    if sys.byteorder != "little":
        sizes.byteswap()
    if len(sizes) != count or ABSENT in sizes or sum(sizes) != len(data):
        raise ValueError(f"packed values do not match their sizes: {len(sizes)} sizes for {count} keys, "
                         f"{len(data)} bytes of data")
    ends = list(itertools.accumulate(sizes))
    return [data[start:end] for start, end in zip([0] + ends[:-1], ends)]


def interface(version: str, name: str) -> str:
    return f"wasi:keyvalue/{name}@{version}"


def error_payload(err: HostKvError) -> Variant:
    """The `error` variant value for `err`."""
    return Variant("other", err.message) if err.kind == "other" else Variant(err.kind)


def error_value(err: HostKvError) -> Any:
    """The `err(error)` case of a `result<_, error>` for `err`."""
    return _tagged_err(error_payload(err))


BatchOps = Any
"""An object with `get_many(bucket, keys)`, `set_many(bucket, items)`, `delete_many(bucket, keys)`
taking an `OpenBucket` (see `NativeBatch` and `kvbatch_host.driver.DriverBatch`)."""


class NativeBatch:
    """Batch served by the host straight from the backend."""

    def get_many(self, bucket: OpenBucket, keys: List[str]) -> List[Optional[bytes]]:
        return bucket.backend.get_many(bucket.name, keys)

    def set_many(self, bucket: OpenBucket, items: List[Tuple[str, bytes]]) -> None:
        bucket.backend.set_many(bucket.name, items)

    def delete_many(self, bucket: OpenBucket, keys: List[str]) -> None:
        bucket.backend.delete_many(bucket.name, keys)


class KeyValueHost:
    """The host side of `wasi:keyvalue` for one wasmtime `Store`."""

    def __init__(self, registry: StoreRegistry, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        # HostErr lowering, per-call converters and bulk list<u8>; the plain path (with one warning line)
        # when wasmtime-py is not what the fast path was written for. The allocator is tuned by the
        # `Harness` (bounded with the byte bridge, unbounded without: kept heap blocks help 1 MiB
        # list<u8> crossings, but grow a long run's memory, ~0.7 KB a batch call).
        fastpath.install(allocator=False)
        fastpath.host_resource(BUCKET_TYPE)
        fastpath.host_resource(CAS_TYPE)
        self.registry = registry
        self.page_size = page_size
        self.bucket_type = BUCKET_TYPE
        self.cas_type = CAS_TYPE
        self._buckets: Dict[int, OpenBucket] = {}
        self._cas: Dict[int, _Cas] = {}
        self._draft_cursors: Dict[int, str] = {}
        self._reps = itertools.count(1)

    # -- handles ------------------------------------------------------------------------

    @property
    def open_buckets(self) -> int:
        """How many bucket handles the guests hold now (for leak checks)."""
        return len(self._buckets)

    def bucket_of(self, store: Any, handle: Any) -> OpenBucket:
        """The bucket a handle names: a bridge's `u32`, a borrow the fast path already turned into
        its rep (`fastpath.HostRep`, an `int`), or a `ResourceAny` (whose borrow this releases)."""
        if isinstance(handle, int):
            return self._buckets[handle]
        rep = handle.to_host(store).rep  # to_host consumes the borrow: no drop() after it
        return self._buckets[rep]

    def open_bucket(self, name: str) -> OpenBucket:
        """Opens store `name` as `wasi:keyvalue/store.open` does, registering a handle for it."""
        backend = self.registry.open(name)
        rep = next(self._reps)
        self._buckets[rep] = bucket = OpenBucket(name, backend, rep)
        return bucket

    def close_bucket(self, bucket: OpenBucket) -> None:
        """Forgets a handle made by `open_bucket`."""
        self.close_rep(bucket.rep)

    def close_rep(self, rep: int) -> None:
        """Forgets the bucket handle `rep` (one a discarded store held)."""
        self._buckets.pop(rep, None)

    def bucket_reps(self) -> frozenset[int]:
        """The bucket handles open now."""
        return frozenset(self._buckets)

    def borrow(self, store: Any, bucket: OpenBucket) -> ResourceAny:
        """A borrowed handle to `bucket`, to pass to another component's export."""
        return ResourceHost.borrow(bucket.rep, self.bucket_type).to_any(store)

    # -- definitions --------------------------------------------------------------------

    def define(self, root: LinkerInstance, version: str, batch: Optional[BatchOps] = None, atomics: bool = True) -> None:
        """Defines `store` (and `atomics` unless told not to) of `version` under `root`, and
        `batch` when `batch` is given."""
        if version not in KEYVALUE_VERSIONS:
            raise ValueError(f"unknown wasi:keyvalue version {version!r}; expected one of {KEYVALUE_VERSIONS}")
        with root.add_instance(interface(version, "store")) as inst:
            self._define_store(inst, version)
        if atomics:
            with root.add_instance(interface(version, "atomics")) as inst:
                self._define_atomics(inst, version)
        if batch is not None:
            with root.add_instance(interface(version, "batch")) as inst:
                self._define_batch(inst, version, batch)

    def define_bridge(self, root: LinkerInstance, version: str, batch: Optional[BatchOps] = None) -> None:
        """Defines the interface the byte bridge for `version` imports (see `kvbatch_host.prepare.bridge`)
        under `root`: `store`, `atomics` and `batch` of that version with latin-1 values. Without
        `batch`, the batch functions answer `err(other)` (a guest built without `batch` never
        calls them)."""
        if version not in KEYVALUE_VERSIONS:
            raise ValueError(f"unknown wasi:keyvalue version {version!r}; expected one of {KEYVALUE_VERSIONS}")
        with root.add_instance(bridge.FLAVORS[version].interface) as inst:
            self._define_store(inst, version, AS_LATIN1, bridged=True)
            self._define_atomics(inst, version, AS_LATIN1)
            self._define_packed_batch(inst, batch)

    def _guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            try:
                return fn(*args)
            except HostKvError as err:
                return error_value(err)

        return call

    def _define_store(self, inst: LinkerInstance, version: str, codec: ValueCodec = AS_BYTES, bridged: bool = False) -> None:
        """`store`'s functions; `bridged`: as the bridge imports them, buckets being `u32` handles
        (`open`/`close` and plain functions) instead of a `bucket` resource with methods."""
        if bridged:
            def open_(store: Any, name: str) -> Any:
                return self.open_bucket(name).rep

            def close(store: Any, handle: int) -> None:
                self._buckets.pop(handle, None)

            inst.add_func("close", close)
        else:
            inst.add_resource("bucket", ResourceType.host(self.bucket_type), self._drop_bucket)

            def open_(store: Any, name: str) -> Any:
                return ResourceHost.own(self.open_bucket(name).rep, self.bucket_type)

        def get(store: Any, handle: ResourceAny, key: str) -> Any:
            b = self.bucket_of(store, handle)
            value = b.backend.get(b.name, key)
            return None if value is None else codec.to_guest(value)

        def set_(store: Any, handle: ResourceAny, key: str, value: Any) -> None:
            b = self.bucket_of(store, handle)
            b.backend.set(b.name, key, codec.from_guest(value))

        def delete(store: Any, handle: ResourceAny, key: str) -> None:
            b = self.bucket_of(store, handle)
            b.backend.delete(b.name, key)

        def exists(store: Any, handle: ResourceAny, key: str) -> bool:
            b = self.bucket_of(store, handle)
            return b.backend.exists(b.name, key)

        def list_keys(store: Any, handle: ResourceAny, cursor: Any) -> Any:
            b = self.bucket_of(store, handle)
            after = self._after_from_cursor(version, cursor)
            keys, next_after = b.backend.list_keys(b.name, after, self.page_size)
            response = Record()
            setattr(response, "keys", keys)
            setattr(response, "cursor", self._cursor_from_after(version, next_after))
            return response

        method = "{}" if bridged else "[method]bucket.{}"
        for name, fn in (
            ("open", open_),
            (method.format("get"), get),
            (method.format("set"), set_),
            (method.format("delete"), delete),
            (method.format("exists"), exists),
            (method.format("list-keys"), list_keys),
        ):
            inst.add_func(name, self._guard(fn))

    def _after_from_cursor(self, version: str, cursor: Any) -> Optional[str]:
        if cursor is None:
            return None
        if version == DRAFT2:
            return str(cursor)
        try:
            return self._draft_cursors.pop(int(cursor))
        except KeyError:
            raise HostKvError("other", f"unknown list-keys cursor {cursor}") from None

    def _cursor_from_after(self, version: str, after: Optional[str]) -> Any:
        if after is None or version == DRAFT2:
            return after
        token = next(self._reps)
        self._draft_cursors[token] = after
        return token

    def _drop_bucket(self, store: Any, rep: int) -> None:
        self._buckets.pop(rep, None)

    def _define_atomics(self, inst: LinkerInstance, version: str, codec: ValueCodec = AS_BYTES) -> None:
        def increment(store: Any, handle: ResourceAny, key: str, delta: int) -> int:
            b = self.bucket_of(store, handle)
            return b.backend.increment(b.name, key, delta)

        inst.add_func("increment", self._guard(increment))
        if version != DRAFT2:
            return

        inst.add_resource("cas", ResourceType.host(self.cas_type), self._drop_cas)

        def cas_new(store: Any, handle: ResourceAny, key: str) -> Any:
            b = self.bucket_of(store, handle)
            return self._new_cas(b, key)

        def cas_current(store: Any, handle: ResourceAny) -> Any:
            cas = self._cas[handle.to_host(store).rep]
            return None if cas.seen is None else codec.to_guest(cas.seen)

        def swap(store: Any, handle: ResourceAny, value: Any) -> Any:
            cas = self._cas.pop(handle.to_host(store).rep)
            try:
                swapped = cas.bucket.backend.compare_and_swap(cas.bucket.name, cas.key, cas.seen,
                                                              codec.from_guest(value))
            except HostKvError as err:
                # cas-error lowers untagged (its cases hold a Variant and a resource): give the payload
                return _tagged_err(error_payload(err))
            if swapped:
                return None
            return _tagged_err(self._new_cas(cas.bucket, cas.key))  # cas-failed(cas), untagged

        inst.add_func("[static]cas.new", self._guard(cas_new))
        inst.add_func("[method]cas.current", self._guard(cas_current))
        inst.add_func("swap", swap)

    def _drop_cas(self, store: Any, rep: int) -> None:
        self._cas.pop(rep, None)

    def _new_cas(self, bucket: OpenBucket, key: str) -> ResourceHost:
        rep = next(self._reps)
        self._cas[rep] = _Cas(bucket, key, bucket.backend.get(bucket.name, key))
        return ResourceHost.own(rep, self.cas_type)

    def _define_batch(self, inst: LinkerInstance, version: str, ops: BatchOps) -> None:
        def get_many(store: Any, handle: ResourceAny, keys: List[str]) -> Any:
            values = ops.get_many(self.bucket_of(store, handle), keys)
            if version == DRAFT2:
                return list(zip(keys, values))
            return [None if value is None else (key, value) for key, value in zip(keys, values)]

        def set_many(store: Any, handle: ResourceAny, items: List[Tuple[str, bytes]]) -> None:
            ops.set_many(self.bucket_of(store, handle), items)

        def delete_many(store: Any, handle: ResourceAny, keys: List[str]) -> None:
            ops.delete_many(self.bucket_of(store, handle), keys)

        inst.add_func("get-many", self._guard(get_many))
        inst.add_func("set-many", self._guard(set_many))
        inst.add_func("delete-many", self._guard(delete_many))

    def _define_packed_batch(self, inst: LinkerInstance, ops: Optional[BatchOps]) -> None:
        if ops is None:
            def no_batch(store: Any, handle: Any, *args: Any) -> None:
                self.bucket_of(store, handle)  # (a borrow, were it one, is released)
                raise HostKvError("other", "this host serves no wasi:keyvalue/batch")

            for name in ("get-many", "set-many", "delete-many"):
                inst.add_func(name, self._guard(no_batch))
            return

        def get_many(store: Any, handle: ResourceAny, keys: List[str]) -> Any:
            return pack_values(ops.get_many(self.bucket_of(store, handle), keys))

        def set_many(store: Any, handle: ResourceAny, keys: List[str], values: Any) -> None:
            bucket = self.bucket_of(store, handle)
            ops.set_many(bucket, list(zip(keys, unpack_values(values, len(keys)))))

        def delete_many(store: Any, handle: ResourceAny, keys: List[str]) -> None:
            ops.delete_many(self.bucket_of(store, handle), keys)

        inst.add_func("get-many", self._guard(get_many))
        inst.add_func("set-many", self._guard(set_many))
        inst.add_func("delete-many", self._guard(delete_many))


def _tagged_err(payload: Any) -> Any:
    return fastpath.HostErr(payload) if fastpath.lowers_host_err() else payload
