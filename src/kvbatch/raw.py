"""The raw bucket: one call per `wasi:keyvalue` function, with typed errors and one result shape.

`RawBucket` is what the rest of kvbatch is written against. `WitBucket` implements it over
the bindings componentize-py generates, for either keyvalue version:

* `wasi:keyvalue@0.2.0-draft2` (Spin): `get-many` returns `list<tuple<string, option<list<u8>>>>`;
* `wasi:keyvalue@0.2.0-draft` (wasmtime CLI): `get-many` returns `list<option<tuple<string, list<u8>>>>`.

Both are normalized to one `Optional[bytes]` per requested key, in request order. When the
world imports no `batch` interface, the `*_many` calls fall back to per-key `store` calls.
Every `err` from the host is raised as a `kvbatch.errors.KvError`.

Compare-and-swap (`CasBucket`) is optional: a raw bucket that has it says `has_cas = True` and
offers `cas(key)`. `WitBucket` has it where the world imports `wasi:keyvalue/atomics@0.2.0-draft2`
(its `cas` resource and `swap`); draft's `atomics` has only `increment`, so there it has none.
"""

from __future__ import annotations

import operator
from types import ModuleType
from typing import Any, Callable, List, Optional, Protocol, Sequence, Tuple, TypeVar

from .errors import KvError, from_wit_error

T = TypeVar("T")


class RawBucket(Protocol):
    """One bucket of a key-value store; each method is one host call that raises `KvError`."""

    name: str
    has_native_batch: bool

    def get(self, key: str) -> Optional[bytes]: ...
    def set(self, key: str, value: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]: ...
    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None: ...
    def delete_many(self, keys: Sequence[str]) -> None: ...


class CasHandle(Protocol):
    """One compare-and-swap on one key, begun by `CasBucket.cas(key)`: it remembers the key's
    value at that moment. Each method is one host call that raises `KvError`."""

    def current(self) -> Optional[bytes]:
        """The key's value when the handle was made (`None`: absent)."""
        ...

    def swap(self, value: bytes) -> bool:
        """Writes `value` only if the key still holds what `current()` saw (absent included:
        then it creates the key only if it is still absent); `True` if it wrote, `False` if
        another writer changed the key first (nothing written). Consumes the handle."""
        ...

    def close(self) -> None:
        """Releases the handle without swapping (nothing if it was consumed already)."""
        ...


class CasBucket(RawBucket, Protocol):
    """A `RawBucket` with compare-and-swap (`has_cas` true)."""

    has_cas: bool

    def cas(self, key: str) -> CasHandle:
        """Begins a compare-and-swap on `key` (`wasi:keyvalue/atomics` `cas.new`)."""
        ...


def has_cas(raw: object) -> bool:
    """Whether `raw` offers compare-and-swap (a `CasBucket` whose `has_cas` is true)."""
    return bool(getattr(raw, "has_cas", False)) and callable(getattr(raw, "cas", None))


# Inside a component, only modules imported while componentize-py pre-initializes the app
# (at build time) can be imported at all: the bundle is not there at run time. So the
# generated bindings are imported here, at module level, whenever they exist; on plain
# CPython they do not, and `WitBucket.open` says so.
try:
    from componentize_py_types import Err as _Err  # type: ignore[import-not-found,unused-ignore]
    from wit_world.imports import store as _store  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    _Err = _store = None
try:
    from wit_world.imports import batch as _batch  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    _batch = None
try:
    from wit_world.imports import atomics as _atomics  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    _atomics = None


def _cas_module(module: Optional[ModuleType]) -> Optional[ModuleType]:
    """`module` if it is a draft2 `atomics` binding (a `Cas` resource and `swap`), else `None`."""
    if module is not None and hasattr(module, "Cas") and hasattr(module, "swap"):
        return module
    return None


class WitBucket:
    """A `RawBucket` over a generated `wasi:keyvalue` binding's bucket resource."""

    def __init__(self, handle: Any, name: str, batch_module: Optional[ModuleType], err_type: type[BaseException],
                 atomics_module: Optional[ModuleType] = None) -> None:
        self._handle = handle
        self._batch = batch_module
        self._err = err_type
        self._atomics = _cas_module(atomics_module)
        self.name = name
        self.has_native_batch = batch_module is not None
        self.has_cas = self._atomics is not None

    @classmethod
    def open(cls, name: str, *, use_batch: bool = True) -> "WitBucket":
        """Opens store `name` through the component's imports (`wit_world.imports`).

        Raises `NoSuchStore`/`AccessDenied` as the host reports them. Uses the imported
        `batch` interface when the world has one and `use_batch` is true.
        """
        if _store is None:
            raise RuntimeError("no wasi:keyvalue bindings: WitBucket.open works inside a component built with componentize-py")
        try:
            handle = _store.open(name)
        except _Err as err:
            raise from_wit_error(err.value, name) from None
        return cls(handle, name, _batch if use_batch else None, _Err, _atomics)

    @classmethod
    def wrap(cls, handle: Any, name: str = "", *, use_batch: bool = True, batch_module: Optional[ModuleType] = None,
             err_type: Optional[type[BaseException]] = None,
             atomics_module: Optional[ModuleType] = None) -> "WitBucket":
        """Wraps a bucket resource the component already opened (e.g. through other bindings).

        `batch_module`, `atomics_module` and `err_type` default to the component's own
        `wit_world.imports.batch`, `wit_world.imports.atomics` and `componentize_py_types.Err`;
        pass those of other bindings (spin-sdk's) to use them. `name` is only used in error
        messages and reports.
        """
        err = err_type if err_type is not None else _Err
        if err is None:
            raise RuntimeError("no componentize_py_types.Err here: pass err_type= (the bindings' Err class)")
        batch = (batch_module if batch_module is not None else _batch) if use_batch else None
        return cls(handle, name, batch, err, atomics_module if atomics_module is not None else _atomics)

    @property
    def handle(self) -> Any:
        """The underlying binding resource, for calls kvbatch does not wrap."""
        return self._handle

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self.name) from None

    # The single-key calls catch the bindings' error themselves (no `_call`): they are the
    # per-key path's whole cost beside the host call.

    def get(self, key: str) -> Optional[bytes]:
        try:
            value: Optional[bytes] = self._handle.get(key)
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self.name) from None
        return value

    def set(self, key: str, value: bytes) -> None:
        try:
            self._handle.set(key, value)
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self.name) from None

    def delete(self, key: str) -> None:
        try:
            self._handle.delete(key)
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self.name) from None

    def exists(self, key: str) -> bool:
        return bool(self._call(self._handle.exists, key))

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        if self._batch is None:
            return [self.get(key) for key in keys]
        try:
            entries = self._batch.get_many(self._handle, keys if type(keys) is list else list(keys))
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self.name) from None
        try:  # draft2 entries are all (key, option<value>) tuples: their values without a call per entry
            return list(map(_second, entries))
        except TypeError:  # draft: an absent key's entry is none
            return [_entry_value(entry) for entry in entries]

    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        if self._batch is None:
            for key, value in items:
                self.set(key, value)
            return
        try:
            self._batch.set_many(self._handle, items if type(items) is list else list(items))
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self.name) from None

    def delete_many(self, keys: Sequence[str]) -> None:
        if self._batch is None:
            for key in keys:
                self.delete(key)
            return
        try:
            self._batch.delete_many(self._handle, keys if type(keys) is list else list(keys))
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self.name) from None

    def cas(self, key: str) -> CasHandle:
        """Begins a compare-and-swap on `key` through `atomics`' `cas` resource (draft2 only)."""
        if self._atomics is None:
            raise RuntimeError(f"store {self.name!r}: this world has no wasi:keyvalue/atomics cas (check has_cas first)")
        return _WitCas(self, self._call(self._atomics.Cas.new, self._handle, key))

    def close(self) -> None:
        """Drops the bucket resource now rather than when it is garbage-collected."""
        exit_ = getattr(self._handle, "__exit__", None)
        if exit_ is not None:
            exit_(None, None, None)


class _WitCas:
    """A `CasHandle` over a draft2 `atomics.cas` resource."""

    def __init__(self, bucket: WitBucket, handle: Any) -> None:
        self._bucket = bucket
        self._handle = handle

    def current(self) -> Optional[bytes]:
        value: Optional[bytes] = self._bucket._call(self._handle.current)
        return value

    def swap(self, value: bytes) -> bool:
        bucket = self._bucket
        atomics = bucket._atomics
        assert atomics is not None
        handle, self._handle = self._handle, None
        if handle is None:
            raise RuntimeError("this compare-and-swap handle was already used")
        try:
            atomics.swap(handle, value)
        except bucket._err as err:
            payload = getattr(err, "value", err)
            inner = getattr(payload, "value", None)
            if type(payload).__name__.endswith("CasFailed"):
                exit_ = getattr(inner, "__exit__", None)
                if exit_ is not None:  # the fresh handle the host returned: not needed
                    exit_(None, None, None)
                return False
            raise from_wit_error(inner if inner is not None else payload, bucket.name) from None
        return True

    def close(self) -> None:
        handle, self._handle = self._handle, None
        exit_ = getattr(handle, "__exit__", None)
        if exit_ is not None:
            exit_(None, None, None)


_second = operator.itemgetter(1)


def _entry_value(entry: Any) -> Optional[bytes]:
    """One `get-many` entry of either version as the value or `None`."""
    if entry is None:  # draft: option<tuple<string, list<u8>>> is none
        return None
    value: Optional[bytes] = entry[1]  # draft: (key, value); draft2: (key, option<value>)
    return value


__all__ = ["CasBucket", "CasHandle", "RawBucket", "WitBucket", "KvError", "has_cas"]
