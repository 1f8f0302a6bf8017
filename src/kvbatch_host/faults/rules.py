"""A fault rule: which backend operations it matches and what happens to them (the fields are
listed in `kvbatch_host.faults`), and the limits and defaults of its fields. The bottom of
`faults/`: the parser builds rules, the plan holds them."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import FrozenSet, Iterable, List, Optional, Tuple

from kvbatch_host.errors import ConfigError

OPERATIONS = ("get", "set", "delete", "exists", "list-keys", "increment", "cas")
"""Backend operations a rule can match (`cas` is the compare-and-swap of `atomics.swap`)."""

FIELDS = ("op", "key", "store", "batch", "position", "nth", "times", "error", "in-doubt", "trap", "latency")
MAX_LATENCY_MS = 60_000.0
DEFAULT_MESSAGE = "injected fault"
DEFAULT_TRAP = "injected host trap"


class FaultPlanError(ConfigError):
    """A fault plan is malformed; the message names the rule, the field and what is expected."""


MAX_RULE_POSITIONS = 1_000_000
"""Most positions one rule may name, over all its ranges (a batch call has at most 100,000 keys)."""


@dataclass(frozen=True)
class PositionSet:
    """The positions a rule matches, as sorted, merged, inclusive `(low, high)` ranges (never
    materialised: `position=0-999999` costs one tuple)."""

    ranges: Tuple[Tuple[int, int], ...]

    def __contains__(self, position: object) -> bool:
        if not isinstance(position, int):
            return False
        return any(low <= position <= high for low, high in self.ranges)

    def __len__(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)

    @classmethod
    def of(cls, ranges: Iterable[Tuple[int, int]]) -> "PositionSet":
        merged: List[Tuple[int, int]] = []
        for low, high in sorted(ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return cls(tuple(merged))


@dataclass(frozen=True)
class FaultRule:
    """One rule of a plan: what it matches and what it does. Build with `parse_rule`/`rule_from_mapping`."""

    ops: Optional[FrozenSet[str]] = None
    key: Optional[str] = None
    store: Optional[str] = None
    batch: Optional[str] = None
    positions: Optional[PositionSet] = None
    nth: Optional[int] = None
    times: Optional[int] = None
    error: Optional[Tuple[str, str]] = None
    in_doubt: bool = False
    trap: Optional[str] = None
    latency_ms: float = 0.0
    source: str = ""

    @property
    def effect(self) -> str:
        if self.trap is not None:
            return "trap"
        if self.error is not None:
            return "in-doubt" if self.in_doubt else "error"
        return "latency"

    def matches(self, op: str, store: str, key: Optional[str], batch_op: Optional[str], position: Optional[int]) -> bool:
        if self.ops is not None and op not in self.ops:
            return False
        if self.store is not None and not fnmatch.fnmatchcase(store, self.store):
            return False
        if self.key is not None and (key is None or not any(fnmatch.fnmatchcase(key, alt) for alt in self.key.split("|"))):
            return False
        if self.batch is not None and (batch_op or "none") != self.batch:
            return False
        if self.positions is not None and (position is None or position not in self.positions):
            return False
        return True

    def could_match_op(self, op: str) -> bool:
        return self.ops is None or op in self.ops

    def describe(self) -> str:
        return self.source or repr(self)


__all__ = ["DEFAULT_MESSAGE", "DEFAULT_TRAP", "FIELDS", "FaultPlanError", "FaultRule", "MAX_LATENCY_MS", "MAX_RULE_POSITIONS", "OPERATIONS", "PositionSet"]
