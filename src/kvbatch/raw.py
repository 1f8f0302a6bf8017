"""The raw bucket: one call per `wasi:keyvalue` function, with typed errors and one result shape.

`RawBucket` is what the rest of kvbatch is written against. `WitBucket` implements it over
the bindings componentize-py generates, for either keyvalue version:

* `wasi:keyvalue@0.2.0-draft2` (Spin): `get-many` returns `list<tuple<string, option<list<u8>>>>`;
* `wasi:keyvalue@0.2.0-draft` (wasmtime CLI): `get-many` returns `list<option<tuple<string, list<u8>>>>`.

Both are normalized to one `Optional[bytes]` per requested key, in request order. When the
world imports no `batch` interface, the `*_many` calls fall back to per-key `store` calls.
Every `err` from the host is raised as a `kvbatch.errors.KvError`.
"""

from __future__ import annotations

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


class WitBucket:
    """A `RawBucket` over a generated `wasi:keyvalue` binding's bucket resource."""

    def __init__(self, handle: Any, name: str, batch_module: Optional[ModuleType], err_type: type[BaseException]) -> None:
        self._handle = handle
        self._batch = batch_module
        self._err = err_type
        self.name = name
        self.has_native_batch = batch_module is not None

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
        return cls(handle, name, _batch if use_batch else None, _Err)

    @classmethod
    def wrap(cls, handle: Any, name: str = "", *, use_batch: bool = True, batch_module: Optional[ModuleType] = None,
             err_type: Optional[type[BaseException]] = None) -> "WitBucket":
        """Wraps a bucket resource the component already opened (e.g. through other bindings).

        `batch_module` and `err_type` default to the component's own `wit_world.imports.batch`
        and `componentize_py_types.Err`; pass those of other bindings (spin-sdk's) to use them.
        `name` is only used in error messages and reports.
        """
        err = err_type if err_type is not None else _Err
        if err is None:
            raise RuntimeError("no componentize_py_types.Err here: pass err_type= (the bindings' Err class)")
        batch = (batch_module if batch_module is not None else _batch) if use_batch else None
        return cls(handle, name, batch, err)

    @property
    def handle(self) -> Any:
        """The underlying binding resource, for calls kvbatch does not wrap."""
        return self._handle

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self.name) from None

    def get(self, key: str) -> Optional[bytes]:
        value: Optional[bytes] = self._call(self._handle.get, key)
        return value

    def set(self, key: str, value: bytes) -> None:
        self._call(self._handle.set, key, value)

    def delete(self, key: str) -> None:
        self._call(self._handle.delete, key)

    def exists(self, key: str) -> bool:
        return bool(self._call(self._handle.exists, key))

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        if self._batch is None:
            return [self.get(key) for key in keys]
        entries = self._call(self._batch.get_many, self._handle, list(keys))
        return [_entry_value(entry) for entry in entries]

    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        if self._batch is None:
            for key, value in items:
                self.set(key, value)
            return
        self._call(self._batch.set_many, self._handle, list(items))

    def delete_many(self, keys: Sequence[str]) -> None:
        if self._batch is None:
            for key in keys:
                self.delete(key)
            return
        self._call(self._batch.delete_many, self._handle, list(keys))

    def close(self) -> None:
        """Drops the bucket resource now rather than when it is garbage-collected."""
        exit_ = getattr(self._handle, "__exit__", None)
        if exit_ is not None:
            exit_(None, None, None)


def _entry_value(entry: Any) -> Optional[bytes]:
    """One `get-many` entry of either version as the value or `None`."""
    if entry is None:  # draft: option<tuple<string, list<u8>>> is none
        return None
    value: Optional[bytes] = entry[1]  # draft: (key, value); draft2: (key, option<value>)
    return value


__all__ = ["RawBucket", "WitBucket", "KvError"]
