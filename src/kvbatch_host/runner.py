"""Running command components (`wasi:cli/run`) under the harness.

`Harness` owns one wasmtime `Store` with WASI and `wasi:keyvalue` defined. How `batch`
reaches the guest is the `batch` mode:

* `native`: the host answers batch calls from the backend;
* `provider`: the provider component (`build/provider.wasm`) answers them over `store`;
* `none`: no `batch` is defined (for guests whose world does not import it).

Guests importing `wasi:keyvalue` (draft2 or draft) run with the byte bridge plugged in
(`kvbatch_host.bridge`) unless the harness is made with `bridge=False` or `KVBATCH_BRIDGE=0`:
the guest sees the same interface, and values reach the host as strings instead of one host
value per byte.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from wasmtime import ExitTrap, Store, WasiConfig, WasmtimeError
from wasmtime.component import Component, Linker, Variant

from . import bridge as byte_bridge
from . import components, resources
from .compose import PROVIDER_RECYCLE_BYTES, ProviderBatch
from .faults import ObservedBatch
from .keyvalue import KeyValueHost, NativeBatch
from .stores import StoreRegistry

BATCH_MODES = ("native", "provider", "none")
DEFAULT_PROVIDER = resources.build_dir() / "provider.wasm"


@dataclass
class RunResult:
    """What a command component did: exit code, captured output, and any trap message."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    trap: Optional[str] = None


def keyvalue_version(component: Component) -> Optional[str]:
    """The `wasi:keyvalue` version a component imports, or `None` if it imports none."""
    for name in component.type.imports(components.engine()):
        if name.startswith("wasi:keyvalue/store@"):
            return name.rpartition("@")[2]
    return None


def imports_bridge(component: Component) -> Optional[str]:
    """The keyvalue version of the byte bridge plugged into `component` (it imports the bridge's
    host interface), or `None`."""
    return byte_bridge.bridged_version(component.type.imports(components.engine()))


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
    provider_path: Path = DEFAULT_PROVIDER
    provider_recycle_bytes: int = PROVIDER_RECYCLE_BYTES
    """Payload after which the provider component gets a fresh instance (see `compose`)."""
    bridge: bool = field(default_factory=byte_bridge.enabled)
    """Whether keyvalue guests run with the byte bridge plugged in (see `kvbatch_host.bridge`)."""
    store: Store = field(init=False)
    keyvalue: KeyValueHost = field(init=False)
    _provider: Optional[ProviderBatch] = field(default=None, init=False)
    _trapped: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.batch not in BATCH_MODES:
            raise ValueError(f"unknown batch mode {self.batch!r}; expected one of {', '.join(BATCH_MODES)}")
        self.new_store()

    @property
    def trapped(self) -> bool:
        """Whether a component in the current `Store` trapped. wasmtime then refuses to enter
        any instance of that store again ("cannot enter component instance")."""
        return self._trapped

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
        self._provider = None
        self._trapped = False

    def batch_ops(self) -> Any:
        """The batch implementation guests get in this harness's mode (`None` for `none`)."""
        if self.batch == "native":
            return NativeBatch()
        if self.batch == "provider":
            if self._provider is None:
                self._provider = ProviderBatch(self.keyvalue, str(self.provider_path), self.provider_recycle_bytes)
            return ObservedBatch(self._provider)  # the fault layer sees which batch call a store call serves
        return None

    def linker_for(self, component: Component) -> Linker:
        """A linker with WASI and the keyvalue version `component` imports."""
        linker = Linker(components.engine())
        linker.add_wasip2()
        bridged = imports_bridge(component)
        if bridged is not None:
            with linker.root() as root:
                self.keyvalue.define_bridge(root, bridged, batch=self.batch_ops())
            return linker
        version = keyvalue_version(component)
        if version is not None:
            with linker.root() as root:
                self.keyvalue.define(root, version, batch=self.batch_ops())
        return linker

    def component_for(self, path: str | os.PathLike[str]) -> Component:
        """The compiled component this harness runs for the wasm file at `path`: with the byte
        bridge plugged in when it is on and the component imports `wasi:keyvalue`."""
        if self.bridge:
            imports = byte_bridge.import_names(path)
            unserved_batch = self.batch == "none" and any(name.startswith("wasi:keyvalue/batch@") for name in imports)
            # (a guest that imports batch under `none` goes unbridged, so linking fails and says why)
            if byte_bridge.version_for(imports) is not None and not unserved_batch:
                return components.load_component(byte_bridge.bridged(path))
        return components.load_component(path)

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
        component = self.component_for(path)
        run_name = _export_name(component, "wasi:cli/run@")
        if run_name is None:
            raise ValueError(f"{path} exports no wasi:cli/run: it is not a command component")
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
