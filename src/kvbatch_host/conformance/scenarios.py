"""The scenarios of the conformance suite and the fault families each one runs under.

Every scenario is a batch call on a store in a known state. It runs once without faults, then
once per fault family per position: the fault hits the per-key operation at that position
inside the batch call (positions count the implementation's own store calls of that kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple, Union

DEFAULT_LARGE_VALUE_SIZE = 256 * 1024
"""Size of the "large value" scenarios by default; `--large-value-size` raises it up to Spin's
1 MiB limit (slow: the wasmtime-py byte path costs about a second per MiB crossing)."""
MAX_LARGE_VALUE_SIZE = 1024 * 1024

FAMILIES: Dict[str, str] = {
    "none": "no fault",
    "other": "error other(msg) at each position",
    "access-denied": "error access-denied at each position",
    "no-such-store": "error no-such-store at each position",
    "in-doubt": "write applied, then error, at each position",
}
"""Fault families: column names of the verdict table."""

CAPABILITY_KINDS = ("access-denied", "no-such-store")

RULES: Dict[str, str] = {
    "get-many-answers": "get-many: one entry per requested key, in order, duplicates answered; missing keys are none",
    "entries-name-keys": "get-many: each entry names the key it answers, in request order",
    "no-third-state": "set-many/delete-many: every key ends in its old or its new state, never a third",
    "last-value-wins": "set-many: a key named twice ends with its last value",
    "deleted-once": "delete-many: a key named twice is deleted once",
    "skips-missing": "delete-many: missing keys are skipped, not errors",
    "errors-pass-through": "an error from the store reaches the caller unchanged; none is swallowed or invented",
    "capability-not-masked": "no-such-store/access-denied propagate at once, unchanged, never as per-key failures",
    "report-is-truth": "an ok answer means every key holds its new value",
    "no-trap": "nothing traps",
    "instance-usable": "the instance still works after the call",
    "no-leaked-handles": "no bucket handle is left open by the call",
    "event-log-agrees": "the store holds what the event log says was applied",
}
"""Every rule the suite judges, by id (the batch semantics every implementation is held to)."""

Request = Union[List[str], List[Tuple[str, bytes]]]


@dataclass(frozen=True)
class Scenario:
    """One batch call on a known starting state."""

    name: str
    op: str
    """`get-many`, `set-many` or `delete-many`."""
    rules: Tuple[str, ...]
    old: Dict[str, bytes]
    request: Request
    families: Tuple[str, ...] = field(default=tuple(FAMILIES))

    @property
    def key_op(self) -> str:
        """The per-key store operation the batch is made of."""
        return {"get-many": "get", "set-many": "set", "delete-many": "delete"}[self.op]

    @property
    def keys(self) -> List[str]:
        """Distinct keys the scenario touches (request and starting state), in first-seen order."""
        named = [item if isinstance(item, str) else item[0] for item in self.request]
        return list(dict.fromkeys([*named, *self.old]))

    @property
    def positions(self) -> Sequence[int]:
        return range(len(self.request))

    def new_state(self) -> Dict[str, Union[bytes, None]]:
        """What each key holds if the call fully succeeds."""
        state: Dict[str, Union[bytes, None]] = {key: self.old.get(key) for key in self.keys}
        for item in self.request:
            if isinstance(item, tuple):  # set-many
                state[item[0]] = item[1]
            elif self.op == "delete-many":
                state[item] = None
        return state


def _pattern(size: int, seed: int) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(size))


MAX_WIDE_BATCH = 1000
"""Largest `wide` batch: a fault at every position costs one case per key per family."""


def scenarios(large_value_size: int = DEFAULT_LARGE_VALUE_SIZE, prefix: str = "check:", wide: int = 0) -> List[Scenario]:
    """The suite's scenarios; keys start with `prefix`. With `wide` > 0, three more scenarios
    (get-many, set-many, delete-many of `wide` keys) sweep faults over every position of a bigger batch."""
    if not 1 <= large_value_size <= MAX_LARGE_VALUE_SIZE:
        raise ValueError(f"large value size {large_value_size} is outside 1..{MAX_LARGE_VALUE_SIZE} bytes (Spin's value limit)")
    if not 0 <= wide <= MAX_WIDE_BATCH:
        raise ValueError(f"wide batch size {wide} is outside 0..{MAX_WIDE_BATCH} keys")
    k = {name: prefix + name for name in ("a", "b", "c", "missing", "big", "small")}
    a, b, c, missing, big, small = (k[n] for n in ("a", "b", "c", "missing", "big", "small"))
    large_old, large_new = _pattern(large_value_size, 1), _pattern(large_value_size, 2)
    reads = ("none", "other", "access-denied", "no-such-store")
    empty = ("none",)
    return [
        Scenario("get-many: present, missing and duplicate keys", "get-many", ("get-many-answers", "entries-name-keys"),
                 {a: b"old-a", c: b"old-c"}, [a, missing, c, a], reads),
        Scenario("get-many: empty request", "get-many", ("get-many-answers", "entries-name-keys"), {a: b"old-a"}, [], empty),
        Scenario("get-many: large value", "get-many", ("get-many-answers", "entries-name-keys"), {big: large_old}, [big, missing], reads),
        Scenario("set-many: new and existing keys", "set-many", ("no-third-state",),
                 {a: b"old-a", c: b"old-c"}, [(a, b"new-a"), (b, b"new-b"), (c, b"new-c")]),
        Scenario("set-many: duplicate key", "set-many", ("last-value-wins", "no-third-state"),
                 {a: b"old-a"}, [(a, b"first-a"), (b, b"new-b"), (a, b"last-a")]),
        Scenario("set-many: empty request", "set-many", ("no-third-state",), {a: b"old-a"}, [], empty),
        Scenario("set-many: large values", "set-many", ("no-third-state",),
                 {big: large_old}, [(small, b"new-small"), (big, large_new)]),
        Scenario("delete-many: existing and missing keys", "delete-many", ("skips-missing", "no-third-state"),
                 {a: b"old-a", b: b"old-b"}, [a, missing, b]),
        Scenario("delete-many: duplicate key", "delete-many", ("deleted-once", "no-third-state"),
                 {a: b"old-a", b: b"old-b"}, [a, b, a]),
        Scenario("delete-many: empty request", "delete-many", ("no-third-state",), {a: b"old-a"}, [], empty),
        *(_wide(prefix, wide, reads) if wide else []),
    ]


def _wide(prefix: str, size: int, reads: Tuple[str, ...]) -> List[Scenario]:
    keys = [f"{prefix}w{i:04d}" for i in range(size)]
    old = {key: b"old-" + key.encode() for key in keys[::2]}  # every other key exists
    return [
        Scenario(f"get-many: {size} keys", "get-many", ("get-many-answers", "entries-name-keys"), old, list(keys), reads),
        Scenario(f"set-many: {size} keys", "set-many", ("no-third-state",), old, [(key, b"new-" + key.encode()) for key in keys]),
        Scenario(f"delete-many: {size} keys", "delete-many", ("skips-missing", "no-third-state"), old, list(keys)),
    ]


def fault_rule(scenario: Scenario, family: str, position: int) -> str:
    """The fault rule (command-line form) of one case."""
    where = f"op={scenario.key_op},batch={scenario.op},position={position}"
    if family == "other":
        return f'{where},error="other:conformance fault at {scenario.key_op} #{position}"'
    if family == "in-doubt":
        return f'{where},in-doubt="other:in-doubt fault at {scenario.key_op} #{position}"'
    return f"{where},error={family}"
