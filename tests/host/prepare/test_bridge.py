"""The byte bridge: guests see the same `wasi:keyvalue` with it as without it, byte for byte.

Each component test runs the same guest twice, once with the bridge plugged in (the harness's
default for draft2 guests) and once on the direct path (`bridge=False`), and compares what the
guest printed and what the backend holds.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvbatch_host.prepare import bridge

from kvbatch_host.prepare import components

from kvbatch_host import faults

from kvbatch_host.prepare import wasm_tools
from kvbatch_host.backends import MemoryBackend
from kvbatch_host.keyvalue_functions import ABSENT, pack_values, unpack_values
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

from backend_helpers import RecordingBackend
from bulk_helpers import AUTH, TOKEN

MIB = 1024 * 1024


def imports_of(path: Path) -> List[str]:
    return list(wasm_tools.world(path).imports)
MAX_VALUE = bytes((i * 13 + 5) % 256 for i in range(MIB))
ODD_KEYS = ["plain", "é-latin1", "ключ", "日本語のキー", "emoji-🔑", "nul-\u0000-inside"]


# -- packing ----------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=40))
def test_packed_values_unpack_to_the_values_that_were_packed(values: List[bytes]) -> None:
    assert unpack_values(pack_values(values), len(values)) == values


def test_packing_marks_a_missing_value_with_the_absent_size() -> None:
    packed = pack_values([b"ab", None, b""])
    sizes = packed.sizes.encode("latin-1")
    assert [int.from_bytes(sizes[i:i + 4], "little") for i in range(0, 12, 4)] == [2, ABSENT, 0]
    assert packed.data.encode("latin-1") == b"ab"


def test_packing_keeps_every_byte_value() -> None:
    every = bytes(range(256))
    assert pack_values([every]).data.encode("latin-1") == every


@pytest.mark.parametrize("sizes, data, count", [
    ([3], b"ab", 1),            # sizes claim more than the data holds
    ([1], b"ab", 1),            # data left over
    ([1, 1], b"ab", 1),         # more sizes than keys
    ([ABSENT], b"", 1),         # a set-many value cannot be absent
])
def test_unpacking_refuses_sizes_that_do_not_account_for_the_data(sizes: List[int], data: bytes, count: int) -> None:
    class Packed:
        pass

    packed = Packed()
    packed.data = data.decode("latin-1")  # type: ignore[attr-defined]
    packed.sizes = b"".join(s.to_bytes(4, "little") for s in sizes).decode("latin-1")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="do not match their sizes"):
        unpack_values(packed, count)


# -- building and composing ---------------------------------------------------------------------

def wit_of(path: Path) -> str:
    return subprocess.run([wasm_tools.executable(), "component", "wit", str(path)], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("version", [bridge.DRAFT2, bridge.DRAFT])
def test_the_bridge_exports_keyvalue_over_the_host_interface(version: str) -> None:
    text = wit_of(bridge.build_bridge(version))
    assert f"import {bridge.FLAVORS[version].interface};" in text
    for name in ("store", "atomics", "batch"):
        assert f"export wasi:keyvalue/{name}@{version};" in text


def test_a_fresh_bridge_is_not_rebuilt() -> None:
    first = bridge.build_bridge()
    stamp = first.stat().st_mtime_ns
    assert bridge.build_bridge() == first
    assert first.stat().st_mtime_ns == stamp


def test_a_bridged_guest_imports_the_bridge_interface_instead_of_keyvalue(built: Callable[..., Path], tmp_path: Path) -> None:
    composed = bridge.bridged(built("bench"), cache=tmp_path)
    text = wit_of(composed)
    assert "import kvbatch:components/keyvalue-bridge-draft2@0.1.0;" in text
    assert "import wasi:keyvalue/" not in text
    assert bridge.bridged_version(components.load_component(composed).type.imports(components.engine()))


def test_the_composed_guest_is_reused_from_the_cache(built: Callable[..., Path], tmp_path: Path) -> None:
    first = bridge.bridged(built("bench"), cache=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert bridge.bridged(built("bench"), cache=tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    assert list(tmp_path.iterdir()) == [first]


def test_each_keyvalue_version_gets_its_own_bridge(built: Callable[..., Path], tmp_path: Path) -> None:
    assert bridge.version_for(imports_of(built("bench"))) == bridge.DRAFT2
    assert bridge.version_for(imports_of(built("bench-nobatch"))) == bridge.DRAFT2
    assert bridge.version_for(imports_of(built("bench-wasmtime"))) == bridge.DRAFT  # the wasmtime CLI's version
    composed = bridge.bridged(built("bench-wasmtime"), cache=tmp_path)
    assert bridge.bridged_version(imports_of(composed)) == bridge.DRAFT
    assert bridge.version_for(imports_of(composed)) is None  # never bridged twice


def test_a_component_without_keyvalue_imports_is_not_bridged() -> None:
    bridge_component = bridge.build_bridge(bridge.DRAFT2)  # imports only the host interface
    assert bridge.version_for(imports_of(bridge_component)) is None
    with pytest.raises(bridge.BridgeError, match="imports no wasi:keyvalue version"):
        bridge.bridged(bridge_component)


@pytest.mark.parametrize("target", ["bench", "bench-wasmtime", "provider", "spin"])
def test_import_names_read_with_wasm_tools_are_the_ones_wasmtime_sees(built: Callable[..., Path], target: str) -> None:
    engine = components.engine()
    assert sorted(imports_of(built(target))) == sorted(components.load_component(built(target)).type.imports(engine))


def test_the_environment_switch_turns_the_bridge_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bridge.ENV_SWITCH, "0")
    assert Harness(StoreRegistry().add("default", MemoryBackend())).bridge is False
    monkeypatch.setenv(bridge.ENV_SWITCH, "1")
    assert Harness(StoreRegistry().add("default", MemoryBackend())).bridge is True


# -- the same bytes on both paths -----------------------------------------------------------------

def run(built: Callable[..., Path], target: str, args: Sequence[str], *, bridge_on: bool, batch: str = "native",
        backend: Optional[MemoryBackend] = None, plan: Optional[faults.FaultPlan] = None) -> Tuple[Any, MemoryBackend]:
    backend = backend if backend is not None else RecordingBackend()
    registry = StoreRegistry().add("default", backend)
    if plan is not None:
        faults.install(registry, plan)
    harness = Harness(registry, batch=batch, bridge=bridge_on)
    result = harness.run_command(built(target), list(args), capture=True)
    assert result.trap is None, result.trap
    return result, backend


@pytest.mark.component
@pytest.mark.parametrize("keys, size", [(1, MIB), (20, 0), (40, 300), (3, 17)], ids=["1MiB", "empty-values", "40x300B", "3x17B"])
def test_batch_values_reach_the_backend_and_come_back_unchanged(built: Callable[..., Path], keys: int, size: int) -> None:
    outcomes = {}
    for bridge_on in (True, False):
        result, backend = run(built, "bench", ["default", str(keys), str(size)], bridge_on=bridge_on)
        assert result.exit_code == 0, result.stdout
        assert json.loads(result.stdout.strip().splitlines()[-1])["verified"]  # get-many gave back what set-many wrote
        outcomes[bridge_on] = backend.batches  # type: ignore[attr-defined]
    assert outcomes[True] == outcomes[False]
    assert [len(v) for _k, v in outcomes[True][0]] == [size] * keys


@pytest.mark.component
@pytest.mark.parametrize("batch, args", [
    ("native", ["default", "batch"]),
    ("provider", ["default", "batch"]),
    ("native", ["default", "list", "1200"]),
    ("native", ["default", "cas", "counter"]),
    ("native", ["default", "report", "50"]),
], ids=["batch-native", "batch-provider", "list-keys", "cas", "report"])
def test_the_probe_prints_the_same_lines_with_and_without_the_bridge(built: Callable[..., Path], batch: str, args: List[str]) -> None:
    bridged, _ = run(built, "probe", args, bridge_on=True, batch=batch)
    direct, _ = run(built, "probe", args, bridge_on=False, batch=batch)
    assert bridged.exit_code == direct.exit_code == 0
    assert bridged.stdout == direct.stdout


@pytest.mark.component
@pytest.mark.parametrize("rule", [
    "op=get,key=*b,error=other:диск полон — ключ 💥 é",
    "op=set,batch=set-many,position=1,error=access-denied",
    "op=delete,batch=delete-many,position=0,error=no-such-store",
    "op=set,batch=set-many,position=2,in-doubt=other:timeout",
], ids=["get-many-other-unicode", "set-many-access-denied", "delete-many-no-such-store", "set-many-in-doubt"])
def test_errors_cross_the_bridge_as_they_cross_the_direct_path(built: Callable[..., Path], rule: str) -> None:
    outputs = []
    for bridge_on in (True, False):
        result, backend = run(built, "probe", ["default", "batch"], bridge_on=bridge_on, plan=faults.FaultPlan.parse([rule]))
        outputs.append((result.stdout, sorted(backend.all_items("default"))))
    assert outputs[0] == outputs[1]
    assert "err" in outputs[0][0] or "other" in outputs[0][0] or "denied" in outputs[0][0]


@pytest.mark.component
def test_a_per_key_get_error_carries_its_message_through_the_bridge(built: Callable[..., Path]) -> None:
    # `result<option<value>, error>`: the err case of the one result type wasmtime-py cannot lower plainly
    plan = faults.FaultPlan.parse(["op=get,key=bench:00000003,error=other:чтение не удалось 💥"])
    outputs = []
    for bridge_on in (True, False):
        result, _ = run(built, "bench-nobatch", ["default", "6", "10", "per-key"], bridge_on=bridge_on, batch="none", plan=plan)
        outputs.append((result.exit_code, result.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == 1 and "StoreError: чтение не удалось 💥" in outputs[0][1]


@pytest.mark.component
def test_cas_handles_are_released_once_each_through_the_bridge(built: Callable[..., Path]) -> None:
    held = {}
    for bridge_on in (True, False):
        harness = Harness(StoreRegistry().add("default", MemoryBackend()), batch="native", bridge=bridge_on)
        result = harness.run_command(built("probe"), ["default", "cas", "counter"], capture=True)
        assert result.exit_code == 0 and result.trap is None, (result.stdout, result.trap)
        assert harness.keyvalue._cas == {}  # the swapped cas and the cas-failed one were both dropped, neither twice
        held[bridge_on] = harness.keyvalue.open_buckets
    assert held[True] == held[False]  # the probe keeps its bucket open to the end either way


@pytest.mark.component
def test_keys_in_any_script_and_values_of_any_bytes_round_trip_through_the_bulk_api(built: Callable[..., Path]) -> None:
    values: Dict[str, bytes] = {key: bytes(range(256)) + key.encode() for key in ODD_KEYS}
    values["empty"] = b""
    values["max"] = MAX_VALUE
    items = [{"key": k, "value": base64.b64encode(v).decode()} for k, v in values.items()]
    requests = [
        {"method": "POST", "target": "/stores/default/set-many", "headers": AUTH,
         "body": base64.b64encode(json.dumps({"items": items}).encode()).decode()},
        {"method": "POST", "target": "/stores/default/get-many", "headers": AUTH,
         "body": base64.b64encode(json.dumps({"keys": [*values, "missing"]}).encode()).decode()},
        {"method": "GET", "target": "/stores/default/keys?limit=3", "headers": AUTH, "body": ""},  # list-keys, cursor
    ]
    seen = []
    for bridge_on in (True, False):
        result, backend = run(built, "bulk-driver", [TOKEN, *(json.dumps(r) for r in requests)], bridge_on=bridge_on)
        assert result.exit_code == 0, result.stderr
        assert dict(backend.all_items("default")) == values
        seen.append(result.stdout)
    assert seen[0] == seen[1]
    got = json.loads(base64.b64decode(json.loads(seen[0].splitlines()[1])["body"]))
    assert {k: base64.b64decode(v) for k, v in got["values"].items()} == values
    assert got["missing"] == ["missing"]
    page = json.loads(base64.b64decode(json.loads(seen[0].splitlines()[2])["body"]))
    assert len(page["keys"]) == 3 and set(page["keys"]) <= set(values) and page["cursor"]


@pytest.mark.component
def test_a_guest_without_batch_runs_bridged(built: Callable[..., Path]) -> None:
    result, backend = run(built, "bench-nobatch", ["default", "30", "200", "per-key"], bridge_on=True, batch="none")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1])["verified"]


@pytest.mark.component
def test_a_batch_beyond_the_direct_paths_hostcall_limit_crosses_the_bridge(built: Callable[..., Path]) -> None:
    # 100 x 70 KB in one set-many: ~7 million list elements on the direct path, past the ~2.7
    # million wasmtime allows a host call; as packed strings it is two values.
    result, backend = run(built, "bench", ["default", "100", "70000"], bridge_on=True)
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1])["verified"]


@pytest.mark.component
def test_kvbatch_run_no_bridge_prints_what_the_bridged_run_prints(built: Callable[..., Path],
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    from kvbatch_host import runner
    from kvbatch_host.cli import main

    used: List[bool] = []
    original = runner.Harness.composed

    def spy(self: Harness, path: Any) -> Any:
        used.append(self.bridge)
        return original(self, path)

    monkeypatch.setattr(runner.Harness, "composed", spy)
    outputs = []
    for extra in ([], ["--no-bridge"]):
        code = main(["run", str(built("probe")), "--store", "memory:", "--batch", "native", *extra, "--", "default", "batch"])
        outputs.append((code, capfd.readouterr().out))
    assert used == [True, False]
    assert outputs[0] == outputs[1] and outputs[0][0] == 0


# -- the draft bridge (the wasmtime CLI's keyvalue version) ----------------------------------------

@pytest.mark.component
@pytest.mark.parametrize("keys, size", [(1, MIB), (20, 0), (40, 300)], ids=["1MiB", "empty-values", "40x300B"])
def test_draft_guests_hand_the_backend_the_same_batches_through_their_bridge(built: Callable[..., Path], keys: int,
                                                                             size: int) -> None:
    outcomes = {}
    for bridge_on in (True, False):
        result, backend = run(built, "bench-wasmtime", ["default", str(keys), str(size)], bridge_on=bridge_on)
        assert result.exit_code == 0, result.stdout
        assert json.loads(result.stdout.strip().splitlines()[-1])["verified"]
        outcomes[bridge_on] = backend.batches  # type: ignore[attr-defined]
    assert outcomes[True] == outcomes[False]


@pytest.mark.component
@pytest.mark.parametrize("args, rule", [
    (["default", "batch"], None),
    (["default", "list", "1200"], None),  # draft's u64 list-keys cursor
    (["default", "report", "40"], None),
    (["default", "batch"], "op=get,key=*b,error=other:диск полон 💥"),
    (["default", "report", "20"], "op=set,batch=set-many,position=3,error=access-denied"),
], ids=["batch", "list-keys", "report", "get-many-error", "set-many-access-denied"])
def test_the_draft_probe_prints_the_same_lines_with_and_without_its_bridge(built: Callable[..., Path], args: List[str],
                                                                           rule: Optional[str]) -> None:
    outputs = []
    for bridge_on in (True, False):
        plan = faults.FaultPlan.parse([rule]) if rule else None
        result, backend = run(built, "probe-draft", args, bridge_on=bridge_on, plan=plan)
        outputs.append((result.exit_code, result.stdout, sorted(backend.all_items("default"))))
    assert outputs[0] == outputs[1]
