"""Judging one case: the implementation's answer and the store's final state against the event log."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from kvbatch_host.faults.events import Event
from kvbatch_host.conformance.scenarios import CAPABILITY_KINDS, Scenario
from kvbatch_host.conformance.targets import Answer


@dataclass(frozen=True)
class Violation:
    """A broken rule in one case."""

    rule: str
    message: str


def show(value: Optional[bytes]) -> str:
    """A short, readable form of a stored value."""
    if value is None:
        return "nothing"
    if len(value) <= 24:
        return repr(value)
    return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:12]}>"


def show_error(error: Tuple[str, str]) -> str:
    kind, message = error
    return f"other({message!r})" if kind == "other" else kind


def judge(scenario: Scenario, answer: Answer, final: Dict[str, Optional[bytes]], events: Sequence[Event]) -> List[Violation]:
    """Every rule the case breaks. `events` are those of this batch call; `final` is read past the fault layer."""
    found: List[Violation] = []
    status, payload = answer
    key_events = [e for e in events if e.op == scenario.key_op and e.batch_op == scenario.op]
    fired = next((e for e in key_events if e.fault in ("error", "in-doubt") and e.error is not None), None)

    if status == "trap":
        found.append(Violation("no-trap", f"the call trapped: {payload}"))
    found += _errors(scenario, status, payload, fired, key_events)
    if scenario.op == "get-many":
        if status == "ok":
            found += _get_answers(scenario, payload, final)
    else:
        found += _states(scenario, status, final, fired)
    if scenario.op == "delete-many" and "deleted-once" in scenario.rules:
        found += _deleted_once(key_events)
    found += _event_log_agrees(scenario, final, key_events)
    return found


def _errors(scenario: Scenario, status: str, payload: Any, fired: Optional[Event],
            key_events: Sequence[Event]) -> List[Violation]:
    found: List[Violation] = []
    if fired is None:
        if status == "error":
            rule = "skips-missing" if "skips-missing" in scenario.rules else "errors-pass-through"
            found.append(Violation(rule, f"answered err({show_error(payload)}) although the store returned no error"))
        return found
    assert fired.error is not None
    injected = (fired.error["kind"], fired.error["message"])
    capability = injected[0] in CAPABILITY_KINDS
    rule = "capability-not-masked" if capability else "errors-pass-through"
    where = f"{fired.op} {fired.key!r} (position {fired.position})"
    if status == "ok":
        found.append(Violation(rule, f"the store returned err({show_error(injected)}) at {where}; the batch answered ok"))
    elif status == "error" and tuple(payload) != injected:
        found.append(Violation(rule, f"the store returned err({show_error(injected)}) at {where}; "
                                     f"the batch answered err({show_error(payload)})"))
    if capability:
        later = [e for e in key_events if e.seq > fired.seq]
        if later:
            found.append(Violation("capability-not-masked",
                                   f"kept going after {injected[0]} at {where}: {len(later)} more {fired.op} call(s), "
                                   f"first on {later[0].key!r}"))
    return found


def _get_answers(scenario: Scenario, entries: Any, final: Dict[str, Optional[bytes]]) -> List[Violation]:
    """Each entry against the store and the key it answers (a `none` entry, draft's missing key, names none)."""
    request = list(scenario.request)
    entries = list(entries or [])
    if len(entries) != len(request):
        return [Violation("get-many-answers", f"answered {len(entries)} entries for {len(request)} requested keys {request}")]
    found = []
    for index, (key, (named, got)) in enumerate(zip(request, entries)):
        if named is not None and named != key:
            found.append(Violation("entries-name-keys", f"entry {index} answers {key!r} under the key {named!r}"))
        elif named is None and got is not None:
            found.append(Violation("entries-name-keys", f"entry {index} ({key!r}) holds a value under no key"))
        want = final.get(key)  # type: ignore[call-overload]
        if got != want:
            found.append(Violation("get-many-answers", f"entry {index} ({key!r}) is {show(got)}; the store holds {show(want)}"))
    return found


def _states(scenario: Scenario, status: str, final: Dict[str, Optional[bytes]], fired: Optional[Event]) -> List[Violation]:
    found = []
    new = scenario.new_state()
    requested = Counter(item if isinstance(item, str) else item[0] for item in scenario.request)
    for key in scenario.keys:
        got, old, want = final.get(key), scenario.old.get(key), new[key]
        if got not in (old, want):
            found.append(Violation("no-third-state",
                                   f"{key!r} holds {show(got)}: neither its old {show(old)} nor its new {show(want)}"))
        elif status == "ok" and got != want:
            if requested[key] > 1 and "last-value-wins" in scenario.rules and fired is None:
                found.append(Violation("last-value-wins", f"{key!r} named {requested[key]} times holds {show(got)}, "
                                                          f"not its last value {show(want)}"))
            else:
                found.append(Violation("report-is-truth", f"the batch answered ok but {key!r} still holds its old {show(old)}"))
    return found


def _deleted_once(key_events: Sequence[Event]) -> List[Violation]:
    counts = Counter(e.key for e in key_events if e.applied)
    return [Violation("deleted-once", f"{key!r} was deleted {n} times in one call") for key, n in counts.items() if n > 1]


def _event_log_agrees(scenario: Scenario, final: Dict[str, Optional[bytes]], key_events: Sequence[Event]) -> List[Violation]:
    if scenario.op == "get-many":
        return []
    found = []
    for key in scenario.keys:
        mine = [e for e in key_events if e.key == key]
        if any(e.applied is None for e in mine):
            continue
        applied = [e for e in mine if e.applied]
        got = final.get(key)
        if not applied:
            expected_digest = _digest(scenario.old.get(key))
            said = "no write applied"
        elif applied[-1].op == "delete":
            expected_digest, said = None, "deleted"
        else:
            expected_digest, said = (applied[-1].value or {}).get("sha256"), f"set to {applied[-1].value}"
        if _digest(got) != expected_digest:
            found.append(Violation("event-log-agrees", f"the event log says {key!r} was {said}, but the store holds {show(got)}"))
    return found


def _digest(value: Optional[bytes]) -> Optional[str]:
    return None if value is None else hashlib.sha256(value).hexdigest()[:16]
