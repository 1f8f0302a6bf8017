"""An in-memory async store for tests: faults, delays and a count of calls in flight.

    store = MemoryStore({"a": b"old"})
    store.fail("set", key="k3", times=None)          # every set of k3 errs, unapplied
    store.fail("set", key="k4", in_doubt=True)       # k4's next set is applied, then errs
    store.delay("get", 0.01)                         # each get waits 10 ms (asyncio.sleep)
    bucket = kvbatch.aio.wrap(store, "default", max_concurrency=8)
    result = await bucket.set_many(items)
    assert store.peak_in_flight <= 8

Stdlib only. It has the shape of `spin_sdk.key_value.Store` (coroutines `get`, `set`,
`delete`, `exists`) and, unless `cas=False`, compare-and-swap (`compare_and_swap`), so the
conditional paths can be tested too; with `cas=False` it offers what spin:key-value@3.0.0 does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Dict, List, Mapping, Optional, Tuple

from ..errors import KvError, StoreError

OPS = ("get", "set", "delete", "exists", "compare_and_swap")
"""What a fault, a delay or a `before` hook can name."""


@dataclass
class Fault:
    """`op` (on `key`, or any key when `None`) raises `error` for its next `times` calls
    (`None`: every call); `in_doubt`: the call is applied first, then raises."""

    op: str
    key: Optional[str] = None
    times: Optional[int] = 1
    in_doubt: bool = False
    error: KvError = field(default_factory=lambda: StoreError("injected fault"))
    fired: int = 0

    def matches(self, op: str, key: str) -> bool:
        return self.op == op and (self.key is None or self.key == key) and (self.times is None or self.fired < self.times)


class MemoryStore:
    """An async key-value store on a dict (`data`), with injectable faults, delays and hooks.

    `calls` logs each call as `(op, key)` in the order calls began; `in_flight` counts calls
    begun and not yet answered, `peak_in_flight` the most at once.
    """

    def __init__(self, data: Optional[Mapping[str, bytes]] = None, *, name: str = "default", cas: bool = True) -> None:
        self.data: Dict[str, bytes] = dict(data or {})
        self.name = name
        self.has_cas = cas
        self.calls: List[Tuple[str, str]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._faults: List[Fault] = []
        self._delays: Dict[str, Callable[[str], float]] = {}
        self._late: set[str] = set()
        self._hooks: List[Tuple[str, Optional[str], Callable[[], Optional[Awaitable[None]]]]] = []

    def fail(self, op: str, *, key: Optional[str] = None, times: Optional[int] = 1, in_doubt: bool = False,
             error: Optional[KvError] = None) -> "MemoryStore":
        """Makes `op` (on `key`, or on any key) raise `error` (a `StoreError` by default)."""
        _check_op(op)
        self._faults.append(Fault(op, key, times, in_doubt, error if error is not None else StoreError(
            f"injected fault: {op} {key or ''}".rstrip())))
        return self

    def delay(self, op: str, seconds: "float | Callable[[str], float]", *, answer_late: bool = False) -> "MemoryStore":
        """Makes each `op` call wait `seconds` (or `seconds(key)`) before it is applied, or with
        `answer_late` after it is applied and before it answers (a write cancelled while it
        waits has then taken effect: the case a caller cannot tell from one never sent)."""
        _check_op(op)
        if answer_late:
            self._late.add(op)
        else:
            self._late.discard(op)
        if callable(seconds):
            self._delays[op] = seconds
        else:
            fixed = float(seconds)
            self._delays[op] = lambda key: fixed
        return self

    def before(self, op: str, hook: Callable[[], Optional[Awaitable[None]]], *, key: Optional[str] = None) -> "MemoryStore":
        """Runs `hook` (a racing writer, say) each time `op` (on `key`) is about to be applied."""
        _check_op(op)
        self._hooks.append((op, key, hook))
        return self

    async def _enter(self, op: str, key: str) -> Optional[Fault]:
        self.calls.append((op, key))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        delay = self._delays.get(op)
        if op not in self._late:
            await asyncio.sleep(delay(key) if delay is not None else 0)
        for hook_op, hook_key, hook in self._hooks:
            if hook_op == op and (hook_key is None or hook_key == key):
                awaited = hook()
                if awaited is not None:
                    await awaited
        for fault in self._faults:
            if fault.matches(op, key):
                fault.fired += 1
                if not fault.in_doubt:
                    raise fault.error
                return fault
        return None

    async def _call(self, op: str, key: str, apply: Callable[[], object]) -> object:
        try:
            fault = await self._enter(op, key)
            result = apply()
            if op in self._late:
                delay = self._delays.get(op)
                await asyncio.sleep(delay(key) if delay is not None else 0)
            if fault is not None:
                raise fault.error
            return result
        finally:
            self.in_flight -= 1

    async def get(self, key: str) -> Optional[bytes]:
        value = await self._call("get", key, lambda: self.data.get(key))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes) -> None:
        await self._call("set", key, lambda: self.data.__setitem__(key, bytes(value)))

    async def delete(self, key: str) -> None:
        await self._call("delete", key, lambda: self.data.pop(key, None))

    async def exists(self, key: str) -> bool:
        return bool(await self._call("exists", key, lambda: key in self.data))

    async def compare_and_swap(self, key: str, expected: Optional[bytes], value: bytes) -> bool:
        if not self.has_cas:
            raise RuntimeError("this MemoryStore was made with cas=False")

        def apply() -> bool:
            if self.data.get(key) != expected:
                return False
            self.data[key] = bytes(value)
            return True

        return bool(await self._call("compare_and_swap", key, apply))


def _check_op(op: str) -> None:
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; one of {', '.join(OPS)}")


__all__ = ["Fault", "MemoryStore", "OPS"]
