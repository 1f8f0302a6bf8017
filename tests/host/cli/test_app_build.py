"""Other people's components: `kvbatch build --app`, `kvbatch wit`, a user's suite under the pytest plugin, builds
with the venv activated (specification of docs/tutorials/first-component.md and testing.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvbatch_host.prepare import build as builder
from kvbatch_host.cli import main

from user_app import write_app


USER_TEST = '''
def test_a_failed_write_is_reported_and_not_applied(kvbatch, kvbatch_build_app):
    wasm = kvbatch_build_app("myapp")
    kvbatch.fault("op=set,key=b,error=other:disk full")
    run = kvbatch.run(wasm, batch="native")
    assert run.exit_code == 0
    assert run.stdout.splitlines() == ["a: succeeded", "b: failed", "c: succeeded"]
    assert kvbatch.get("a") == b"1" and kvbatch.get("b") is None
    assert {e.key for e in run.faults} == {"b"}


def test_the_sqlite_store_keeps_what_the_app_wrote(kvbatch, kvbatch_build_app, kvbatch_sqlite_url):
    kvbatch.store(kvbatch_sqlite_url)
    run = kvbatch.run(kvbatch_build_app("myapp"), batch="provider")
    assert run.exit_code == 0 and kvbatch.get("c") == b"3"


def test_runs_compose_the_provider_by_default_as_kvbatch_run_does(kvbatch, kvbatch_build_app):
    run = kvbatch.run(kvbatch_build_app("myapp"))
    sets = [e for e in run.events if e.op == "set"]
    assert run.exit_code == 0 and sorted(e.key for e in sets) == ["a", "b", "c"]
    assert all(e.batch is None for e in run.events)  # per-key store calls: the batch is the provider's


def test_native_batch_is_served_by_the_host_when_asked(kvbatch, kvbatch_build_app):
    run = kvbatch.run(kvbatch_build_app("myapp"), batch="native")
    assert run.exit_code == 0 and any(e.batch is not None for e in run.events)
'''


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_app_directory_without_the_module_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "build", "--app", str(tmp_path), "-o", str(tmp_path / "x.wasm"))
    assert code == 2
    assert err.strip().splitlines() == [f"kvbatch: --app {tmp_path} has no module 'app' (app.py or app/__init__.py); "
                                        "give the module that exports Run with --module"]


def test_an_app_directory_that_does_not_exist_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "build", "--app", str(tmp_path / "nope"), "-o", str(tmp_path / "x.wasm"))
    assert (code, err) == (2, f"kvbatch: --app {tmp_path / 'nope'}: no such directory\n")


def test_a_module_that_is_not_a_python_name_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "build", "--app", str(write_app(tmp_path)), "--module", "my-app", "-o", "x.wasm")
    assert (code, err) == (2, "kvbatch: --module 'my-app' is not a Python module name\n")


def test_an_unknown_world_is_one_line_error_naming_the_worlds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "build", "--app", str(write_app(tmp_path)), "--world", "provider", "-o", "x.wasm")
    assert code == 2
    assert err == "kvbatch: unknown world 'provider'; kvbatch's command worlds are guest, guest-draft, guest-nobatch\n"


def test_app_options_without_app_are_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "build", "--world", "guest")
    assert (code, err) == (2, "kvbatch: --world only apply with --app DIR\n")


def test_an_app_build_needs_an_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "build", "--app", str(write_app(tmp_path)))
    assert (code, err) == (2, "kvbatch: --app needs -o OUT.wasm, the path of the component to write\n")


def test_wit_prints_the_command_worlds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "wit")
    assert code == 0
    assert "package kvbatch:components@0.1.0;" in out
    assert {"world guest {", "world guest-draft {", "world guest-nobatch {", "world provider {"} <= set(out.splitlines())


def test_wit_out_writes_a_tree_other_tools_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "wit", "--out", str(tmp_path / "wit"))
    assert code == 0 and out.startswith("wrote ")
    parsed = subprocess.run([builder.wasm_tools(), "component", "wit", str(tmp_path / "wit")],
                            capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    assert "world guest-draft" in parsed.stdout


def test_builds_against_kvbatch_wit_never_see_the_venvs_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    env = builder.componentize_env(builder.TARGETS["probe"])
    assert Path(env["VIRTUAL_ENV"]) != Path(sys.prefix)
    assert list((Path(env["VIRTUAL_ENV"]) / "site-packages").iterdir()) == []


@pytest.fixture(scope="module")
def activated_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's app built by `kvbatch build --app` from a shell with the venv activated."""
    root = tmp_path_factory.mktemp("user")
    app = write_app(root / "myapp")
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(Path(sys.executable).parent / "kvbatch"), "build", "--app", str(app), "-o", str(root / "my.wasm")],
                          cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "my.wasm"


@pytest.mark.component
def test_an_app_builds_with_the_venv_activated(activated_build: Path) -> None:
    assert activated_build.stat().st_size > 1_000_000


@pytest.mark.component
def test_a_built_app_runs_under_a_fault_and_reports_per_key(activated_build: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capfd, "run", str(activated_build), "--store", "memory:", "--batch", "native",
                         "--fault", "op=set,key=b,error=other:disk full")
    assert code == 0
    assert out.splitlines() == ["a: succeeded", "b: failed", "c: succeeded"]
    assert "fault(s) fired" in err


@pytest.mark.component
def test_a_users_pytest_suite_runs_with_the_plugin(pytester: pytest.Pytester, activated_build: Path) -> None:
    write_app(pytester.path / "myapp")
    pytester.makepyfile(test_myapp=USER_TEST)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
