"""The architecture holds: guest code never imports host code, the host side is typed, and the tests
mirror the packages."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from checkout import ROOT

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


def test_sources_and_tests_pass_the_projects_lint_rules():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "examples"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_bindings_are_not_checked_in():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [path for path in tracked if "wit_world/" in path or path.startswith("build/")]


def library_import_graph() -> dict[str, set[str]]:
    """Module → the `kvbatch` modules it imports (relative or absolute, `TYPE_CHECKING` blocks included)."""
    package = ROOT / "src" / "kvbatch"
    modules = {file.stem for file in package.glob("*.py") if file.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in modules:
        edges: set[str] = set()
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1 or (node.level == 0 and (node.module or "").split(".")[0] == "kvbatch"):
                    target = (node.module or "").removeprefix("kvbatch").lstrip(".").split(".")[0]
                    targets = [target] if target else [alias.name for alias in node.names]
                    edges.update(t for t in targets if t in modules)
            elif isinstance(node, ast.Import):
                edges.update(a.name.split(".")[1] for a in node.names if a.name.startswith("kvbatch.")
                             and a.name.split(".")[1] in modules)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph` as a path that ends where it starts, or [] if it has none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def test_find_cycle_reports_a_cycle_and_accepts_a_layered_graph():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_guest_library_has_no_import_cycle_lower_layers_never_import_higher_ones():
    cycle = find_cycle(library_import_graph())
    assert not cycle, "import cycle in src/kvbatch: " + " -> ".join(cycle)


def test_the_contracts_live_in_the_top_level_wit_directory_only():
    tracked = subprocess.run(["git", "ls-files", "*.wit"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert tracked and all(path.startswith("wit/") for path in tracked), [p for p in tracked if not p.startswith("wit/")]


def test_the_host_finds_the_wit_at_the_top_of_a_checkout():
    from kvbatch_host import resources

    assert resources.wit_dir() == ROOT / "wit"
    assert (resources.wit_dir() / "kvbatch.wit").is_file()


TESTS = ROOT / "tests"
MIRRORS = {"lib": "kvbatch", "bulk": "kvbatch_bulk", "guests": "kvbatch_guests", "host": "kvbatch_host"}
"""Test folders that mirror a package: each folder below one is named for a subpackage or module of it."""
ACROSS = {"spin", "reliability", "project", "support"}
"""The other top-level folders: the Spin app, end-to-end promises, the project as a whole, shared helpers."""


def folders_under(top: Path) -> list[Path]:
    return sorted(path for path in top.rglob("*") if path.is_dir() and path.name != "__pycache__")


def test_no_test_module_sits_at_the_top_of_tests():
    assert not sorted(path.name for path in TESTS.glob("test_*.py"))


def test_the_top_level_test_folders_are_the_packages_mirrors_and_the_declared_others():
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == set(MIRRORS) | ACROSS


def test_every_package_has_its_mirror_folder():
    packages = {path.parent.name for path in (ROOT / "src").glob("*/__init__.py")}
    assert packages == set(MIRRORS.values())


@pytest.mark.parametrize("folder", sorted(MIRRORS))
def test_every_folder_below_a_mirror_names_a_part_of_its_package(folder):
    package = ROOT / "src" / MIRRORS[folder]
    for path in folders_under(TESTS / folder):
        part = package / path.relative_to(TESTS / folder)
        assert (part / "__init__.py").is_file() or part.with_suffix(".py").is_file(), (
            f"{path.relative_to(ROOT)} names no subpackage or module of {MIRRORS[folder]}")


def test_every_test_folder_holds_tests():
    for path in folders_under(TESTS):
        if path.name != "support":
            assert list(path.glob("test_*.py")), f"{path.relative_to(ROOT)} holds no test module"


def test_no_test_folder_is_named_like_an_importable_module():
    names = sorted({path.name for path in folders_under(TESTS)})
    code = "import importlib.util, sys; print([n for n in sys.argv[1:] if importlib.util.find_spec(n)])"
    found = subprocess.run([sys.executable, "-I", "-c", code, *names], cwd="/", capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_test_modules_are_imported_by_path_and_helpers_come_from_support():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--import-mode=importlib" in options["addopts"].split()
    assert options["pythonpath"] == ["tests/support"]
    assert not list(TESTS.rglob("__init__.py"))
    assert not sorted(path.name for path in (TESTS / "support").glob("test_*.py"))


def test_no_test_module_imports_another_test_module():
    for file in TESTS.rglob("*.py"):
        leaked = {name for name in imported_modules(file) if name.startswith("test_") or name == "conftest"}
        assert not leaked, f"{file.relative_to(ROOT)} imports {sorted(leaked)}: shared code belongs in tests/support"
