"""Fault injection between `wasi:keyvalue` and the backend: the plan, its parser, the layer.

A **fault plan** is a list of rules. Each rule says which backend operations it matches and
what happens to them:

| field | matches / does | example |
|---|---|---|
| `op` | operation(s): get, set, delete, exists, list-keys, increment, cas (`|`-separated) | `op=set\\|delete` |
| `key` | key, exact or glob (`*`, `?`, `[abc]`); `|` for alternatives | `key=user:00*`, `key=a\\|b` |
| `store` | store name, exact or glob | `store=default` |
| `batch` | the batch call the operation serves: get-many, set-many, delete-many, or `none` (host-native batch, or the conformance driver's calls; a composed provider's calls are per-key to the host) | `batch=set-many` |
| `position` | 0-based index among the batch call's operations of the same kind (`2`, `1-3`, `0\\|4`); same scope as `batch` | `position=2` |
| `nth` | fire only on the Nth operation the rule matched (1-based, counted over the run) | `nth=3` |
| `times` | fire at most this many times (default: every match; `nth` means once) | `times=2` |
| `error` | return `err(KIND[:MESSAGE])`; the operation is not performed | `error=other:disk full` |
| `in-doubt` | perform the operation, then return `err(KIND[:MESSAGE])` | `in-doubt=other:timeout` |
| `trap` | raise in the host function: the calling component traps | `trap=host crashed` |
| `latency` | wait first (`50ms`, `0.2s`, bare numbers are ms; at most 60 s) | `latency=50ms` |

KIND is `other`, `access-denied` or `no-such-store`. A rule needs at least one effect; `error`,
`in-doubt` and `trap` exclude each other, `latency` combines with any of them.

On the command line a rule is `field=value` pairs separated by commas (double-quote a value
that holds a comma): `--fault 'op=set,position=2,error=other:disk full'`. In a file (JSON or
TOML) rules use the same field names: JSON `[{"op": "set", "position": 2, "error": "other:disk
full"}]` (or `{"faults": [...]}`); TOML `[[fault]]` tables.

**The layer.** `FaultLayer` is a `Backend` wrapping a `Backend`. `StoreRegistry` holds it in
place of the real backend, so the host's native batch and the provider component's per-key
`store` calls both pass through it. It records every operation and its true outcome in an
`EventLog`. In a batch call with a plan that can match it, the batch is applied key by key
through the layer (distinct keys, last value wins, stopping at the first error), so positions
mean something; otherwise the backend's native multi-key path is used.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

from wasmtime import WasmtimeError

from kvbatch_host.backends import Backend
from kvbatch_host.backends.stores import StoreRegistry
from kvbatch_host.backends.base import DEFAULT_PAGE_SIZE
from kvbatch_host.errors import ERROR_KINDS, ConfigError, HostKvError
from kvbatch_host.textfiles import read_text
from kvbatch_host.faults.events import BATCH_OPS, EventLog, error_json, value_digest

OPERATIONS = ("get", "set", "delete", "exists", "list-keys", "increment", "cas")
"""Backend operations a rule can match (`cas` is the compare-and-swap of `atomics.swap`)."""

FIELDS = ("op", "key", "store", "batch", "position", "nth", "times", "error", "in-doubt", "trap", "latency")
MAX_LATENCY_MS = 60_000.0
DEFAULT_MESSAGE = "injected fault"
DEFAULT_TRAP = "injected host trap"

T = TypeVar("T")


class FaultPlanError(ConfigError):
    """A fault plan is malformed; the message names the rule, the field and what is expected."""


class InjectedTrap(WasmtimeError):
    """Raised by the fault layer for a `trap` effect: the host function fails and the calling
    component traps with this message (a `WasmtimeError`, so wasmtime turns it into the trap
    itself instead of re-raising it out of the guest's call)."""


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
        return cls.from_data(data, origin=str(path))

    @classmethod
    def from_data(cls, data: Any, origin: str = "fault plan") -> "FaultPlan":
        """A plan from decoded JSON/TOML: a list of rule tables, or `{"faults": [...]}` / `{"fault": [...]}`."""
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
        return cls(tuple(rules))


# -- parsing -----------------------------------------------------------------------------


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


# -- the layer ---------------------------------------------------------------------------


@dataclass
class _Scope:
    """One batch call in progress on a layer."""

    id: int
    op: str
    store: str
    counts: Dict[str, int] = field(default_factory=dict)

    def next_position(self, op: str) -> int:
        position = self.counts.get(op, 0)
        self.counts[op] = position + 1
        return position


@dataclass
class _Decision:
    rule: Optional[int] = None
    effect: Optional[str] = None
    error: Optional[HostKvError] = None
    trap: Optional[str] = None
    latency_ms: float = 0.0


class PlanState:
    """How often each rule of a plan matched and fired, and what fired (shared by layers)."""

    def __init__(self, plan: FaultPlan) -> None:
        self.lock = threading.Lock()
        self.matches = [0] * len(plan.rules)
        self.fires = [0] * len(plan.rules)
        self.fired: List["FiredFault"] = []


@dataclass
class FiredFault:
    """A rule that fired: which, on what, with what effect (for summaries)."""

    rule: int
    source: str
    effect: str
    op: str
    store: str
    key: Optional[str]
    position: Optional[int]


class FaultLayer(Backend):
    """A `Backend` that applies a `FaultPlan` to, and logs every operation of, the backend it wraps."""

    def __init__(self, inner: Backend, plan: Optional[FaultPlan] = None, events: Optional[EventLog] = None,
                 sleep: Callable[[float], None] = time.sleep, state: Optional["PlanState"] = None) -> None:
        self.inner = inner
        self.plan = plan or FaultPlan()
        self.events = events if events is not None else EventLog()
        self.url = inner.url
        self.state = state if state is not None else PlanState(self.plan)
        self._sleep = sleep
        self._local = threading.local()
        self._batch_atomic = self.atomic_batches = inner.atomic_batches

    def use_plan(self, plan: FaultPlan) -> None:
        """Replaces the plan (and starts its counters afresh), e.g. between test cases."""
        self.plan = plan
        self.state = PlanState(plan)

    # -- scopes ---------------------------------------------------------------------------

    def _scope(self) -> Optional[_Scope]:
        return getattr(self._local, "scope", None)

    @contextmanager
    def batch_call(self, op: str, store: str, count: int) -> Iterator[_Scope]:
        """Marks the operations made inside as serving one batch call, and logs what it answered.

        Nested calls join the outer batch call (the host's batch served by this same layer).
        """
        outer = self._scope()
        if outer is not None:
            yield outer
            return
        scope = _Scope(self.events.next_batch_id(), op, store)
        self._local.scope = scope
        fields: Dict[str, Any] = {"batch": scope.id, "batch_op": op, "applied": None, "detail": {"keys": count}}
        try:
            yield scope
        except HostKvError as err:
            self.events.record(op, store, result="error", error=error_json(err), **fields)
            raise
        except BaseException as exc:
            self.events.record(op, store, result="trap", error={"kind": "trap", "message": str(exc)[:500]}, **fields)
            raise
        else:
            self.events.record(op, store, result="ok", **fields)
        finally:
            self._local.scope = None

    def could_fault(self, op: str) -> bool:
        return any(rule.could_match_op(op) for rule in self.plan.rules)

    # -- deciding -------------------------------------------------------------------------

    def _decide(self, op: str, store: str, key: Optional[str], scope: Optional[_Scope], position: Optional[int]) -> _Decision:
        decision = _Decision()
        if not self.plan:
            return decision
        batch_op = scope.op if scope is not None else None
        state = self.state
        with state.lock:
            for index, rule in enumerate(self.plan.rules):
                if not rule.matches(op, store, key, batch_op, position):
                    continue
                state.matches[index] += 1
                if rule.nth is not None:
                    fires = state.matches[index] == rule.nth
                else:
                    fires = rule.times is None or state.fires[index] < rule.times
                if not fires:
                    continue
                state.fires[index] += 1
                decision.latency_ms += rule.latency_ms
                if decision.effect is None or decision.effect == "latency":
                    decision.rule = index
                    decision.effect = rule.effect
                    if rule.trap is not None:
                        decision.trap = rule.trap
                    elif rule.error is not None:
                        decision.error = HostKvError(rule.error[0], rule.error[1])  # type: ignore[arg-type]
                state.fired.append(FiredFault(index, rule.describe(), rule.effect, op, store, key, position))
        return decision

    def _run(self, op: str, store: str, key: Optional[str], action: Callable[[], T],
             value: Optional[bytes] = None, detail: Optional[Callable[[Any], Dict[str, Any]]] = None,
             applied_of: Optional[Callable[[Any], bool]] = None) -> T:
        scope = self._scope()
        position = scope.next_position(op) if scope is not None else None
        decision = self._decide(op, store, key, scope, position)
        fields: Dict[str, Any] = {"key": key, "position": position}
        if scope is not None:
            fields.update(batch=scope.id, batch_op=scope.op)
        if value is not None:
            fields["value"] = value_digest(value)
        if decision.effect is not None:
            fields.update(fault=decision.effect, rule=decision.rule)
        if decision.latency_ms:
            self._sleep(decision.latency_ms / 1000.0)
        if decision.trap is not None:
            self.events.record(op, store, applied=False, result="trap", error={"kind": "trap", "message": decision.trap},
                               **fields)
            raise InjectedTrap(f"kvbatch fault: {decision.trap} (op={op} key={key!r})")
        if decision.error is not None and decision.effect == "error":
            self.events.record(op, store, applied=False, result="error", error=error_json(decision.error), **fields)
            raise decision.error
        try:
            result = action()
        except HostKvError as err:
            applied = getattr(err, "applied", False)
            self.events.record(op, store, applied=applied, result="error", error=error_json(err), **fields)
            raise
        except Exception as exc:
            self.events.record(op, store, applied=None, result="trap", error={"kind": "trap", "message": str(exc)[:500]},
                               **fields)
            raise
        applied = applied_of(result) if applied_of is not None else True
        extra = detail(result) if detail is not None else None
        if decision.error is not None:  # in-doubt: performed, then reported as failed
            self.events.record(op, store, applied=applied, result="error", error=error_json(decision.error), detail=extra,
                               **fields)
            raise decision.error
        self.events.record(op, store, applied=applied, result="ok", detail=extra, **fields)
        return result

    # -- single-key operations ------------------------------------------------------------

    def get(self, store: str, key: str) -> Optional[bytes]:
        return self._run("get", store, key, lambda: self.inner.get(store, key),
                         detail=lambda v: {"found": v is not None})

    def set(self, store: str, key: str, value: bytes) -> None:
        self._run("set", store, key, lambda: self.inner.set(store, key, value), value=value)

    def delete(self, store: str, key: str) -> None:
        self._run("delete", store, key, lambda: self.inner.delete(store, key))

    def exists(self, store: str, key: str) -> bool:
        return self._run("exists", store, key, lambda: self.inner.exists(store, key), detail=lambda v: {"exists": v})

    def list_keys(self, store: str, after: Optional[str], limit: int = DEFAULT_PAGE_SIZE) -> Tuple[List[str], Optional[str]]:
        return self._run("list-keys", store, None, lambda: self.inner.list_keys(store, after, limit),
                         detail=lambda r: {"after": after, "count": len(r[0]), "next": r[1]})

    def increment(self, store: str, key: str, delta: int) -> int:
        return self._run("increment", store, key, lambda: self.inner.increment(store, key, delta),
                         detail=lambda n: {"delta": delta, "result": n})

    def compare_and_swap(self, store: str, key: str, expected: Optional[bytes], value: bytes) -> bool:
        return self._run("cas", store, key, lambda: self.inner.compare_and_swap(store, key, expected, value), value=value,
                         detail=lambda ok: {"swapped": ok}, applied_of=bool)

    # -- batch operations -----------------------------------------------------------------

    def get_many(self, store: str, keys: Sequence[str]) -> List[Optional[bytes]]:
        with self.batch_call("get-many", store, len(keys)):
            if self.could_fault("get"):
                return [self.get(store, key) for key in keys]
            return self._native("get", store, list(keys), lambda: self.inner.get_many(store, keys))

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        last_value_wins = dict(items)
        with self.batch_call("set-many", store, len(items)):
            if self.could_fault("set"):
                for key, value in last_value_wins.items():
                    self.set(store, key, value)
                return
            self._native("set", store, list(last_value_wins), lambda: self.inner.set_many(store, items),
                         values=list(last_value_wins.values()))

    def delete_many(self, store: str, keys: Sequence[str]) -> None:
        distinct = list(dict.fromkeys(keys))
        with self.batch_call("delete-many", store, len(keys)):
            if self.could_fault("delete"):
                for key in distinct:
                    self.delete(store, key)
                return
            self._native("delete", store, distinct, lambda: self.inner.delete_many(store, keys))

    def _native(self, op: str, store: str, keys: List[str], action: Callable[[], T],
                values: Optional[List[bytes]] = None) -> T:
        """The backend's own multi-key call, logged as one event per key it served."""
        scope = self._scope()
        base: Dict[str, Any] = {"batch": scope.id, "batch_op": scope.op} if scope is not None else {}
        try:
            result = action()
        except HostKvError as err:
            applied = getattr(err, "applied", False if self._batch_atomic or op == "get" else None)
            per_key = getattr(err, "applied_by_key", None) or {}  # a sharded store knows it per key
            for key in keys:
                position = scope.next_position(op) if scope is not None else None
                self.events.record(op, store, key=key, applied=per_key.get(key, applied), result="error",
                                   error=error_json(err), position=position, **base)
            raise
        for index, key in enumerate(keys):
            position = scope.next_position(op) if scope is not None else None
            extra: Dict[str, Any] = {}
            if values is not None:
                extra["value"] = value_digest(values[index])
            if op == "get":
                extra["detail"] = {"found": result[index] is not None}  # type: ignore[index]
            self.events.record(op, store, key=key, applied=True, result="ok", position=position, **base, **extra)
        return result

    # -- pass-through ---------------------------------------------------------------------

    def all_items(self, store: str) -> Iterable[Tuple[str, bytes]]:
        """The wrapped backend's contents, unlogged and unfaulted (for inspection)."""
        return self.inner.all_items(store)

    def close(self) -> None:
        self.inner.close()

    @property
    def fired(self) -> List[FiredFault]:
        """The faults that fired so far, in order (shared by every layer of one plan)."""
        return self.state.fired

    def summary(self) -> List[str]:
        """One line per fault that fired, for people."""
        return [
            f"rule {f.rule + 1} ({f.source}) -> {f.effect} on {f.op} {f.key!r}"
            + (f" at position {f.position}" if f.position is not None else "")
            for f in self.fired
        ]


def install(registry: StoreRegistry, plan: Optional[FaultPlan] = None, events: Optional[EventLog] = None,
            sleep: Callable[[float], None] = time.sleep) -> List[FaultLayer]:
    """Puts a `FaultLayer` (sharing one plan state and one event log) in front of every backend of
    `registry` (a `StoreRegistry`); stores that share a backend share its layer. Returns the layers."""
    events = events if events is not None else EventLog()
    plan = plan or FaultPlan()
    state = PlanState(plan)  # one set of counters across backends: nth= counts every store
    return registry.wrap(lambda backend: backend if isinstance(backend, FaultLayer)
                         else FaultLayer(backend, plan, events, sleep, state))


class ObservedBatch:
    """Wraps batch operations (e.g. the provider component's) so the fault layer knows which batch
    call the per-key store calls serve: positions count within it, and its answer is logged."""

    def __init__(self, ops: Any) -> None:
        self.ops = ops

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ops, name)

    @staticmethod
    def _layer(bucket: Any) -> Optional[FaultLayer]:
        backend = getattr(bucket, "backend", None)
        return backend if isinstance(backend, FaultLayer) else None

    def _call(self, op: str, bucket: Any, arg: Sequence[Any], fn: Callable[[Any, Any], T]) -> T:
        layer = self._layer(bucket)
        if layer is None:
            return fn(bucket, arg)
        with layer.batch_call(op, bucket.name, len(arg)):
            return fn(bucket, arg)

    def get_many(self, bucket: Any, keys: List[str]) -> List[Optional[bytes]]:
        return self._call("get-many", bucket, keys, self.ops.get_many)

    def set_many(self, bucket: Any, items: List[Tuple[str, bytes]]) -> None:
        self._call("set-many", bucket, items, self.ops.set_many)

    def delete_many(self, bucket: Any, keys: List[str]) -> None:
        self._call("delete-many", bucket, keys, self.ops.delete_many)
