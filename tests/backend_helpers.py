"""Backends for tests that need to see what the host handed them."""

from __future__ import annotations

from typing import List, Sequence, Tuple

from kvbatch_host.backends import MemoryBackend


class RecordingBackend(MemoryBackend):
    """A memory backend that keeps every `set_many` batch it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: List[List[Tuple[str, bytes]]] = []

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        self.batches.append(list(items))
        super().set_many(store, items)
