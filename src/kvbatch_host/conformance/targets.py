"""The batch implementations the suite can hold to the rules, and a session over one of them.

* `provider`: a component exporting `wasi:keyvalue/batch@0.2.0-draft2` (the project's
  `build/provider.wasm` or anyone's), plugged in exactly as `kvbatch run --batch provider` does;
* `native`: the harness's own host-native batch.

A `Session` is one wasmtime store with the implementation instantiated over a `FaultLayer` on
the backend under test. The suite calls the batch operations as a guest would (through the
component's exports for a provider) and reads the store behind the layer's back.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

from wasmtime import Trap, WasmtimeError

from ..backends import Backend
from ..errors import HostKvError
from ..events import EventLog
from ..compose import ProviderBatch
from ..faults import FaultLayer, FaultPlan, ObservedBatch
from ..keyvalue import OpenBucket
from ..runner import Harness
from ..stores import StoreRegistry

CHECK_STORE = "kvbatch-check"
"""The store name the suite works in (its keys are cleared before and after)."""

Answer = Tuple[str, Any]
"""`("ok", value)`, `("error", (kind, message))` or `("trap", message)`."""


@dataclass(frozen=True)
class Implementation:
    """What to check: `kind` is `provider` (with the component's path) or `native`."""

    kind: str
    component: Optional[Path] = None

    def describe(self) -> str:
        return f"provider component {self.component}" if self.kind == "provider" else "the harness's host-native batch"


class Session:
    """One instance of the implementation over `FaultLayer(backend)`."""

    def __init__(self, implementation: Implementation, backend: Backend) -> None:
        self.implementation = implementation
        self.events = EventLog()
        self.layer = FaultLayer(backend, FaultPlan(), self.events)
        registry = StoreRegistry().add(CHECK_STORE, self.layer)
        if implementation.kind == "provider":
            assert implementation.component is not None
            self.harness = Harness(registry, batch="provider", provider_path=implementation.component)
        else:
            self.harness = Harness(registry, batch="native")
        self._tmp = tempfile.mkdtemp(prefix="kvbatch-check-")
        self._stderr = Path(self._tmp, "stderr")
        if implementation.kind == "provider":
            # The session's own instance: a trap must leave it unusable (the suite checks that),
            # and a trapping guest's traceback is kept for the verdict, not printed.
            assert implementation.component is not None
            provider = ProviderBatch(self.harness.keyvalue, str(implementation.component),
                                     restart_after_trap=False, stderr_path=str(self._stderr))
            self.ops: Any = ObservedBatch(provider)
        else:
            self.ops = self.harness.batch_ops()
        self.bucket: OpenBucket = self.harness.keyvalue.open_bucket(CHECK_STORE)

    @property
    def inner(self) -> Backend:
        return self.layer.inner

    @property
    def open_handles(self) -> int:
        return self.harness.keyvalue.open_buckets

    def call(self, op: str, request: List[Any]) -> Answer:
        """Runs one batch call as a guest would; never raises."""
        try:
            if op == "get-many":
                return "ok", self.ops.get_many(self.bucket, list(request))
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
        self.harness.keyvalue.close_bucket(self.bucket)
        shutil.rmtree(self._tmp, ignore_errors=True)
