"""Typed errors raised by kvbatch.

`wasi:keyvalue` has three error cases. `no-such-store` and `access-denied` are configuration
errors (`CapabilityError`): kvbatch raises them at once and never turns them into per-key
failures. `other(string)` becomes `StoreError`, which may be transient and is the only kind
a batch attributes to keys.
"""

from __future__ import annotations

from typing import Any


class KvError(Exception):
    """Base class of every error kvbatch raises."""


class CapabilityError(KvError):
    """The store cannot be used at all: a configuration problem, never a per-key failure."""


class NoSuchStore(CapabilityError):
    """The host knows no store by this name (`error::no-such-store`)."""

    def __init__(self, store: str | None = None) -> None:
        self.store = store
        super().__init__(f"no such store: {store!r}" if store is not None else "no such store")


class AccessDenied(CapabilityError):
    """The component may not use this store (`error::access-denied`)."""

    def __init__(self, store: str | None = None) -> None:
        self.store = store
        super().__init__(f"access denied to store {store!r}" if store is not None else "access denied")


class StoreError(KvError):
    """The store reported `error::other(message)` for an operation."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.message == self.message  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.message))


class ValidationError(KvError, ValueError):
    """Input was rejected before anything was sent; names the offending key and the limit."""

    def __init__(self, message: str, key: str | None = None, limit: int | None = None) -> None:
        self.key = key
        self.limit = limit
        super().__init__(message)


def from_wit_error(value: Any, store: str | None = None) -> KvError:
    """Returns the kvbatch error for a generated binding's `error` value (either keyvalue version).

    Matches the generated class names (`Error_NoSuchStore`, `Error_AccessDenied`,
    `Error_Other`), which are the same in the draft and draft2 bindings.
    """
    kind = type(value).__name__
    if kind.endswith("NoSuchStore"):
        return NoSuchStore(store)
    if kind.endswith("AccessDenied"):
        return AccessDenied(store)
    if kind.endswith("Other"):
        return StoreError(str(getattr(value, "value", value)))
    return StoreError(f"unrecognised keyvalue error: {value!r}")
