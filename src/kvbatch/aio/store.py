"""The async store kvbatch.aio is written against, and its adapter over Spin SDK 5's key-value API.

`spin:key-value@3.0.0` (what `spin_sdk.key_value` binds) is an async, per-key API: `get`,
`set`, `delete`, `exists`, and no batch, no compare-and-swap. `AsyncStore` is that shape with
kvbatch's typed errors; `StoreAdapter` turns any object with those four coroutine methods
(a `spin_sdk.key_value.Store` included) into one, translating each `Err(error)` a binding
raises into `NoSuchStore`, `AccessDenied` or `StoreError`.

A store that can compare-and-swap says `has_cas = True` and offers
`compare_and_swap(key, expected, value)`: conditional writes (`only_if`, the builder's
`insert`/`update`, `copy_many(overwrite=False)`) need it to be race-free, and are refused with
`Unsupported` on a store without it (spin:key-value@3.0.0 has none).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional, Protocol, TypeVar

from ..errors import KvError, StoreError, from_wit_error

T = TypeVar("T")


class AsyncStore(Protocol):
    """One key-value store; each coroutine is one store call that raises `KvError`."""

    name: str

    async def get(self, key: str) -> Optional[bytes]: ...
    async def set(self, key: str, value: bytes) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def exists(self, key: str) -> bool: ...


class AsyncCasStore(AsyncStore, Protocol):
    """An `AsyncStore` with compare-and-swap (`has_cas` true)."""

    has_cas: bool

    async def compare_and_swap(self, key: str, expected: Optional[bytes], value: bytes) -> bool:
        """Writes `value` only if `key` still holds `expected` (`None`: only if it is absent);
        `True` if it wrote, `False` if the key held something else (nothing written)."""
        ...


def has_cas(store: object) -> bool:
    """Whether `store` offers compare-and-swap (`has_cas` true and a `compare_and_swap` method)."""
    return bool(getattr(store, "has_cas", False)) and callable(getattr(store, "compare_and_swap", None))


def translate(error: BaseException, name: str) -> BaseException:
    """The kvbatch error for what a store call raised: a `KvError` as it is; a generated
    binding's `Err(error)` (spin:key-value's or wasi:keyvalue's) as `NoSuchStore`,
    `AccessDenied` or `StoreError`; anything else unchanged."""
    if isinstance(error, KvError):
        return error
    if type(error).__name__ == "Err" and hasattr(error, "value"):
        payload = error.value
        if type(payload).__name__.endswith("StoreTableFull"):
            return StoreError(f"store {name!r}: too many stores are open at once (store-table-full); close some")
        return from_wit_error(payload, name)
    return error


class StoreAdapter:
    """An `AsyncStore` over any object with coroutine methods `get`, `set`, `delete`, `exists`
    (a `spin_sdk.key_value.Store`), raising kvbatch's typed errors. Compare-and-swap is passed
    through when the wrapped store has it."""

    def __init__(self, store: Any, name: str = "") -> None:
        missing = [m for m in ("get", "set", "delete", "exists") if not callable(getattr(store, m, None))]
        if missing:
            raise TypeError(f"{type(store).__name__} is not a key-value store: it has no {', '.join(missing)} "
                            "(kvbatch.aio wraps a spin_sdk.key_value.Store or any object with async get/set/delete/exists)")
        self.store = store
        self.name = name or str(getattr(store, "name", "") or "")
        self.has_cas = has_cas(store)

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return await make()
        except Exception as err:
            translated = translate(err, self.name)
            if translated is err:
                raise
            raise translated from None

    async def get(self, key: str) -> Optional[bytes]:
        value: Optional[bytes] = await self._call(lambda: self.store.get(key))
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes) -> None:
        await self._call(lambda: self.store.set(key, value))

    async def delete(self, key: str) -> None:
        await self._call(lambda: self.store.delete(key))

    async def exists(self, key: str) -> bool:
        return bool(await self._call(lambda: self.store.exists(key)))

    async def compare_and_swap(self, key: str, expected: Optional[bytes], value: bytes) -> bool:
        if not self.has_cas:
            raise RuntimeError(f"store {self.name!r} has no compare-and-swap (check has_cas first)")
        return bool(await self._call(lambda: self.store.compare_and_swap(key, expected, value)))

    def close(self) -> None:
        """Releases the wrapped store resource now (`__exit__`), if it has one."""
        exit_ = getattr(self.store, "__exit__", None)
        if callable(exit_):
            exit_(None, None, None)


__all__ = ["AsyncCasStore", "AsyncStore", "StoreAdapter", "has_cas", "translate"]
