"""Running the suite: every scenario, fault-free and under each fault family at every position."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from kvbatch_host.backends import Backend
from kvbatch_host.faults import FaultPlan
from kvbatch_host.conformance.judge import Violation, judge
from kvbatch_host.conformance.scenarios import DEFAULT_LARGE_VALUE_SIZE, FAMILIES, RULES, Scenario, fault_rule, scenarios
from kvbatch_host.conformance.targets import CHECK_STORE, Implementation, Session

CANARY = "check:canary"


@dataclass
class Finding:
    """A violation, with the case it happened in."""

    scenario: str
    family: str
    position: Optional[int]
    fault: Optional[str]
    rule: str
    message: str

    def to_json(self) -> Dict[str, Any]:
        return {"scenario": self.scenario, "family": self.family, "position": self.position, "fault": self.fault,
                "rule": self.rule, "rule_text": RULES[self.rule], "message": self.message}


@dataclass
class Cell:
    """The cases of one scenario under one fault family."""

    cases: int = 0
    failed: int = 0
    fired: int = 0
    """Cases where the fault actually hit an operation (a position past the implementation's calls does not)."""

    @property
    def verdict(self) -> str:
        if self.cases == 0:
            return "n/a"
        return "pass" if self.failed == 0 else "FAIL"


@dataclass
class ScenarioResult:
    scenario: Scenario
    cells: Dict[str, Cell] = field(default_factory=dict)


@dataclass
class SuiteReport:
    """What `kvbatch check` prints: per scenario and fault family, a verdict; every violation found."""

    implementation: str
    store: str
    results: List[ScenarioResult] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)
    sessions: int = 1

    @property
    def cases(self) -> int:
        return sum(cell.cases for r in self.results for cell in r.cells.values())

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def broken_rules(self) -> List[str]:
        return sorted({f.rule for f in self.findings})

    def to_json(self) -> Dict[str, Any]:
        return {
            "implementation": self.implementation,
            "store": self.store,
            "passed": self.passed,
            "cases": self.cases,
            "instances": self.sessions,
            "broken_rules": self.broken_rules,
            "rules": RULES,
            "scenarios": [
                {"name": r.scenario.name, "op": r.scenario.op, "rules": list(r.scenario.rules),
                 "families": {name: {"verdict": c.verdict, "cases": c.cases, "faults_fired": c.fired, "violations": c.failed}
                              for name, c in r.cells.items()}}
                for r in self.results
            ],
            "violations": [f.to_json() for f in self.findings],
        }


def run_suite(implementation: Implementation, backend: Backend, *, large_value_size: int = DEFAULT_LARGE_VALUE_SIZE,
              families: Optional[List[str]] = None, wide: int = 0,
              progress: Optional[Callable[[str], None]] = None) -> SuiteReport:
    """Holds `implementation` to every rule over `backend`; the backend's `kvbatch-check` store is
    used for scratch keys (cleared before and after). `wide` adds batches of that many keys."""
    chosen = families or list(FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown fault family {unknown[0]!r}; expected one of {', '.join(FAMILIES)}")
    chosen_scenarios = scenarios(large_value_size, wide=wide)  # raises ValueError on bad sizes, before any work
    report = SuiteReport(implementation.describe(), backend.url)
    session = Session(implementation, backend)
    every_key = {CANARY}
    try:
        for scenario in chosen_scenarios:
            every_key.update(scenario.keys)
            result = ScenarioResult(scenario)
            report.results.append(result)
            if progress:
                progress(scenario.name)
            for family in FAMILIES:
                cell = result.cells.setdefault(family, Cell())
                if family not in chosen or family not in scenario.families:
                    continue
                positions: List[Optional[int]] = [None] if family == "none" else list(scenario.positions)
                for position in positions:
                    rule = None if position is None else fault_rule(scenario, family, position)
                    session = _run_case(session, scenario, family, position, rule, cell, report)
    finally:
        backend.delete_many(CHECK_STORE, sorted(every_key))
        session.close()
    return report


def _run_case(session: Session, scenario: Scenario, family: str, position: Optional[int], rule: Optional[str],
              cell: Cell, report: SuiteReport) -> Session:
    """Runs one case; returns the session to use next (a fresh one if this one became unusable)."""
    inner = session.inner
    inner.delete_many(CHECK_STORE, [*scenario.keys, CANARY])
    if scenario.old:
        inner.set_many(CHECK_STORE, list(scenario.old.items()))
    session.layer.use_plan(FaultPlan.parse([rule]) if rule else FaultPlan())
    mark = session.events.mark()
    handles = session.open_handles
    answer = session.call(scenario.op, list(scenario.request))
    leaked = session.open_handles - handles
    session.layer.use_plan(FaultPlan())
    events = session.events.since(mark)
    final = dict(zip(scenario.keys, inner.get_many(CHECK_STORE, scenario.keys)))
    violations = judge(scenario, answer, final, events)
    if leaked > 0:
        violations.append(Violation("no-leaked-handles", f"{leaked} bucket handle(s) still open after the call"))
    usable, why = _still_usable(session)
    if not usable:
        violations.append(Violation("instance-usable", f"the next call on the same instance failed: {why}"))
    cell.cases += 1
    cell.fired += any(e.fault is not None for e in events)
    if violations:
        cell.failed += 1
    for v in violations:
        report.findings.append(Finding(scenario.name, family, position, rule, v.rule, v.message))
    if usable:
        return session
    session.close()
    report.sessions += 1
    return Session(session.implementation, inner)


def _still_usable(session: Session) -> tuple[bool, str]:
    answer = session.call("set-many", [(CANARY, b"alive")])
    if answer[0] != "ok":
        return False, f"set-many answered {answer[0]} {answer[1]}"
    answer = session.call("get-many", [CANARY])
    if answer != ("ok", [(CANARY, b"alive")]) and answer != ("ok", [(None, b"alive")]):
        return False, f"get-many answered {answer[0]} {answer[1]}"
    return True, ""
