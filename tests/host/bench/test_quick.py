"""`kvbatch bench --quick` runs end to end and its output is well formed (never a timing check)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any, Dict

import pytest

from kvbatch_host.bench import HEADLINE_KEYS_NAMES
from kvbatch_host.bench.plan import CALL_BYTES, chunk_for, make_plan
from kvbatch_host.prepare.build import ROOT

pytestmark = [pytest.mark.component, pytest.mark.wasmtime_cli]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """One `kvbatch bench --quick` run for the whole module: its output, JSON and plot paths."""
    out = tmp_path_factory.mktemp("bench")
    json_path, plots = out / "bench.json", out / "plots"
    proc = subprocess.run(
        [sys.executable, "-m", "kvbatch_host.cli", "bench", "--quick", "--json", str(json_path), "--plots", str(plots),
         "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return {"stdout": proc.stdout, "doc": json.loads(json_path.read_text()), "plots": plots}


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0)


def test_the_headline_holds_exactly_the_issues_figures(quick_run: Dict[str, Any]) -> None:
    headline = quick_run["doc"]["headline"]
    assert sorted(headline) == sorted(HEADLINE_KEYS_NAMES)
    assert all(_number_or_null(v) for v in headline.values()), headline


def test_the_quick_run_measures_every_headline_figure_but_redis_when_absent(quick_run: Dict[str, Any]) -> None:
    headline = quick_run["doc"]["headline"]
    notes = quick_run["doc"]["meta"]["notes"]
    allowed = set()
    if any(note.startswith("redis") for note in notes):
        allowed.add("batch_vs_per_key_redis_1000x100")
    if any(note.startswith("serve") for note in notes):  # hey not installed
        allowed |= {key for key in headline if key.startswith("serve_")}
    missing = {k for k, v in headline.items() if v is None}
    assert missing <= allowed, missing


def test_every_run_has_positive_phase_times_and_its_repeats(quick_run: Dict[str, Any]) -> None:
    runs = quick_run["doc"]["runs"]
    assert {r["path"] for r in runs} >= {"native", "provider", "per-key", "wasmtime-cli", "library-cli", "raw-bindings-cli",
                                         "floor-per-key", "floor-native"}
    for run in runs:
        assert run["keys"] > 0 and run["value_bytes"] > 0
        assert all(_number_or_null(run[k]) and run[k] is not None for k in ("set_ms", "get_ms", "delete_ms", "total_ms"))
        assert all(len(samples) == run["repeat"] for samples in run["samples"].values())


def test_the_table_and_headline_are_printed(quick_run: Dict[str, Any]) -> None:
    stdout = quick_run["stdout"]
    assert stdout.splitlines()[0].split()[:3] == ["path", "keys", "value"]
    for key in HEADLINE_KEYS_NAMES:
        assert key in stdout


def test_both_plots_are_png_files(quick_run: Dict[str, Any]) -> None:
    for name in ("throughput_vs_batch_size.png", "cost_vs_value_size.png"):
        data = (quick_run["plots"] / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")


def test_large_workloads_are_split_into_calls_the_host_can_take() -> None:
    assert chunk_for(20_000, 100) == 20_000
    assert chunk_for(100_000, 100) * 100 <= CALL_BYTES
    assert chunk_for(4, 1024 * 1024) == 1


def test_the_quick_plan_is_smaller_and_still_reports_medians_of_three() -> None:
    quick, full = make_plan(quick=True), make_plan(quick=False)
    assert len(quick.jobs) < len(full.jobs)
    assert quick.repeat == full.repeat == 3


def test_a_repeat_below_one_is_refused_with_the_limit() -> None:
    proc = subprocess.run([sys.executable, "-m", "kvbatch_host.cli", "bench", "--repeat", "0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "--repeat must be at least 1" in proc.stdout + proc.stderr
