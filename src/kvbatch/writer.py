"""The buffered writer: `set`/`delete` collected and sent in batches.

    with bucket.writer(flush_at=500) as w:
        for row in rows:
            w.set(row.key, row.encode())
        w.delete("stale")
    w.results.raise_for_failures()

* Operations are buffered per key: a later `set` or `delete` of a buffered key replaces the
  earlier one (last write wins), so each flush sends each key once.
* The buffer is flushed when it holds `flush_at` keys or `flush_bytes` of values, when
  `flush()` is called, and when the block exits normally.
* **On an exception inside the block the unflushed operations are discarded** (reported
  `not_attempted` in `results`): a block that failed half-way should not have its
  half-built writes sent. Writes that flushed before the exception stay written (a
  key-value store has no rollback). Pass `flush_on_error=True` to flush them anyway.
* A flush that raises (a capability error, or any exception from the bucket) still accounts
  for every key it was sent: the exception's `partial` and `results` hold them (the keys of
  the operation in flight as far as it got, the rest `not_attempted`).
* `results` combines every flush: one outcome per key, that of the key's latest operation
  (so `succeeded` means the key holds the last value given for it). A key whose latest
  operation did not succeed (discarded, failed, unknown) after an earlier flush sent it also
  has that flush's outcome in `results.earlier`: `{'k': 'not_attempted'}` with
  `results.earlier.outcome('k') == 'succeeded'` says the last write of `k` was discarded and
  the store holds the one flushed before it. Failures are reported there, not raised, unless `stop_on_error`
  is set: then the first flush that does not fully succeed raises `BatchFailed` and the
  writer discards what is left and closes.
"""

from __future__ import annotations

from types import TracebackType
from typing import List, Optional, Type

from .ops import BatchOps
from .results import BatchResult
from .retry import RetryPolicy
from .stats import ProgressCallback
from .validation import check_key, check_value
from .writebuffer import BufferedWriter, Op, WriteBuffer


class Writer(BufferedWriter):
    """Buffers writes to a `Bucket` and sends them with `set_many`/`delete_many`."""

    def __init__(self, bucket: BatchOps, *, flush_at: int, flush_bytes: int, flush_on_error: bool = False,
                 stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                 progress: Optional[ProgressCallback] = None) -> None:
        super().__init__(flush_at=flush_at, flush_bytes=flush_bytes, flush_on_error=flush_on_error,
                         stop_on_error=stop_on_error, retry=retry, progress=progress)
        self.bucket = bucket

    def set(self, key: str, value: bytes) -> None:
        """Buffers a write of `value` at `key` (checked now); may flush."""
        key = check_key(key, max_key_bytes=self.bucket.max_key_bytes)
        data = check_value(key, value, max_value_bytes=self.bucket.max_value_bytes)
        self._put(key, ("set", data))

    def delete(self, key: str) -> None:
        """Buffers a delete of `key` (a missing key is not an error); may flush."""
        self._put(check_key(key, max_key_bytes=self.bucket.max_key_bytes), ("delete", None))

    def _put(self, key: str, op: Op) -> None:
        self._buffer.put(key, op)
        if self._due():
            self.flush()

    def flush(self) -> BatchResult:
        """Sends everything buffered now; returns this flush's result (also kept in `results`)."""
        sets, deletes = self._buffer.take()
        if not sets and not deletes:
            return BatchResult(operation="flush")
        parts: List[BatchResult] = []
        try:
            if sets:
                parts.append(self.bucket.set_many(sets, stop_on_error=self.stop_on_error, retry=self.retry,
                                                  progress=self.progress))
            if deletes:
                skipped = WriteBuffer.deletes_skipped(self.stop_on_error, parts, deletes)
                parts.append(skipped if skipped is not None else self.bucket.delete_many(
                    deletes, stop_on_error=self.stop_on_error, retry=self.retry, progress=self.progress))
        except BaseException as err:
            self._buffer.failed(parts, sets, deletes, err)
            raise
        return self._buffer.flushed(parts, stop_on_error=self.stop_on_error)

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            if self._buffer.exit_flushes(exc_type, self.flush_on_error):
                self.flush()
        finally:
            self._buffer.closed = True


__all__ = ["Writer"]
