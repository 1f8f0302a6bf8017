"""Loading components, with compiled code cached by content hash.

Compiling an 18 MB componentize-py component takes seconds; deserializing the compiled form
takes tens of milliseconds. `load_component` keys the cache by the wasm file's SHA-256 and the
wasmtime version, so a rebuilt component or an upgraded wasmtime never loads stale code. The
cache is bounded: its least recently used entries go when a new one is written (`cache_bound`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Dict, Optional, Tuple

import wasmtime
from wasmtime import Engine

from kvbatch_host import resources
from kvbatch_host.prepare import cache_bound, filememo
from kvbatch_host.prepare.filememo import FileKey, file_key
from kvbatch_host.versions import WASMTIME_VERSION
from wasmtime.component import Component

CACHE_ENV = "KVBATCH_CACHE_DIR"
"""Environment variable naming the compiled-component cache directory."""

DEFAULT_CACHE_DIR = resources.build_dir() / "cache" / "compiled"
"""The cache beside the other build outputs (`resources.build_dir()`), wherever the command runs from."""


_engine: Optional[Engine] = None
_loaded: Dict[Tuple[str, str], Component] = {}
_by_file: Dict[Tuple[str, FileKey], Component] = {}
_lock = threading.Lock()


def engine() -> Engine:
    """The process-wide engine every component and store of the harness uses."""
    global _engine
    if _engine is None:
        _engine = Engine()
    return _engine


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def cache_key(wasm: bytes) -> str:
    return f"{hashlib.sha256(wasm).hexdigest()}-wasmtime{WASMTIME_VERSION}"


PROGRESS_BYTES = 4_000_000
"""Compiling a component larger than this takes seconds: it is announced with one line on stderr."""


def load_component(path: str | os.PathLike[str], use_cache: bool = True) -> Component:
    """The compiled component at `path`: from memory, from the on-disk cache, or compiled.

    With `use_cache` false it always compiles and touches no cache (for cold-start figures).
    A file already loaded and unchanged since (`file_key`) is not read again. A hit in the on-disk
    cache marks the entry used; a new entry is followed by pruning the cache to its budget
    (`cache_bound`), which raises `ConfigError` for an invalid `KVBATCH_CACHE_MAX_MB`.
    """
    if not use_cache:
        return Component(engine(), Path(path).read_bytes())
    at_file = (str(cache_dir()), file_key(path))
    with _lock:
        known = _by_file.get(at_file)
    if known is not None:
        return known
    key = f"{filememo.sha256_of(path)}-wasmtime{WASMTIME_VERSION}"  # = cache_key(the file's bytes)
    written = False
    with _lock:
        memo = _loaded.get((str(cache_dir()), key))
        if memo is not None:
            _by_file[at_file] = memo
            return memo
        cached = cache_dir() / f"{key}.cwasm"
        component = None
        if cached.exists():
            try:
                component = Component.deserialize_file(engine(), str(cached))  # mapped, not copied into this process
                cache_bound.mark_used(cached)
            except wasmtime.WasmtimeError:
                component = None  # written by an incompatible engine: recompile below
        if component is None:
            size = Path(path).stat().st_size
            if size > PROGRESS_BYTES:
                print(f"kvbatch: compiling {Path(path).name} ({size / 1e6:.0f} MB) for this machine "
                      f"(once; cached in {cache_dir()})", file=sys.stderr, flush=True)
            component = Component(engine(), Path(path).read_bytes())
            _write_atomically(cached, bytes(component.serialize()))
            written = True
        _loaded[(str(cache_dir()), key)] = component
        _by_file[at_file] = component
    if written:
        cache_bound.after_write(cache_dir(), "compiled", cached)
    return component


def forget_loaded() -> None:
    """Drops the components this process holds in memory (as a new process would start), so the
    next `load_component` goes to the on-disk cache."""
    with _lock:
        _loaded.clear()
        _by_file.clear()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
