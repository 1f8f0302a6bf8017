"""`kvbatch run` with fault plans and the event log: what the guest reports is what happened."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from kvbatch_host.cli import main
from kvbatch_host.faults.events import read_jsonl

from checkout import ROOT

pytestmark = pytest.mark.component

REPORT_LINE = re.compile(r"^\s+(probe:report:\d+)\s+(written|not written|THIRD STATE)$")


def report_of(stdout: str) -> Dict[str, str]:
    """The probe's per-key report: key -> 'written' / 'not written'."""
    return {m.group(1): m.group(2) for m in map(REPORT_LINE.match, stdout.splitlines()) if m}


def set_many_writes(events: List[dict], composed: bool = False) -> Tuple[Dict[str, bool], List[dict]]:
    """Per key, whether the event log says a write of the report's set-many took effect; and its batch events.
    With the provider composed into the guest the host sees no batch call, only the provider's sets."""
    batch_ids = [e["batch"] for e in events if e["op"] == "set-many"]
    assert len(batch_ids) == (0 if composed else 1)
    writes = [e for e in events if e["op"] == "set" and (composed or e.get("batch") == batch_ids[0])]
    applied: Dict[str, bool] = {}
    for e in writes:
        applied[e["key"]] = applied.get(e["key"], False) or bool(e["applied"])
    return applied, writes


def run(argv: List[str], capfd: pytest.CaptureFixture[str]) -> Tuple[int, str, str]:
    code = main(argv)
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.both_paths
@pytest.mark.parametrize("batch, rule", [
    ("provider", "op=set,key=probe:report:002,error=other:disk full"),  # composed: the host sees per-key calls
    ("native", "op=set,batch=set-many,position=2,error=other:disk full"),
])
def test_run_with_a_fault_plan_prints_a_per_key_report_that_the_event_log_agrees_with(
    built: Callable[[str], Path], tmp_path: Path, capfd: pytest.CaptureFixture[str], batch: str, rule: str
) -> None:
    events_path = tmp_path / "events.jsonl"
    code, out, err = run(["run", str(built("probe")), "--store", "memory:", "--batch", batch,
                          "--fault", rule, "--events", str(events_path), "--", "default", "report", "6"], capfd)
    assert code == 0, err
    assert "set-many of 6 keys -> err other: disk full" in out
    report = report_of(out)
    assert list(report.values()) == ["written", "written", "not written", "not written", "not written", "not written"]
    applied, writes = set_many_writes(read_jsonl(events_path), composed=batch == "provider")
    for key, state in report.items():
        assert applied.get(key, False) == (state == "written"), key
    faulted = [e for e in writes if e.get("fault")]
    assert [(e["key"], e["applied"], e["error"]["message"]) for e in faulted] == [("probe:report:002", False, "disk full")]
    assert f"rule 1 ({rule}) -> error on set 'probe:report:002'" in err


def test_an_in_doubt_fault_is_reported_written_and_logged_applied_with_an_error(
    built: Callable[[str], Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    events_path = tmp_path / "events.jsonl"
    code, out, err = run(["run", str(built("probe")), "--store", "memory:",
                          "--fault", "op=set,key=probe:report:001,in-doubt=other:timeout",
                          "--events", str(events_path), "--", "default", "report", "3"], capfd)
    assert code == 0, err
    assert "-> err other: timeout" in out
    assert list(report_of(out).values()) == ["written", "written", "not written"]
    _, writes = set_many_writes(read_jsonl(events_path), composed=True)
    doubt = next(e for e in writes if e["key"] == "probe:report:001")
    assert (doubt["applied"], doubt["result"], doubt["fault"]) == (True, "error", "in-doubt")


def test_a_fault_plan_file_works_like_command_line_rules(built: Callable[[str], Path], tmp_path: Path,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('[[fault]]\nop = "set"\nnth = 1\nerror = "other:first write refused"\n')
    code, out, err = run(["run", str(built("probe")), "--store", "memory:", "--batch", "native",
                          "--fault-file", str(plan), "--", "default", "report", "2"], capfd)
    assert code == 0, err
    assert "-> err other: first write refused" in out
    assert list(report_of(out).values()) == ["not written", "not written"]


def test_a_trap_fault_makes_the_component_trap_and_the_log_says_so(built: Callable[[str], Path], tmp_path: Path,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    events_path = tmp_path / "events.jsonl"
    code, _out, err = run(["run", str(built("probe")), "--store", "memory:", "--batch", "native",
                           "--fault", "op=set,position=1,trap=host crashed", "--events", str(events_path),
                           "--", "default", "report", "3"], capfd)
    assert code != 0
    assert "the component trapped" in err
    events = read_jsonl(events_path)
    sets = [(e["key"], e["result"]) for e in events if e["op"] == "set"]
    assert sets == [("probe:report:000", "ok"), ("probe:report:001", "trap")]


def test_a_malformed_fault_rule_stops_the_run_before_it_starts(built: Callable[[str], Path],
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["run", str(built("probe")), "--store", "memory:", "--fault", "op=set,position=two,error=other"], capfd)
    assert code == 2
    assert "position='two'" in err
    assert "probe report" not in out


def test_a_rule_that_matches_nothing_is_reported(built: Callable[[str], Path], capfd: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["run", str(built("probe")), "--store", "memory:", "--batch", "native",
                           "--fault", "op=increment,error=other", "--", "default", "report", "1"], capfd)
    assert code == 0
    assert "0 fault(s) fired (1 rule(s) matched nothing)" in err


@pytest.mark.parametrize("batch, batch_calls", [
    ("native", ["get-many", "set-many", "get-many"]),
    ("provider", []),  # composed into the guest: the host sees only the provider's per-key calls
])
def test_events_without_faults_log_every_operation_as_applied(built: Callable[[str], Path], tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str], batch: str,
                                                             batch_calls: List[str]) -> None:
    events_path = tmp_path / "events.jsonl"
    code, _out, err = run(["run", str(built("probe")), "--store", "memory:", "--batch", batch, "--events",
                           str(events_path), "--", "default", "report", "4"], capfd)
    assert code == 0, err
    events = read_jsonl(events_path)
    sets = [e for e in events if e["op"] == "set"]
    assert len(sets) == 4 and all(e["applied"] and e["result"] == "ok" for e in sets)
    assert [e["op"] for e in events if e["op"].endswith("-many")] == batch_calls


def test_batch_none_runs_a_guest_without_batch_on_per_key_calls(built: Callable[[str], Path], tmp_path: Path,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    events_path = tmp_path / "events.jsonl"
    code, out, err = run(["run", str(built("demo-nobatch")), "--store", "memory:", "--batch", "none",
                          "--events", str(events_path)], capfd)
    assert code == 0, err
    assert "per-key store calls" in out
    events = read_jsonl(events_path)
    assert events and all(e.get("batch") is None for e in events)
    assert {e["op"] for e in events} >= {"get", "set", "delete"}


def test_batch_none_explains_that_a_guest_importing_batch_needs_another_mode(built: Callable[[str], Path],
                                                                            capfd: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["run", str(built("probe")), "--store", "memory:", "--batch", "none"], capfd)
    assert code == 2
    assert "imports wasi:keyvalue/batch, which --batch none does not serve" in err


def test_run_lists_at_most_twenty_fired_faults_and_points_to_the_event_log(built):
    import subprocess

    kvbatch = ROOT / ".venv" / "bin" / "kvbatch"
    proc = subprocess.run([str(kvbatch), "run", str(built("demo")), "--store", "memory:", "--batch", "native",
                           "--fault", "op=set,latency=1ms"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "kvbatch: 300 fault(s) fired:" in proc.stderr
    assert proc.stderr.count("-> latency on set") == 20
    assert "... and 280 more; --events PATH logs every one" in proc.stderr
