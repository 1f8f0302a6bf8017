"""The settings both buckets (`kvbatch.Bucket`, `kvbatch.aio.AsyncBucket`) hold, checked in one place."""

from __future__ import annotations

from typing import Callable, Optional

from .retry import DEFAULT_RETRY, RetryPolicy
from .stats import Stats


def check_chunking(chunk_size: int, chunk_bytes: int = 1) -> None:
    """`ValueError` naming the setting unless `chunk_size` and `chunk_bytes` are ints >= 1."""
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    if not isinstance(chunk_bytes, int) or chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be an int >= 1, got {chunk_bytes!r}")


def check_concurrency(value: object) -> None:
    """`ValueError` unless `value` is an int >= 1 (a bool is not)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"max_concurrency must be an int >= 1 (1: one store call at a time), got {value!r}")


class BucketSettings:
    """What every bucket holds besides its store: the defaults of each operation (`chunk_size`,
    `retry`, `verify`), the limits keys and values are checked against before anything is sent,
    the statistics of its work and its clock. `ValueError` for a chunk size below 1."""

    def __init__(self, *, chunk_size: int, retry: Optional[RetryPolicy], verify: bool, max_key_bytes: int,
                 max_value_bytes: int, max_keys_per_call: int, clock: Callable[[], float]) -> None:
        check_chunking(chunk_size)
        self.chunk_size = chunk_size
        self.retry = retry if retry is not None else DEFAULT_RETRY
        self.verify = verify
        self.max_key_bytes = max_key_bytes
        self.max_value_bytes = max_value_bytes
        self.max_keys_per_call = max_keys_per_call
        self.stats = Stats()
        self._clock = clock


__all__ = ["BucketSettings", "check_chunking", "check_concurrency"]
