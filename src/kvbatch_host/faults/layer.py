"""The fault layer: a `Backend` in front of a `Backend` that applies a `FaultPlan` to every
operation and records each one, with its true outcome, in an `EventLog`.

`StoreRegistry` holds the layer in place of the real backend (`install`, through
`StoreRegistry.wrap`), so the host's native batch and the provider component's per-key `store`
calls both pass through it. In a batch call with a plan that can match it, the batch is applied
key by key through the layer (distinct keys, last value wins, stopping at the first error), so
positions mean something; otherwise the backend's native multi-key path is used.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar

from wasmtime import WasmtimeError

from kvbatch_host.backends import Backend
from kvbatch_host.backends.base import DEFAULT_PAGE_SIZE
from kvbatch_host.backends.stores import StoreRegistry
from kvbatch_host.errors import HostKvError
from kvbatch_host.faults.events import EventLog, error_json, value_digest
from kvbatch_host.faults.plan import FaultPlan

T = TypeVar("T")


class InjectedTrap(WasmtimeError):
    """Raised by the fault layer for a `trap` effect: the host function fails and the calling
    component traps with this message (a `WasmtimeError`, so wasmtime turns it into the trap
    itself instead of re-raising it out of the guest's call)."""


@dataclass
class _Scope:
    """One batch call in progress on a layer."""

    id: int
    op: str
    store: str
    counts: Dict[str, int] = field(default_factory=dict)

    def next_position(self, op: str) -> int:
        position = self.counts.get(op, 0)
        self.counts[op] = position + 1
        return position


@dataclass
class _Decision:
    rule: Optional[int] = None
    effect: Optional[str] = None
    error: Optional[HostKvError] = None
    trap: Optional[str] = None
    latency_ms: float = 0.0


class PlanState:
    """How often each rule of a plan matched and fired, and what fired (shared by layers)."""

    def __init__(self, plan: FaultPlan) -> None:
        self.lock = threading.Lock()
        self.matches = [0] * len(plan.rules)
        self.fires = [0] * len(plan.rules)
        self.fired: List["FiredFault"] = []


@dataclass
class FiredFault:
    """A rule that fired: which, on what, with what effect (for summaries)."""

    rule: int
    source: str
    effect: str
    op: str
    store: str
    key: Optional[str]
    position: Optional[int]


class FaultLayer(Backend):
    """A `Backend` that applies a `FaultPlan` to, and logs every operation of, the backend it wraps."""

    def __init__(self, inner: Backend, plan: Optional[FaultPlan] = None, events: Optional[EventLog] = None,
                 sleep: Callable[[float], None] = time.sleep, state: Optional["PlanState"] = None) -> None:
        self.inner = inner
        self.plan = plan or FaultPlan()
        self.events = events if events is not None else EventLog()
        self.url = inner.url
        self.state = state if state is not None else PlanState(self.plan)
        self._sleep = sleep
        self._local = threading.local()
        self._batch_atomic = self.atomic_batches = inner.atomic_batches

    def use_plan(self, plan: FaultPlan) -> None:
        """Replaces the plan (and starts its counters afresh), e.g. between test cases."""
        self.plan = plan
        self.state = PlanState(plan)

    # -- scopes ---------------------------------------------------------------------------

    def _scope(self) -> Optional[_Scope]:
        return getattr(self._local, "scope", None)

    @contextmanager
    def batch_call(self, op: str, store: str, count: int) -> Iterator[_Scope]:
        """Marks the operations made inside as serving one batch call, and logs what it answered.

        Nested calls join the outer batch call (the host's batch served by this same layer).
        """
        outer = self._scope()
        if outer is not None:
            yield outer
            return
        scope = _Scope(self.events.next_batch_id(), op, store)
        self._local.scope = scope
        fields: Dict[str, Any] = {"batch": scope.id, "batch_op": op, "applied": None, "detail": {"keys": count}}
        try:
            yield scope
        except HostKvError as err:
            self.events.record(op, store, result="error", error=error_json(err), **fields)
            raise
        except BaseException as exc:
            self.events.record(op, store, result="trap", error={"kind": "trap", "message": str(exc)[:500]}, **fields)
            raise
        else:
            self.events.record(op, store, result="ok", **fields)
        finally:
            self._local.scope = None

    def could_fault(self, op: str) -> bool:
        return any(rule.could_match_op(op) for rule in self.plan.rules)

    # -- deciding -------------------------------------------------------------------------

    def _decide(self, op: str, store: str, key: Optional[str], scope: Optional[_Scope], position: Optional[int]) -> _Decision:
        decision = _Decision()
        if not self.plan:
            return decision
        batch_op = scope.op if scope is not None else None
        state = self.state
        with state.lock:
            for index, rule in enumerate(self.plan.rules):
                if not rule.matches(op, store, key, batch_op, position):
                    continue
                state.matches[index] += 1
                if rule.nth is not None:
                    fires = state.matches[index] == rule.nth
                else:
                    fires = rule.times is None or state.fires[index] < rule.times
                if not fires:
                    continue
                state.fires[index] += 1
                decision.latency_ms += rule.latency_ms
                if decision.effect is None or decision.effect == "latency":
                    decision.rule = index
                    decision.effect = rule.effect
                    if rule.trap is not None:
                        decision.trap = rule.trap
                    elif rule.error is not None:
                        decision.error = HostKvError(rule.error[0], rule.error[1])  # type: ignore[arg-type]
                state.fired.append(FiredFault(index, rule.describe(), rule.effect, op, store, key, position))
        return decision

    def _run(self, op: str, store: str, key: Optional[str], action: Callable[[], T],
             value: Optional[bytes] = None, detail: Optional[Callable[[Any], Dict[str, Any]]] = None,
             applied_of: Optional[Callable[[Any], bool]] = None) -> T:
        scope = self._scope()
        position = scope.next_position(op) if scope is not None else None
        decision = self._decide(op, store, key, scope, position)
        fields: Dict[str, Any] = {"key": key, "position": position}
        if scope is not None:
            fields.update(batch=scope.id, batch_op=scope.op)
        if value is not None:
            fields["value"] = value_digest(value)
        if decision.effect is not None:
            fields.update(fault=decision.effect, rule=decision.rule)
        if decision.latency_ms:
            self._sleep(decision.latency_ms / 1000.0)
        if decision.trap is not None:
            self.events.record(op, store, applied=False, result="trap", error={"kind": "trap", "message": decision.trap},
                               **fields)
            raise InjectedTrap(f"kvbatch fault: {decision.trap} (op={op} key={key!r})")
        if decision.error is not None and decision.effect == "error":
            self.events.record(op, store, applied=False, result="error", error=error_json(decision.error), **fields)
            raise decision.error
        try:
            result = action()
        except HostKvError as err:
            applied = getattr(err, "applied", False)
            self.events.record(op, store, applied=applied, result="error", error=error_json(err), **fields)
            raise
        except Exception as exc:
            self.events.record(op, store, applied=None, result="trap", error={"kind": "trap", "message": str(exc)[:500]},
                               **fields)
            raise
        applied = applied_of(result) if applied_of is not None else True
        extra = detail(result) if detail is not None else None
        if decision.error is not None:  # in-doubt: performed, then reported as failed
            self.events.record(op, store, applied=applied, result="error", error=error_json(decision.error), detail=extra,
                               **fields)
            raise decision.error
        self.events.record(op, store, applied=applied, result="ok", detail=extra, **fields)
        return result

    # -- single-key operations ------------------------------------------------------------

    def get(self, store: str, key: str) -> Optional[bytes]:
        return self._run("get", store, key, lambda: self.inner.get(store, key),
                         detail=lambda v: {"found": v is not None})

    def set(self, store: str, key: str, value: bytes) -> None:
        self._run("set", store, key, lambda: self.inner.set(store, key, value), value=value)

    def delete(self, store: str, key: str) -> None:
        self._run("delete", store, key, lambda: self.inner.delete(store, key))

    def exists(self, store: str, key: str) -> bool:
        return self._run("exists", store, key, lambda: self.inner.exists(store, key), detail=lambda v: {"exists": v})

    def list_keys(self, store: str, after: Optional[str], limit: int = DEFAULT_PAGE_SIZE) -> Tuple[List[str], Optional[str]]:
        return self._run("list-keys", store, None, lambda: self.inner.list_keys(store, after, limit),
                         detail=lambda r: {"after": after, "count": len(r[0]), "next": r[1]})

    def increment(self, store: str, key: str, delta: int) -> int:
        return self._run("increment", store, key, lambda: self.inner.increment(store, key, delta),
                         detail=lambda n: {"delta": delta, "result": n})

    def compare_and_swap(self, store: str, key: str, expected: Optional[bytes], value: bytes) -> bool:
        return self._run("cas", store, key, lambda: self.inner.compare_and_swap(store, key, expected, value), value=value,
                         detail=lambda ok: {"swapped": ok}, applied_of=bool)

    # -- batch operations -----------------------------------------------------------------

    def get_many(self, store: str, keys: Sequence[str]) -> List[Optional[bytes]]:
        with self.batch_call("get-many", store, len(keys)):
            if self.could_fault("get"):
                return [self.get(store, key) for key in keys]
            return self._native("get", store, list(keys), lambda: self.inner.get_many(store, keys))

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        last_value_wins = dict(items)
        with self.batch_call("set-many", store, len(items)):
            if self.could_fault("set"):
                for key, value in last_value_wins.items():
                    self.set(store, key, value)
                return
            self._native("set", store, list(last_value_wins), lambda: self.inner.set_many(store, items),
                         values=list(last_value_wins.values()))

    def delete_many(self, store: str, keys: Sequence[str]) -> None:
        distinct = list(dict.fromkeys(keys))
        with self.batch_call("delete-many", store, len(keys)):
            if self.could_fault("delete"):
                for key in distinct:
                    self.delete(store, key)
                return
            self._native("delete", store, distinct, lambda: self.inner.delete_many(store, keys))

    def _native(self, op: str, store: str, keys: List[str], action: Callable[[], T],
                values: Optional[List[bytes]] = None) -> T:
        """The backend's own multi-key call, logged as one event per key it served."""
        scope = self._scope()
        base: Dict[str, Any] = {"batch": scope.id, "batch_op": scope.op} if scope is not None else {}
        try:
            result = action()
        except HostKvError as err:
            applied = getattr(err, "applied", False if self._batch_atomic or op == "get" else None)
            per_key = getattr(err, "applied_by_key", None) or {}  # a sharded store knows it per key
            for key in keys:
                position = scope.next_position(op) if scope is not None else None
                self.events.record(op, store, key=key, applied=per_key.get(key, applied), result="error",
                                   error=error_json(err), position=position, **base)
            raise
        for index, key in enumerate(keys):
            position = scope.next_position(op) if scope is not None else None
            extra: Dict[str, Any] = {}
            if values is not None:
                extra["value"] = value_digest(values[index])
            if op == "get":
                extra["detail"] = {"found": result[index] is not None}  # type: ignore[index]
            self.events.record(op, store, key=key, applied=True, result="ok", position=position, **base, **extra)
        return result

    # -- pass-through ---------------------------------------------------------------------

    def all_items(self, store: str) -> Iterable[Tuple[str, bytes]]:
        """The wrapped backend's contents, unlogged and unfaulted (for inspection)."""
        return self.inner.all_items(store)

    def close(self) -> None:
        self.inner.close()

    @property
    def fired(self) -> List[FiredFault]:
        """The faults that fired so far, in order (shared by every layer of one plan)."""
        return self.state.fired

    def summary(self) -> List[str]:
        """One line per fault that fired, for people."""
        return [
            f"rule {f.rule + 1} ({f.source}) -> {f.effect} on {f.op} {f.key!r}"
            + (f" at position {f.position}" if f.position is not None else "")
            for f in self.fired
        ]


def install(registry: StoreRegistry, plan: Optional[FaultPlan] = None, events: Optional[EventLog] = None,
            sleep: Callable[[float], None] = time.sleep) -> List[FaultLayer]:
    """Puts a `FaultLayer` (sharing one plan state and one event log) in front of every backend of
    `registry` (a `StoreRegistry`); stores that share a backend share its layer. Returns the layers."""
    events = events if events is not None else EventLog()
    plan = plan or FaultPlan()
    state = PlanState(plan)  # one set of counters across backends: nth= counts every store
    return registry.wrap(lambda backend: backend if isinstance(backend, FaultLayer)
                         else FaultLayer(backend, plan, events, sleep, state))


class ObservedBatch:
    """Wraps batch operations (e.g. the provider component's) so the fault layer knows which batch
    call the per-key store calls serve: positions count within it, and its answer is logged."""

    def __init__(self, ops: Any) -> None:
        self.ops = ops

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ops, name)

    @staticmethod
    def _layer(bucket: Any) -> Optional[FaultLayer]:
        backend = getattr(bucket, "backend", None)
        return backend if isinstance(backend, FaultLayer) else None

    def _call(self, op: str, bucket: Any, arg: Sequence[Any], fn: Callable[[Any, Any], T]) -> T:
        layer = self._layer(bucket)
        if layer is None:
            return fn(bucket, arg)
        with layer.batch_call(op, bucket.name, len(arg)):
            return fn(bucket, arg)

    def get_many(self, bucket: Any, keys: List[str]) -> List[Optional[bytes]]:
        return self._call("get-many", bucket, keys, self.ops.get_many)

    def set_many(self, bucket: Any, items: List[Tuple[str, bytes]]) -> None:
        self._call("set-many", bucket, items, self.ops.set_many)

    def delete_many(self, bucket: Any, keys: List[str]) -> None:
        self._call("delete-many", bucket, keys, self.ops.delete_many)
