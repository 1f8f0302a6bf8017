"""The backend interface every store implementation provides to the harness."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, List, Optional, Sequence, Tuple

DEFAULT_PAGE_SIZE = 1000
"""Keys returned by one `list-keys` call when the caller does not say."""


class Backend(ABC):
    """A key-value backend holding any number of named stores (`wasi:keyvalue` buckets).

    Every method acts on one store, named by `store`. Errors are raised as
    `kvbatch_host.errors.HostKvError` (`other` for I/O failures). Batch methods have
    per-key defaults; backends override them with native multi-key commands, keeping
    the batch semantics (duplicates: last value wins, deleted once).
    """

    url: str = ""

    atomic_batches: bool = False
    """Whether a failed `set_many`/`delete_many` is known to have changed nothing (one transaction
    or command), so the fault layer logs its keys `applied=False` instead of unknown (`None`)."""

    @abstractmethod
    def get(self, store: str, key: str) -> Optional[bytes]: ...

    @abstractmethod
    def set(self, store: str, key: str, value: bytes) -> None: ...

    @abstractmethod
    def delete(self, store: str, key: str) -> None:
        """Deletes `key`; a missing key is not an error."""

    def exists(self, store: str, key: str) -> bool:
        return self.get(store, key) is not None

    @abstractmethod
    def list_keys(self, store: str, after: Optional[str], limit: int = DEFAULT_PAGE_SIZE) -> Tuple[List[str], Optional[str]]:
        """Returns up to `limit` keys greater than `after` in sorted order, and the cursor
        for the next page (the last key returned), or `None` when there are no more."""

    def get_many(self, store: str, keys: Sequence[str]) -> List[Optional[bytes]]:
        return [self.get(store, key) for key in keys]

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        for key, value in dict(items).items():
            self.set(store, key, value)

    def delete_many(self, store: str, keys: Sequence[str]) -> None:
        for key in dict.fromkeys(keys):
            self.delete(store, key)

    def increment(self, store: str, key: str, delta: int) -> int:
        """Adds `delta` to the integer at `key` (missing counts as 0) atomically; returns the sum."""
        raise NotImplementedError

    def compare_and_swap(self, store: str, key: str, expected: Optional[bytes], value: bytes) -> bool:
        """Writes `value` only if `key` still holds `expected` (`None`: absent); says whether it did."""
        raise NotImplementedError

    def all_items(self, store: str) -> Iterable[Tuple[str, bytes]]:
        """Every pair in `store`, in key order (for tests, export and inspection)."""
        after: Optional[str] = None
        while True:
            keys, after = self.list_keys(store, after)
            for key, value in zip(keys, self.get_many(store, keys)):
                if value is not None:
                    yield key, value
            if after is None:
                return

    def close(self) -> None:
        """Releases connections and files."""


def encode_counter(value: int) -> bytes:
    """The stored form of an `increment` counter: its decimal digits, as Spin's Redis and SQLite keep them."""
    return str(value).encode()


def decode_counter(raw: Optional[bytes], key: str) -> int:
    from kvbatch_host.errors import HostKvError

    if raw is None:
        return 0
    try:
        return int(raw.decode())
    except (UnicodeDecodeError, ValueError):
        raise HostKvError("other", f"value at {key!r} is not an integer counter") from None
