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

import importlib
import importlib.util
import operator
import os
import re
import sys
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


class _Find:
    """The default of `WitBucket.wrap`'s binding arguments: find it beside the handle's binding."""

    def __repr__(self) -> str:
        return "FIND"


FIND: Any = _Find()
"""`WitBucket.wrap(..., batch_module=FIND)`: look the module up beside the bucket's own binding
module (the default). `None` says the world has no such interface."""

_STORE_TOKEN = re.compile(r"(?:^|_)store(?:_|$)")
SPIN_SDK_BINDINGS = "spin_sdk.wit.imports"
"""Where spin-sdk's generated bindings live (`wasi_keyvalue_{store,batch,atomics}_0_2_0_draft2`)."""


def sibling_name(store_module: str, interface: str) -> Optional[str]:
    """The module name of `interface` ("batch", "atomics") generated beside the `store` binding
    module `store_module`, or `None` if that name is not a `store` binding's.

    componentize-py names an interface's module either by the interface (`wit_world.imports.store`)
    or, with full names (spin-sdk), by package, interface and version
    (`spin_sdk.wit.imports.wasi_keyvalue_store_0_2_0_draft2`)."""
    package, _, leaf = store_module.rpartition(".")
    match = _STORE_TOKEN.search(leaf)
    if match is None:
        return None
    start, end = match.span()
    leaf = leaf[:start] + match.group(0).replace("store", interface) + leaf[end:]
    return f"{package}.{leaf}" if package else leaf


def _import_siblings(store_module: str) -> None:
    for interface in ("batch", "atomics"):
        name = sibling_name(store_module, interface)
        if name is not None and name not in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError:
                pass


def _preload_bindings() -> None:
    """Imports the `batch` and `atomics` bindings beside every keyvalue `store` binding imported so
    far (and spin-sdk's, inside a component), so that `wrap` finds them at run time: inside a
    component only what was imported while it was built can be imported later."""
    for name in [n for n in sys.modules if n.rpartition(".")[2].startswith(("store", "wasi_keyvalue_store"))]:
        _import_siblings(name)
    if sys.platform == "wasi" and importlib.util.find_spec("spin_sdk") is not None:
        for version in ("0_2_0_draft2",):
            store = f"{SPIN_SDK_BINDINGS}.wasi_keyvalue_store_{version}"
            try:
                importlib.import_module(store)
            except ImportError:
                continue
            _import_siblings(store)


_preload_bindings()


class BindingNotFound(TypeError):
    """`WitBucket.wrap` could not find what a bucket's bindings need; the message says what to pass."""


def _err_of(module: Optional[ModuleType]) -> Optional[type[BaseException]]:
    err = getattr(module, "Err", None)
    return err if isinstance(err, type) and issubclass(err, BaseException) else None


def _find_sibling(handle: Any, store_module: Optional[ModuleType], interface: str, argument: str) -> Optional[ModuleType]:
    """The `interface` binding beside `store_module`; `None` when the world has none (the bindings
    are readable here and do not include it); `BindingNotFound` when it cannot tell."""
    owner = type(handle).__module__
    name = sibling_name(owner, interface)
    if name is None:
        raise BindingNotFound(
            f"kvbatch.wrap: {type(handle).__qualname__} (module {owner}) is not a bucket of generated wasi:keyvalue "
            f"bindings kvbatch recognizes: pass batch_module= and atomics_module= (the bindings' batch and atomics "
            f"modules, or None where the world has no such interface) and err_type= (the bindings' Err class)")
    found = sys.modules.get(name)
    if found is not None:
        return found
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as missing:
        if not missing.name or not (name == missing.name or name.startswith(missing.name + ".")):
            raise  # the binding exists but fails to import: not ours to hide
    origin = getattr(store_module, "__file__", None)
    if origin and os.path.isfile(origin) and os.path.isdir(os.path.dirname(origin)):
        return None  # the bindings are all here, readable, and the world has no such interface
    raise BindingNotFound(
        f"kvbatch.wrap: {name} (wasi:keyvalue/{interface} beside {owner}) cannot be imported here: import it at "
        f"module level before the component runs (only modules imported at build time exist inside a component), "
        f"or pass {argument}=<that module> (or {argument}=None if the world has no wasi:keyvalue/{interface})")


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
    def wrap(cls, handle: Any, name: str = "", *, use_batch: bool = True, batch_module: Optional[ModuleType] = FIND,
             err_type: Optional[type[BaseException]] = None,
             atomics_module: Optional[ModuleType] = FIND) -> "WitBucket":
        """Wraps a bucket resource the component already opened, through any generated
        `wasi:keyvalue` bindings (the component's own `wit_world`, spin-sdk's, either version).

        By default the bindings' `batch` and `atomics` modules and their `Err` class are found
        beside the module that defines the handle's type, so batch and compare-and-swap are used
        wherever the world has them. Pass `batch_module`/`atomics_module` (a module, or `None`
        when the world has no such interface) and `err_type` to say them yourself; when they
        cannot be found, `BindingNotFound` names the argument to pass. `use_batch=False` makes
        the `*_many` calls per key. `name` is only used in error messages and reports.
        """
        store_module = sys.modules.get(type(handle).__module__)
        err = err_type if err_type is not None else (_err_of(store_module) or _Err)
        if err is None:
            raise BindingNotFound(
                f"kvbatch.wrap: {type(handle).__qualname__} (module {type(handle).__module__}) comes with no Err class: "
                f"pass err_type= (the exception class its bindings raise for err results, componentize_py_types.Err)")
        if not use_batch:
            batch = None
        elif batch_module is FIND:
            batch = _find_sibling(handle, store_module, "batch", "batch_module")
        else:
            batch = batch_module
        atomics = _find_sibling(handle, store_module, "atomics", "atomics_module") if atomics_module is FIND else atomics_module
        return cls(handle, name, batch, err, atomics)

    @property
    def handle(self) -> Any:
        """The underlying binding resource, for calls kvbatch does not wrap."""
        return self._handle

    def _translate(self, err: BaseException) -> KvError:
        """The bindings' error `err` as a `KvError`."""
        return from_wit_error(getattr(err, "value", err), self.name)

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


def unwrapped(single: Callable[..., Any]) -> Optional[Tuple[Callable[..., Any], type[BaseException],
                                                           Callable[[BaseException], KvError]]]:
    """For a `WitBucket`'s own `get`, `set` or `delete` (a bound method): the bindings' call it makes,
    the error class that call raises and the translation of that error into a `KvError`, so that a
    loop over many keys calls the bindings directly; `None` for any other callable."""
    func = getattr(single, "__func__", None)
    if func is not None and (func is WitBucket.get or func is WitBucket.set or func is WitBucket.delete):
        bucket: WitBucket = single.__self__  # type: ignore[attr-defined]
        return getattr(bucket._handle, func.__name__), bucket._err, bucket._translate
    return None


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
