"""Builds are incremental and compiled components are cached by content hash."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from kvbatch_host import cli
from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import components

from checkout import ROOT


def test_inputs_digest_changes_when_a_bundled_source_changes(tmp_path):
    src = tmp_path / "app"
    src.mkdir()
    (src / "app.py").write_text("x = 1\n")
    target = builder.Target("t", "provider", "app", (src,), (src,), tmp_path / "t.wasm")
    before = builder.inputs_digest(target)
    (src / "app.py").write_text("x = 2\n")
    assert builder.inputs_digest(target) != before


def test_inputs_digest_ignores_files_the_build_does_not_bundle(tmp_path):
    src = tmp_path / "app"
    src.mkdir()
    (src / "app.py").write_text("x = 1\n")
    target = builder.Target("t", "provider", "app", (src,), (src,), tmp_path / "t.wasm")
    before = builder.inputs_digest(target)
    (src / "notes.txt").write_text("not python\n")
    assert builder.inputs_digest(target) == before


@pytest.mark.component
def test_a_built_target_is_fresh_and_is_not_rebuilt(built):
    built("provider")
    lines: list[str] = []
    assert builder.build(builder.TARGETS["provider"], log=lines.append) is False
    assert "up to date" in lines[0]


@pytest.mark.component
def test_a_stale_stamp_makes_the_target_stale(built, tmp_path):
    path = built("provider")
    copy = dataclasses.replace(builder.TARGETS["provider"], output=tmp_path / "provider.wasm")
    copy.output.write_bytes(path.read_bytes())
    builder.stamp_path(copy).parent.mkdir(parents=True, exist_ok=True)
    builder.stamp_path(copy).write_text(json.dumps({"inputs": "something else"}))
    assert not builder.is_fresh(copy)


def test_an_output_outside_the_build_directory_keeps_its_stamp_in_the_cache(tmp_path):
    target = dataclasses.replace(builder.TARGETS["provider"], output=tmp_path / "mine.wasm")
    assert builder.stamp_path(target).is_relative_to(builder.BUILD / "cache")
    assert builder.stamp_path(builder.TARGETS["provider"]).parent == builder.TARGETS["provider"].output.parent


@pytest.mark.component
def test_a_users_own_build_leaves_nothing_beside_its_output(tmp_path):
    from kvbatch_host import app_build

    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "app.py").write_text(
        "from wit_world import exports\n\nclass Run(exports.Run):\n    def run(self) -> None:\n        print('hi')\n")
    (tmp_path / "out").mkdir()
    assert app_build.build_app(tmp_path / "myapp", tmp_path / "out" / "my.wasm", log=lambda line: None)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["my.wasm"]
    assert not app_build.build_app(tmp_path / "myapp", tmp_path / "out" / "my.wasm", log=lambda line: None)


def test_build_help_of_an_installed_kvbatch_lists_only_what_users_build(monkeypatch):
    monkeypatch.setattr(builder, "_CHECKOUT", None)
    assert builder.listed_targets() == list(builder.USER_TARGETS)
    monkeypatch.setattr(builder, "_CHECKOUT", builder.ROOT)
    assert builder.listed_targets() == list(builder.TARGETS)


def test_unknown_build_target_is_named_in_the_error():
    with pytest.raises(KeyError, match="nope"):
        builder.build_all(["nope"])


@pytest.mark.component
def test_compiled_component_is_cached_and_reloaded_without_compiling(built, tmp_path, monkeypatch):
    monkeypatch.setenv(components.CACHE_ENV, str(tmp_path / "cache"))
    wasm = built("provider")
    components.load_component(wasm)
    cached = list((tmp_path / "cache").glob("*.cwasm"))
    assert len(cached) == 1 and cached[0].name.startswith(components.cache_key(wasm.read_bytes())[:64])

    components.forget_loaded()  # a new process: nothing in memory, only the disk cache

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled although a cached build exists")

    monkeypatch.setattr(components, "Component", type("C", (), {"__new__": no_compiling,
                                                               "deserialize_file": components.Component.deserialize_file}))
    assert components.load_component(wasm) is not None


def test_bindings_are_regenerated_by_one_command(tmp_path):
    made = builder.generate_bindings(tmp_path, worlds=("provider",))
    assert (made[0] / "wit_world" / "exports" / "batch.py").exists()
    assert "automatically generated" in (made[0] / "wit_world" / "exports" / "batch.py").read_text()


def test_bindings_out_writes_where_asked_and_prints_real_paths(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["bindings", "--out", "mine"]) == 0
    printed = [line.split("bindings: ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert printed == [str(tmp_path / "mine" / world) for world in builder.BINDING_WORLDS]
    assert all(Path(path, "wit_world").is_dir() for path in printed)


def test_cli_rejects_a_malformed_store_url_with_exit_code_2(tmp_path):
    proc = subprocess.run([str(ROOT / ".venv/bin/kvbatch"), "run", "x.wasm", "--store", "bogus://"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown store URL 'bogus://'" in proc.stderr


def test_cli_help_explains_run_options_with_examples():
    proc = subprocess.run([str(ROOT / ".venv/bin/kvbatch"), "run", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for text in ("--store", "--allow-store", "--batch", "examples:"):
        assert text in proc.stdout
