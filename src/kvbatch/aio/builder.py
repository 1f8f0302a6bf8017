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

from typing import Dict, Iterable, List, Optional, cast

from ..builder import Builder, OpResult, Phase, _not_attempted, _phase_calls, _phase_result, _record
from ..ops import BatchOps
from ..retry import RetryPolicy
from ..stats import ErrorCallback
from ..validation import Items
from .ops import AsyncBatchOps


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
        self._plan._before_execute(self.bucket, on_error)
        results: Dict[int, OpResult] = {}
        stopped = False
        for phase in self.plan():
            ops = self._plan._phase_ops(phase)
            if stopped:
                _not_attempted(ops, results)
                continue
            try:
                parts = [await getattr(self.bucket, name)(arg, **options, retry=retry)
                         for name, arg, options in _phase_calls(phase.kind, ops)]
            except BaseException as err:
                self._plan._account_for(err, ops, results)
                raise
            stopped = not _record(ops, _phase_result(parts), results) and stop_on_error
        return self._plan._finish(results, on_error)


__all__ = ["AsyncBuilder"]
