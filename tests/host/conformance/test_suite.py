"""The conformance suite: the real implementations pass it, the deliberately broken ones are caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kvbatch_host.backends import Backend, MemoryBackend, SqliteBackend
from kvbatch_host.backends.redis import RedisBackend
from kvbatch_host.cli import main
from kvbatch_host.conformance import CHECK_STORE, Implementation, SuiteReport, render, run_suite

SMALL_LARGE_VALUE = 16 * 1024
"""Large-value scenarios at 16 KiB keep the suite quick here; `kvbatch check` defaults to 256 KiB."""


@pytest.fixture
def backend_of(tmp_path: Path) -> Iterator[Callable[[str], Backend]]:
    opened = []

    def make(kind: str) -> Backend:
        backend: Backend = MemoryBackend() if kind == "memory" else SqliteBackend(str(tmp_path / "check.db"))
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


def check(implementation: Implementation, backend: Backend, **kwargs: object) -> SuiteReport:
    return run_suite(implementation, backend, large_value_size=SMALL_LARGE_VALUE, **kwargs)  # type: ignore[arg-type]


def assert_passes(report: SuiteReport) -> None:
    assert report.passed, render(report)
    assert report.cases >= 80


@pytest.mark.component
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_provider_component_holds_every_rule(built: Callable[[str], Path], backend_of: Callable[[str], Backend],
                                                 kind: str) -> None:
    assert_passes(check(Implementation("provider", built("provider")), backend_of(kind)))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_host_native_batch_holds_every_rule(backend_of: Callable[[str], Backend], kind: str) -> None:
    assert_passes(check(Implementation("native"), backend_of(kind)))


@pytest.mark.redis
def test_the_host_native_batch_holds_every_rule_on_redis(redis_url: str) -> None:
    backend = RedisBackend(redis_url)
    assert_passes(check(Implementation("native"), backend))
    backend.close()


@pytest.mark.redis
@pytest.mark.component
def test_the_provider_component_holds_every_rule_on_redis(built: Callable[[str], Path], redis_url: str) -> None:
    backend = RedisBackend(redis_url)
    assert_passes(check(Implementation("provider", built("provider")), backend))
    backend.close()


def test_the_suite_leaves_no_key_behind(backend_of: Callable[[str], Backend]) -> None:
    backend = backend_of("memory")
    backend.set("default", "mine", b"untouched")
    check(Implementation("native"), backend)
    assert list(backend.all_items(CHECK_STORE)) == []
    assert backend.get("default", "mine") == b"untouched"


def test_every_scenario_runs_fault_free_and_under_every_family(backend_of: Callable[[str], Backend]) -> None:
    report = check(Implementation("native"), backend_of("memory"))
    families = {name for result in report.results for name, cell in result.cells.items() if cell.cases}
    assert families == {"none", "other", "access-denied", "no-such-store", "in-doubt"}
    fired = sum(cell.fired for result in report.results for cell in result.cells.values())
    assert fired >= 60


def test_a_large_value_size_beyond_spins_limit_is_rejected(backend_of: Callable[[str], Backend]) -> None:
    with pytest.raises(ValueError, match="outside 1..1048576"):
        run_suite(Implementation("native"), backend_of("memory"), large_value_size=2 * 1024 * 1024)


# -- deliberately broken providers ----------------------------------------------------------


def broken(built: Callable[[str], Path], flaw: str, *families: str) -> SuiteReport:
    return check(Implementation("provider", built(f"broken-{flaw}")), MemoryBackend(), families=list(families))


@pytest.mark.component
def test_a_provider_that_swallows_errors_is_caught(built: Callable[[str], Path]) -> None:
    report = broken(built, "swallow", "none", "other", "access-denied")
    assert not report.passed
    assert {"errors-pass-through", "capability-not-masked", "report-is-truth"} <= set(report.broken_rules)
    text = render(report)
    assert "VIOLATION" in text
    assert "the batch answered ok" in text


@pytest.mark.component
def test_a_provider_that_answers_values_under_the_wrong_keys_is_caught_by_entries_name_keys(
        built: Callable[[str], Path]) -> None:
    report = broken(built, "wrongkeys", "none", "other")
    assert report.broken_rules == ["entries-name-keys"]
    assert any("under the key 'check:" in f.message for f in report.findings)


@pytest.mark.component
def test_a_provider_that_leaves_a_third_state_is_caught_only_under_faults(built: Callable[[str], Path]) -> None:
    report = broken(built, "naive", "none", "other")
    assert {"no-third-state", "deleted-once"} <= set(report.broken_rules)
    duplicate_set = next(r for r in report.results if r.scenario.name == "set-many: duplicate key")
    assert duplicate_set.cells["none"].verdict == "pass"
    assert duplicate_set.cells["other"].verdict == "FAIL"
    third = next(f for f in report.findings if f.rule == "no-third-state")
    assert "neither its old b'old-a' nor its new b'last-a'" in third.message


@pytest.mark.component
def test_a_provider_that_traps_on_store_errors_is_caught(built: Callable[[str], Path]) -> None:
    report = broken(built, "trap", "none", "other")
    assert {"no-trap", "instance-usable"} <= set(report.broken_rules)
    trap = next(f for f in report.findings if f.rule == "no-trap")
    assert "guest raised trap.StoreFailed" in trap.message
    assert report.sessions > 1  # the suite went on with fresh instances


@pytest.mark.component
def test_a_provider_that_rewrites_errors_is_caught_masking_capability_errors(built: Callable[[str], Path]) -> None:
    report = broken(built, "rewrap", "other", "access-denied")
    assert set(report.broken_rules) == {"errors-pass-through", "capability-not-masked"}
    masked = next(f for f in report.findings if f.rule == "capability-not-masked")
    assert "err(access-denied)" in masked.message and "other('batch failed')" in masked.message


def test_a_bucket_handle_left_open_by_a_call_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from kvbatch_host.conformance import Session

    honest = Session.call

    def leaky(self: Session, op: str, request: list) -> tuple:
        self.keyvalue.open_bucket(CHECK_STORE)  # as an implementation that opens and never drops
        return honest(self, op, request)

    monkeypatch.setattr(Session, "call", leaky)
    report = run_suite(Implementation("native"), MemoryBackend(), families=["none"], large_value_size=1024)
    assert report.broken_rules == ["no-leaked-handles"]
    assert "1 bucket handle(s) still open after the call" in report.findings[0].message


# -- the command ---------------------------------------------------------------------------


def test_kvbatch_check_native_prints_the_table_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--native", "--large-value-size", str(SMALL_LARGE_VALUE)]) == 0
    out = capsys.readouterr().out
    assert "kvbatch check: the harness's host-native batch on memory:" in out
    assert "set-many: duplicate key" in out and "in-doubt" in out
    assert "PASS" in out


@pytest.mark.component
def test_kvbatch_check_exits_nonzero_with_json_naming_the_broken_rules(built: Callable[[str], Path],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(built("broken-naive")), "--json", "--large-value-size", "1024"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    assert "no-third-state" in report["broken_rules"]
    assert all({"scenario", "family", "position", "fault", "rule", "message"} <= set(v) for v in report["violations"])


def test_kvbatch_check_refuses_a_component_together_with_native(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--native", "build/provider.wasm"]) == 2
    assert "not both" in capsys.readouterr().err


def test_kvbatch_check_rejects_a_file_that_is_no_provider_component(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "bogus.wasm"
    bogus.write_text("not wasm")
    assert main(["check", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert "is not a WebAssembly component" in err and err.count("\n") == 1
