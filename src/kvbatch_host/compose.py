"""Host-level composition: the provider component serving `wasi:keyvalue/batch` to a guest.

The provider (`build/provider.wasm`) runs in a wasmtime `Store` of its own, with only
`wasi:keyvalue/store@0.2.0-draft2` defined, from the guest's `KeyValueHost`, so both see the
same bucket handles. `ProviderBatch` forwards the guest's batch calls to the provider's
exports and passes the provider's `err` back unchanged.

Why a store of its own: the provider holds no state between calls, so it can be replaced at
any call boundary without the guest noticing. `ProviderBatch` does so after a trap (wasmtime
never enters a trapped store again) and after `recycle_bytes` of payload: componentize-py
0.25.1 guests keep about 0.8x of the bytes that cross into an export in their linear memory
(see README, "Reliability"), which would otherwise grow without bound in a long-lived instance.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from wasmtime import Store, WasiConfig, WasmtimeError
from wasmtime.component import Func, Linker, Variant

from . import components
from .errors import HostKvError
from .keyvalue import DRAFT2, KeyValueHost, OpenBucket, interface

PROVIDER_RECYCLE_BYTES = 64 * 1024 * 1024
"""Payload (keys and values, both directions) after which the provider gets a fresh instance."""


class ProviderBatch:
    """Batch operations answered by a provider component instance (replaced when needed)."""

    def __init__(self, host: KeyValueHost, component_path: str, recycle_bytes: int = PROVIDER_RECYCLE_BYTES, *,
                 restart_after_trap: bool = True, stderr_path: Optional[str] = None) -> None:
        """`restart_after_trap=False` keeps a trapped instance (every later call fails), for
        checks of the instance itself; `stderr_path` collects the guest's stderr (tracebacks)."""
        self._host = host
        self._path = component_path
        self.recycle_bytes = recycle_bytes
        self.restart_after_trap = restart_after_trap
        self._stderr_path = stderr_path
        self.instances = 0
        """How many provider instances have been started (1 + recycles + restarts after traps)."""
        self.trapped = False
        """Whether the current instance trapped; the next call starts a fresh one."""
        self._carried = 0
        self._start()

    def _start(self) -> None:
        store = Store(components.engine())
        wasi = WasiConfig()  # componentize-py's runtime reads its environment at start
        wasi.inherit_stdout()
        if self._stderr_path is not None:
            wasi.stderr_file = self._stderr_path
        else:
            wasi.inherit_stderr()
        store.set_wasi(wasi)
        linker = Linker(components.engine())
        linker.add_wasip2()
        with linker.root() as root:
            self._host.define(root, DRAFT2, batch=None, atomics=False)
        instance = linker.instantiate(store, components.load_component(self._path))
        batch = instance.get_export_index(store, interface(DRAFT2, "batch"))
        if batch is None:
            raise ValueError(f"{self._path} does not export {interface(DRAFT2, 'batch')}")
        funcs: Dict[str, Func] = {}
        for name in ("get-many", "set-many", "delete-many"):
            index = instance.get_export_index(store, name, batch)
            func = instance.get_func(store, index) if index is not None else None
            if func is None:
                raise ValueError(f"{self._path} exports no {name}")
            funcs[name] = func
        self.store, self._funcs = store, funcs
        self.instances += 1
        self.trapped = False
        self._carried = 0

    def _call(self, name: str, bucket: OpenBucket, arg: Any, payload: int) -> Any:
        if (self.trapped and self.restart_after_trap) or self._carried >= self.recycle_bytes:
            self._start()
        func = self._funcs[name]
        try:
            result = func(self.store, self._host.borrow(self.store, bucket), arg)
            func.post_return(self.store)
        except WasmtimeError:
            self.trapped = True  # wasmtime never enters this store again
            raise
        self._carried += payload
        if isinstance(result, Variant):
            raise HostKvError(result.tag, result.payload if result.tag == "other" else None)  # type: ignore[arg-type]
        return result

    def get_many(self, bucket: OpenBucket, keys: List[str]) -> List[Optional[bytes]]:
        entries = self._call("get-many", bucket, keys, sum(map(len, keys)))
        values = [value for _key, value in entries]
        self._carried += sum(len(v) for v in values if v is not None) + sum(map(len, keys))
        return values

    def set_many(self, bucket: OpenBucket, items: List[Tuple[str, bytes]]) -> None:
        self._call("set-many", bucket, items, sum(len(k) + len(v) for k, v in items))

    def delete_many(self, bucket: OpenBucket, keys: List[str]) -> None:
        self._call("delete-many", bucket, keys, sum(map(len, keys)))
