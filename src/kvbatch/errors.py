"""Typed errors raised by kvbatch.

`wasi:keyvalue` has three error cases. `no-such-store` and `access-denied` are configuration
errors (`CapabilityError`): kvbatch raises them at once and never turns them into per-key
failures. `other(string)` becomes `StoreError`, which may be transient and is the only kind
a batch attributes to keys.
"""

from __future__ import annotations

from typing import Any, Dict, Literal, Mapping, Optional, Protocol, Sequence, Tuple

OutcomeStatus = Literal["succeeded", "failed", "unknown", "not_attempted"]


class PerKeyReport(Protocol):
    """What an error carries about a batch: the read side of `kvbatch.results.BatchResult`.

    Declared here, structurally, so that this lowest layer never imports `results` (which
    imports it); every `BatchResult` is a `PerKeyReport`.
    """

    @property
    def succeeded(self) -> Tuple[str, ...]: ...
    @property
    def failed(self) -> Mapping[str, "KvError"]: ...
    @property
    def unknown(self) -> Tuple[str, ...]: ...
    @property
    def not_attempted(self) -> Tuple[str, ...]: ...
    @property
    def duplicates(self) -> Tuple[str, ...]: ...
    @property
    def unknown_errors(self) -> Mapping[str, "KvError"]: ...
    @property
    def order(self) -> Tuple[str, ...]: ...
    @property
    def operation(self) -> str: ...
    @property
    def total(self) -> int: ...
    @property
    def all_succeeded(self) -> bool: ...
    def outcome(self, key: str) -> OutcomeStatus: ...
    def outcomes(self) -> Dict[str, OutcomeStatus]: ...
    def error(self, key: str) -> Optional["KvError"]: ...
    def summary(self) -> str: ...


class KvError(Exception):
    """Base class of every error kvbatch raises."""


class CapabilityError(KvError):
    """The store cannot be used at all: a configuration problem, never a per-key failure.

    Raised at once from a batch operation, it carries `partial`: the per-key result up to
    that point (keys of earlier chunks as settled; the keys of the chunk in flight `unknown`
    for a write, `not_attempted` for a read; later keys `not_attempted`).
    """

    partial: Optional[PerKeyReport] = None


def attach_partial(error: BaseException, partial: PerKeyReport) -> None:
    """Sets `error.partial` to the per-key result of the operation it ends.

    Any exception that propagates out of a batch operation carries one (a `CapabilityError`
    declares the attribute; others get it set). An exception that refuses new attributes
    gets the result's summary as a note instead.
    """
    try:
        setattr(error, "partial", partial)
    except (AttributeError, TypeError):
        error.add_note(f"kvbatch partial result: {partial.summary()}")


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
        return isinstance(other, StoreError) and type(other) is type(self) and other.message == self.message

    def __hash__(self) -> int:
        return hash((type(self), self.message))


class ValidationError(KvError, ValueError):
    """Input was rejected before anything was sent; names the offending key and the limit.

    `key` is the offending key (or its `repr` when it is not a string), `limit` the limit it
    broke (`None` when no size limit is involved, e.g. a value that is not bytes) and `index`
    its position in the input, when it came from a batch.
    """

    def __init__(self, message: str, key: str | None = None, limit: int | None = None, index: int | None = None) -> None:
        self.key = key
        self.limit = limit
        self.index = index
        super().__init__(message)


class KeyNotFound(KvError):
    """No value at this key where one was required: `delete_many(..., missing_ok=False)`,
    `set_many(..., only_if="present")` (`update`), or the source of a `copy_many` pair."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no value at key {key!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyNotFound) and other.key == self.key

    def __hash__(self) -> int:
        return hash((KeyNotFound, self.key))


class KeyExists(KvError):
    """A value is already at this key where none was allowed: `set_many(..., only_if="absent")`
    (`insert`), or the destination of a `copy_many(..., overwrite=False)` pair."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"a value already exists at key {key!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyExists) and other.key == self.key

    def __hash__(self) -> int:
        return hash((KeyExists, self.key))


class CasConflict(StoreError):
    """Every compare-and-swap attempt on a key lost to another writer (the key kept changing).

    A `StoreError`, so the operation's `RetryPolicy` retries it like any transient error.
    """

    def __init__(self, key: str, attempts: int) -> None:
        self.key = key
        self.attempts = attempts
        super().__init__(f"key {key!r} changed under each of {attempts} compare-and-swap attempts")


class Unsupported(KvError, ValueError):
    """The operation needs something this bucket does not have (`wasi:keyvalue/atomics`'s `cas`
    for a conditional write). Raised before anything is sent; the message says what is missing."""


def _listed(keys: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


class BatchFailed(KvError):
    """Raised by `raise_for_failures()`: not every key of a batch succeeded.

    `result` is the whole per-key result; `failed`, `unknown` and `not_attempted` are its
    keys that did not succeed, and the message lists them.
    """

    def __init__(self, result: PerKeyReport) -> None:
        self.result = result
        self.failed = tuple(result.failed)
        self.unknown = result.unknown
        self.not_attempted = result.not_attempted
        parts = []
        if self.failed:
            first = result.failed[self.failed[0]]
            parts.append(f"{len(self.failed)} failed ({_listed(self.failed)}; first error: {type(first).__name__}: {first})")
        if self.unknown:
            parts.append(f"{len(self.unknown)} unknown ({_listed(self.unknown)})")
        if self.not_attempted:
            parts.append(f"{len(self.not_attempted)} not attempted ({_listed(self.not_attempted)})")
        earlier = getattr(result, "earlier", None)
        if earlier is not None:
            parts.append(f"{earlier.total} of them written earlier ({_listed(earlier.order)}: see result.earlier)")
        what = result.operation or "batch"
        super().__init__(f"{what}: {len(result.succeeded)} of {result.total} keys succeeded; " + "; ".join(parts))


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
