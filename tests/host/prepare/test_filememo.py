"""Facts about files are remembered across processes by file identity, and never outlive a change."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from kvbatch_host.prepare import filememo


@pytest.fixture(autouse=True)
def own_memo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(filememo.MEMO_ENV, str(tmp_path / "memo"))
    filememo._known.clear()
    return tmp_path / "memo"


def counting(calls: List[int], value: str):  # type: ignore[no-untyped-def]
    def compute() -> str:
        calls.append(1)
        return value

    return compute


def test_a_fact_is_computed_once_for_an_unchanged_file(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    calls: List[int] = []
    assert filememo.remembered("kind", [f], counting(calls, "x")) == "x"
    filememo._known.clear()  # as a new process would start
    assert filememo.remembered("kind", [f], counting(calls, "y")) == "x"
    assert len(calls) == 1


def test_a_replaced_file_gets_its_facts_computed_afresh(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    calls: List[int] = []
    filememo.remembered("kind", [f], counting(calls, "old"))
    tmp = tmp_path / "a.tmp"
    tmp.write_bytes(b"two!")
    os.replace(tmp, f)  # as builds replace their outputs
    assert filememo.remembered("kind", [f], counting(calls, "new")) == "new"


def test_a_corrupt_memo_is_recomputed(tmp_path: Path, own_memo_dir: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    filememo.remembered("kind", [f], lambda: "x")
    for stored in own_memo_dir.rglob("*.json"):
        stored.write_text("{not json")
    filememo._known.clear()
    assert filememo.remembered("kind", [f], lambda: "again") == "again"


def test_sha256_of_is_the_files_sha256(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 3_000_000)
    assert filememo.sha256_of(f) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_an_unwritable_memo_dir_costs_only_the_recomputation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv(filememo.MEMO_ENV, str(blocker / "memo"))
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    assert filememo.remembered("kind", [f], lambda: "x") == "x"


def test_a_run_imports_nothing_of_bench_serve_or_check() -> None:
    code = ("import sys; from kvbatch_host import cli; cli.parser('run'); "
            "print(sorted(m for m in sys.modules if m.startswith(('kvbatch_host.bench', 'kvbatch_host.serve.', "
            "'kvbatch_host.conformance', 'numpy'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_dash_m_kvbatch_host_is_the_kvbatch_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "kvbatch_host", "run", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: kvbatch run")
