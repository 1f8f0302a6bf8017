"""The kvbatch library on the host side, over a harness's stores and batch implementation.

`HarnessBucket` is a `kvbatch.RawBucket` whose single-key calls go to the store's backend
(through the fault layer when one is installed) and whose `*_many` calls go to the harness's
batch implementation: the provider component, or host-native batch. Host errors arrive as
the same typed `kvbatch` errors a guest sees. Reliability tests and host-side tools use it to
drive the library against real components without writing a guest for each case.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar

from kvbatch.errors import AccessDenied, KvError, NoSuchStore, StoreError

from kvbatch_host.errors import HostKvError
from kvbatch_host.keyvalue_functions import OpenBucket
from kvbatch_host.runner import Harness

T = TypeVar("T")


def to_kv_error(err: HostKvError, store: str) -> KvError:
    """The `kvbatch` error a guest would see for `err`."""
    if err.kind == "no-such-store":
        return NoSuchStore(store)
    if err.kind == "access-denied":
        return AccessDenied(store)
    return StoreError(err.message)


class HarnessBucket:
    """A `kvbatch.RawBucket` over store `name` of `harness`."""

    def __init__(self, harness: Harness, name: str = "default") -> None:
        self._harness = harness
        self._open: OpenBucket = harness.keyvalue.open_bucket(name)
        self._batch: Optional[Any] = harness.batch_ops()
        self.name = name
        self.has_native_batch = self._batch is not None

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except HostKvError as err:
            raise to_kv_error(err, self.name) from None

    def get(self, key: str) -> Optional[bytes]:
        return self._call(self._open.backend.get, self.name, key)

    def set(self, key: str, value: bytes) -> None:
        self._call(self._open.backend.set, self.name, key, value)

    def delete(self, key: str) -> None:
        self._call(self._open.backend.delete, self.name, key)

    def exists(self, key: str) -> bool:
        return self._call(self._open.backend.exists, self.name, key)

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        if self._batch is None:
            return [self.get(key) for key in keys]
        return self._call(self._batch.get_many, self._open, list(keys))

    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        if self._batch is None:
            for key, value in items:
                self.set(key, value)
            return
        self._call(self._batch.set_many, self._open, list(items))

    def delete_many(self, keys: Sequence[str]) -> None:
        if self._batch is None:
            for key in keys:
                self.delete(key)
            return
        self._call(self._batch.delete_many, self._open, list(keys))

    def close(self) -> None:
        self._harness.keyvalue.close_bucket(self._open)
