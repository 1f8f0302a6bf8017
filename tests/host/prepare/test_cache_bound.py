"""The build caches stay within their budgets: least recently used entries go first, and nothing
recent, just written or being written is ever removed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator, List

import pytest
import wasmtime

from kvbatch_host.cli import main
from kvbatch_host.errors import ConfigError
from kvbatch_host.prepare import cache_bound, components, filememo, wasm_tools

HOUR = 3600.0


def entry(directory: Path, name: str, size: int, age_s: float) -> Path:
    """A cache file of `size` bytes last used `age_s` seconds ago."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(b"x" * size)
    used_at = time.time() - age_s
    os.utime(path, (used_at, used_at))
    return path


def serve_entry(directory: Path, name: str, size: int, age_s: float) -> Path:
    """A composition directory as build/serve holds them, its files last used `age_s` seconds ago."""
    path = directory / name
    entry(path, "composed.cwasm", size, age_s)
    entry(path, "stubbed.txt", 0, age_s)
    used_at = time.time() - age_s
    os.utime(path, (used_at, used_at))
    return path


def names(directory: Path) -> List[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(autouse=True)
def own_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Compiled components, remembered facts and compositions of this test only; no budget variable."""
    monkeypatch.setenv(components.CACHE_ENV, str(tmp_path / "compiled"))
    monkeypatch.setenv(filememo.MEMO_ENV, str(tmp_path / "memo"))
    monkeypatch.delenv(cache_bound.MAX_MB_ENV, raising=False)
    filememo._known.clear()
    yield
    components.forget_loaded()
    wasm_tools._plugged.clear()


def test_a_cache_over_its_budget_loses_its_least_recently_used_entries_first(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry(cache, "oldest.wasm", 100, 3 * HOUR)
    entry(cache, "older.wasm", 100, 2 * HOUR)
    entry(cache, "old.wasm", 100, 1 * HOUR)
    removed = cache_bound.prune(cache, 200)
    assert [p.name for p in removed] == ["oldest.wasm"]
    assert names(cache) == ["old.wasm", "older.wasm"]


def test_a_cache_within_its_budget_is_left_alone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry(cache, "a.wasm", 100, 3 * HOUR)
    entry(cache, "b.wasm", 100, 2 * HOUR)
    assert cache_bound.prune(cache, 200) == []
    assert names(cache) == ["a.wasm", "b.wasm"]


def test_an_entry_used_in_the_last_ten_minutes_is_never_pruned(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry(cache, "stale.wasm", 100, 11 * 60)
    entry(cache, "in-use.wasm", 100, 9 * 60)
    entry(cache, "just-used.wasm", 100, 0)
    cache_bound.prune(cache, 0)
    assert names(cache) == ["in-use.wasm", "just-used.wasm"]


def test_the_entry_just_written_is_kept_even_over_budget(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry(cache, "old.wasm", 100, 2 * HOUR)
    written = entry(cache, "new.wasm", 500, HOUR)  # an older time than another entry: kept all the same
    cache_bound.prune(cache, 100, keep=written)
    assert names(cache) == ["new.wasm"]


def test_an_entry_marked_used_outlives_an_older_unmarked_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    hit = entry(cache, "hit.wasm", 100, 3 * HOUR)
    entry(cache, "unused.wasm", 100, 2 * HOUR)
    cache_bound.mark_used(hit)
    cache_bound.prune(cache, 100, now=time.time() + HOUR)  # an hour later: neither is recent any more
    assert names(cache) == ["hit.wasm"]


def test_marking_an_entry_used_keeps_its_modification_time(tmp_path: Path) -> None:
    """A file's modification time is part of its identity for remembered facts (`filememo.file_key`)."""
    hit = entry(tmp_path, "hit.wasm", 10, 3 * HOUR)
    before = filememo.file_key(hit)
    cache_bound.mark_used(hit)
    assert filememo.file_key(hit) == before
    assert time.time() - hit.stat().st_atime < 60


def test_marking_a_vanished_entry_used_does_nothing(tmp_path: Path) -> None:
    cache_bound.mark_used(tmp_path / "gone.wasm")
    assert not (tmp_path / "gone.wasm").exists()


def test_temporary_files_are_not_pruned(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    entry(cache, "a.cwasm9x2k1.tmp", 1000, 3 * HOUR)  # another process is writing it
    entry(cache, "old.wasm", 100, 2 * HOUR)
    removed = cache_bound.prune(cache, 100)
    assert removed == []  # the temporary file is not counted either: the cache is within its budget
    cache_bound.prune(cache, 0)
    assert names(cache) == ["a.cwasm9x2k1.tmp"]


def test_a_vanished_entry_does_not_fail_pruning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    entry(cache, "a.wasm", 100, 3 * HOUR)
    entry(cache, "b.wasm", 100, 2 * HOUR)
    entry(cache, "c.wasm", 100, 1 * HOUR)
    unlink = Path.unlink

    def pruned_by_another_process_first(self: Path, missing_ok: bool = False) -> None:
        if self.name == "a.wasm":
            unlink(self)
        unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", pruned_by_another_process_first)
    removed = cache_bound.prune(cache, 100)
    assert [p.name for p in removed] == ["b.wasm"]
    assert names(cache) == ["c.wasm"]


def test_an_entry_that_cannot_be_removed_does_not_fail_pruning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    entry(cache, "a.wasm", 100, 3 * HOUR)
    entry(cache, "b.wasm", 100, 2 * HOUR)
    unlink = Path.unlink

    def refused(self: Path, missing_ok: bool = False) -> None:
        if self.name == "a.wasm":
            raise PermissionError(13, "Permission denied", str(self))
        unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", refused)
    assert [p.name for p in cache_bound.prune(cache, 0)] == ["b.wasm"]
    assert names(cache) == ["a.wasm"]


def test_pruning_a_missing_directory_removes_nothing(tmp_path: Path) -> None:
    assert cache_bound.prune(tmp_path / "never-made", 0) == []


def test_serve_directories_are_pruned_as_whole_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve = tmp_path / "serve"
    serve_entry(serve, "0123456789abcdef", 300, 3 * HOUR)
    serve_entry(serve, "fedcba9876543210", 300, 2 * HOUR)
    written = serve_entry(serve, "00112233445566aa", 300, 0)
    monkeypatch.setenv(cache_bound.MAX_MB_ENV, "0")
    removed = cache_bound.after_write(serve, "serve", written)
    assert sorted(p.name for p in removed) == ["0123456789abcdef", "fedcba9876543210"]
    assert names(serve) == ["00112233445566aa"]
    assert names(written) == ["composed.cwasm", "stubbed.txt"]


def test_a_serve_directory_being_written_is_not_pruned(tmp_path: Path) -> None:
    serve = tmp_path / "serve"
    busy = serve_entry(serve, "0123456789abcdef", 300, 3 * HOUR)
    entry(busy, "composed.cwasm.tmp", 300, 3 * HOUR)  # a compile still running
    cache_bound.prune(serve, 0, directories=True)
    assert names(busy) == ["composed.cwasm", "composed.cwasm.tmp", "stubbed.txt"]


def test_a_serve_directory_lives_as_long_as_its_most_recently_used_file(tmp_path: Path) -> None:
    serve = tmp_path / "serve"
    hit = serve_entry(serve, "0123456789abcdef", 300, 3 * HOUR)
    serve_entry(serve, "fedcba9876543210", 300, 2 * HOUR)
    cache_bound.mark_used(hit / "composed.cwasm")
    cache_bound.prune(serve, 300, directories=True, now=time.time() + HOUR)
    assert names(serve) == ["0123456789abcdef"]


def test_a_cache_of_files_leaves_directories_alone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    serve_entry(cache, "somebody's", 100, 3 * HOUR)
    entry(cache, "old.wasm", 100, 3 * HOUR)
    cache_bound.prune(cache, 0)
    assert names(cache) == ["somebody's"]


def test_the_serve_cache_leaves_files_alone(tmp_path: Path) -> None:
    serve = tmp_path / "serve"
    serve_entry(serve, "0123456789abcdef", 100, 3 * HOUR)
    entry(serve, "notes.txt", 100, 3 * HOUR)
    cache_bound.prune(serve, 0, directories=True)
    assert names(serve) == ["notes.txt"]


@pytest.mark.parametrize("value", ["lots", "-1", "1.5", "4GB", "٣"])
def test_an_invalid_budget_variable_is_a_one_line_config_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache_bound.MAX_MB_ENV, value)
    with pytest.raises(ConfigError) as raised:
        cache_bound.budget("compiled")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{cache_bound.MAX_MB_ENV}={value!r}: expected a whole number of megabytes")


def test_the_budget_variable_sets_the_total_the_caches_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache_bound.MAX_MB_ENV, "1000")
    budgets = {cache: cache_bound.budget(cache) for cache in cache_bound.SHARES}
    assert budgets == {"compiled": 400_000_000, "composed": 150_000_000, "bridged": 150_000_000,
                       "serve": 250_000_000, "cli": 50_000_000}


def test_without_the_variable_the_caches_share_the_default_total() -> None:
    assert cache_bound.max_total_bytes() == cache_bound.DEFAULT_MAX_MB * 1_000_000
    assert sum(cache_bound.SHARES.values()) == 100
    assert cache_bound.budget("serve") >= 8 * 115_000_000  # several served compositions of ~115 MB


def tiny_component(path: Path, text: str = "(component)") -> Path:
    path.write_bytes(wasmtime.wat2wasm(text))
    return path


COMMAND = """(component
  (core module $m (func (export "run") (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $cli)))"""


def test_a_command_that_writes_to_a_cache_reports_an_invalid_budget_variable_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(cache_bound.MAX_MB_ENV, "4GB")
    assert main(["run", str(tiny_component(tmp_path / "command.wasm", COMMAND)), "--store", "memory:"]) == 2
    assert capsys.readouterr().err == (f"kvbatch: {cache_bound.MAX_MB_ENV}='4GB': expected a whole number of megabytes "
                                       f"(0 or more) for the build caches' total size, e.g. "
                                       f"{cache_bound.MAX_MB_ENV}={cache_bound.DEFAULT_MAX_MB} (the default)\n")


def test_a_cache_hit_marks_the_compiled_component_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wasm = tiny_component(tmp_path / "empty.wasm")
    components.load_component(wasm)
    [cached] = list(components.cache_dir().iterdir())
    long_ago = time.time() - 3 * HOUR
    os.utime(cached, (long_ago + 1, long_ago))
    marked: List[Path] = []
    mark_used = cache_bound.mark_used
    monkeypatch.setattr(cache_bound, "mark_used", lambda path: (marked.append(Path(path)), mark_used(path)))
    components.forget_loaded()  # as a new process starts
    components.load_component(wasm)
    assert marked == [cached]  # deserializing reads it, which may set its access time by itself (relatime)
    assert time.time() - cached.stat().st_atime < 60
    assert cached.stat().st_mtime == long_ago


def test_a_new_compiled_component_prunes_the_compiled_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = entry(components.cache_dir(), "stale.cwasm", 100, 3 * HOUR)
    monkeypatch.setenv(cache_bound.MAX_MB_ENV, "0")
    components.load_component(tiny_component(tmp_path / "empty.wasm"))
    assert not stale.exists()
    assert len(list(components.cache_dir().glob("*.cwasm"))) == 1  # the one just written


SOCKET = '(component (import "kvbatch:test/thing" (instance (export "f" (func)))))'
PLUG = """(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $thing (export "f" (func $f)))
  (export "kvbatch:test/thing" (instance $thing)))"""


def test_a_cache_hit_marks_the_composition_used(tmp_path: Path) -> None:
    socket, plug = tiny_component(tmp_path / "socket.wasm", SOCKET), tiny_component(tmp_path / "plug.wasm", PLUG)
    out = wasm_tools.plug(socket, plug, tmp_path / "composed", "plug", bound="composed")
    long_ago = time.time() - 3 * HOUR
    os.utime(out, (long_ago + 1, long_ago))  # read after its last change: reading it leaves the time (relatime)
    wasm_tools._plugged.clear()  # as a new process starts
    assert wasm_tools.plug(socket, plug, tmp_path / "composed", "plug", bound="composed") == out
    assert time.time() - out.stat().st_atime < 60
    assert out.stat().st_mtime == long_ago


def test_a_composition_found_again_in_the_same_process_is_marked_used(tmp_path: Path) -> None:
    socket, plug = tiny_component(tmp_path / "socket.wasm", SOCKET), tiny_component(tmp_path / "plug.wasm", PLUG)
    out = wasm_tools.plug(socket, plug, tmp_path / "composed", "plug", bound="composed")
    long_ago = time.time() - 3 * HOUR
    os.utime(out, (long_ago + 1, long_ago))
    assert wasm_tools.plug(socket, plug, tmp_path / "composed", "plug", bound="composed") == out
    assert time.time() - out.stat().st_atime < 60


def test_a_new_composition_prunes_its_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = entry(tmp_path / "composed", "guest+provider-0123.wasm", 100, 3 * HOUR)
    socket, plug = tiny_component(tmp_path / "socket.wasm", SOCKET), tiny_component(tmp_path / "plug.wasm", PLUG)
    monkeypatch.setenv(cache_bound.MAX_MB_ENV, "0")
    out = wasm_tools.plug(socket, plug, tmp_path / "composed", "plug", bound="composed")
    assert names(tmp_path / "composed") == [out.name]
    assert not stale.exists()
