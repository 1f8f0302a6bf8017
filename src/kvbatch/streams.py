"""`WriteStream`: what `Bucket.iter_set_many` returns, a lazy stream of per-chunk results.

Every item the stream takes from the caller's iterable is accounted for, on every exit path:

* an item sent is answered in the result of its chunk (yielded, or the `partial` of the
  exception that ended the stream);
* an item taken but never sent (the one that did not fit in the chunk just written, or the
  items of a chunk that a bad item or the caller's iterator ended) is `not_attempted` in the
  last result or exception the stream gives, and listed in `unsent` with its value (after a
  `break`, `unsent` is the only place it can be: nothing more is yielded).
"""

from __future__ import annotations

from typing import Callable, Iterator, List, Optional, Tuple

from .errors import attach_partial
from .results import BatchResult, combine

Item = Tuple[str, bytes]


class WriteStream(Iterator[BatchResult]):
    """Takes `(key, value)` items lazily and writes them chunk by chunk: each `next()` fills a
    chunk (up to `size` items, and not past `limit` bytes of keys and values unless a single
    item does), writes it and returns its result.

    `take(raw, index)` checks one raw item (raising `ValidationError` naming `index`);
    `write(chunk, start)` writes a chunk whose first item has position `start`. With
    `stop_on_error`, the stream ends after the first result with a key that did not succeed.
    """

    def __init__(self, items: Iterator[Tuple[object, object]], take: Callable[[Tuple[object, object], int], Item],
                 write: Callable[[List[Item], int], BatchResult], size: int, limit: int, stop_on_error: bool) -> None:
        self._items = items
        self._take = take
        self._write = write
        self._size = size
        self._limit = limit
        self._stop_on_error = stop_on_error
        self._start = 0
        self._held: Optional[Item] = None  # taken, did not fit in the last chunk
        self._unsent: Tuple[Item, ...] = ()
        self._exhausted = False
        self._done = False

    @property
    def unsent(self) -> Tuple[Item, ...]:
        """The items taken from the caller's iterable and not sent, in the order taken: while
        the stream runs, the item held for the next chunk (if any); once it has stopped
        (`break`, `close()`, `stop_on_error`, an exception), every item it took and never sent."""
        if self._held is not None:
            return (*self._unsent, self._held)
        return self._unsent

    def __iter__(self) -> "WriteStream":
        return self

    def close(self) -> None:
        """Ends the stream: nothing more is taken or sent; `unsent` keeps what was taken."""
        self._done = True

    def __next__(self) -> BatchResult:
        if self._done:
            raise StopIteration
        chunk: List[Item] = []
        weight = 0
        if self._held is not None:
            chunk.append(self._held)
            weight = len(self._held[0]) + len(self._held[1])
            self._held = None
        try:
            while len(chunk) < self._size and not self._exhausted:
                try:
                    raw = next(self._items)
                except StopIteration:
                    self._exhausted = True
                    break
                item = self._take(raw, self._start + len(chunk))
                w = len(item[0]) + len(item[1])
                if chunk and weight + w > self._limit:
                    self._held = item
                    break
                chunk.append(item)
                weight += w
        except BaseException as err:  # a bad item, or the caller's iterator raised: the chunk was never sent
            self._stop(chunk)
            attach_partial(err, _not_attempted(chunk))
            raise
        if not chunk:
            self._done = True
            raise StopIteration
        try:
            result = self._write(chunk, self._start)
        except BaseException as err:
            held = self._stop([])
            partial = getattr(err, "partial", None)
            if held and isinstance(partial, BatchResult):
                attach_partial(err, combine([partial, _not_attempted(held)], operation=partial.operation))
            raise
        self._start += len(chunk)
        if self._stop_on_error and not result.all_succeeded:
            held = self._stop([])
            if held:
                result = combine([result, _not_attempted(held)], operation=result.operation)
        return result

    def _stop(self, taken: List[Item]) -> List[Item]:
        """Ends the stream with `taken` and the held item unsent; returns them."""
        unsent = [*taken, *([self._held] if self._held is not None else [])]
        self._unsent, self._held, self._done = tuple(unsent), None, True
        return unsent


def _not_attempted(items: List[Item]) -> BatchResult:
    return BatchResult(not_attempted=tuple(dict.fromkeys(key for key, _ in items)), operation="set_many")


__all__ = ["WriteStream"]
