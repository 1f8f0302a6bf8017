"""The batch implementations the suite can hold to the rules, and a session over one of them.

* `provider`: a component exporting `wasi:keyvalue/batch` (draft2 or draft; the project's
  `build/provider.wasm` or anyone's), composed ahead of time, exactly as `kvbatch compose` does;
* `native`: the harness's own host-native batch.

A `Session` drives the implementation through the conformance driver (`build/check-driver.wasm`
or `check-driver-draft.wasm`, `src/kvbatch_guests/check_driver.py`), composed with the provider
(or on the host's native batch) and the byte bridge, in one wasmtime store over a `FaultLayer`
on the backend under test. So the suite judges what a guest sees: every `get-many` entry with
the key it names, every value byte as returned. Each driver call is one batch call to the fault
layer: the store calls it makes count their positions from the call's start. The suite reads the
store behind the layer's back.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

from wasmtime import Trap, WasmtimeError

from kvbatch_host.backends import Backend
from kvbatch_host.prepare.compose import check_provider
from kvbatch_host.versions import DRAFT2
from kvbatch_host.driver import DriverBatch, Entry
from kvbatch_host.errors import HostKvError
from kvbatch_host.faults.events import EventLog
from kvbatch_host.faults import FaultLayer, FaultPlan
from kvbatch_host.keyvalue_functions import KeyValueHost
from kvbatch_host.backends.stores import StoreRegistry

CHECK_STORE = "kvbatch-check"
"""The store name the suite works in (its keys are cleared before and after)."""

Answer = Tuple[str, Any]
"""`("ok", entries or None)`, `("error", (kind, message))` or `("trap", message)`; entries are
`(key named, value)` pairs as the implementation returned them."""

__all__ = ["CHECK_STORE", "Answer", "Entry", "Implementation", "Session"]


@dataclass(frozen=True)
class Implementation:
    """What to check: `kind` is `provider` (with the component's path) or `native`."""

    kind: str
    component: Optional[Path] = None

    @property
    def version(self) -> str:
        """The `wasi:keyvalue` version it serves (a provider's export; draft2 for native)."""
        return check_provider(self.component) if self.component is not None else DRAFT2

    def describe(self) -> str:
        return f"provider component {self.component}" if self.kind == "provider" else "the harness's host-native batch"


class Session:
    """One instance of the driver (with the implementation) over `FaultLayer(backend)`."""

    def __init__(self, implementation: Implementation, backend: Backend) -> None:
        self.implementation = implementation
        self.events = EventLog()
        self.layer = FaultLayer(backend, FaultPlan(), self.events)
        self.keyvalue = KeyValueHost(StoreRegistry().add(CHECK_STORE, self.layer))
        self._tmp = tempfile.mkdtemp(prefix="kvbatch-check-")
        self._stderr = Path(self._tmp, "stderr")
        # The session's own instance: a trap must leave it unusable (the suite checks that),
        # and a trapping guest's traceback is kept for the verdict, not printed.
        self.ops = DriverBatch(self.keyvalue, implementation.component if implementation.kind == "provider" else None,
                               restart_after_trap=False, stderr_path=str(self._stderr))
        self.ops.open(CHECK_STORE)
        self.bucket = self.keyvalue.open_bucket(CHECK_STORE)
        """Names the store for the driver's calls (the driver uses its own handle)."""

    @property
    def inner(self) -> Backend:
        return self.layer.inner

    @property
    def open_handles(self) -> int:
        return self.keyvalue.open_buckets

    def call(self, op: str, request: List[Any]) -> Answer:
        """Runs one batch call as a guest would; never raises. The store calls it makes count
        their positions from its start."""
        try:
            with self.layer.batch_call(op, CHECK_STORE, len(request)):
                if op == "get-many":
                    return "ok", self.ops.entries(self.bucket, list(request))
                if op == "set-many":
                    self.ops.set_many(self.bucket, list(request))
                    return "ok", None
                if op == "delete-many":
                    self.ops.delete_many(self.bucket, list(request))
                    return "ok", None
            raise ValueError(f"unknown batch operation {op!r}")
        except HostKvError as err:
            return "error", (err.kind, err.message)
        except (Trap, WasmtimeError) as err:
            return "trap", self._trap_reason(str(err))
        except Exception as err:  # a host-side failure: for a guest, a trap
            return "trap", f"{type(err).__name__}: {err}"

    def _trap_reason(self, message: str) -> str:
        """The guest's own last words when it printed any (a Python exception), else wasmtime's cause."""
        try:
            lines = self._stderr.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        panics = [i for i, line in enumerate(lines) if "panicked at" in line]
        if panics:
            before = [line.strip() for line in lines[: panics[-1]] if line.strip()]
            if before:
                return f"guest raised {before[-1]}"
        cause = message.split("Caused by:")[-1].strip().splitlines()
        return cause[0].strip() if cause and cause[0].strip() else "trap"

    def close(self) -> None:
        self.keyvalue.close_bucket(self.bucket)
        shutil.rmtree(self._tmp, ignore_errors=True)
