"""`kvbatch bench`'s cache of components compiled by the wasmtime CLI is bounded like the others."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import wasmtime

from kvbatch_host.bench.measure import precompiled_for_cli
from kvbatch_host.prepare import cache_bound

pytestmark = pytest.mark.wasmtime_cli

HOUR = 3600.0


@pytest.fixture
def empty_component(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wasm"
    path.write_bytes(wasmtime.wat2wasm("(component)"))
    return path


def test_a_cache_hit_marks_the_cli_compiled_component_used(wasmtime_cli: str, empty_component: Path, tmp_path: Path) -> None:
    cwasm = precompiled_for_cli(wasmtime_cli, empty_component, tmp_path / "cli")
    long_ago = time.time() - 3 * HOUR
    os.utime(cwasm, (long_ago + 1, long_ago))
    assert precompiled_for_cli(wasmtime_cli, empty_component, tmp_path / "cli") == cwasm
    assert time.time() - cwasm.stat().st_atime < 60
    assert cwasm.stat().st_mtime == long_ago


def test_a_new_cli_compiled_component_prunes_its_cache(wasmtime_cli: str, empty_component: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "cli" / "0123.cwasm"
    stale.parent.mkdir()
    stale.write_bytes(b"x" * 100)
    os.utime(stale, (time.time() - 3 * HOUR, time.time() - 3 * HOUR))
    monkeypatch.setenv(cache_bound.MAX_MB_ENV, "0")
    cwasm = precompiled_for_cli(wasmtime_cli, empty_component, tmp_path / "cli")
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == [cwasm.name]
