"""The Spin compatibility check itself: it fails on what Spin does not serve.

Small components are made from WIT with `wasm-tools component embed --dummy` (no Python
inside, so no componentize-py build), then held to `spin:up/http-trigger@4.1.0`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Dict

import pytest

from kvbatch_host import spin_compat
from kvbatch_host.prepare import build as builder

SERVED_WORLD = """package test:probe;
world probe {
  %s
}
"""


def dummy_component(tmp_path: Path, wit_dir: Path, world: str) -> Path:
    core, component = tmp_path / "core.wasm", tmp_path / "component.wasm"
    tool = spin_compat.wasm_tools()
    subprocess.run([tool, "component", "embed", "--dummy", str(wit_dir), "-w", world, "-o", str(core)], check=True)
    subprocess.run([tool, "component", "new", str(core), "-o", str(component)], check=True)
    return component


def probe(tmp_path: Path, world_body: str, deps: Dict[str, str]) -> spin_compat.Report:
    wit = tmp_path / "wit"
    (wit / "deps").mkdir(parents=True)
    (wit / "probe.wit").write_text(SERVED_WORLD % world_body)
    for name, text in deps.items():
        (wit / "deps" / f"{name}.wit").write_text(text)
    return spin_compat.check(dummy_component(tmp_path, wit, "probe"))


def test_a_component_of_spins_own_trigger_world_links(tmp_path: Path) -> None:
    report = spin_compat.check(dummy_component(tmp_path, spin_compat.spin_sdk_wit(), spin_compat.SPIN_TRIGGER_WORLD))
    assert report.ok, (report.unserved, report.missing_exports)


def test_the_wasmtime_cli_keyvalue_version_is_not_served_by_spin(tmp_path: Path) -> None:
    report = spin_compat.check(dummy_component(tmp_path, builder.WIT_DIR, "guest-draft"))
    assert not report.ok
    assert "wasi:keyvalue/store@0.2.0-draft: served only as 0.2.0-draft2" in report.unserved
    assert report.missing_exports == ["wasi:http/handler@0.3.0: not exported"]


@pytest.mark.parametrize("package, ok, problem", [
    ("wasi:cli@0.2.99", True, ""),                                    # a newer 0.2 patch: served by 0.2.6
    ("wasi:cli@0.3.0", True, ""),
    ("wasi:cli@0.4.0", False, "wasi:cli/environment@0.4.0: served only as"),
    ("wasi:cli@1.0.0", False, "wasi:cli/environment@1.0.0: served only as"),
    ("wasi:cli@0.3.0-rc-2026-01-01", False, "served only as"),         # pre-releases must match exactly
    ("acme:cli@0.2.6", False, "acme:cli/environment@0.2.6: not served at any version"),
])
def test_imports_are_matched_with_semver_rules(tmp_path: Path, package: str, ok: bool, problem: str) -> None:
    name = package.partition("@")[0]
    dep = f"package {package};\ninterface environment {{ get-arguments: func() -> list<string>; }}\n"
    report = probe(tmp_path, f"import {name}/environment@{package.partition('@')[2]};", {"cli": dep})
    unserved = [p for p in report.unserved]
    assert (unserved == []) is ok, unserved
    if problem:
        assert any(problem in p for p in unserved), unserved


def test_a_function_spin_does_not_serve_fails_even_when_the_version_matches(tmp_path: Path) -> None:
    dep = "package wasi:keyvalue@0.2.0-draft2;\ninterface store { compact-everything: func(); }\n"
    report = probe(tmp_path, "import wasi:keyvalue/store@0.2.0-draft2;", {"keyvalue": dep})
    assert report.unserved == ["wasi:keyvalue/store@0.2.0-draft2: wasi:keyvalue/store@0.2.0-draft2 lacks or differs in compact-everything"]


def test_a_handler_export_with_other_parameters_is_reported(tmp_path: Path) -> None:
    dep = "package wasi:http@0.3.0;\ninterface handler { handle: func(req: string) -> string; }\n"
    report = probe(tmp_path, "export wasi:http/handler@0.3.0;", {"http": dep})
    assert report.missing_exports == ["wasi:http/handler@0.3.0: lacks or differs in handle"]


@pytest.mark.parametrize("imported, served, expected", [
    ("0.2.9", "0.2.6", True), ("0.2.6", "0.2.9", True), ("0.3.0", "0.2.6", False), ("1.4.0", "1.0.0", True),
    ("2.0.0", "1.9.0", False), ("0.2.0-draft2", "0.2.0-draft2", True), ("0.2.0-draft", "0.2.0-draft2", False),
    ("0.3.0-rc-2026-03-15", "0.3.0", False), (None, None, True), ("0.2.6", None, False),
])
def test_version_compatibility(imported: str, served: str, expected: bool) -> None:
    assert spin_compat.compatible(imported, served) is expected
