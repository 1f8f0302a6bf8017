"""How the API reaches key-value stores: open a store by name, get a kvbatch bucket and a lister.

`WitStores` opens stores through a component's generated `wasi:keyvalue@0.2.0-draft2`
bindings (the guest's `wit_world.imports`, or spin-sdk's `spin_sdk.wit.imports`), so the same
code serves Spin and the harness.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Dict, Optional, Protocol, Sequence, Tuple, Type

import kvbatch
from kvbatch.errors import from_wit_error
from kvbatch.raw import WitBucket
from kvbatch.retry import RetryPolicy

from .listing import KeyLister


REQUEST_RETRY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.5, budget=2.0)
"""How a request retries a key the store failed on: at most twice, within 2 s (an HTTP client is waiting)."""


@dataclass
class OpenStore:
    """An open store: the kvbatch bucket for batches, a lister for keys, and how to release them."""

    name: str
    bucket: "kvbatch.Bucket"
    lister: KeyLister
    close: Callable[[], None] = lambda: None


class StoreAccess(Protocol):
    """Opens stores by name; raises `kvbatch.NoSuchStore` / `kvbatch.AccessDenied` as the host does."""

    def open(self, name: str) -> OpenStore: ...


class WitLister:
    """`list-keys` of a draft2 binding's bucket resource, with errors as kvbatch errors."""

    def __init__(self, handle: Any, name: str, err_type: Type[BaseException]) -> None:
        self._handle = handle
        self._name = name
        self._err = err_type

    def list_keys(self, cursor: Optional[str]) -> Tuple[Sequence[str], Optional[str]]:
        try:
            response = self._handle.list_keys(cursor)
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), self._name) from None
        return list(response.keys), response.cursor


class WitStores:
    """Stores reached through generated `wasi:keyvalue@0.2.0-draft2` bindings.

    `store_module` is the binding of `wasi:keyvalue/store`, `batch_module` that of
    `wasi:keyvalue/batch` (or `None` to use per-key calls), `err_type` the bindings' `Err`;
    `retry` is the buckets' retry policy; `atomics_module` the binding of
    `wasi:keyvalue/atomics` (its `cas` makes `copy-many` without overwrite and `set-many`
    with `only_if` race-free; without it those requests are refused).

    With `keep_open`, a store opened successfully stays open for the life of this object and
    later `open`s of that name return it again (its `close` does nothing): for a component
    whose instance serves many requests, where opening per request is a host call each time.
    A name that failed to open is asked for again at the next `open`.
    """

    def __init__(self, store_module: ModuleType, batch_module: Optional[ModuleType], err_type: Type[BaseException],
                 retry: RetryPolicy = REQUEST_RETRY, atomics_module: Optional[ModuleType] = None,
                 keep_open: bool = False) -> None:
        self._store = store_module
        self._batch = batch_module
        self._err = err_type
        self._retry = retry
        self._atomics = atomics_module
        self._kept: Optional[Dict[str, OpenStore]] = {} if keep_open else None

    def open(self, name: str) -> OpenStore:
        if self._kept is not None:
            kept = self._kept.get(name)
            if kept is not None:
                return kept
        try:
            handle = self._store.open(name)
        except self._err as err:
            raise from_wit_error(getattr(err, "value", err), name) from None
        raw = WitBucket(handle, name, self._batch, self._err, self._atomics)
        bucket = kvbatch.Bucket(raw, retry=self._retry)
        lister = WitLister(handle, name, self._err)
        if self._kept is None:
            return OpenStore(name, bucket, lister, raw.close)
        opened = self._kept[name] = OpenStore(name, bucket, lister)
        return opened
