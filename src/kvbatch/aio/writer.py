"""The async buffered writer: `set`/`delete` collected and sent concurrently in batches.

    async with bucket.writer(flush_at=500) as w:
        for row in rows:
            await w.set(row.key, row.encode())
        await w.delete("stale")
    w.results.raise_for_failures()

The same rules as the sync `kvbatch.writer.Writer`: operations are buffered per key (a later
`set`/`delete` of a buffered key replaces the earlier one), the buffer is flushed at
`flush_at` keys, on `flush()` and when the block exits normally; on an exception in the block
the unflushed operations are discarded (`not_attempted` in `results`) unless
`flush_on_error`; a flush that raises (a capability error, or the task being cancelled) still
accounts for every key it was sent; with `stop_on_error` the first flush that does not fully
succeed raises `BatchFailed` and the writer closes.
"""

from __future__ import annotations

from types import TracebackType
from typing import Dict, List, Optional, Type

from ..errors import BatchFailed, attach_partial
from ..results import BatchResult, combine
from ..retry import RetryPolicy
from ..stats import ProgressCallback
from ..validation import check_key, check_value
from ..writer import Op, Writer
from .ops import AsyncBatchOps


class AsyncWriter:
    """Buffers writes to an `AsyncBucket` and sends them with `set_many`/`delete_many`."""

    def __init__(self, bucket: AsyncBatchOps, *, flush_at: int, flush_on_error: bool = False,
                 stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                 progress: Optional[ProgressCallback] = None) -> None:
        if not isinstance(flush_at, int) or flush_at < 1:
            raise ValueError(f"flush_at must be an int >= 1, got {flush_at!r}")
        self.bucket = bucket
        self.flush_at = flush_at
        self.flush_on_error = flush_on_error
        self.stop_on_error = stop_on_error
        self.retry = retry
        self.progress = progress
        self.closed = False
        self._buffer: Dict[str, Op] = {}
        self._flushes: List[BatchResult] = []
        self._discarded: List[BatchResult] = []

    @property
    def pending(self) -> int:
        """Distinct keys buffered, not yet sent."""
        return len(self._buffer)

    @property
    def flushes(self) -> tuple[BatchResult, ...]:
        """Each flush's result, in order."""
        return tuple(self._flushes)

    @property
    def results(self) -> BatchResult:
        """One outcome per key written through this writer (latest wins); discarded keys are `not_attempted`."""
        return combine([*self._flushes, *self._discarded], operation="writer")

    async def set(self, key: str, value: bytes) -> None:
        """Buffers a write of `value` at `key` (checked now); may flush."""
        key = check_key(key, max_key_bytes=self.bucket.max_key_bytes)
        data = check_value(key, value, max_value_bytes=self.bucket.max_value_bytes)
        await self._put(key, ("set", data))

    async def delete(self, key: str) -> None:
        """Buffers a delete of `key` (a missing key is not an error); may flush."""
        await self._put(check_key(key, max_key_bytes=self.bucket.max_key_bytes), ("delete", None))

    async def _put(self, key: str, op: Op) -> None:
        if self.closed:
            raise RuntimeError("this writer is closed: its block has exited (open a new one with bucket.writer())")
        self._buffer.pop(key, None)
        self._buffer[key] = op
        if len(self._buffer) >= self.flush_at:
            await self.flush()

    async def flush(self) -> BatchResult:
        """Sends everything buffered now; returns this flush's result (also kept in `results`)."""
        buffer, self._buffer = self._buffer, {}
        if not buffer:
            return BatchResult(operation="flush")
        sets = [(k, v) for k, (kind, v) in buffer.items() if kind == "set" and v is not None]
        deletes = [k for k, (kind, _) in buffer.items() if kind == "delete"]
        parts: List[BatchResult] = []
        try:
            if sets:
                parts.append(await self.bucket.set_many(sets, stop_on_error=self.stop_on_error, retry=self.retry,
                                                        progress=self.progress))
            if deletes:
                if self.stop_on_error and parts and not parts[0].all_succeeded:
                    parts.append(BatchResult(not_attempted=tuple(deletes)))
                else:
                    parts.append(await self.bucket.delete_many(deletes, stop_on_error=self.stop_on_error,
                                                               retry=self.retry, progress=self.progress))
        except BaseException as err:
            result = Writer._failed_flush(parts, [k for k, _ in sets], deletes, err)
            self._flushes.append(result)
            attach_partial(err, result)
            raise
        result = combine(parts, operation="flush")
        self._flushes.append(result)
        if self.stop_on_error and not result.all_succeeded:
            self._discard()
            self.closed = True
            raise BatchFailed(result)
        return result

    def _discard(self) -> None:
        if self._buffer:
            self._discarded.append(BatchResult(not_attempted=tuple(self._buffer), operation="discarded"))
        self._buffer = {}

    async def __aenter__(self) -> "AsyncWriter":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        if self.closed:
            return
        try:
            if exc_type is None or self.flush_on_error:
                await self.flush()
            else:
                self._discard()
        finally:
            self.closed = True


__all__ = ["AsyncWriter"]
