"""Interoperability: the probe guest observes the same batch behaviour under the real wasmtime CLI
(`-S keyvalue`, its in-memory store "") and under the harness, in every batch mode."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from kvbatch_host.backends import MemoryBackend
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

pytestmark = [pytest.mark.component, pytest.mark.wasmtime_cli]


def observations(stdout: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def under_wasmtime_cli(built: Callable[[str], Path], wasmtime_cli: str) -> List[Dict[str, Any]]:
    proc = subprocess.run([wasmtime_cli, "run", "-S", "keyvalue", str(built("probe-draft")), ""],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return observations(proc.stdout)


def test_the_probe_runs_every_batch_scenario_cleanly_under_the_wasmtime_cli(under_wasmtime_cli: List[Dict[str, Any]]) -> None:
    assert len(under_wasmtime_cli) >= 15
    assert all(step["ok"] for step in under_wasmtime_cli), under_wasmtime_cli


@pytest.mark.parametrize("target", ["probe-draft", "probe"])
@pytest.mark.parametrize("batch", ["native", "provider"])
def test_the_probe_observes_under_the_harness_what_it_observes_under_the_wasmtime_cli(
    built: Callable[[str], Path], under_wasmtime_cli: List[Dict[str, Any]], target: str, batch: str
) -> None:
    registry = StoreRegistry().add("", MemoryBackend())
    harness = Harness(registry, batch=batch)  # provider: the one of the guest's keyvalue version, composed
    result = harness.run_command(built(target), [""], capture=True)
    assert result.exit_code == 0, result.stderr
    assert observations(result.stdout) == under_wasmtime_cli
