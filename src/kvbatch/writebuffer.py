"""The accounting both buffered writers share (`kvbatch.writer.Writer`, `kvbatch.aio.AsyncWriter`):
operations buffered per key, each flush's result, the keys discarded, and what `results` says."""

from __future__ import annotations

from typing import Dict, List, Literal, Optional, Sequence, Tuple

from .errors import BatchFailed, attach_partial
from .results import BatchResult, combine
from .retry import RetryPolicy
from .stats import ProgressCallback

Op = Tuple[Literal["set", "delete"], Optional[bytes]]
"""A buffered operation: `("set", value)` or `("delete", None)`."""


def check_bounds(flush_at: int, flush_bytes: Optional[int] = None) -> None:
    """`ValueError` naming the bound unless `flush_at` (and `flush_bytes`, if given) is an int >= 1."""
    if not isinstance(flush_at, int) or flush_at < 1:
        raise ValueError(f"flush_at must be an int >= 1, got {flush_at!r}")
    if flush_bytes is not None and (not isinstance(flush_bytes, int) or flush_bytes < 1):
        raise ValueError(f"flush_bytes must be an int >= 1, got {flush_bytes!r}")


class WriteBuffer:
    """Operations buffered per key (a later one replaces the earlier: last write wins) until a
    flush takes them, and the outcome of every key that went through: flushed or discarded."""

    def __init__(self) -> None:
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
        """One outcome per key: its latest operation's (discarded ones `not_attempted`), with
        `earlier` holding the last flushed outcome of each key whose latest operation did not succeed."""
        return combine([*self._flushes, *self._discarded], operation="writer")

    def put(self, key: str, op: Op) -> None:
        """Buffers `op` for `key`, replacing a buffered one. `RuntimeError` once the writer is closed."""
        if self.closed:
            raise RuntimeError("this writer is closed: its block has exited (open a new one with bucket.writer())")
        previous = self._buffer.pop(key, None)
        if previous is not None and previous[1] is not None:
            self._bytes -= len(previous[1])
        self._buffer[key] = op
        self._bytes += len(op[1]) if op[1] is not None else 0

    def due(self, flush_at: int, flush_bytes: Optional[int] = None) -> bool:
        """True when a flush is due: `flush_at` keys, or `flush_bytes` of values, buffered."""
        return len(self._buffer) >= flush_at or (flush_bytes is not None and self._bytes >= flush_bytes)

    def take(self) -> Tuple[List[Tuple[str, bytes]], List[str]]:
        """Empties the buffer into what a flush sends: the sets, then the deletes, in buffer order."""
        buffer, self._buffer, self._bytes = self._buffer, {}, 0
        sets = [(k, v) for k, (kind, v) in buffer.items() if kind == "set" and v is not None]
        deletes = [k for k, (kind, _) in buffer.items() if kind == "delete"]
        return sets, deletes

    @staticmethod
    def deletes_skipped(stop_on_error: bool, parts: Sequence[BatchResult], deletes: List[str]) -> Optional[BatchResult]:
        """With `stop_on_error`, the deletes of a flush whose sets did not all succeed are not sent:
        their result (`not_attempted`); else None (send them)."""
        if stop_on_error and parts and not parts[0].all_succeeded:
            return BatchResult(not_attempted=tuple(deletes))
        return None

    def flushed(self, parts: List[BatchResult], *, stop_on_error: bool) -> BatchResult:
        """Keeps the result of a flush whose operations returned `parts`; with `stop_on_error` and
        a key that did not succeed, discards what is left, closes and raises `BatchFailed`."""
        result = combine(parts, operation="flush")
        self._flushes.append(result)
        if stop_on_error and not result.all_succeeded:
            self.discard()
            self.closed = True
            raise BatchFailed(result)
        return result

    def failed(self, parts: List[BatchResult], sets: List[Tuple[str, bytes]], deletes: List[str], err: BaseException) -> None:
        """Keeps the result of a flush that raised `err` after `parts` completed, and attaches it to
        `err` as `partial`: the operation in flight as its exception's `partial` says (its keys
        `unknown` if it says nothing), the operation after it `not_attempted`."""
        set_keys = [k for k, _ in sets]
        in_flight, later = (set_keys, deletes) if set_keys and not parts else (deletes, [])
        partial = getattr(err, "partial", None)
        if isinstance(partial, BatchResult) and set(partial.order) == set(in_flight):
            parts.append(partial)
        else:
            parts.append(BatchResult(unknown=tuple(in_flight)))
        if later:
            parts.append(BatchResult(not_attempted=tuple(later)))
        result = combine(parts, operation="flush")
        self._flushes.append(result)
        attach_partial(err, result)

    def discard(self) -> None:
        """Drops what is buffered; its keys are `not_attempted` in `results`."""
        if self._buffer:
            self._discarded.append(BatchResult(not_attempted=tuple(self._buffer), operation="discarded"))
        self._buffer, self._bytes = {}, 0

    def exit_flushes(self, exc_type: Optional[type], flush_on_error: bool) -> bool:
        """At the end of the writer's block: True to flush what is left (a normal exit, or
        `flush_on_error`); else discards it. False as well once the writer is closed."""
        if self.closed:
            return False
        if exc_type is None or flush_on_error:
            return True
        self.discard()
        return False


class BufferedWriter:
    """What both writers are besides how they send: their settings (`flush_bytes` None: no byte
    bound) and, from their `WriteBuffer`, `closed`, `pending`, `flushes` and `results`."""

    def __init__(self, *, flush_at: int, flush_bytes: Optional[int], flush_on_error: bool, stop_on_error: bool,
                 retry: Optional[RetryPolicy], progress: Optional[ProgressCallback]) -> None:
        check_bounds(flush_at, flush_bytes)
        self._buffer = WriteBuffer()
        self.flush_at = flush_at
        self.flush_bytes = flush_bytes
        self.flush_on_error = flush_on_error
        self.stop_on_error = stop_on_error
        self.retry = retry
        self.progress = progress

    @property
    def closed(self) -> bool:
        """True once the block has exited (or a `stop_on_error` flush raised): no more writes."""
        return self._buffer.closed

    @property
    def pending(self) -> int:
        """Distinct keys buffered, not yet sent."""
        return self._buffer.pending

    @property
    def flushes(self) -> Tuple[BatchResult, ...]:
        """Each flush's result, in order."""
        return self._buffer.flushes

    @property
    def results(self) -> BatchResult:
        """One outcome per key written through this writer: its latest operation's (discarded
        ones `not_attempted`), with `earlier` holding the last flushed outcome of each key whose
        latest operation did not succeed."""
        return self._buffer.results

    def _due(self) -> bool:
        return self._buffer.due(self.flush_at, self.flush_bytes)


__all__ = ["BufferedWriter", "Op", "WriteBuffer", "check_bounds"]
