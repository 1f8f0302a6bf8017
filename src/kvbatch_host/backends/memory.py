"""The in-memory backend: a dict per store, gone when the process ends."""

from __future__ import annotations

import bisect
import threading
from typing import Dict, List, Optional, Sequence, Tuple

from kvbatch_host.backends.base import DEFAULT_PAGE_SIZE, Backend, decode_counter, encode_counter


class MemoryBackend(Backend):
    """Stores held in process memory; thread-safe."""

    atomic_batches = True

    def __init__(self, url: str = "memory:") -> None:
        self.url = url
        self._stores: Dict[str, Dict[str, bytes]] = {}
        self._lock = threading.RLock()

    def _store(self, store: str) -> Dict[str, bytes]:
        return self._stores.setdefault(store, {})

    def get(self, store: str, key: str) -> Optional[bytes]:
        return self._store(store).get(key)

    def set(self, store: str, key: str, value: bytes) -> None:
        with self._lock:
            self._store(store)[key] = bytes(value)

    def delete(self, store: str, key: str) -> None:
        with self._lock:
            self._store(store).pop(key, None)

    def exists(self, store: str, key: str) -> bool:
        return key in self._store(store)

    def get_many(self, store: str, keys: Sequence[str]) -> List[Optional[bytes]]:
        data = self._store(store)
        return [data.get(key) for key in keys]

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        with self._lock:
            self._store(store).update((key, bytes(value)) for key, value in items)

    def delete_many(self, store: str, keys: Sequence[str]) -> None:
        with self._lock:
            data = self._store(store)
            for key in keys:
                data.pop(key, None)

    def list_keys(self, store: str, after: Optional[str], limit: int = DEFAULT_PAGE_SIZE) -> Tuple[List[str], Optional[str]]:
        with self._lock:
            ordered = sorted(self._store(store))
        start = bisect.bisect_right(ordered, after) if after is not None else 0
        page = ordered[start : start + limit]
        more = start + limit < len(ordered)
        return page, (page[-1] if more and page else None)

    def increment(self, store: str, key: str, delta: int) -> int:
        with self._lock:
            value = decode_counter(self.get(store, key), key) + delta
            self.set(store, key, encode_counter(value))
            return value

    def compare_and_swap(self, store: str, key: str, expected: Optional[bytes], value: bytes) -> bool:
        with self._lock:
            if self.get(store, key) != expected:
                return False
            self.set(store, key, value)
            return True
