"""Per-key results of batch operations: frozen, every distinct key in exactly one group.

* `succeeded`: the operation took effect for the key (a write holds its new value; a read
  was answered);
* `failed`: it did not, with the typed error (a write's key keeps its old value);
* `unknown`: a write the store may or may not have applied; kvbatch never guesses;
* `not_attempted`: never sent, because the operation stopped early (`stop_on_error`, an
  exception, a writer's block that raised).

A result that combines several operations (a writer's `results`, `combine`) gives each key
the outcome of its **latest** operation. Where that operation did not succeed and an earlier
one on the same key was sent, `earlier` keeps the earlier outcome: a discarded or failed
write never hides one that landed before it.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any, Dict, Iterator, List, Literal, Mapping, Optional, Sequence, Tuple, TypeVar

from .errors import BatchFailed, KvError
from .stats import Stats

Status = Literal["succeeded", "failed", "unknown", "not_attempted"]
STATUSES: Tuple[Status, ...] = ("succeeded", "failed", "unknown", "not_attempted")



def _empty() -> Mapping[str, KvError]:
    return MappingProxyType({})


def _frozen_map(value: Mapping[str, object]) -> Mapping[str, object]:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    """The outcome of a batch operation for each distinct key it was given.

    Groups keep the input order. `duplicates` lists keys named more than once in the input:
    they are answered once (for a `set_many`, the last value given was the one written).
    """

    succeeded: Tuple[str, ...] = ()
    failed: Mapping[str, KvError] = field(default_factory=_empty)
    unknown: Tuple[str, ...] = ()
    not_attempted: Tuple[str, ...] = ()
    duplicates: Tuple[str, ...] = ()
    unknown_errors: Mapping[str, KvError] = field(default_factory=_empty)
    """For each `unknown` key, the error that left it in doubt."""
    order: Tuple[str, ...] = ()
    """Every distinct key in input order (derived from the groups when not given)."""
    earlier: Optional["BatchResult"] = None
    """For a result combining several operations: for each key whose latest operation did not
    succeed but an earlier one was sent, that earlier operation's outcome (the last one sent),
    as a result over just those keys; `None` when there are none. The store may hold what that
    earlier operation wrote (a `succeeded` earlier write certainly landed, unless a later
    `unknown` one replaced it)."""
    operation: str = field(default="", compare=False)
    stats: Stats = field(default_factory=Stats, compare=False, repr=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "succeeded", tuple(self.succeeded))
        put(self, "unknown", tuple(self.unknown))
        put(self, "not_attempted", tuple(self.not_attempted))
        put(self, "duplicates", tuple(self.duplicates))
        put(self, "failed", _frozen_map(self.failed))
        put(self, "unknown_errors", _frozen_map(self.unknown_errors))
        if not (self.failed or self.unknown or self.not_attempted):  # all succeeded: one pass, no copy
            grouped: Sequence[str] = self.succeeded
        else:
            grouped = [*self.succeeded, *self.failed, *self.unknown, *self.not_attempted]
        distinct = set(grouped)
        if len(distinct) != len(grouped):
            seen: set[str] = set()
            twice = [k for k in grouped if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
            raise ValueError(f"a key is in more than one group of a result: {twice[:5]}")
        if not self.order:
            put(self, "order", tuple(grouped))
        elif self.order is not grouped and (len(self.order) != len(grouped) or not distinct.issuperset(self.order)):
            raise ValueError("`order` must list exactly the keys of the groups")
        if self.earlier is not None and not (set(self.earlier.order) <= distinct - set(self.succeeded)):
            raise ValueError("`earlier` may answer only keys of this result that did not succeed")

    @property
    def total(self) -> int:
        """How many distinct keys the operation was given."""
        return len(self.order)

    @property
    def all_succeeded(self) -> bool:
        return len(self.succeeded) == self.total

    def outcome(self, key: str) -> Status:
        """The group `key` is in; `KeyError` if the operation was not given `key`."""
        if key in self.failed:
            return "failed"
        for status, keys in (("succeeded", self.succeeded), ("unknown", self.unknown), ("not_attempted", self.not_attempted)):
            if key in keys:
                return status  # type: ignore[return-value]
        raise KeyError(key)

    def outcomes(self) -> Dict[str, Status]:
        """Every key's status, in input order."""
        status: Dict[str, Status] = {}
        for key in self.succeeded:
            status[key] = "succeeded"
        for key in self.failed:
            status[key] = "failed"
        for key in self.unknown:
            status[key] = "unknown"
        for key in self.not_attempted:
            status[key] = "not_attempted"
        return {key: status[key] for key in self.order}

    def error(self, key: str) -> Optional[KvError]:
        """The error that made `key` fail or left it unknown, if any."""
        return self.failed.get(key) or self.unknown_errors.get(key)

    def raise_for_failures(self) -> "BatchResult":
        """Raises `BatchFailed` listing the keys that did not succeed; returns `self` otherwise."""
        if not self.all_succeeded:
            raise BatchFailed(self)
        return self

    def summary(self) -> str:
        """One line: counts of each group (and of `earlier`, when there is one)."""
        line = (f"{len(self.succeeded)} succeeded, {len(self.failed)} failed, {len(self.unknown)} unknown, "
                f"{len(self.not_attempted)} not attempted (of {self.total})")
        if self.earlier is not None:
            counts = ", ".join(f"{len(keys)} {status.replace('_', ' ')}" for status, keys in
                               (("succeeded", self.earlier.succeeded), ("failed", self.earlier.failed),
                                ("unknown", self.earlier.unknown)) if keys)
            line += f"; {self.earlier.total} of them written earlier ({counts})"
        return line


@dataclass(frozen=True, kw_only=True)
class GetResult(BatchResult):
    """`get_many`'s result: `values` of the keys found, `missing` keys (read, no value), and
    the per-key groups (`succeeded` = found or missing)."""

    values: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    missing: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "values", _frozen_map(self.values))
        object.__setattr__(self, "missing", tuple(self.missing))

    def get(self, key: str, default: Optional[bytes] = None) -> Optional[bytes]:
        """The value read for `key`, or `default` when it is missing or was not read."""
        return self.values.get(key, default)


@dataclass(frozen=True, kw_only=True)
class ExistsResult(BatchResult, Mapping[str, bool]):
    """`exists_many`'s result: a read-only mapping key → bool over the keys answered, plus
    the per-key groups (keys whose check failed are in `failed`, not in the mapping)."""

    exists: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "exists", _frozen_map(self.exists))

    def __getitem__(self, key: str) -> bool:
        return self.exists[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.exists)

    def __len__(self) -> int:
        return len(self.exists)

    def __contains__(self, key: object) -> bool:
        return key in self.exists

    def present(self) -> Tuple[str, ...]:
        """The keys that hold a value, in input order."""
        return tuple(k for k in self.order if self.exists.get(k))


@dataclass(frozen=True, kw_only=True)
class CopyResult(BatchResult):
    """`copy_many`'s result, keyed by **source**: a source `succeeded` when its destination now
    holds its value (or, with `missing_ok`, when it had no value and nothing was copied: those
    sources are also listed in `missing`); `pairs` maps each source to its destination."""

    pairs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    missing: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "pairs", _frozen_map(self.pairs))
        object.__setattr__(self, "missing", tuple(self.missing))

    def destination(self, source: str) -> str:
        """Where `source` was to be copied; `KeyError` if it was not given."""
        return self.pairs[source]


_SUCCEEDED: Tuple[Status, Optional[KvError]] = ("succeeded", None)

R = TypeVar("R", bound=BatchResult)


def _all_succeeded(cls: type[R], order: Tuple[str, ...], duplicates: Tuple[str, ...], operation: str, stats: Stats,
                   **extra: object) -> R:
    """A result in which every key of `order` succeeded, for keys the engine made distinct (a
    dict's keys): built without the checks `__post_init__` makes of caller-given groups (a pass
    over every key). `extra`: the subclass's fields, already frozen (tuples, `MappingProxyType`)."""
    result = object.__new__(cls)
    state = result.__dict__  # a frozen dataclass's fields, set as its own __init__ would
    state.update(_DEFAULTS.get(cls) or _defaults(cls))
    state["succeeded"] = state["order"] = order
    state["duplicates"] = duplicates
    state["operation"] = operation
    state["stats"] = stats
    if extra:
        state.update(extra)
    return result


_DEFAULTS: Dict[type, Dict[str, Any]] = {}


def _defaults(cls: type) -> Dict[str, Any]:
    """`cls`'s dataclass fields with their defaults, looked up once per class. A default factory
    is called once here: every field with one holds an empty, immutable mapping (`stats`,
    the one mutable default, is always given)."""
    found: Dict[str, Any] = {}
    for f in fields(cls):
        found[f.name] = f.default_factory() if f.default_factory is not MISSING else f.default
    _DEFAULTS[cls] = found
    return found


def combine(results: Sequence[BatchResult], operation: str = "") -> BatchResult:
    """One result over several: a key's latest outcome wins, keys in order of first appearance.

    A key whose latest outcome is not `succeeded` and that an earlier result sent (its outcome
    there was not `not_attempted`, or it has one in that result's `earlier`) keeps the last such
    outcome in `earlier`.
    """
    order: Dict[str, None] = {}
    latest: Dict[str, Tuple[Status, Optional[KvError]]] = {}
    sent: Dict[str, Tuple[Status, Optional[KvError]]] = {}  # the latest sent outcome before `latest`
    duplicates: Dict[str, None] = {}
    stats = Stats()
    for result in results:
        stats.add(result.stats)
        duplicates.update(dict.fromkeys(result.duplicates))
        outcomes = result.outcomes()
        before = result.earlier.outcomes() if result.earlier is not None else {}
        for key in result.order:
            if key in order:
                duplicates[key] = None
                if latest[key][0] != "not_attempted":
                    sent[key] = latest[key]
            order.setdefault(key, None)
            if key in before:
                sent[key] = (before[key], result.earlier.error(key))  # type: ignore[union-attr]
            latest[key] = (outcomes[key], result.error(key))
    return _build(BatchResult, order, latest, tuple(duplicates), operation, stats,
                  {key: sent[key] for key in order if key in sent and latest[key][0] != "succeeded"})


def _build(cls: type[BatchResult], order: Mapping[str, None], latest: Mapping[str, Tuple[Status, Optional[KvError]]],
           duplicates: Tuple[str, ...], operation: str, stats: Stats,
           earlier: Optional[Mapping[str, Tuple[Status, Optional[KvError]]]] = None) -> BatchResult:
    groups: Dict[Status, List[str]] = {s: [] for s in STATUSES}
    failed: Dict[str, KvError] = {}
    unknown_errors: Dict[str, KvError] = {}
    if all(latest[key] is _SUCCEEDED or latest[key] == _SUCCEEDED for key in order):
        return cls(succeeded=tuple(order), duplicates=duplicates, order=tuple(order), operation=operation, stats=stats)
    for key in order:
        status, error = latest[key]
        groups[status].append(key)
        if status == "failed" and error is not None:
            failed[key] = error
        elif status == "unknown" and error is not None:
            unknown_errors[key] = error
    before = _build(BatchResult, dict.fromkeys(earlier), earlier, (), operation, Stats()) if earlier else None
    return cls(succeeded=tuple(groups["succeeded"]), failed=failed, unknown=tuple(groups["unknown"]),
               not_attempted=tuple(groups["not_attempted"]), duplicates=duplicates, unknown_errors=unknown_errors,
               order=tuple(order), earlier=before, operation=operation, stats=stats)


__all__ = ["STATUSES", "BatchResult", "CopyResult", "ExistsResult", "GetResult", "Status", "combine"]
