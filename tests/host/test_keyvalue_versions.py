"""A component built for a keyvalue version kvbatch does not serve gets one line, on every path a
user can take it (`kvbatch run` in each batch mode, `compose`, `check`, the pytest plugin), before
anything links: another version, two versions at once, upstream's `0.2.0-draft2` (same name as
Spin's, another `get-many` shape), a draft guest given the draft2 provider.

The components are wasm-tools' dummies of small worlds: they link and trap if run, which these
errors come before."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kvbatch_host import resources
from kvbatch_host.cli import main
from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare.compose import ComposeError, check_keyvalue
from kvbatch_host.pytest_plugin import KvbatchHarness

KEYVALUE_0_1 = """package wasi:keyvalue@0.1.0;
interface store {
  resource bucket { get: func(key: string) -> option<list<u8>>; }
  open: func(identifier: string) -> bucket;
}
interface batch {
  use store.{bucket};
  get-many: func(bucket: borrow<bucket>, keys: list<string>) -> list<option<list<u8>>>;
}
"""

WORLDS = {
    "old": ("wasi:keyvalue/store@0.1.0", "wasi:keyvalue/batch@0.1.0"),
    "mixed": ("wasi:keyvalue/store@0.2.0-draft2", "wasi:keyvalue/batch@0.2.0-draft"),
    "upstream": ("wasi:keyvalue/store@0.2.0-draft2", "wasi:keyvalue/batch@0.2.0-draft2"),
    "draft": ("wasi:keyvalue/store@0.2.0-draft", "wasi:keyvalue/batch@0.2.0-draft"),
}

WHERE = ("build it against kvbatch's WIT (kvbatch build --app DIR --world guest or guest-draft; "
         "kvbatch wit --out DIR for other toolchains)")


def dummy(wit: Path, world: str, out: Path) -> Path:
    core = out.with_suffix(".core.wasm")
    subprocess.run([builder.wasm_tools(), "component", "embed", "--dummy", str(wit), "-w", world, "-o", str(core)], check=True)
    subprocess.run([builder.wasm_tools(), "component", "new", str(core), "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A command component per entry of `WORLDS`, importing those interfaces."""
    root = tmp_path_factory.mktemp("versions")
    made = {}
    for name, imports in WORLDS.items():
        wit = root / f"wit-{name}"
        shutil.copytree(resources.wit_dir() / "deps", wit / "deps")
        (wit / "deps" / "keyvalue-0.1.0").mkdir()
        (wit / "deps" / "keyvalue-0.1.0" / "keyvalue.wit").write_text(KEYVALUE_0_1)
        if name == "upstream":  # the main branch of upstream wasi-keyvalue: draft2 by name, draft's get-many
            batch = wit / "deps" / "keyvalue-draft2" / "batch.wit"
            batch.write_text(batch.read_text().replace("result<list<tuple<string, option<list<u8>>>>, error>",
                                                       "result<list<option<tuple<string, list<u8>>>>, error>"))
        lines = "".join(f"  import {interface};\n" for interface in imports)
        (wit / "user.wit").write_text(f"package user:app@0.1.0;\n\nworld app {{\n{lines}  export wasi:cli/run@0.2.6;\n}}\n")
        made[name] = dummy(wit, "user:app/app", root / f"{name}.wasm")
    return made


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def old_line(path: Path) -> str:
    return (f"kvbatch: {path} uses wasi:keyvalue@0.1.0; kvbatch serves wasi:keyvalue@0.2.0-draft2 (Spin's) "
            f"and @0.2.0-draft (the wasmtime CLI's): {WHERE}\n")


@pytest.mark.parametrize("batch", ["native", "provider", "none"])
def test_running_a_guest_of_another_keyvalue_version_is_one_line(guests: dict[str, Path], batch: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "run", str(guests["old"]), "--store", "memory:", "--batch", batch) == (2, old_line(guests["old"]))


def test_composing_a_guest_of_another_keyvalue_version_is_one_line(guests: dict[str, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "compose", str(guests["old"]), "-o", str(tmp_path / "out.wasm")) == (2, old_line(guests["old"]))


def test_checking_a_component_of_another_keyvalue_version_is_one_line(guests: dict[str, Path],
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "check", str(guests["old"])) == (2, old_line(guests["old"]))


def test_a_guest_of_two_keyvalue_versions_is_one_line(guests: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "run", str(guests["mixed"]), "--store", "memory:", "--batch", "native")
    assert (code, err) == (2, f"kvbatch: {guests['mixed']} uses wasi:keyvalue at two versions (0.2.0-draft, 0.2.0-draft2); "
                              f"a component uses one: {WHERE}\n")


@pytest.mark.parametrize("argv", [("run", "--store", "memory:", "--batch", "native"), ("run", "--store", "memory:"),
                                  ("compose", "-o", "out.wasm")])
def test_a_guest_built_against_upstream_draft2_is_one_line(guests: dict[str, Path], argv: tuple[str, ...], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = cli(capsys, argv[0], str(guests["upstream"]), *argv[1:])
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"kvbatch: {guests['upstream']}'s wasi:keyvalue@0.2.0-draft2 get-many returns "
                          "result<list<option<tuple<string, list<u8>>>>, error>, but Spin's @0.2.0-draft2, which kvbatch "
                          "serves, returns result<list<tuple<string, option<list<u8>>>>, error>")


@pytest.mark.component
def test_a_draft_guest_given_the_draft2_provider_is_one_line(guests: dict[str, Path],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    provider = builder.ensure("provider")
    code, err = cli(capsys, "run", str(guests["draft"]), "--store", "memory:", "--provider", str(provider))
    assert (code, err) == (2, f"kvbatch: {provider} exports wasi:keyvalue/batch@0.2.0-draft2, but the guest imports "
                              "wasi:keyvalue/batch@0.2.0-draft: use the provider of the guest's version "
                              "(build/provider-draft.wasm)\n")


def test_the_pytest_plugin_refuses_a_guest_of_another_version_before_running_it(guests: dict[str, Path]) -> None:
    harness = KvbatchHarness()
    with pytest.raises(ComposeError, match=r"uses wasi:keyvalue@0\.1\.0; kvbatch serves"):
        harness.run(guests["old"])
    harness.close()


def test_the_versions_kvbatch_serves_pass_the_check(guests: dict[str, Path]) -> None:
    assert check_keyvalue(guests["draft"]) == "0.2.0-draft"
