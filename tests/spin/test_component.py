"""The built Spin component (`build/spin.wasm`) links under Spin's platform world.

The Spin CLI is not installable here, so the check reads the WIT spin-sdk ships for
`spin:up/http-trigger@4.1.0` and compares the component's imports and exports with it
(semver rules: `kvbatch_host.spin_compat`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import pytest

from kvbatch_host import spin_compat

pytestmark = pytest.mark.component


@pytest.fixture(scope="module")
def spin_wasm(built: Callable[..., Path]) -> Path:
    return built("spin")


@pytest.fixture(scope="module")
def report(spin_wasm: Path) -> spin_compat.Report:
    return spin_compat.check(spin_wasm)


def test_every_import_of_the_spin_component_is_served_by_spins_platform_world(report: spin_compat.Report) -> None:
    assert report.unserved == []
    assert len(report.matched) > 50


def test_the_spin_component_reaches_key_value_stores_through_draft2_as_spin_serves_it(report: spin_compat.Report) -> None:
    for name in ("store", "batch"):
        assert report.matched[f"wasi:keyvalue/{name}@0.2.0-draft2"] == f"wasi:keyvalue/{name}@0.2.0-draft2"
    assert report.matched["spin:variables/variables@3.0.0"] == "spin:variables/variables@3.0.0"


def test_wasi_0_2_patch_imports_are_matched_to_the_0_2_versions_spin_declares(report: spin_compat.Report) -> None:
    newer = {name: served for name, served in report.matched.items() if name != served}
    assert newer, "expected componentize-py's wasi 0.2.x imports to be newer than spin-sdk's 0.2.6"
    for name, served in newer.items():
        assert name.rpartition("@")[2].startswith("0.2.") and served.rpartition("@")[2].startswith("0.2.")


def test_the_spin_component_exports_the_http_handler_the_trigger_world_expects(spin_wasm: Path, report: spin_compat.Report) -> None:
    assert report.missing_exports == []
    resolve = spin_compat.resolve_json(spin_wasm)
    exports, _ = spin_compat.world_items(resolve, spin_compat.component_world(resolve), "exports")
    handler = [e for e in exports if e.qualified == "wasi:http/handler@0.3.0"]
    assert handler and handler[0].functions == {"handle": ("request",)}


def test_the_compat_command_says_the_spin_component_links(spin_wasm: Path) -> None:
    import sys

    proc = subprocess.run([sys.executable, "-m", "kvbatch_host.spin_compat", str(spin_wasm)], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[-1].startswith("links under spin:up/http-trigger@4.1.0")
