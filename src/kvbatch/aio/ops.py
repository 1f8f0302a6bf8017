"""`AsyncBatchOps`: the async batch operations the async writer and builder are written against.

`AsyncBucket` implements it; the writer and the builder depend on this protocol, not on
`AsyncBucket`, so the layers stay one-way (`bucket` imports `writer` and `builder`).
"""

from __future__ import annotations

from typing import Iterable, Literal, Optional, Protocol

from ..results import BatchResult, GetResult
from ..retry import RetryPolicy
from ..stats import ProgressCallback
from ..validation import Items


class AsyncBatchOps(Protocol):
    """Per-key async batch operations with the key and value limits they enforce."""

    max_key_bytes: int
    max_value_bytes: int

    def check_condition(self, only_if: Optional[Literal["absent", "present"]], operation: str = ...) -> None: ...

    async def get_many(self, keys: Iterable[str], *, stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                       progress: Optional[ProgressCallback] = None) -> GetResult: ...

    async def set_many(self, items: Items, *, only_if: Optional[Literal["absent", "present"]] = None,
                       stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                       progress: Optional[ProgressCallback] = None) -> BatchResult: ...

    async def delete_many(self, keys: Iterable[str], *, stop_on_error: bool = False,
                          retry: Optional[RetryPolicy] = None,
                          progress: Optional[ProgressCallback] = None) -> BatchResult: ...


__all__ = ["AsyncBatchOps"]
