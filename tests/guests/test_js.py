"""A guest not written in Python (`src/kvbatch_guests/js/guest.js`, componentize-js) uses the
provider as any Python guest does: host-native batch, the provider composed in, and under a fault,
it observes the same thing per key (docs: how-to/javascript-guest.md).

The same source is built for keyvalue draft too (`js-guest-draft`) and runs under the real wasmtime
CLI, with its own batch and composed with the draft provider. Each build once per session (about
10 s, after one `npm ci`; cached in build/ by source, lock file and WIT); skipped where node or npm
is missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kvbatch_host import ConfigError
from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import compose, node, wasm_tools
from kvbatch_host.pytest_plugin import KvbatchHarness

FAULT_ON_Y = "op=set,key=y,error=other:disk full"

BEFORE_LAST_SET_MANY = [
    "set-many [a=1 b=2 c=3 a=4]: ok",
    '  a: "4" (new)',
    '  b: "2" (new)',
    '  c: "3" (new)',
    "get-many [a missing b a c]: ok",
    '  0 a: "4"',
    "  1 missing: none",
    '  2 b: "2"',
    '  3 a: "4"',
    '  4 c: "3"',
    "delete-many [b missing b]: ok",
    '  a: "4" (unchanged)',
    "  b: none (new)",
    "  missing: none (unchanged)",
    '  c: "3" (unchanged)',
]
"""What the guest prints up to its last set-many: a duplicate key's last value wins, get-many answers
every requested key in order (the missing one with none, the duplicate twice), delete-many skips the
missing key and deletes the duplicate once."""


def build_js(name: str) -> Path:
    reason = node.missing_tools()
    if reason is not None:
        pytest.skip(f"the JavaScript guest {reason}")
    target = builder.TARGETS[name]
    builder.build(target, log=lambda line: None)
    return target.output


@pytest.fixture(scope="session")
def js_guest() -> Path:
    """build/js-guest.wasm (keyvalue draft2), built with the pinned componentize-js unless fresh."""
    return build_js("js-guest")


@pytest.fixture(scope="session")
def js_guest_draft() -> Path:
    """build/js-guest-draft.wasm: the same source with its keyvalue imports at draft (the wasmtime CLI's)."""
    return build_js("js-guest-draft")


def run(wasm: Path, batch: str, *faults: str) -> tuple[KvbatchHarness, list[str]]:
    harness = KvbatchHarness()
    for rule in faults:
        harness.fault(rule)
    result = harness.run(wasm, batch=batch)
    assert (result.exit_code, result.trap) == (0, None), result.stderr
    return harness, result.stdout.splitlines()


def test_the_toolchain_is_pinned_exactly_with_integrity() -> None:
    manifest = json.loads((node.JS_GUEST_DIR / "package.json").read_text())
    lock = json.loads((node.JS_GUEST_DIR / "package-lock.json").read_text())
    assert manifest["devDependencies"]["@bytecodealliance/componentize-js"] == "0.23.0"
    assert all(version[0].isdigit() for version in manifest["devDependencies"].values())
    packages = {path: entry for path, entry in lock["packages"].items() if path}
    assert packages and all("version" in entry and entry["integrity"].startswith("sha512-") for entry in packages.values())


@pytest.mark.component
def test_the_js_guest_imports_draft2_keyvalue_and_exports_run(js_guest: Path) -> None:
    world = wasm_tools.world(js_guest)
    assert compose.keyvalue_version(world) == compose.batch_version(world) == "0.2.0-draft2"
    assert world.exported("wasi:cli/run@")
    assert not world.imported("wasi:http/")  # componentize-js ran with -d http fetch-event


@pytest.mark.component
def test_native_batch_answers_missing_and_duplicate_keys_per_key(js_guest: Path) -> None:
    _, lines = run(js_guest, "native")
    assert lines == BEFORE_LAST_SET_MANY + ["set-many [x=10 y=20 z=30 y=21]: ok",
                                            '  x: "10" (new)', '  y: "21" (new)', '  z: "30" (new)']


@pytest.mark.component
def test_the_provider_gives_the_js_guest_what_native_batch_gives(js_guest: Path) -> None:
    assert run(js_guest, "provider")[1] == run(js_guest, "native")[1]


@pytest.mark.component
def test_the_js_guest_composed_with_the_provider_runs_where_no_batch_is_served(js_guest: Path, tmp_path: Path) -> None:
    composed = compose.compose_provider(js_guest, out=tmp_path / "js-composed.wasm")
    assert compose.batch_version(wasm_tools.world(composed)) is None
    assert run(composed, "none")[1] == run(js_guest, "native")[1]


@pytest.mark.component
@pytest.mark.parametrize("batch", ["native", "provider"])
def test_a_faulted_key_of_set_many_is_observed_failed_and_the_log_and_store_agree(js_guest: Path, batch: str) -> None:
    harness, lines = run(js_guest, batch, FAULT_ON_Y)
    assert lines[: len(BEFORE_LAST_SET_MANY)] == BEFORE_LAST_SET_MANY
    assert lines[len(BEFORE_LAST_SET_MANY):] == [
        "set-many [x=10 y=20 z=30 y=21]: err other: disk full",
        '  x: "10" (new)',    # written before the failure
        "  y: none (old)",    # the faulted key keeps its old state
        "  z: none (old)",    # after the first error nothing more is written
    ]
    faulted = harness.events.faults()
    assert [(e.op, e.key, e.applied) for e in faulted] == [("set", "y", False)]
    assert (harness.get("x"), harness.get("y"), harness.get("z")) == (b"10", None, None)


@pytest.mark.component
def test_under_a_fault_native_and_provider_observe_the_same(js_guest: Path) -> None:
    assert run(js_guest, "provider", FAULT_ON_Y)[1] == run(js_guest, "native", FAULT_ON_Y)[1]


@pytest.mark.component
@pytest.mark.wasmtime_cli
def test_under_the_wasmtime_cli_the_draft_build_observes_what_the_harness_does(
        js_guest: Path, js_guest_draft: Path, wasmtime_cli: str, tmp_path: Path) -> None:
    assert compose.keyvalue_version(wasm_tools.world(js_guest_draft)) == "0.2.0-draft"
    composed = compose.compose_provider(js_guest_draft, out=tmp_path / "js-draft-composed.wasm")
    for wasm in (js_guest_draft, composed):  # the CLI's own batch, then the draft provider over its store
        proc = subprocess.run([wasmtime_cli, "run", "-S", "keyvalue", str(wasm), ""], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == run(js_guest, "native")[1]


def test_the_draft_variant_changes_only_the_keyvalue_imports(tmp_path: Path) -> None:
    source = node.JS_GUEST_DIR / "guest.js"
    variant = node.draft_variant(source, tmp_path / "guest.js").read_text().splitlines()
    original = source.read_text().splitlines()
    changed = [(a, b) for a, b in zip(original, variant[1:]) if a != b]
    assert len(variant) == len(original) + 1 and variant[0].startswith("// generated by kvbatch build")
    assert [b for _, b in changed] == ["import { open } from 'wasi:keyvalue/store@0.2.0-draft';",
                                       "import { getMany, setMany, deleteMany } from 'wasi:keyvalue/batch@0.2.0-draft';"]


def test_building_the_js_guest_without_node_is_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        builder.build_all(["js-guest"])
    assert str(caught.value) == ("cannot build js-guest: it needs node and npm on PATH "
                                 "(Debian: apt-get install nodejs npm)")


def test_a_bare_build_skips_the_js_guest_without_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(builder, "TARGETS", {"js-guest": builder.TARGETS["js-guest"]})  # the others need no node
    lines: list[str] = []
    assert builder.build_all(log=lines.append) == []
    assert lines == ["  js-guest         skipped: it needs node and npm on PATH (Debian: apt-get install nodejs npm)"]
