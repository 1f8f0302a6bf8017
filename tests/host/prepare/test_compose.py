"""Static composition of the provider (`kvbatch compose`): what the composed component imports,
that independent runtimes answer with it, and the one-line errors for what does not fit."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from kvbatch_host.prepare import wasm_tools
from kvbatch_host.backends import MemoryBackend
from kvbatch_host.bench.measure import precompiled_for_cli
from kvbatch_host.cli import main
from kvbatch_host.prepare.compose import ComposeError, compose_provider
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

pytestmark = pytest.mark.component

DIGEST = re.compile(r"summary digest: ([0-9a-f]{16})")


def keyvalue_imports(path: Path) -> List[str]:
    return sorted(name for name in wasm_tools.world(path).imports if name.startswith("wasi:keyvalue/"))


def run_cli(cli: str, wasm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cwasm = precompiled_for_cli(cli, wasm)
    return subprocess.run([cli, "run", "--allow-precompiled", "-S", "keyvalue", str(cwasm), *args],
                          capture_output=True, text=True, timeout=300)


def observations(stdout: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_a_draft2_guest_composed_imports_store_and_atomics_but_no_batch(built: Callable[[str], Path], tmp_path: Path) -> None:
    out = compose_provider(built("demo"), out=tmp_path / "demo.wasm")
    assert keyvalue_imports(out) == ["wasi:keyvalue/atomics@0.2.0-draft2", "wasi:keyvalue/store@0.2.0-draft2"]


def test_a_draft_guest_gets_the_draft_provider(built: Callable[[str], Path], tmp_path: Path) -> None:
    out = compose_provider(built("demo-wasmtime"), out=tmp_path / "demo.wasm")
    assert keyvalue_imports(out) == ["wasi:keyvalue/atomics@0.2.0-draft", "wasi:keyvalue/store@0.2.0-draft"]


def test_the_composed_guest_keeps_its_other_imports(built: Callable[[str], Path]) -> None:
    guest = wasm_tools.world(built("demo")).imports
    composed = wasm_tools.world(compose_provider(built("demo"))).imports
    assert set(composed) == set(guest) - {"wasi:keyvalue/batch@0.2.0-draft2"}


def test_a_composition_is_cached_by_its_inputs(built: Callable[[str], Path]) -> None:
    first = compose_provider(built("demo"))
    written = first.stat().st_mtime_ns
    wasm_tools._plugged.clear()  # as a new process would: the file is found by the inputs' hashes
    assert compose_provider(built("demo")) == first
    assert first.stat().st_mtime_ns == written


def test_the_draft_provider_is_built_from_the_same_source_as_the_draft2_one() -> None:
    from kvbatch_host.prepare.build import TARGETS

    assert TARGETS["provider-draft"].sources == TARGETS["provider"].sources
    assert TARGETS["provider-draft"].module == TARGETS["provider"].module
    assert TARGETS["provider-draft"].world != TARGETS["provider"].world


@pytest.mark.wasmtime_cli
def test_the_wasmtime_cli_runs_the_composed_demo_with_the_digest_of_its_own_batch(
        built: Callable[[str], Path], wasmtime_cli: str, tmp_path: Path) -> None:
    native = run_cli(wasmtime_cli, built("demo-wasmtime"), "")
    composed = run_cli(wasmtime_cli, compose_provider(built("demo-wasmtime"), out=tmp_path / "demo.wasm"), "")
    assert native.returncode == 0 and composed.returncode == 0, composed.stderr
    assert DIGEST.findall(composed.stdout) == DIGEST.findall(native.stdout) == ["b528c2e7952ab6a9"]


@pytest.mark.wasmtime_cli
def test_the_wasmtime_cli_shows_the_composed_probe_what_its_own_batch_shows(
        built: Callable[[str], Path], wasmtime_cli: str) -> None:
    native = run_cli(wasmtime_cli, built("probe-draft"), "")
    composed = run_cli(wasmtime_cli, compose_provider(built("probe-draft")), "")
    assert native.returncode == 0 and composed.returncode == 0, composed.stderr
    assert len(observations(native.stdout)) >= 15
    assert observations(composed.stdout) == observations(native.stdout)


def test_an_already_composed_guest_runs_under_the_harness_with_batch_none(built: Callable[[str], Path]) -> None:
    harness = Harness(StoreRegistry().add("default", MemoryBackend()), batch="none")
    result = harness.run_command(compose_provider(built("demo")), capture=True)
    assert result.exit_code == 0, result.stderr
    assert DIGEST.findall(result.stdout) == ["b528c2e7952ab6a9"]


def test_under_batch_provider_the_host_sees_only_per_key_store_calls(built: Callable[[str], Path]) -> None:
    from kvbatch_host.faults.events import EventLog
    from kvbatch_host.faults import FaultLayer

    events = EventLog()
    layer = FaultLayer(MemoryBackend(), events=events)
    harness = Harness(StoreRegistry().add("default", layer), batch="provider")
    assert harness.run_command(built("demo"), capture=True).exit_code == 0
    ops = {event.op for event in events.events}
    assert ops and not ops & {"get-many", "set-many", "delete-many"}
    assert all(event.batch_op is None for event in events.events)


def test_a_guest_without_batch_cannot_be_composed(built: Callable[[str], Path]) -> None:
    with pytest.raises(ComposeError, match="imports no wasi:keyvalue/batch"):
        compose_provider(built("demo-nobatch"))


def test_a_provider_of_the_other_version_is_refused(built: Callable[[str], Path]) -> None:
    with pytest.raises(ComposeError, match=r"exports wasi:keyvalue/batch@0.2.0-draft2, but the guest imports .*0.2.0-draft\b"):
        compose_provider(built("demo-wasmtime"), built("provider"))


def test_a_component_that_exports_no_batch_is_no_provider(built: Callable[[str], Path]) -> None:
    with pytest.raises(ComposeError, match="exports no wasi:keyvalue/batch"):
        compose_provider(built("demo"), built("demo"))


@pytest.mark.parametrize("content", [b"not wasm at all", b"\0asm\x01\0\0\0"], ids=["text", "core-module"])
def test_a_file_that_is_no_component_is_refused_in_one_line(tmp_path: Path, content: bytes,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    guest = tmp_path / "guest.wasm"
    guest.write_bytes(content)
    assert main(["compose", str(guest), "-o", str(tmp_path / "out.wasm")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kvbatch: ") and err.count("\n") == 1
    assert "is not a WebAssembly component" in err


def test_kvbatch_compose_writes_the_output_and_says_what_it_imports(built: Callable[[str], Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "composed.wasm"
    assert main(["compose", str(built("demo")), "-o", str(out)]) == 0
    assert out.exists()
    said = capsys.readouterr().out
    assert "wasi:keyvalue/store@0.2.0-draft2" in said and "no batch" in said


def test_kvbatch_compose_of_a_guest_without_batch_is_one_line(built: Callable[[str], Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compose", str(built("demo-nobatch")), "-o", str(tmp_path / "out.wasm")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kvbatch: ") and err.count("\n") == 1


def test_kvbatch_run_refuses_a_position_fault_for_a_composed_provider(built: Callable[[str], Path],
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(built("probe")), "--store", "memory:", "--fault", "op=set,position=2,error=other:x",
                 "--", "default", "report", "5"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "composed into the guest" in err and "--batch native" in err


def test_kvbatch_run_fires_a_fault_by_key_alternatives_inside_a_composed_provider(
        built: Callable[[str], Path], capfd: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(built("probe")), "--store", "memory:",
                 "--fault", "op=set,key=probe:report:001|probe:report:003,error=other:disk full",
                 "--", "default", "report", "5"])
    assert code == 0
    out = capfd.readouterr().out
    assert "probe:report:000  written" in out and "probe:report:001  not written" in out
