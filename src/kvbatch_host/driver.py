"""Batch calls from the host into a composed provider, through the check driver.

The host cannot call a provider's `batch` exports itself once the provider is composed (its
`bucket` handles belong to the composition). It calls the conformance driver instead
(`src/kvbatch_guests/check_driver.py`, world `driver` or `driver-draft`), composed with the
provider and the byte bridge exactly as a guest would be; the driver forwards each call to the
provider and hands back every `get-many` entry as the provider returned it.

`DriverBatch` runs that composition in a wasmtime `Store` of its own, served by a harness's
`KeyValueHost` (so it sees the same bucket handles and stores). It holds no state between calls
but its open buckets, so it can be replaced at any call boundary: after a trap (wasmtime never
enters a trapped store again) unless told not to, and after `recycle_bytes` of payload, because
componentize-py 0.25.1 guests keep about 0.8x of the bytes that cross into an export in their
linear memory (docs: explanation/reliability.md), which would otherwise grow without bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from wasmtime import Store, WasiConfig, WasmtimeError
from wasmtime.component import Func, Linker, Variant

from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import bridge as byte_bridge
from kvbatch_host.prepare import components
from kvbatch_host.prepare.compose import check_provider, compose_provider
from kvbatch_host.versions import DRAFT, DRAFT2
from kvbatch_host.errors import HostKvError
from kvbatch_host.keyvalue_functions import KeyValueHost, NativeBatch, OpenBucket

DRIVERS = {DRAFT2: "check-driver", DRAFT: "check-driver-draft"}
"""The driver's build target for each keyvalue version."""

INTERFACE = "kvbatch:components/check-driver@0.1.0"

RECYCLE_BYTES = 64 * 1024 * 1024
"""Payload (keys and values, both directions) after which the driver gets a fresh instance."""

Entry = Tuple[Optional[str], Optional[bytes]]
"""A `get-many` entry as the implementation returned it: the key it names and its value."""


def driver_component(provider: Optional[Path]) -> Path:
    """The bridged driver composed with `provider` (for its keyvalue version), or for the host's
    native batch (`None`: draft2), built and composed if stale."""
    version = check_provider(provider) if provider is not None else DRAFT2
    target = DRIVERS[version]
    driver = builder.ensure(target)
    composed = compose_provider(driver, provider) if provider is not None else driver
    return byte_bridge.bridged(composed)


class DriverBatch:
    """Batch operations answered by the driver composed with a provider (or on native batch)."""

    def __init__(self, host: KeyValueHost, provider: Optional[Path], *, recycle_bytes: int = RECYCLE_BYTES,
                 restart_after_trap: bool = True, stderr_path: Optional[str] = None) -> None:
        """`provider=None` drives the host's native batch. `restart_after_trap=False` keeps a trapped
        instance (every later call fails), for checks of the instance itself; `stderr_path`
        collects the guest's stderr (tracebacks)."""
        self._host = host
        self._component = components.load_component(driver_component(provider))
        self._native = provider is None
        self.recycle_bytes = recycle_bytes
        self.restart_after_trap = restart_after_trap
        self._stderr_path = stderr_path
        self.instances = 0
        """How many driver instances have been started (1 + recycles + restarts after traps)."""
        self.trapped = False
        """Whether the current instance trapped."""
        self._carried = 0
        self._reps: set[int] = set()
        """The host's bucket handles the current instance opened (they die with it)."""
        self._opened: set[str] = set()
        """The stores the current instance has opened."""
        self._start()

    def _start(self) -> None:
        for rep in self._reps:
            self._host.close_rep(rep)
        self._reps, self._opened = set(), set()
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
        imports = list(self._component.type.imports(components.engine()))
        version = byte_bridge.bridged_version(imports)
        assert version is not None, "the driver runs bridged"
        with linker.root() as root:
            self._host.define_bridge(root, version, batch=NativeBatch() if self._native else None)
        instance = linker.instantiate(store, self._component)
        iface = instance.get_export_index(store, INTERFACE)
        if iface is None:
            raise ValueError(f"the check driver exports no {INTERFACE}")
        funcs: Dict[str, Func] = {}
        for name in ("open", "get-many", "set-many", "delete-many"):
            index = instance.get_export_index(store, name, iface)
            func = instance.get_func(store, index) if index is not None else None
            if func is None:
                raise ValueError(f"the check driver exports no {name}")
            funcs[name] = func
        self.store, self._funcs = store, funcs
        self.instances += 1
        self.trapped = False
        self._carried = 0

    def _call(self, name: str, store_name: str, *args: Any, payload: int = 0) -> Any:
        if (self.trapped and self.restart_after_trap) or self._carried >= self.recycle_bytes:
            self._start()
        if name != "open" and store_name not in self._opened:
            self.open(store_name)
        func = self._funcs[name]
        before = self._host.bucket_reps() if name == "open" else frozenset()
        try:
            result = func(self.store, store_name, *args)
            func.post_return(self.store)
            if name == "open":
                self._reps |= self._host.bucket_reps() - before
        except WasmtimeError:
            self.trapped = True  # wasmtime never enters this store again
            raise
        self._carried += payload
        if isinstance(result, Variant):
            raise HostKvError(result.tag, result.payload if result.tag == "other" else None)  # type: ignore[arg-type]
        return result

    def open(self, store_name: str) -> None:
        """Has the driver open store `store_name` now (it keeps the bucket for later calls)."""
        self._call("open", store_name)
        self._opened.add(store_name)

    def entries(self, bucket: OpenBucket, keys: List[str]) -> List[Entry]:
        """`get-many` of `keys`, every entry as the implementation returned it."""
        found = self._call("get-many", bucket.name, keys, payload=sum(map(len, keys)))
        entries: List[Entry] = [(e.key, None if e.value is None else e.value.encode("latin-1")) for e in found]
        self._carried += sum(len(v) for _, v in entries if v is not None)
        return entries

    def get_many(self, bucket: OpenBucket, keys: List[str]) -> List[Optional[bytes]]:
        """`get-many`'s values in request order; an entry naming another key than requested is an
        implementation fault and raises `ValueError` rather than deliver a value under the wrong key."""
        entries = self.entries(bucket, keys)
        for key, (named, _value) in zip(keys, entries):
            if named is not None and named != key:
                raise ValueError(f"get-many answered {key!r} under the key {named!r}")
        return [value for _named, value in entries]

    def set_many(self, bucket: OpenBucket, items: List[Tuple[str, bytes]]) -> None:
        self._call("set-many", bucket.name, [k for k, _ in items], [v.decode("latin-1") for _, v in items],
                   payload=sum(len(k) + len(v) for k, v in items))

    def delete_many(self, bucket: OpenBucket, keys: List[str]) -> None:
        self._call("delete-many", bucket.name, keys, payload=sum(map(len, keys)))
