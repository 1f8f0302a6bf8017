"""Host-level composition: the provider component serving `wasi:keyvalue/batch` to a guest.

The provider (`build/provider.wasm`) is instantiated in the guest's `Store` with only
`wasi:keyvalue/store@0.2.0-draft2` defined, from the same `KeyValueHost`, so both see the same
bucket handles. `ProviderBatch` forwards the guest's batch calls to the provider's exports and
passes the provider's `err` back unchanged.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from wasmtime import Store, WasmtimeError
from wasmtime.component import Func, Instance, Linker, Variant

from . import components
from .errors import HostKvError
from .keyvalue import DRAFT2, KeyValueHost, OpenBucket, interface


class ProviderBatch:
    """Batch operations answered by a provider component instance."""

    def __init__(self, store: Store, host: KeyValueHost, component_path: str) -> None:
        self._store = store
        self._host = host
        self.trapped = False
        """Set once the provider trapped; the harness then starts a fresh `Store`."""
        linker = Linker(components.engine())
        linker.add_wasip2()
        with linker.root() as root:
            host.define(root, DRAFT2, batch=None, atomics=False)
        component = components.load_component(component_path)
        self.instance: Instance = linker.instantiate(store, component)
        batch = self.instance.get_export_index(store, interface(DRAFT2, "batch"))
        if batch is None:
            raise ValueError(f"{component_path} does not export {interface(DRAFT2, 'batch')}")
        self._funcs = {}
        for name in ("get-many", "set-many", "delete-many"):
            index = self.instance.get_export_index(store, name, batch)
            func = self.instance.get_func(store, index) if index is not None else None
            if func is None:
                raise ValueError(f"{component_path} exports no {name}")
            self._funcs[name] = func

    def _call(self, name: str, bucket: OpenBucket, arg: Any) -> Any:
        func: Func = self._funcs[name]
        try:
            result = func(self._store, self._host.borrow(self._store, bucket), arg)
            func.post_return(self._store)
        except WasmtimeError:
            self.trapped = True  # a trapped instance can never be entered again
            raise
        if isinstance(result, Variant):
            raise HostKvError(result.tag, result.payload if result.tag == "other" else None)  # type: ignore[arg-type]
        return result

    def get_many(self, bucket: OpenBucket, keys: List[str]) -> List[Optional[bytes]]:
        entries = self._call("get-many", bucket, keys)
        return [value for _key, value in entries]

    def set_many(self, bucket: OpenBucket, items: List[Tuple[str, bytes]]) -> None:
        self._call("set-many", bucket, items)

    def delete_many(self, bucket: OpenBucket, keys: List[str]) -> None:
        self._call("delete-many", bucket, keys)
