"""Retrying transient errors with exponential backoff and jitter, bounded by attempts and time.

A retry re-sends only the keys that have not succeeded. Only errors `retry_on` accepts are
retried: by default `StoreError` (`error::other`), never the capability errors, which are
raised at once.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from .errors import CapabilityError, KvError, StoreError

_shared_rng: Optional[random.Random] = None


def _default_rng() -> random.Random:
    """The jitter source when a policy names none, created on first use.

    Created lazily rather than at import: inside a component the import happens while
    componentize-py pre-initializes the app at build time, and a generator seeded then would
    replay the same "random" delays in every instance, defeating the jitter.
    """
    global _shared_rng
    if _shared_rng is None:
        _shared_rng = random.Random()
    return _shared_rng


def is_transient(error: KvError) -> bool:
    """The default `retry_on`: `StoreError` is worth retrying; capability errors are not."""
    return isinstance(error, StoreError) and not isinstance(error, CapabilityError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    `attempts` counts the first try: `attempts=1` never retries. Before retry number `n`
    (1, 2, ...) it sleeps `min(max_delay, base_delay * multiplier ** (n - 1))`, reduced by a
    random fraction of up to `jitter` (0: exact delays; 1: "full jitter", anywhere from 0 to
    the full delay). No retry starts once `budget` seconds (measured with `clock` from the
    start of the operation) would be exceeded by its delay; `budget=None` means no time bound.
    Every number is checked at construction (finite, in range), so a policy never fails
    half-way through a batch. `sleep`, `clock` and `rng` are injectable, so tests run without waiting (`rng=None`: a
    shared generator seeded at first use).
    """

    attempts: int = 3
    base_delay: float = 0.05
    max_delay: float = 2.0
    budget: Optional[float] = 10.0
    jitter: float = 0.5
    multiplier: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    retry_on: Callable[[KvError], bool] = is_transient
    rng: Optional[random.Random] = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool) or self.attempts < 1:
            raise ValueError(f"attempts must be an int >= 1 (1 means no retry), got {self.attempts!r}")
        for name in ("base_delay", "max_delay", "budget", "jitter", "multiplier"):
            value = getattr(self, name)
            if name == "budget" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number{' or None' if name == 'budget' else ''}, got {value!r}")
        for name in ("base_delay", "max_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        if self.budget is not None and self.budget < 0:
            raise ValueError(f"budget must be >= 0 seconds or None, got {self.budget!r}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if self.multiplier < 1.0:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")
        for name in ("sleep", "clock", "retry_on"):
            if not callable(getattr(self, name)):
                raise ValueError(f"{name} must be callable, got {getattr(self, name)!r}")

    def backoff(self, retry: int) -> float:
        """The delay before retry number `retry` (1-based), before jitter; never above `max_delay`
        (a growth that would overflow a float is `max_delay`)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        try:
            grown = self.base_delay * self.multiplier ** (retry - 1)
        except OverflowError:
            return float(self.max_delay)
        return float(min(self.max_delay, grown))

    def delay(self, retry: int) -> float:
        """The delay before retry number `retry` (1-based), jitter applied."""
        full = self.backoff(retry)
        if not self.jitter:
            return full
        rng = self.rng if self.rng is not None else _default_rng()
        return full * (1.0 - self.jitter * rng.random())

    def should_retry(self, error: KvError) -> bool:
        return self.retry_on(error)


NO_RETRY = RetryPolicy(attempts=1)
"""Try once; report failures without retrying."""

DEFAULT_RETRY = RetryPolicy()
"""What a `Bucket` uses unless told otherwise: 3 attempts, 50 ms doubling to 2 s, 10 s budget."""

__all__ = ["DEFAULT_RETRY", "NO_RETRY", "RetryPolicy", "is_transient"]
