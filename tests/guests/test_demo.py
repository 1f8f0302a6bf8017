"""The demo guest: same report on every batch path, on the wasmtime CLI, and through the main job."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from kvbatch_host.backends import MemoryBackend, SqliteBackend
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

from checkout import ROOT

pytestmark = pytest.mark.component


def run_demo_under_harness(built: Callable[..., Path], backend: object, batch: str, store: str = "default") -> str:
    registry = StoreRegistry().add(store, backend)  # type: ignore[arg-type]
    harness = Harness(registry, batch=batch, provider_path=built("provider"))
    result = harness.run_command(built("demo"), [store], capture=True)
    assert result.trap is None and result.exit_code == 0, result.stderr
    return result.stdout


def grid_states(report: str) -> dict[str, str]:
    """Key → state parsed from the report's per-key grid."""
    states = {}
    marks = {".": "kept", "x": "deleted", "?": "missing", "!": "differs"}
    for first, row in re.findall(r"^  (user:\d{4})  ([.x?!]+)$", report, re.M):
        start = int(first.split(":")[1])
        for offset, mark in enumerate(row):
            states[f"user:{start + offset:04d}"] = marks[mark]
    return states


@pytest.mark.both_paths
def test_demo_reports_the_same_through_the_provider_and_native_batch(built):
    via_provider = run_demo_under_harness(built, MemoryBackend(), "provider")
    via_native = run_demo_under_harness(built, MemoryBackend(), "native")
    assert via_provider == via_native
    assert "300 match, 0 differ, 0 missing" in via_provider


@pytest.mark.both_paths
def test_demo_per_key_summary_matches_the_store(built):
    backend = MemoryBackend()
    report = run_demo_under_harness(built, backend, "provider")
    states = grid_states(report)
    assert len(states) == 300
    stored = dict(backend.all_items("default"))
    for key, state in states.items():
        assert (key in stored) == (state == "kept"), key


@pytest.mark.wasmtime_cli
def test_demo_prints_the_same_report_under_the_wasmtime_cli(built, wasmtime_cli):
    cli = subprocess.run(
        [wasmtime_cli, "run", "-S", "keyvalue", str(built("demo-wasmtime")), ""],
        capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    harness = run_demo_under_harness(built, MemoryBackend(), "provider", store="")
    assert cli.stdout == harness
    assert "summary digest:" in cli.stdout


def test_main_job_keeps_data_between_runs_on_sqlite(tmp_path):
    """`./dev.sh demo`, as a user runs it, on a fresh SQLite file, twice."""
    store = f"sqlite:{tmp_path / 'kv.db'}"
    first = subprocess.run([str(ROOT / "dev.sh"), "demo", "--store", store], capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "300 match, 0 differ, 0 missing" in first.stdout
    assert "previous run" not in first.stdout
    second = subprocess.run([str(ROOT / "dev.sh"), "demo", "--store", store], capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr
    assert "found 200 records left by a previous run" in second.stdout
    backend = SqliteBackend(str(tmp_path / "kv.db"))
    assert len(list(backend.all_items("default"))) == 200
    backend.close()


def test_demo_on_a_store_it_may_not_open_fails_with_access_denied(built):
    registry = StoreRegistry(allowed={"other"}).add("default", MemoryBackend())
    harness = Harness(registry, batch="provider", provider_path=built("provider"))
    result = harness.run_command(built("demo"), ["default"], capture=True)
    assert result.exit_code == 1
    assert "AccessDenied" in result.stdout
