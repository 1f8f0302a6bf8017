"""The fault plan: an ordered list of rules (`kvbatch_host.faults.rules`), read from command-line
strings, a JSON or TOML file, or decoded data by `kvbatch_host.faults.parser`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Tuple

from kvbatch_host.faults.parser import load_rules, parse_rule, rules_from_data
from kvbatch_host.faults.rules import FaultRule


@dataclass(frozen=True)
class FaultPlan:
    """An ordered list of rules; every rule that fires adds its latency, the first error/trap wins."""

    rules: Tuple[FaultRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __add__(self, other: "FaultPlan") -> "FaultPlan":
        return FaultPlan(self.rules + other.rules)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> "FaultPlan":
        """A plan from command-line rule strings (`op=set,position=2,error=other:disk full`)."""
        return cls(tuple(parse_rule(spec, index) for index, spec in enumerate(specs, 1)))

    @classmethod
    def load(cls, path: str | Path) -> "FaultPlan":
        """A plan from a `.json` or `.toml` file."""
        return cls(load_rules(path))

    @classmethod
    def from_data(cls, data: Any, origin: str = "fault plan") -> "FaultPlan":
        """A plan from decoded JSON/TOML: a list of rule tables, or `{"faults": [...]}` / `{"fault": [...]}`."""
        return cls(rules_from_data(data, origin))


__all__ = ["FaultPlan"]
