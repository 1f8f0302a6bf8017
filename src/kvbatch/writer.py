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
from typing import Dict, List, Literal, Optional, Tuple, Type

from .errors import BatchFailed, attach_partial
from .results import BatchResult, combine
from .ops import BatchOps
from .retry import RetryPolicy
from .stats import ProgressCallback
from .validation import check_key, check_value

Op = Tuple[Literal["set", "delete"], Optional[bytes]]


class Writer:
    """Buffers writes to a `Bucket` and sends them with `set_many`/`delete_many`."""

    def __init__(self, bucket: BatchOps, *, flush_at: int, flush_bytes: int, flush_on_error: bool = False,
                 stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                 progress: Optional[ProgressCallback] = None) -> None:
        if flush_at < 1:
            raise ValueError(f"flush_at must be >= 1, got {flush_at}")
        if flush_bytes < 1:
            raise ValueError(f"flush_bytes must be >= 1, got {flush_bytes}")
        self.bucket = bucket
        self.flush_at = flush_at
        self.flush_bytes = flush_bytes
        self.flush_on_error = flush_on_error
        self.stop_on_error = stop_on_error
        self.retry = retry
        self.progress = progress
        self.closed = False
        self._buffer: Dict[str, Op] = {}
        self._bytes = 0
        self._flushes: List[BatchResult] = []
        self._discarded: List[BatchResult] = []

    @property
    def pending(self) -> int:
        """Distinct keys buffered, not yet sent."""
        return len(self._buffer)

    @property
    def flushes(self) -> Tuple[BatchResult, ...]:
        """Each flush's result, in order."""
        return tuple(self._flushes)

    @property
    def results(self) -> BatchResult:
        """One outcome per key written through this writer: its latest operation's (discarded
        ones `not_attempted`), with `earlier` holding the last flushed outcome of each key whose
        latest operation did not succeed (see the module's docstring)."""
        return combine([*self._flushes, *self._discarded], operation="writer")

    def set(self, key: str, value: bytes) -> None:
        """Buffers a write of `value` at `key` (checked now); may flush."""
        key = check_key(key, max_key_bytes=self.bucket.max_key_bytes)
        data = check_value(key, value, max_value_bytes=self.bucket.max_value_bytes)
        self._put(key, ("set", data))

    def delete(self, key: str) -> None:
        """Buffers a delete of `key` (a missing key is not an error); may flush."""
        self._put(check_key(key, max_key_bytes=self.bucket.max_key_bytes), ("delete", None))

    def _put(self, key: str, op: Op) -> None:
        if self.closed:
            raise RuntimeError("this writer is closed: its block has exited (open a new one with bucket.writer())")
        previous = self._buffer.pop(key, None)
        if previous is not None and previous[1] is not None:
            self._bytes -= len(previous[1])
        self._buffer[key] = op
        self._bytes += len(op[1]) if op[1] is not None else 0
        if len(self._buffer) >= self.flush_at or self._bytes >= self.flush_bytes:
            self.flush()

    def flush(self) -> BatchResult:
        """Sends everything buffered now; returns this flush's result (also kept in `results`)."""
        buffer, self._buffer, self._bytes = self._buffer, {}, 0
        if not buffer:
            return BatchResult(operation="flush")
        sets = [(k, v) for k, (kind, v) in buffer.items() if kind == "set" and v is not None]
        deletes = [k for k, (kind, _) in buffer.items() if kind == "delete"]
        parts: List[BatchResult] = []
        try:
            if sets:
                parts.append(self.bucket.set_many(sets, stop_on_error=self.stop_on_error, retry=self.retry,
                                                  progress=self.progress))
            if deletes:
                if self.stop_on_error and parts and not parts[0].all_succeeded:
                    parts.append(BatchResult(not_attempted=tuple(deletes)))
                else:
                    parts.append(self.bucket.delete_many(deletes, stop_on_error=self.stop_on_error, retry=self.retry,
                                                         progress=self.progress))
        except BaseException as err:
            result = self._failed_flush(parts, [k for k, _ in sets], deletes, err)
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

    @staticmethod
    def _failed_flush(parts: List[BatchResult], sets: List[str], deletes: List[str], err: BaseException) -> BatchResult:
        """The result of a flush that raised `err` after `parts` completed: the operation in
        flight as its exception's `partial` says (its keys `unknown` if it says nothing),
        the operation after it `not_attempted`."""
        in_flight, later = (sets, deletes) if sets and not parts else (deletes, [])
        partial = getattr(err, "partial", None)
        if isinstance(partial, BatchResult) and set(partial.order) == set(in_flight):
            parts.append(partial)
        else:
            parts.append(BatchResult(unknown=tuple(in_flight)))
        if later:
            parts.append(BatchResult(not_attempted=tuple(later)))
        return combine(parts, operation="flush")

    def _discard(self) -> None:
        if self._buffer:
            self._discarded.append(BatchResult(not_attempted=tuple(self._buffer), operation="discarded"))
        self._buffer, self._bytes = {}, 0

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self.closed:
            return
        try:
            if exc_type is None or self.flush_on_error:
                self.flush()
            else:
                self._discard()
        finally:
            self.closed = True


__all__ = ["Writer"]
