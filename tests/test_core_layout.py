"""The architecture holds: guest code never imports host code, and the host side is typed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUEST_PACKAGES = ["kvbatch", "kvbatch_bulk", "kvbatch_guests"]
HOST_MODULES = {"kvbatch_host", "wasmtime", "redis", "numpy", "matplotlib", "tqdm", "spin_sdk_host"}


def imported_modules(file: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", GUEST_PACKAGES)
def test_guest_code_never_imports_host_code(package):
    for file in (ROOT / "src" / package).rglob("*.py"):
        leaked = imported_modules(file) & HOST_MODULES
        assert not leaked, f"{file.relative_to(ROOT)} imports host-side {sorted(leaked)}"


def test_host_and_bulk_packages_are_mypy_clean():
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_bindings_are_not_checked_in():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [path for path in tracked if "wit_world/" in path or path.startswith("build/")]
