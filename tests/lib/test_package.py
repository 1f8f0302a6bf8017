"""The library as a package: typed (py.typed, mypy-clean under strict), stdlib only, public API."""

from __future__ import annotations

import ast
import subprocess
import sys

import kvbatch

from checkout import ROOT
LIB = ROOT / "src" / "kvbatch"


def test_package_ships_py_typed():
    assert (LIB / "py.typed").exists()


def test_library_is_mypy_clean_under_the_project_config():
    proc = subprocess.run([sys.executable, "-m", "mypy", "src/kvbatch"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_library_imports_only_the_stdlib_and_generated_bindings():
    allowed_third_party = {"componentize_py_types", "wit_world"}
    for file in LIB.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in allowed_third_party, f"{file.name} imports {name}"


def test_library_imports_nothing_inside_functions():
    """Inside a component only modules imported at build time exist, so imports are module-level."""
    for file in LIB.glob("*.py"):
        tree = ast.parse(file.read_text())
        for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            inner = [n for n in ast.walk(func) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not inner, f"{file.name}:{func.name} imports inside a function"


def test_public_api_names_exist():
    for name in ("open", "Bucket", "BatchResult", "GetResult", "ExistsResult", "RetryPolicy", "KvError",
                 "CapabilityError", "NoSuchStore", "AccessDenied", "StoreError", "ValidationError", "BatchFailed",
                 "WitBucket", "RawBucket", "from_wit_error", "limits", "testing", "Progress", "Stats"):
        assert hasattr(kvbatch, name), name
    assert kvbatch.testing.MemoryBucket and kvbatch.testing.FaultyBucket
