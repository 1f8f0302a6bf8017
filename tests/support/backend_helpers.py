"""Backends for tests that need to see what the host handed them."""

from __future__ import annotations

from collections.abc import Sequence

from kvbatch_host.backends import MemoryBackend, SqliteBackend


class RecordingBackend(MemoryBackend):
    """A memory backend that keeps every `set_many` batch it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[str, bytes]]] = []

    def set_many(self, store: str, items: Sequence[tuple[str, bytes]]) -> None:
        self.batches.append(list(items))
        super().set_many(store, items)


def write_range(path: str, start: int) -> None:
    """Writes keys `k<start>`..`k<start+199>` to the SQLite file at `path` and counts each in `counter`.

    A module-level function of an importable module, so a `spawn`ed process can run it."""
    b = SqliteBackend(path)
    for i in range(start, start + 200):
        b.set("s", f"k{i}", b"v")
        b.increment("s", "counter", 1)
    b.close()
