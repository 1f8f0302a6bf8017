"""The async mixed-operation builder: the sync `kvbatch.builder.Builder`'s plan, run with async batches.

    results = await (bucket.builder()
                     .set("a", b"1").set("b", b"2")
                     .get("a")                 # sees b"1": read-your-writes
                     .delete("b").get("c")
                     .execute())

Ops are collected and grouped into phases exactly as the sync builder does (see its module
documentation): `get`, `set`/`insert`/`update`, `delete` phases in an order that keeps each
key's ops in sequence; each phase runs as one concurrent batch operation of the bucket.
`insert`/`update` need a store with compare-and-swap: on one without it (spin:key-value@3.0.0)
`execute` raises `Unsupported` before anything is sent.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple, cast

from ..builder import _CONDITION, Builder, OpName, OpResult, Phase, _set_partial_ops
from ..errors import StoreError
from ..ops import BatchOps
from ..results import BatchResult, GetResult, combine
from ..retry import RetryPolicy
from ..stats import ErrorCallback
from ..validation import Items
from .ops import AsyncBatchOps

_Op = Tuple[int, Tuple[OpName, str, Optional[bytes]]]


class AsyncBuilder:
    """Collects ops (each checked as it is added) and runs them with `await execute()`."""

    def __init__(self, bucket: AsyncBatchOps) -> None:
        self.bucket = bucket
        self._plan = Builder(cast(BatchOps, bucket))  # the op list and its phases; never executed itself

    def __len__(self) -> int:
        return len(self._plan)

    def get(self, key: str) -> "AsyncBuilder":
        self._plan.get(key)
        return self

    def set(self, key: str, value: bytes) -> "AsyncBuilder":
        self._plan.set(key, value)
        return self

    def insert(self, key: str, value: bytes) -> "AsyncBuilder":
        """Writes `value` only if `key` holds no value (else the op is `failed` with `KeyExists`)."""
        self._plan.insert(key, value)
        return self

    def update(self, key: str, value: bytes) -> "AsyncBuilder":
        """Writes `value` only if `key` holds a value (else the op is `failed` with `KeyNotFound`)."""
        self._plan.update(key, value)
        return self

    def upsert(self, key: str, value: bytes) -> "AsyncBuilder":
        """The same op as `set`."""
        self._plan.upsert(key, value)
        return self

    def delete(self, key: str) -> "AsyncBuilder":
        self._plan.delete(key)
        return self

    def get_many(self, keys: Iterable[str]) -> "AsyncBuilder":
        self._plan.get_many(keys)
        return self

    def set_many(self, items: Items) -> "AsyncBuilder":
        self._plan.set_many(items)
        return self

    def delete_many(self, keys: Iterable[str]) -> "AsyncBuilder":
        self._plan.delete_many(keys)
        return self

    def plan(self) -> List[Phase]:
        """The batch operations `execute()` will run, in order."""
        return self._plan.plan()

    async def execute(self, *, stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                      on_error: Optional[ErrorCallback] = None) -> List[OpResult]:
        """Runs every op; returns one `OpResult` per op, in input order.

        With `stop_on_error`, the first phase in which an op does not succeed ends the run
        (later phases `not_attempted`). An exception that ends the run (a capability error,
        the task being cancelled, anything the bucket raised) carries `partial_ops`: one
        `OpResult` per op, as far as the run got. `on_error(key, index, error)` is called for
        each op that ends `failed` or `unknown`, in op order, once every phase has run.
        """
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable(key, index, error), got {on_error!r}")
        ops_list = self._plan._ops
        for op in dict.fromkeys(op for op, _, _ in ops_list if op in _CONDITION):
            self.bucket.check_condition(_CONDITION[op], "builder " + op)
        results: Dict[int, OpResult] = {}
        stopped = False
        for phase in self.plan():
            ops: List[_Op] = [(i, ops_list[i]) for i in phase.ops]
            if stopped:
                for i, (op, key, _) in ops:
                    results[i] = OpResult(i, op, key, "not_attempted")
                continue
            try:
                outcome = await self._run_phase(phase.kind, ops, retry)
            except BaseException as err:
                self._plan._account_for(err, ops, results)
                raise
            status = outcome.outcomes()
            for i, (op, key, _) in ops:
                value = outcome.values.get(key) if isinstance(outcome, GetResult) else None
                results[i] = OpResult(i, op, key, status[key], value, outcome.error(key))
            stopped = stop_on_error and not outcome.all_succeeded
        final = [results[i] for i in range(len(ops_list))]
        if on_error is not None:
            for r in final:
                if r.status in ("failed", "unknown"):
                    try:
                        on_error(r.key, r.index, r.error if r.error is not None else StoreError("the outcome is unknown"))
                    except BaseException as err:
                        _set_partial_ops(err, final)
                        raise
        return final

    async def _run_phase(self, kind: str, ops: List[_Op], retry: Optional[RetryPolicy]) -> BatchResult:
        keys = [key for _, (_, key, _) in ops]
        if kind == "get":
            return await self.bucket.get_many(keys, retry=retry)
        if kind == "set":
            parts = []
            for condition in (None, "absent", "present"):
                items = [(key, value) for _, (op, key, value) in ops
                         if value is not None and _CONDITION.get(op) == condition]
                if items:
                    parts.append(await self.bucket.set_many(items, only_if=condition, retry=retry))
            return parts[0] if len(parts) == 1 else combine(parts, operation="set_many")
        return await self.bucket.delete_many(keys, retry=retry)


__all__ = ["AsyncBuilder"]
