"""`BatchOps`: the batch operations the writer and the builder are written against.

`Bucket` implements it. The writer and the builder depend on this protocol, not on `Bucket`,
so the layers stay one-way: `bucket` imports `writer` and `builder`, never the reverse.
"""

from __future__ import annotations

from typing import Iterable, Literal, Optional, Protocol

from .results import BatchResult, GetResult
from .retry import RetryPolicy
from .stats import ProgressCallback
from .validation import Items


class BatchOps(Protocol):
    """Per-key batch operations with the key and value limits they enforce (see `Bucket`)."""

    max_key_bytes: int
    max_value_bytes: int

    def get_many(self, keys: Iterable[str], *, chunk_size: Optional[int] = None, stop_on_error: bool = False,
                 retry: Optional[RetryPolicy] = None, progress: Optional[ProgressCallback] = None,
                 raise_on_error: bool = False) -> GetResult: ...

    def set_many(self, items: Items, *, only_if: Optional[Literal["absent", "present"]] = None,
                 chunk_size: Optional[int] = None, chunk_bytes: Optional[int] = None,
                 stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                 progress: Optional[ProgressCallback] = None, verify: Optional[bool] = None) -> BatchResult: ...

    def delete_many(self, keys: Iterable[str], *, missing_ok: bool = True, chunk_size: Optional[int] = None,
                    stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                    progress: Optional[ProgressCallback] = None, verify: Optional[bool] = None) -> BatchResult: ...


__all__ = ["BatchOps"]
