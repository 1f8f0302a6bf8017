"""The examples in examples/: each is built and run as its README says, from a copy in a temporary
directory, with this checkout's venv active (as a user's shell with kvbatch installed has it).

Builds reuse the suite's caches: the provider and the byte bridge come from build/, the JavaScript
toolchain from build/node (the README's `npm install` is the one step not run), and the Spin app's
component is kept in build/examples/ while its inputs are unchanged, so `kvbatch serve` finds its
composition cached too.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docs_blocks import ROOT, lay_out, marked_blocks, served

from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import node

pytestmark = pytest.mark.component

EXAMPLES = ROOT / "examples"
VENV_BIN = Path(sys.executable).parent


def active_venv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    return env


def copy_example(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / name, tmp_path / name))


def readme_blocks(name: str) -> list[tuple[str, str, str]]:
    return marked_blocks((EXAMPLES / name / "README.md").read_text(), "example")


def run_sh_blocks(name: str, directory: Path, skip: tuple[str, ...] = (), timeout: float = 900) -> str:
    blocks = [(kind, path, body) for kind, path, body in readme_blocks(name) if kind in ("sh", "file")]
    blocks = [(kind, path, "".join(line for line in body.splitlines(keepends=True) if not line.startswith(skip)))
              for kind, path, body in blocks]
    script = lay_out(blocks, directory)
    proc = script.run(directory, active_venv_env(), timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not script.mismatches(proc.stdout), script.mismatches(proc.stdout)
    return proc.stdout


def test_every_example_has_a_readme_whose_commands_the_suite_runs() -> None:
    examples = sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir())
    assert len(examples) >= 4
    for name in examples:
        assert readme_blocks(name), f"examples/{name}/README.md marks no runnable block"


def test_the_command_guest_reports_each_update_and_the_one_the_store_refused(tmp_path: Path) -> None:
    run_sh_blocks("command-guest", copy_example("command-guest", tmp_path))


def test_the_pytest_suite_example_passes_under_the_plugin(tmp_path: Path) -> None:
    out = run_sh_blocks("pytest-suite", copy_example("pytest-suite", tmp_path))
    assert "3 passed" in out


@pytest.mark.skipif(node.missing_tools() is not None, reason=node.missing_tools() or "")
def test_the_javascript_guest_runs_composed_with_the_provider(tmp_path: Path) -> None:
    directory = copy_example("js-guest", tmp_path)
    (directory / "node_modules").symlink_to(node.ensure_toolchain().parents[1])  # node_modules/.bin/componentize-js
    run_sh_blocks("js-guest", directory, skip=("npm install",))


def spin_app_inputs() -> str:
    digest = hashlib.sha256()
    for path in [EXAMPLES / "spin-app" / "app.py", *sorted((ROOT / "src" / "kvbatch").glob("*.py"))]:
        digest.update(path.read_bytes())
    digest.update(metadata.version("componentize-py").encode())
    return digest.hexdigest()[:16]


def built_spin_app(directory: Path) -> None:
    """`app.wasm` in `directory`, built by the README's command (with this checkout's library on the
    path: the venv holds kvbatch as an editable install, which componentize-py does not follow), or
    copied from build/examples/ when built from the same inputs before."""
    cached = builder.BUILD / "examples" / f"spin-app-{spin_app_inputs()}.wasm"
    if cached.is_file():
        shutil.copyfile(cached, directory / "app.wasm")
        return
    (kind, _, command), *_ = readme_blocks("spin-app")
    assert kind == "sh" and command.startswith("componentize-py -w spin:up/http-trigger@4.1.0 componentize app")
    argv = command.split() + ["-p", ".", "-p", str(ROOT / "src")]
    proc = subprocess.run(argv, cwd=directory, env=active_venv_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(directory / "app.wasm", cached)


def test_the_spin_app_builds_links_under_spin_and_is_served_with_a_fault(tmp_path: Path) -> None:
    directory = copy_example("spin-app", tmp_path)
    built_spin_app(directory)
    blocks = readme_blocks("spin-app")
    checks = lay_out([blocks[1]], directory)                      # the spin compatibility check
    proc = checks.run(directory, active_venv_env(), timeout=300)
    assert proc.returncode == 0 and not checks.mismatches(proc.stdout), proc.stdout + proc.stderr
    (serve,) = [body for kind, _, body in blocks if kind == "serve"]
    (client,) = [body for kind, _, body in blocks if kind == "client"]
    with served(serve, directory, active_venv_env()) as port:
        requests = lay_out([("sh", "", client.replace("127.0.0.1:3000", f"127.0.0.1:{port}"))], directory)
        proc = requests.run(directory, active_venv_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not requests.mismatches(proc.stdout), requests.mismatches(proc.stdout)
