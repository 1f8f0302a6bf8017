"""Raw buckets for tests: an in-memory store and a fault injector.

    store = MemoryBucket({"a": b"old"})
    faulty = FaultyBucket(store).fail("set_many", after=2)   # 1st set-many writes 2 items, then errs
    faulty.fail("set", key="k3", times=None)                 # every single set of k3 errs, unapplied
    faulty.fail("set", key="k4", in_doubt=True)              # k4's next set is applied, then errs
    faulty.before("swap", lambda: store.set("k5", b"theirs"), key="k5")  # a racing writer between
    result = kvbatch.Bucket(faulty).set_many(items)          # the check (cas) and the write (swap)
    assert store.data == {...}

Both are ordinary `RawBucket`s, stdlib only: usable on CPython and inside components
(for example wrapped around a `WitBucket`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import KvError, StoreError
from .raw import CasHandle, RawBucket, has_cas

OPS = ("get", "set", "delete", "exists", "get_many", "set_many", "delete_many", "cas", "swap")
"""What a fault or a `before` hook can name: the `RawBucket` calls, `cas` (beginning a
compare-and-swap: `cas.new`) and `swap` (finishing one)."""
MANY_OPS = ("get_many", "set_many", "delete_many")


class MemoryCas:
    """A compare-and-swap on a `MemoryBucket` key: `swap` writes only if the key still holds
    the value `current()` saw (absent included)."""

    def __init__(self, bucket: "MemoryBucket", key: str) -> None:
        self.bucket = bucket
        self.key = key
        self.seen = bucket.data.get(key)
        self.used = False

    def current(self) -> Optional[bytes]:
        return self.seen

    def swap(self, value: bytes) -> bool:
        if self.used:
            raise RuntimeError("this compare-and-swap handle was already used")
        self.used = True
        self.bucket._log("swap", self.key)
        if self.bucket.data.get(self.key) != self.seen:
            return False
        self.bucket.data[self.key] = bytes(value)
        return True

    def close(self) -> None:
        self.used = True


class MemoryBucket:
    """A `RawBucket` on a dict, with wasi:keyvalue's batch semantics as kvbatch defines them (`set_many`: each key's
    last value, in order; `delete_many`: missing keys skipped), and compare-and-swap
    (`cas`, as `wasi:keyvalue/atomics@0.2.0-draft2` offers it) unless `cas=False`.
    `calls` logs each call as `(op, keys)`."""

    def __init__(self, data: Optional[Mapping[str, bytes]] = None, *, name: str = "memory",
                 native_batch: bool = True, cas: bool = True) -> None:
        self.data: Dict[str, bytes] = dict(data or {})
        self.name = name
        self.has_native_batch = native_batch
        self.has_cas = cas
        self.calls: List[Tuple[str, Tuple[str, ...]]] = []

    def _log(self, op: str, *keys: str) -> None:
        self.calls.append((op, keys))

    def count(self, op: str) -> int:
        """How many calls of `op` were made."""
        return sum(1 for name, _ in self.calls if name == op)

    def get(self, key: str) -> Optional[bytes]:
        self._log("get", key)
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        self._log("set", key)
        self.data[key] = bytes(value)

    def delete(self, key: str) -> None:
        self._log("delete", key)
        self.data.pop(key, None)

    def exists(self, key: str) -> bool:
        self._log("exists", key)
        return key in self.data

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        self._log("get_many", *keys)
        return [self.data.get(key) for key in keys]

    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        self._log("set_many", *(key for key, _ in items))
        for key, value in items:
            self.data[key] = bytes(value)

    def delete_many(self, keys: Sequence[str]) -> None:
        self._log("delete_many", *keys)
        for key in keys:
            self.data.pop(key, None)

    def cas(self, key: str) -> MemoryCas:
        if not self.has_cas:
            raise RuntimeError("this MemoryBucket was made with cas=False")
        self._log("cas", key)
        return MemoryCas(self, key)


@dataclass
class Fault:
    """One injected fault.

    It matches a call of `op` (one of `OPS`, or `"*"` for any) when `call` is `None` or the
    call is the `call`-th of that op (1-based, counted on the `FaultyBucket`), and `key` is
    `None` or the call touches `key`. It fires `times` times (`None`: on every match).

    What a firing does before raising `error`:
    * by default nothing is applied, except for a `*_many` call that names `key`: the
      items before the key's first position are applied (as a host that stops there would);
    * `after=k` (a `*_many` call): the first `k` items are applied;
    * `in_doubt=True`: the whole call is applied, and the error is raised anyway (for `swap`:
      the swap is attempted, succeeding only if the key is unchanged, and the error raised).

    A `cas` fault fails the check (no handle is made); a `swap` fault fails the write.

    `error` is a template: each firing raises a fresh copy of it (same type, arguments and
    attributes), so an exception a caller caught, and the `partial` a library attached to it,
    is never touched by a later firing.
    """

    op: str
    error: KvError = field(default_factory=lambda: StoreError("injected fault"))
    call: Optional[int] = None
    key: Optional[str] = None
    after: Optional[int] = None
    in_doubt: bool = False
    times: Optional[int] = 1
    fired: int = 0

    def __post_init__(self) -> None:
        if self.op != "*" and self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}; expected one of {', '.join(OPS)} or '*'")
        if self.after is not None and self.op not in MANY_OPS:
            raise ValueError(f"after= applies to {', '.join(MANY_OPS)}, not {self.op!r}")


    def raised(self) -> KvError:
        """A fresh exception like `error`, for one firing."""
        return fresh(self.error)


_PER_RAISE = ("partial", "partial_ops", "__notes__")
"""Attributes a raised exception collects on its way up: never carried into a fresh copy."""


def fresh(error: KvError) -> KvError:
    """A new exception of `error`'s type with its arguments and attributes (not its traceback,
    notes or any `partial` result attached to it)."""
    copy = type(error).__new__(type(error), *error.args)
    copy.__dict__.update((k, v) for k, v in vars(error).items() if k not in _PER_RAISE)
    return copy


@dataclass
class Hook:
    """An action run just before a matching call reaches the inner bucket (the call then goes
    on as usual): another writer acting between two of the library's calls. Matches as a
    `Fault` does (`op` or `"*"`, `call`, `key`, `times`)."""

    op: str
    action: Callable[[], object]
    call: Optional[int] = None
    key: Optional[str] = None
    times: Optional[int] = 1
    fired: int = 0

    def __post_init__(self) -> None:
        if self.op != "*" and self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}; expected one of {', '.join(OPS)} or '*'")


class FaultyCas:
    """A compare-and-swap begun through a `FaultyBucket`: `swap` goes through its faults and hooks."""

    def __init__(self, bucket: "FaultyBucket", key: str, inner: CasHandle) -> None:
        self.bucket = bucket
        self.key = key
        self.inner = inner

    def current(self) -> Optional[bytes]:
        return self.inner.current()

    def swap(self, value: bytes) -> bool:
        fault = self.bucket._match("swap", [self.key])
        if fault is not None:
            if fault.in_doubt:
                self.inner.swap(value)
            else:
                self.inner.close()
            raise fault.raised()
        return self.inner.swap(value)

    def close(self) -> None:
        self.inner.close()


class FaultyBucket:
    """Wraps a `RawBucket` and injects `Fault`s at given calls, keys and positions.

    `log` records every call as `(op, call number, keys, fault or None)`.
    """

    def __init__(self, inner: RawBucket, *faults: Fault) -> None:
        self.inner = inner
        self.name = inner.name
        self.has_native_batch = inner.has_native_batch
        self.has_cas = has_cas(inner)
        self.faults: List[Fault] = list(faults)
        self.hooks: List[Hook] = []
        self.counts: Dict[str, int] = {op: 0 for op in OPS}
        self.log: List[Tuple[str, int, Tuple[str, ...], Optional[Fault]]] = []

    def fail(self, op: str, *, error: Optional[KvError] = None, call: Optional[int] = None, key: Optional[str] = None,
             after: Optional[int] = None, in_doubt: bool = False, times: Optional[int] = 1) -> "FaultyBucket":
        """Adds a fault (see `Fault`); returns `self` for chaining."""
        self.faults.append(Fault(op, error if error is not None else StoreError(f"injected fault in {op}"),
                                 call, key, after, in_doubt, times))
        return self

    def before(self, op: str, action: Callable[[], object], *, call: Optional[int] = None, key: Optional[str] = None,
               times: Optional[int] = 1) -> "FaultyBucket":
        """Runs `action()` just before a matching call reaches the inner bucket (see `Hook`):
        e.g. `before("swap", lambda: store.set("k", b"theirs"), key="k")` makes another writer
        win the race between a compare-and-swap's check and its write. Returns `self`."""
        self.hooks.append(Hook(op, action, call, key, times))
        return self

    @property
    def fired(self) -> int:
        """How many faults have fired so far."""
        return sum(1 for entry in self.log if entry[3] is not None)

    def _match(self, op: str, keys: Sequence[str]) -> Optional[Fault]:
        self.counts[op] += 1
        number = self.counts[op]
        for hook in self.hooks:
            if hook.op not in ("*", op) or (hook.times is not None and hook.fired >= hook.times):
                continue
            if (hook.call is not None and hook.call != number) or (hook.key is not None and hook.key not in keys):
                continue
            hook.fired += 1
            hook.action()
        for fault in self.faults:
            if fault.op not in ("*", op):
                continue
            if fault.times is not None and fault.fired >= fault.times:
                continue
            if fault.call is not None and fault.call != number:
                continue
            if fault.key is not None and fault.key not in keys:
                continue
            fault.fired += 1
            self.log.append((op, number, tuple(keys), fault))
            return fault
        self.log.append((op, number, tuple(keys), None))
        return None

    def _applied_prefix(self, fault: Fault, keys: Sequence[str]) -> int:
        """How many items of a `*_many` call a firing `fault` applies before raising."""
        if fault.in_doubt:
            return len(keys)
        if fault.after is not None:
            return min(fault.after, len(keys))
        if fault.key is not None:
            return list(keys).index(fault.key)
        return 0

    def get(self, key: str) -> Optional[bytes]:
        fault = self._match("get", [key])
        if fault is not None:
            raise fault.raised()
        return self.inner.get(key)

    def set(self, key: str, value: bytes) -> None:
        fault = self._match("set", [key])
        if fault is not None:
            if fault.in_doubt:
                self.inner.set(key, value)
            raise fault.raised()
        self.inner.set(key, value)

    def delete(self, key: str) -> None:
        fault = self._match("delete", [key])
        if fault is not None:
            if fault.in_doubt:
                self.inner.delete(key)
            raise fault.raised()
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        fault = self._match("exists", [key])
        if fault is not None:
            raise fault.raised()
        return self.inner.exists(key)

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        fault = self._match("get_many", keys)
        if fault is not None:
            raise fault.raised()
        return self.inner.get_many(keys)

    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        fault = self._match("set_many", [key for key, _ in items])
        if fault is not None:
            applied = self._applied_prefix(fault, [key for key, _ in items])
            if applied:
                self.inner.set_many(list(items[:applied]))
            raise fault.raised()
        self.inner.set_many(items)

    def delete_many(self, keys: Sequence[str]) -> None:
        fault = self._match("delete_many", keys)
        if fault is not None:
            applied = self._applied_prefix(fault, keys)
            if applied:
                self.inner.delete_many(list(keys[:applied]))
            raise fault.raised()
        self.inner.delete_many(keys)

    def cas(self, key: str) -> FaultyCas:
        if not self.has_cas:
            raise RuntimeError("the bucket under this FaultyBucket has no compare-and-swap")
        fault = self._match("cas", [key])
        if fault is not None:
            raise fault.raised()
        return FaultyCas(self, key, self.inner.cas(key))  # type: ignore[attr-defined]

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


__all__ = ["Fault", "FaultyBucket", "FaultyCas", "Hook", "MemoryBucket", "MemoryCas"]
