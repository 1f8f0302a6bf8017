"""The mixed-operation builder: many `get`/`set`/`delete` ops, as few batch calls as correct.

    results = (bucket.builder()
               .set("a", b"1").set("b", b"2")
               .get("a")                 # sees b"1": read-your-writes
               .delete("b").get("c")
               .execute())
    for r in results:                    # in input order, each with its index
        print(r.index, r.op, r.key, r.status, r.value)

How ops are grouped: operations on different keys are independent, so only the order of
ops on the *same* key matters. Execution runs in phases `get-many`, `set-many`,
`delete-many`, `get-many`, `set-many`, ...; each op goes into the earliest phase of its kind
that comes after the previous op on its key (consecutive ops of one kind on one key share a
phase: two `set`s of a key are sent once, last value winning). So a `get` after a `set` of the
same key sees the new value, and a builder of independent keys takes one call per kind (per
chunk). Each phase uses the bucket's batch operations, with their chunking, attribution and
retries.

Conditional writes: `insert(key, value)` writes only if the key holds no value, `update` only
if it holds one (as `set_many(only_if="absent" | "present")`: race-free through `cas`, and a key
whose condition does not hold is `failed` with `KeyExists` / `KeyNotFound`); `upsert` is `set`.
They run in the write phases, but never share a phase with another op on their key (each
condition is checked against the state the ops before it left).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Literal, Optional, Tuple

from .errors import KvError, StoreError
from .results import BatchResult, GetResult, Status, combine
from .ops import BatchOps
from .retry import RetryPolicy
from .stats import ErrorCallback
from .validation import Items, check_key, check_value, iter_items

OpKind = Literal["get", "set", "delete"]
"""The kind of batch call (phase) an op runs in."""
OpName = Literal["get", "set", "delete", "insert", "update"]
_Op = Tuple[int, Tuple[OpName, str, Optional[bytes]]]
"""An op as a phase runs it: its index, then (op, key, value)."""
"""What an op is: a kind, or a conditional write (`insert`: only if absent; `update`: only if present)."""
_KIND_ORDER: Dict[OpKind, int] = {"get": 0, "set": 1, "delete": 2}
_KINDS: Tuple[OpKind, ...] = ("get", "set", "delete")
_KIND_OF: Dict[OpName, OpKind] = {"get": "get", "set": "set", "delete": "delete", "insert": "set", "update": "set"}
_CONDITION: Dict[OpName, Optional[Literal["absent", "present"]]] = {"insert": "absent", "update": "present"}


@dataclass(frozen=True)
class OpResult:
    """The outcome of one builder op: its `index` in input order, `op`, `key`, `status`,
    the `value` read (for a `get`; `None` when missing) and the `error` if it failed."""

    index: int
    op: OpName
    key: str
    status: Status
    value: Optional[bytes] = None
    error: Optional[KvError] = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def found(self) -> bool:
        """For a `get`: whether the key held a value."""
        return self.value is not None


@dataclass(frozen=True)
class Phase:
    """One batch call of the plan: its `kind` and the indices of the ops it carries."""

    kind: OpKind
    ops: Tuple[int, ...]


class Builder:
    """Collects ops (each checked as it is added) and runs them with `execute()`."""

    def __init__(self, bucket: BatchOps) -> None:
        self.bucket = bucket
        self._ops: List[Tuple[OpName, str, Optional[bytes]]] = []

    def __len__(self) -> int:
        return len(self._ops)

    def get(self, key: str) -> "Builder":
        self._ops.append(("get", check_key(key, max_key_bytes=self.bucket.max_key_bytes, index=len(self._ops)), None))
        return self

    def set(self, key: str, value: bytes) -> "Builder":
        index = len(self._ops)
        key = check_key(key, max_key_bytes=self.bucket.max_key_bytes, index=index)
        self._ops.append(("set", key, check_value(key, value, max_value_bytes=self.bucket.max_value_bytes, index=index)))
        return self

    def insert(self, key: str, value: bytes) -> "Builder":
        """Writes `value` only if `key` holds no value (else the op is `failed` with `KeyExists`)."""
        return self._write("insert", key, value)

    def update(self, key: str, value: bytes) -> "Builder":
        """Writes `value` only if `key` holds a value (else the op is `failed` with `KeyNotFound`)."""
        return self._write("update", key, value)

    def upsert(self, key: str, value: bytes) -> "Builder":
        """Writes `value` whether or not `key` holds one: the same op as `set` (recorded as `set`)."""
        return self.set(key, value)

    def _write(self, op: OpName, key: str, value: bytes) -> "Builder":
        index = len(self._ops)
        key = check_key(key, max_key_bytes=self.bucket.max_key_bytes, index=index)
        self._ops.append((op, key, check_value(key, value, max_value_bytes=self.bucket.max_value_bytes, index=index)))
        return self

    def delete(self, key: str) -> "Builder":
        self._ops.append(("delete", check_key(key, max_key_bytes=self.bucket.max_key_bytes, index=len(self._ops)), None))
        return self

    def get_many(self, keys: Iterable[str]) -> "Builder":
        for key in keys:
            self.get(key)
        return self

    def set_many(self, items: Items) -> "Builder":
        for key, value in iter_items(items):
            self.set(key, value)  # type: ignore[arg-type]
        return self

    def delete_many(self, keys: Iterable[str]) -> "Builder":
        for key in keys:
            self.delete(key)
        return self

    def plan(self) -> List[Phase]:
        """The batch calls `execute()` will make (before chunking), in order."""
        last: Dict[str, int] = {}
        conditional: Dict[str, bool] = {}  # whether the key's last op was an insert/update
        phases: Dict[int, List[int]] = {}
        for index, (op, key, _) in enumerate(self._ops):
            c = _KIND_ORDER[_KIND_OF[op]]
            previous = last.get(key)
            number = c if previous is None else previous + (c - previous) % 3
            is_conditional = op in _CONDITION
            if previous == number and (is_conditional or conditional.get(key, False)):
                number += 3  # a condition is checked after the write before it, never merged with it
            last[key] = number
            conditional[key] = is_conditional
            phases.setdefault(number, []).append(index)
        return [Phase(_KINDS[n % 3], tuple(phases[n])) for n in sorted(phases)]

    def execute(self, *, chunk_size: Optional[int] = None, stop_on_error: bool = False,
                retry: Optional[RetryPolicy] = None, on_error: Optional[ErrorCallback] = None) -> List[OpResult]:
        """Runs every op; returns one `OpResult` per op, in input order.

        With `stop_on_error`, the first phase in which an op does not succeed ends the run:
        the ops of later phases are `not_attempted`. An exception that ends the run (a
        capability error, or anything the bucket raised) carries `partial_ops`: one
        `OpResult` per op, as far as the run got. A builder with an `insert` or `update` on a
        bucket without `cas` raises `Unsupported` before anything is sent.

        `on_error(key, index, error)` is called once for each op that ends `failed` or
        `unknown`, in op order, once every phase has run (`index`: the op's index); an
        exception it raises propagates with `partial_ops` (every op's final result) on it.
        """
        self._before_execute(self.bucket, on_error)
        results: Dict[int, OpResult] = {}
        stopped = False
        for phase in self.plan():
            ops = self._phase_ops(phase)
            if stopped:
                _not_attempted(ops, results)
                continue
            try:
                parts = [getattr(self.bucket, name)(arg, **options, chunk_size=chunk_size, retry=retry)
                         for name, arg, options in _phase_calls(phase.kind, ops)]
            except BaseException as err:
                self._account_for(err, ops, results)
                raise
            stopped = not _record(ops, _phase_result(parts), results) and stop_on_error
        return self._finish(results, on_error)

    def _before_execute(self, bucket: object, on_error: Optional[ErrorCallback]) -> None:
        """Refuses what `execute` cannot run before anything is sent: an `on_error` that is not
        callable (`TypeError`), an `insert`/`update` on a bucket without compare-and-swap (`Unsupported`)."""
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable(key, index, error), got {on_error!r}")
        check = getattr(bucket, "check_condition", None)
        if callable(check):
            for op in dict.fromkeys(op for op, _, _ in self._ops if op in _CONDITION):
                check(_CONDITION[op], "builder " + op)

    def _phase_ops(self, phase: Phase) -> List[_Op]:
        return [(i, self._ops[i]) for i in phase.ops]

    def _finish(self, results: Dict[int, OpResult], on_error: Optional[ErrorCallback]) -> List[OpResult]:
        """Every op's result in input order, after `on_error` was called for each op that ended
        `failed` or `unknown` (an exception it raises carries `partial_ops`)."""
        final = [results[i] for i in range(len(self._ops))]
        if on_error is not None:
            for r in final:
                if r.status in ("failed", "unknown"):
                    try:
                        on_error(r.key, r.index, r.error if r.error is not None else StoreError("the outcome is unknown"))
                    except BaseException as err:
                        _set_partial_ops(err, final)
                        raise
        return final

    def _account_for(self, err: BaseException, ops: List[_Op], results: Dict[int, OpResult]) -> None:
        """Sets `err.partial_ops`: one `OpResult` per op, for an exception that ended `execute`.

        Ops of earlier phases keep their results; the ops of the phase in flight get the
        outcome its exception's `partial` gives their key (else `unknown` for a write,
        `not_attempted` for a read); ops of later phases are `not_attempted`.
        """
        partial = getattr(err, "partial", None)
        known = partial.outcomes() if isinstance(partial, BatchResult) else {}
        for i, (op, key, _) in ops:
            default: Status = "not_attempted" if op == "get" else "unknown"
            status = known.get(key, default)
            error = partial.error(key) if isinstance(partial, BatchResult) else None
            value = partial.values.get(key) if isinstance(partial, GetResult) else None
            results[i] = OpResult(i, op, key, status, value, error)
        every = [results.get(i) or OpResult(i, op, key, "not_attempted") for i, (op, key, _) in enumerate(self._ops)]
        _set_partial_ops(err, every)


def _phase_calls(kind: OpKind, ops: List[_Op]) -> List[Tuple[str, Any, Dict[str, Any]]]:
    """The bucket calls that run one phase: (batch method, its keys or items, keyword arguments)."""
    if kind == "set":
        # Keys of one phase are distinct across conditions (plan() keeps a conditional op alone on its key).
        calls: List[Tuple[str, Any, Dict[str, Any]]] = []
        for condition in (None, "absent", "present"):
            items = [(key, value) for _, (op, key, value) in ops if value is not None and _CONDITION.get(op) == condition]
            if items:
                calls.append(("set_many", items, {"only_if": condition}))
        return calls
    return [("get_many" if kind == "get" else "delete_many", [key for _, (_, key, _) in ops], {})]


def _phase_result(parts: List[BatchResult]) -> BatchResult:
    """One phase's result from the results of its calls."""
    return parts[0] if len(parts) == 1 else combine(parts, operation="set_many")


def _record(ops: List[_Op], outcome: BatchResult, results: Dict[int, OpResult]) -> bool:
    """Each op's result from its phase's `outcome`; True if every op of the phase succeeded."""
    status = outcome.outcomes()
    for i, (op, key, _) in ops:
        value = outcome.values.get(key) if isinstance(outcome, GetResult) else None
        results[i] = OpResult(i, op, key, status[key], value, outcome.error(key))
    return outcome.all_succeeded


def _not_attempted(ops: List[_Op], results: Dict[int, OpResult]) -> None:
    for i, (op, key, _) in ops:
        results[i] = OpResult(i, op, key, "not_attempted")


def _set_partial_ops(err: BaseException, every: List[OpResult]) -> None:
    """Sets `err.partial_ops` (a note with the count when the exception takes no attributes)."""
    try:
        setattr(err, "partial_ops", every)
    except (AttributeError, TypeError):
        err.add_note(f"kvbatch builder: {sum(r.ok for r in every)} of {len(every)} ops succeeded before the error")


__all__ = ["Builder", "OpResult", "Phase"]
