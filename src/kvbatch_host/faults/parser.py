"""Reading fault plans: rules from the command line (`op=set,position=2,error=other:disk full`)
and from JSON or TOML files; `FaultPlanError` names the rule, the field and what is expected."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple

from kvbatch_host.errors import ERROR_KINDS
from kvbatch_host.faults.events import BATCH_OPS
from kvbatch_host.faults.rules import (DEFAULT_MESSAGE, DEFAULT_TRAP, FIELDS, MAX_LATENCY_MS, MAX_RULE_POSITIONS, OPERATIONS,
                                      FaultPlanError, FaultRule, PositionSet)
from kvbatch_host.textfiles import read_text


def load_rules(path: str | Path) -> Tuple[FaultRule, ...]:
    """The rules of a `.json` or `.toml` plan file."""
    path = Path(path)
    where = f"fault plan {str(path)!r}"
    text = read_text(path, "fault plan", FaultPlanError)
    data: Any
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            try:
                data = tomllib.loads(text, parse_float=_finite_float(where))
            except tomllib.TOMLDecodeError as err:
                raise FaultPlanError(f"{where}: invalid TOML: {err}") from None
        elif path.suffix.lower() == ".json":
            try:
                data = json.loads(text, parse_float=_finite_float(where), parse_constant=_no_constant(where))
            except json.JSONDecodeError as err:
                raise FaultPlanError(f"{where}: invalid JSON: {err}") from None
        else:
            raise FaultPlanError(f"{where}: expected a .json or .toml file")
    except RecursionError:
        raise FaultPlanError(f"{where}: nested too deeply to be a fault plan (a plan is a list of flat tables)") from None
    return rules_from_data(data, origin=str(path))


def rules_from_data(data: Any, origin: str = "fault plan") -> Tuple[FaultRule, ...]:
    """The rules of decoded JSON/TOML: a list of rule tables, or `{"faults": [...]}` / `{"fault": [...]}`."""
    if isinstance(data, Mapping):
        extra = set(data) - {"faults", "fault"}
        if extra:
            raise FaultPlanError(f"{origin}: unknown top-level key(s) {', '.join(sorted(extra))}; "
                                 "expected 'faults' (or TOML [[fault]])")
        data = data.get("faults", data.get("fault", []))
    if not isinstance(data, list):
        raise FaultPlanError(f"{origin}: expected a list of fault rules, got {type(data).__name__}")
    rules = []
    for index, item in enumerate(data, 1):
        if not isinstance(item, Mapping):
            raise FaultPlanError(f"{origin}: rule {index} is a {type(item).__name__}, expected a table of fields")
        rules.append(rule_from_mapping(item, index, origin))
    return tuple(rules)



def _finite_float(where: str) -> Callable[[str], float]:
    """A `parse_float` for JSON and TOML that refuses what is not a finite number (`nan`, `inf`, 1e999)."""
    def parse(text: str) -> float:
        number = float(text)
        if not math.isfinite(number):
            raise FaultPlanError(f"{where}: {text} is not a finite number; plans take finite numbers only")
        return number
    return parse


def _no_constant(where: str) -> Callable[[str], Any]:
    def refuse(name: str) -> Any:
        raise FaultPlanError(f"{where}: {name} is not a finite number; plans take finite numbers only")
    return refuse


def split_fields(spec: str, where: str) -> List[Tuple[str, str]]:
    """`a=1,b="x,y"` → [("a", "1"), ("b", "x,y")]; a bare word is a field with value ""."""
    pairs: List[Tuple[str, str]] = []
    for part in _split_top_level(spec, where):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        pairs.append((name, value if sep else ""))
    return pairs


def _split_top_level(spec: str, where: str) -> List[str]:
    parts, current, quoted, escaped = [], [], False, False
    for ch in spec:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise FaultPlanError(f"{where}: unbalanced double quote")
    parts.append("".join(current))
    return parts


def parse_rule(spec: str, index: int = 1) -> FaultRule:
    """One rule from its command-line form; `FaultPlanError` names the problem."""
    where = f"fault rule {index} ({spec!r})"
    fields: Dict[str, Any] = {}
    for name, value in split_fields(spec, where):
        if name in fields:
            raise FaultPlanError(f"{where}: field {name!r} given twice")
        fields[name] = value
    if not fields:
        raise FaultPlanError(f"{where}: empty rule; example: op=set,position=2,error=other:disk full")
    return rule_from_mapping(fields, index, source=spec, where=where)


def rule_from_mapping(data: Mapping[str, Any], index: int = 1, origin: str = "fault plan",
                      source: Optional[str] = None, where: Optional[str] = None) -> FaultRule:
    """One rule from a mapping of field → value (strings, numbers or lists)."""
    fields = {str(k).replace("_", "-"): v for k, v in data.items()}
    if source is None:
        source = ",".join(f"{k}={_flat(v)}" for k, v in fields.items())
    where = where or f"{origin}: rule {index} ({source})"
    unknown = [name for name in fields if name not in FIELDS]
    if unknown:
        raise FaultPlanError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(FIELDS)}")

    ops = _ops(fields.get("op"), where) if "op" in fields else None
    key = _alternatives(fields, "key", where)
    store = _text(fields, "store", where)
    batch = _text(fields, "batch", where)
    if batch is not None and batch not in (*BATCH_OPS, "none"):
        raise FaultPlanError(f"{where}: batch={batch!r}; expected one of {', '.join(BATCH_OPS)} or none")
    positions = _positions(fields["position"], where) if "position" in fields else None
    nth = _int(fields, "nth", where, minimum=1)
    times = _int(fields, "times", where, minimum=1)
    if nth is not None and times is not None:
        raise FaultPlanError(f"{where}: give nth= (fire once, on the Nth match) or times= (fire on the first N), not both")

    error, in_doubt, trap = None, False, None
    effects = [name for name in ("error", "in-doubt", "trap") if name in fields]
    if len(effects) > 1:
        raise FaultPlanError(f"{where}: {' and '.join(effects)} exclude each other; give one (latency= combines with any)")
    if "error" in fields:
        error = _error(fields["error"], where, "error")
    if "in-doubt" in fields:
        error, in_doubt = _error(fields["in-doubt"], where, "in-doubt"), True
    if "trap" in fields:
        trap = str(fields["trap"]) if fields["trap"] not in ("", None, True) else DEFAULT_TRAP
    latency = _latency(fields["latency"], where) if "latency" in fields else 0.0
    if error is None and trap is None and latency == 0.0:
        raise FaultPlanError(f"{where}: the rule has no effect; give error=, in-doubt=, trap= or latency=")
    return FaultRule(ops, key, store, batch, positions, nth, times, error, in_doubt, trap, latency, source)


def _flat(value: Any) -> str:
    return "|".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def _text(fields: Mapping[str, Any], name: str, where: str) -> Optional[str]:
    if name not in fields:
        return None
    value = fields[name]
    if not isinstance(value, str) or value == "":
        raise FaultPlanError(f"{where}: {name}= needs a non-empty text value")
    return value


def _alternatives(fields: Mapping[str, Any], name: str, where: str) -> Optional[str]:
    """A glob, or several joined by `|` (a list in a plan file): any of them matches."""
    if isinstance(fields.get(name), (list, tuple)):
        items = [str(v) for v in fields[name]]
        if not items or any(not item or "|" in item for item in items):
            raise FaultPlanError(f"{where}: {name}= needs non-empty globs without '|'")
        return "|".join(items)
    value = _text(fields, name, where)
    if value is not None and "" in value.split("|"):
        raise FaultPlanError(f"{where}: {name}={value!r} has an empty alternative; expected GLOB or GLOB|GLOB")
    return value


def _ops(value: Any, where: str) -> FrozenSet[str]:
    names = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split("|")
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise FaultPlanError(f"{where}: op= names no operation; expected one or more of {', '.join(OPERATIONS)}")
    for name in names:
        if name in BATCH_OPS:
            raise FaultPlanError(
                f"{where}: op={name} is a batch call; faults hit the per-key operations inside it: "
                f"use op={name.split('-')[0]},batch={name}"
            )
        if name not in OPERATIONS:
            raise FaultPlanError(f"{where}: unknown op {name!r}; expected one of {', '.join(OPERATIONS)}")
    return frozenset(names)


def _int(fields: Mapping[str, Any], name: str, where: str, minimum: int) -> Optional[int]:
    if name not in fields:
        return None
    value = fields[name]
    if isinstance(value, bool):
        raise FaultPlanError(f"{where}: {name}={value!r} is not an integer")
    text = str(value).strip()
    if not (isinstance(value, int) or (text.isascii() and text.isdigit())) or len(text) > 18:
        raise FaultPlanError(f"{where}: {name}={value!r} is not an integer (ASCII digits, at most 18 of them)")
    number = int(text)
    if number < minimum:
        raise FaultPlanError(f"{where}: {name}={number} must be at least {minimum}")
    return number


_RANGE = re.compile(r"^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$")



def _positions(value: Any, where: str) -> PositionSet:
    items = list(value) if isinstance(value, (list, tuple)) else str(value).split("|")
    ranges: List[Tuple[int, int]] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            if item < 0:
                raise FaultPlanError(f"{where}: position={item} must be 0 or more (positions count from 0)")
            ranges.append((item, item))
            continue
        match = _RANGE.match(str(item))
        if match is None:
            raise FaultPlanError(f"{where}: position={item!r}; expected N, N-M or N|M (0-based, e.g. position=2)")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low:
            raise FaultPlanError(f"{where}: position range {low}-{high} is empty")
        ranges.append((low, high))
    positions = PositionSet.of(ranges)
    if len(positions) > MAX_RULE_POSITIONS:
        raise FaultPlanError(f"{where}: the rule names {len(positions):,} positions; the limit is "
                             f"{MAX_RULE_POSITIONS:,} per rule (MAX_RULE_POSITIONS)")
    return positions


def _error(value: Any, where: str, name: str) -> Tuple[str, str]:
    kind, sep, message = str(value).partition(":")
    kind = kind.strip()
    if kind not in ERROR_KINDS:
        raise FaultPlanError(f"{where}: {name}={value!r}: unknown error kind {kind!r}; expected {', '.join(ERROR_KINDS)} "
                             f"(e.g. {name}=other:disk full)")
    if kind != "other" and sep:
        raise FaultPlanError(f"{where}: {name}={value!r}: {kind} carries no message (only other:MESSAGE does)")
    return kind, (message if sep else (DEFAULT_MESSAGE if kind == "other" else kind))


_LATENCY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


def _latency(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise FaultPlanError(f"{where}: latency={value!r} is not a finite number of milliseconds")
        ms = float(value)
    else:
        match = _LATENCY.match(str(value))
        if match is None:
            raise FaultPlanError(f"{where}: latency={value!r}; expected a duration such as 50ms, 0.2s or 50 (ms)")
        ms = float(match.group(1)) * (1000.0 if match.group(2) == "s" else 1.0)
    if ms < 0 or ms > MAX_LATENCY_MS:
        raise FaultPlanError(f"{where}: latency={value!r} is outside 0..{MAX_LATENCY_MS / 1000:.0f} s")
    return ms
