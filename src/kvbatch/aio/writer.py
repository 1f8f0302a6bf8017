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
succeed raises `BatchFailed` and the writer closes. `results` is the sync writer's too: each key's
latest outcome, with `earlier` for a key whose latest operation did not succeed after a flush sent it.
"""

from __future__ import annotations

from types import TracebackType
from typing import List, Optional, Type

from ..results import BatchResult
from ..retry import RetryPolicy
from ..stats import ProgressCallback
from ..validation import check_key, check_value
from ..writebuffer import BufferedWriter, Op, WriteBuffer
from .ops import AsyncBatchOps


class AsyncWriter(BufferedWriter):
    """Buffers writes to an `AsyncBucket` and sends them with `set_many`/`delete_many`."""

    def __init__(self, bucket: AsyncBatchOps, *, flush_at: int, flush_on_error: bool = False,
                 stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                 progress: Optional[ProgressCallback] = None) -> None:
        super().__init__(flush_at=flush_at, flush_bytes=None, flush_on_error=flush_on_error,
                         stop_on_error=stop_on_error, retry=retry, progress=progress)
        self.bucket = bucket

    async def set(self, key: str, value: bytes) -> None:
        """Buffers a write of `value` at `key` (checked now); may flush."""
        key = check_key(key, max_key_bytes=self.bucket.max_key_bytes)
        data = check_value(key, value, max_value_bytes=self.bucket.max_value_bytes)
        await self._put(key, ("set", data))

    async def delete(self, key: str) -> None:
        """Buffers a delete of `key` (a missing key is not an error); may flush."""
        await self._put(check_key(key, max_key_bytes=self.bucket.max_key_bytes), ("delete", None))

    async def _put(self, key: str, op: Op) -> None:
        self._buffer.put(key, op)
        if self._due():
            await self.flush()

    async def flush(self) -> BatchResult:
        """Sends everything buffered now; returns this flush's result (also kept in `results`)."""
        sets, deletes = self._buffer.take()
        if not sets and not deletes:
            return BatchResult(operation="flush")
        parts: List[BatchResult] = []
        try:
            if sets:
                parts.append(await self.bucket.set_many(sets, stop_on_error=self.stop_on_error, retry=self.retry,
                                                        progress=self.progress))
            if deletes:
                skipped = WriteBuffer.deletes_skipped(self.stop_on_error, parts, deletes)
                parts.append(skipped if skipped is not None else await self.bucket.delete_many(
                    deletes, stop_on_error=self.stop_on_error, retry=self.retry, progress=self.progress))
        except BaseException as err:
            self._buffer.failed(parts, sets, deletes, err)
            raise
        return self._buffer.flushed(parts, stop_on_error=self.stop_on_error)

    async def __aenter__(self) -> "AsyncWriter":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        try:
            if self._buffer.exit_flushes(exc_type, self.flush_on_error):
                await self.flush()
        finally:
            self._buffer.closed = True


__all__ = ["AsyncWriter"]
