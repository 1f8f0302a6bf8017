"""What a bucket did: host calls, chunks, retries, time; and the progress reported per chunk."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Callable, NamedTuple

if TYPE_CHECKING:
    from .errors import KvError


@dataclass
class Stats:
    """Counters of the work behind batch operations (cumulative on `Bucket.stats`; one
    operation's on each result's `stats`)."""

    calls: int = 0
    """Host calls made (batch and single-key)."""
    batch_calls: int = 0
    """Of `calls`, how many were `get-many`/`set-many`/`delete-many`."""
    chunks: int = 0
    """Chunks processed."""
    retries: int = 0
    """Retry rounds started after a backoff (each re-sends only the keys not yet settled)."""
    attributed: int = 0
    """Single-key calls made to find out which keys an opaque batch error hit."""
    verified: int = 0
    """Read-backs made to settle a write whose last attempt returned an error."""
    elapsed: float = 0.0
    """Seconds spent in kvbatch operations, sleeping between retries included."""

    def add(self, other: "Stats") -> None:
        """Adds `other`'s counters to these."""
        self.calls += other.calls
        self.batch_calls += other.batch_calls
        self.chunks += other.chunks
        self.retries += other.retries
        self.attributed += other.attributed
        self.verified += other.verified
        self.elapsed += other.elapsed

    def copy(self) -> "Stats":
        return replace(self)

    def reset(self) -> None:
        """Sets every counter back to zero."""
        for f in fields(self):
            setattr(self, f.name, type(getattr(self, f.name))())


class Progress(NamedTuple):
    """Reported after each chunk: keys `done` of `total`, and how many so far `succeeded`,
    `failed` and are `unknown` (written or not: the store could not tell)."""

    done: int
    total: int
    succeeded: int
    failed: int
    unknown: int = 0


ProgressCallback = Callable[[Progress], None]

ErrorCallback = Callable[[str, int, "KvError"], None]
"""`on_error(key, index, error)`: called once for each key that ends `failed` or `unknown`, in
input order, as soon as its outcome is final; `index` is the key's (first) position in the input."""

__all__ = ["ErrorCallback", "Progress", "ProgressCallback", "Stats"]
