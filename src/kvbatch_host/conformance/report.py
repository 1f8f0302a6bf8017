"""The suite's report for people: a table of scenarios × fault families, then the violations."""

from __future__ import annotations

from typing import Dict, List, Tuple

from kvbatch_host.conformance.scenarios import FAMILIES, RULES
from kvbatch_host.conformance.suite import Cell, Finding, SuiteReport

MAX_EXAMPLES = 2
"""Violations shown per (scenario, rule); the JSON report holds all of them."""


def _cell(cell: Cell) -> str:
    if cell.verdict == "n/a":
        return "-"
    if cell.verdict == "pass":
        return f"pass x{cell.cases}"
    return f"FAIL {cell.failed}/{cell.cases}"


def render(report: SuiteReport) -> str:
    """The verdict table, the violations grouped by scenario and rule, and a last line with the outcome."""
    lines = [f"kvbatch check: {report.implementation} on {report.store}", ""]
    headers = ["scenario", *FAMILIES]
    rows = [[r.scenario.name, *(_cell(r.cells.get(f, Cell())) for f in FAMILIES)] for r in report.results]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    lines.append("")
    lines.append("cells: pass xN = N cases, all rules held; FAIL k/N = k of N cases broke a rule; - = not applicable")
    if report.findings:
        lines.append("")
        lines.append(f"violations ({len(report.findings)}):")
        groups: Dict[Tuple[str, str], List[Finding]] = {}
        for finding in report.findings:
            groups.setdefault((finding.scenario, finding.rule), []).append(finding)
        for (scenario, rule), findings in groups.items():
            lines.append(f"  [{rule}] {RULES[rule]}")
            lines.append(f"    in {scenario!r}, {len(findings)} time(s), e.g.:")
            for finding in findings[:MAX_EXAMPLES]:
                fault = f"fault {finding.fault}" if finding.fault else "no fault"
                lines.append(f"    - {fault}: {finding.message}")
    lines.append("")
    if report.passed:
        lines.append(f"PASS: {report.cases} cases, every rule held")
    else:
        lines.append(f"VIOLATION: {len(report.findings)} violation(s) in {report.cases} cases; "
                     f"broken rules: {', '.join(report.broken_rules)}")
    return "\n".join(lines)
