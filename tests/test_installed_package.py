"""The wheel, installed into a fresh venv, works from any directory as a user would use it
(README, "Your own component"). Slow: builds the wheel, installs it (pip's cache), builds a guest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvbatch_host.prepare import build as builder

from test_user_component import APP

pytestmark = pytest.mark.component


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin/` of a fresh venv holding only the kvbatch wheel built from this checkout and its deps."""
    root = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(builder.ROOT)],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    wheel = next((root / "dist").glob("kvbatch-*.whl"))
    subprocess.run([str(root / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True)
    return root / "venv" / "bin"


def user(installed: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "KVBATCH_BUILD_DIR", "KVBATCH_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(cwd / "cache")
    return subprocess.run([str(installed / "kvbatch"), *argv], cwd=cwd, env=env, capture_output=True, text=True)


def test_the_wheel_ships_the_wit(installed: Path, tmp_path: Path) -> None:
    proc = user(installed, tmp_path, "wit", "--out", "wit")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "wit" / "deps" / "keyvalue-draft2").is_dir()


def test_the_wheel_does_not_pull_in_plotting_and_bench_says_so(installed: Path, tmp_path: Path) -> None:
    proc = user(installed, tmp_path, "bench", "--quick")
    assert (proc.returncode, proc.stderr) == (2, "kvbatch: the plots need matplotlib: pip install 'kvbatch[bench]' (or pass --no-plots)\n")


def test_a_user_guest_builds_and_runs_from_another_directory(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "app.py").write_text(APP)
    built = user(installed, tmp_path, "build", "--app", "myapp", "-o", "my.wasm")
    assert built.returncode == 0, built.stderr[-3000:]
    ran = user(installed, tmp_path, "run", "my.wasm", "--store", "memory:", "--fault", "op=set,key=b,error=other:disk full")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.splitlines() == ["a: succeeded", "b: failed", "c: succeeded"]
    assert "kvbatch: building provider into" in ran.stderr  # built on first use into the per-user cache
    assert (tmp_path / "cache" / "kvbatch").is_dir()
