"""Running components under the harness: one pipeline from a wasm file to a running instance.

`Harness.prepare(path)` turns the file into what runs, in this order:

1. **provider** (`--batch provider`, the default of `kvbatch run`): a guest that imports
   `wasi:keyvalue/batch` gets the provider of its keyvalue version composed in ahead of time
   (`kvbatch_host.prepare.compose`), exactly as it would be deployed on Spin or the wasmtime CLI; the
   result imports only `store` (and `atomics`), and the host sees the provider's per-key calls;
2. **byte bridge**: a component importing `wasi:keyvalue` (draft2 or draft) gets the bridge
   composed in (`kvbatch_host.prepare.bridge`), so values reach the host as strings instead of one host
   value per byte (off with `bridge=False`, `KVBATCH_BRIDGE=0` or `kvbatch run --no-bridge`);
3. **compiled**: the result is compiled, or loaded from the cache (`kvbatch_host.prepare.components`).

The batch mode then says what the host defines: `native` serves `batch` itself, `provider`
and `none` define no `batch` (a guest still importing it under `none` fails to link, and
`kvbatch run` says why). `Harness` owns one wasmtime `Store` with WASI and `wasi:keyvalue`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from wasmtime import ExitTrap, Store, WasiConfig, WasmtimeError
from wasmtime.component import Component, Instance, Linker, Variant

from kvbatch_host.errors import ConfigError
from kvbatch_host.prepare import bridge as byte_bridge
from kvbatch_host.prepare import components
from kvbatch_host.prepare import wasm_tools
from kvbatch_host.prepare.compose import batch_version, check_keyvalue, compose_provider, default_provider
from kvbatch_host.versions import DRAFT2
from kvbatch_host.driver import RECYCLE_BYTES, DriverBatch
from kvbatch_host.faults import ObservedBatch
from kvbatch_host import fastpath
from kvbatch_host.keyvalue_functions import BatchOps, KeyValueHost, NativeBatch
from kvbatch_host.backends.stores import StoreRegistry

BATCH_MODES = ("native", "provider", "none")


@dataclass
class RunResult:
    """What a command component did: exit code, captured output, and any trap message."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    trap: Optional[str] = None


def _export_name(component: Component, prefix: str) -> Optional[str]:
    for name in component.type.exports(components.engine()):
        if name.startswith(prefix):
            return name
    return None


@dataclass
class Harness:
    """A wasmtime store serving `wasi:keyvalue` from `registry` to the components it runs."""

    registry: StoreRegistry
    batch: str = "native"
    provider_path: Optional[Path] = None
    """The provider `batch="provider"` composes into guests (default: the project's provider of
    the guest's keyvalue version, built if stale)."""
    bridge: bool = field(default_factory=byte_bridge.enabled)
    """Whether keyvalue guests run with the byte bridge plugged in (see `kvbatch_host.prepare.bridge`)."""
    driver_recycle_bytes: int = RECYCLE_BYTES
    """Payload after which the host-side driver of `batch_ops` gets a fresh instance (see `driver`)."""
    store: Store = field(init=False)
    keyvalue: KeyValueHost = field(init=False)
    _driver: Optional[DriverBatch] = field(default=None, init=False)
    _trapped: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.batch not in BATCH_MODES:
            raise ValueError(f"unknown batch mode {self.batch!r}; expected one of {', '.join(BATCH_MODES)}")
        # Keep large blocks on the heap (see fastpath.tune_allocator): without the bridge values cross
        # as list<u8>, 32 bytes of C value a byte; with it, as strings of their own size (bounded).
        fastpath.tune_allocator(bounded=self.bridge)
        self.new_store()

    @property
    def trapped(self) -> bool:
        """Whether a component in the current `Store` trapped. wasmtime then refuses to enter
        any instance of that store again ("cannot enter component instance")."""
        return self._trapped

    def mark_trapped(self) -> None:
        """Records that a component of the current store trapped (the next run starts a fresh store)."""
        self._trapped = True

    def new_store(self) -> None:
        """Starts over with a fresh wasmtime `Store` (and bucket handles) on the same backends.

        `run_command` does this by itself after a trap; holders of handles from the old store
        (e.g. a `HarnessBucket`) must open new ones.
        """
        self.store = Store(components.engine())
        wasi = WasiConfig()  # a componentize-py component aborts the process if it starts in a store without WASI
        wasi.inherit_stdout()
        wasi.inherit_stderr()
        self.store.set_wasi(wasi)
        self.keyvalue = KeyValueHost(self.registry)
        self._driver = None
        self._trapped = False

    def batch_ops(self) -> Optional[BatchOps]:
        """Batch operations for host-side callers (`HarnessBucket`) in this harness's mode: the host's
        native batch, the provider composed into the check driver (`kvbatch_host.driver`; the
        fault layer learns which batch call its store calls serve), or `None` for `none`."""
        if self.batch == "native":
            return NativeBatch()
        if self.batch == "provider":
            if self._driver is None:
                provider = self.provider_path or default_provider(DRAFT2)
                self._driver = DriverBatch(self.keyvalue, provider, recycle_bytes=self.driver_recycle_bytes)
            return ObservedBatch(self._driver)
        return None

    def composes_provider(self, path: str | os.PathLike[str]) -> bool:
        """Whether step 1 of the pipeline composes a provider into the component at `path` (then
        the host sees only the provider's per-key store calls, never the batch call they serve)."""
        return self.batch == "provider" and batch_version(wasm_tools.world(path)) is not None

    def composed(self, path: str | os.PathLike[str]) -> Path:
        """The wasm file that runs for `path` (steps 1 and 2 of the pipeline): with the provider
        composed in under `batch="provider"`, and the byte bridge when it is on."""
        world = wasm_tools.world(path)
        check_keyvalue(path, world)  # a keyvalue version or shape the harness cannot serve: one line, before linking
        if self.composes_provider(path):
            path = compose_provider(path, self.provider_path)
            world = wasm_tools.world(path)
        # (a guest that still imports batch under `none` goes unbridged, so linking fails and says why)
        unserved_batch = self.batch == "none" and batch_version(world) is not None
        if self.bridge and byte_bridge.version_for(world.imports) is not None and not unserved_batch:
            path = byte_bridge.bridged(path)
        return Path(path)

    def prepare(self, path: str | os.PathLike[str]) -> Component:
        """The compiled component this harness runs for the wasm file at `path` (the whole pipeline)."""
        return components.load_component(self.composed(path))

    def linker_for(self, component: Component) -> Linker:
        """A linker with WASI and the keyvalue version `component` imports (directly or through the bridge)."""
        linker = Linker(components.engine())
        linker.add_wasip2()
        imports = list(component.type.imports(components.engine()))
        batch = NativeBatch() if self.batch == "native" else None
        bridged = byte_bridge.bridged_version(imports)
        if bridged is not None:
            with linker.root() as root:
                self.keyvalue.define_bridge(root, bridged, batch=batch)
            return linker
        version = next((name.rpartition("@")[2] for name in imports if name.startswith("wasi:keyvalue/store@")), None)
        if version is not None:
            with linker.root() as root:
                self.keyvalue.define(root, version, batch=batch)
        return linker

    def instantiate(self, path: str | os.PathLike[str]) -> tuple[Component, Instance]:
        """The component for `path`, prepared and instantiated in this harness's store."""
        if self.trapped:
            self.new_store()
        component = self.prepare(path)
        return component, self.linker_for(component).instantiate(self.store, component)

    def run_command(
        self,
        path: str | os.PathLike[str],
        args: Sequence[str] = (),
        *,
        capture: bool = False,
    ) -> RunResult:
        """Runs the `wasi:cli/run` export of the component at `path` with `args`.

        Output goes to this process's stdout/stderr, or is returned when `capture` is set.
        A trap (including one raised by a host function) is reported, not raised.
        """
        if self.trapped:
            self.new_store()
        component = self.prepare(path)
        run_name = _export_name(component, "wasi:cli/run@")
        if run_name is None:
            raise ConfigError(not_a_command(path, _export_name(component, "wasi:http/handler@") is not None))
        wasi = WasiConfig()
        wasi.argv = [Path(path).name, *args]
        # Captured output goes through files: wasmtime-py's custom-output callbacks can be
        # called from a runtime thread after the interpreter has started shutting down.
        with tempfile.TemporaryDirectory(prefix="kvbatch-run-") as tmp:
            out_path, err_path = Path(tmp, "stdout"), Path(tmp, "stderr")
            if capture:
                wasi.stdout_file = str(out_path)
                wasi.stderr_file = str(err_path)
            else:
                wasi.inherit_stdout()
                wasi.inherit_stderr()
            self.store.set_wasi(wasi)
            code, trap = self._call_run(component, run_name)
            if not capture:
                return RunResult(code, trap=trap)
            return RunResult(code, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"), trap)

    def _call_run(self, component: Component, run_name: str) -> tuple[int, Optional[str]]:
        linker = self.linker_for(component)
        trap: Optional[str] = None
        code = 0
        try:
            instance = linker.instantiate(self.store, component)
            iface = instance.get_export_index(self.store, run_name)
            index = instance.get_export_index(self.store, "run", iface)
            func = instance.get_func(self.store, index) if index is not None else None
            if func is None:
                raise ValueError(f"{run_name} has no run function")
            result = func(self.store)
            func.post_return(self.store)
            if isinstance(result, Variant) and result.tag == "err":
                code = 1
        except ExitTrap as exit_:
            code = exit_.code
            self._trapped = True  # wasi exit unwinds the instance like a trap
        except WasmtimeError as error:
            code, trap = 134, str(error)
            self._trapped = True
        return code, trap


def not_a_command(path: str | os.PathLike[str], http: bool) -> str:
    """Why `kvbatch run` cannot run the component at `path`, which exports no `wasi:cli/run`."""
    if http:
        return (f"{path} is an HTTP component (it exports wasi:http/handler, not wasi:cli/run): "
                f"serve it with `kvbatch serve` (its spin.toml names it), not `kvbatch run`")
    return (f"{path} exports no wasi:cli/run: it is not a command component (kvbatch run runs command "
            f"components; an HTTP component is served by `kvbatch serve`)")


def check_command_component(path: str | os.PathLike[str]) -> None:
    """`ConfigError` unless the component at `path` exports `wasi:cli/run` (read from its world,
    before anything is composed or compiled)."""
    world = wasm_tools.world(path)
    if not world.exported("wasi:cli/run@"):
        raise ConfigError(not_a_command(path, bool(world.exported("wasi:http/handler@"))))
