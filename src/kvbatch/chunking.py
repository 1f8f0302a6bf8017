"""Splitting a batch into chunks by item count and, optionally, by bytes."""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, TypeVar

T = TypeVar("T")


def chunked(items: Sequence[T], size: int, max_bytes: Optional[int] = None,
            weight: Optional[Callable[[T], int]] = None) -> List[List[T]]:
    """`items` in order, cut into chunks of at most `size` items and, when `max_bytes` and
    `weight` are given, at most `max_bytes` of summed weight (an item heavier than that on
    its own forms a chunk alone)."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    if max_bytes is None or weight is None:
        return [list(items[i : i + size]) for i in range(0, len(items), size)]
    chunks: List[List[T]] = []
    current: List[T] = []
    current_bytes = 0
    for item in items:
        w = weight(item) if (weight is not None and max_bytes is not None) else 0
        full = len(current) >= size or (max_bytes is not None and current and current_bytes + w > max_bytes)
        if full:
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += w
    if current:
        chunks.append(current)
    return chunks


__all__ = ["chunked"]
