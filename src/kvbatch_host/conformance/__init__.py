"""The conformance suite: holds a `wasi:keyvalue/batch` implementation to the batch semantics.

    from kvbatch_host.conformance import Implementation, run_suite, render
    report = run_suite(Implementation("provider", Path("build/provider.wasm")), MemoryBackend())
    print(render(report)); assert report.passed

Scenarios (`scenarios.py`) run fault-free and under each fault family (`other` errors,
`access-denied`, `no-such-store`, in-doubt writes) at every position of small batches; each
case is judged (`judge.py`) from the implementation's answer, the store's final state read
behind the fault layer, and the event log. `kvbatch check` is the command-line front.
"""

from kvbatch_host.conformance.report import render
from kvbatch_host.conformance.scenarios import DEFAULT_LARGE_VALUE_SIZE, FAMILIES, RULES, Scenario, scenarios
from kvbatch_host.conformance.suite import Finding, SuiteReport, run_suite
from kvbatch_host.conformance.targets import CHECK_STORE, Implementation, Session

__all__ = [
    "CHECK_STORE", "DEFAULT_LARGE_VALUE_SIZE", "FAMILIES", "Finding", "Implementation", "RULES", "Scenario",
    "Session", "SuiteReport", "render", "run_suite", "scenarios",
]
