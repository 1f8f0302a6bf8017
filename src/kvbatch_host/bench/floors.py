"""The floors the harness's figures are judged against, measured in the same run.

* `host_call_floor_us`: the bench guest's per-key workload (one `store` call per key, through the
  byte bridge, as the `per-key` path runs it) against host functions that do nothing but keep the
  value they are given and hand it back: what wasmtime-py charges for a host call of that shape.
* `value_1mib_floor_ms`: `set-many` + `get-many` of one 1 MiB value through the byte bridge (as the
  `native` path runs it) against host functions that keep the packed value they receive and
  return it as it is: the crossing itself, with nothing done on the Python side (after
  `delete-many` they answer "absent" for the guest's check that the keys are gone).

Both run the same guest (`build/bench.wasm`, `build/bench-nobatch.wasm`) in this process, in a
harness whose keyvalue functions are replaced by those floor functions (`FloorKeyValue`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from kvbatch_host.backends import MemoryBackend
from kvbatch_host.backends.stores import StoreRegistry
from kvbatch_host.bench.measure import BenchError, Measurement, from_report, parse_guest_output
from kvbatch_host.bench.plan import FLOOR_NATIVE, FLOOR_PER_KEY
from kvbatch_host.prepare import build as builder
from kvbatch_host.runner import Harness
from kvbatch_host.keyvalue_functions import AS_BYTES, BatchOps, KeyValueHost, NativeBatch, ValueCodec, pack_values



class _Replacing:
    """A linker instance whose `add_func` defines `replace[name]` instead of the function given."""

    def __init__(self, inst: Any, replace: Dict[str, Callable[..., Any]]) -> None:
        self._inst = inst
        self._replace = replace

    def add_func(self, name: str, fn: Callable[..., Any]) -> None:
        self._inst.add_func(name, self._replace.get(name, fn))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inst, name)


class FloorKeyValue(KeyValueHost):
    """`KeyValueHost` serving the byte bridge's per-key and batch functions as floor functions:
    each keeps what it is given (a value object as it arrived) and hands it back, and does
    nothing else (no bucket lookup, no conversion, no backend). `open`/`close` stay real."""

    def __init__(self, registry: StoreRegistry) -> None:
        super().__init__(registry)
        kept: Dict[str, Any] = {}
        packed: Dict[str, Any] = {}

        def set_(store: Any, handle: Any, key: str, value: Any) -> None:
            kept[key] = value

        def get(store: Any, handle: Any, key: str) -> Any:
            return kept.get(key)

        def delete(store: Any, handle: Any, key: str) -> None:
            kept.pop(key, None)

        def set_many(store: Any, handle: Any, keys: Any, values: Any) -> None:
            packed["values"] = values

        def get_many(store: Any, handle: Any, keys: Any) -> Any:
            found = packed.get("values")
            return found if found is not None else pack_values([None] * len(keys))  # after delete-many

        def delete_many(store: Any, handle: Any, keys: Any) -> None:
            packed.clear()

        self._floor: Dict[str, Callable[..., Any]] = {"get": get, "set": set_, "delete": delete, "get-many": get_many, "set-many": set_many,
                       "delete-many": delete_many}

    def _define_store(self, inst: Any, version: str, codec: ValueCodec = AS_BYTES, bridged: bool = False) -> None:
        super()._define_store(_Replacing(inst, self._floor), version, codec, bridged)  # type: ignore[arg-type]

    def _define_packed_batch(self, inst: Any, ops: Optional[BatchOps]) -> None:
        super()._define_packed_batch(_Replacing(inst, self._floor),  # type: ignore[arg-type]
                                     ops if ops is not None else NativeBatch())


def run_floor(path: str, keys: int, value_bytes: int, repeat: int) -> Measurement:
    """The bench guest in this process against `FloorKeyValue`: `FLOOR_PER_KEY` (per-key calls,
    `build/bench-nobatch.wasm`) or `FLOOR_NATIVE` (one batch call per phase, `build/bench.wasm`)."""
    per_key = path == FLOOR_PER_KEY
    target = builder.TARGETS["bench-nobatch" if per_key else "bench"].output
    registry = StoreRegistry().add("default", MemoryBackend())
    harness = Harness(registry, batch="none" if per_key else "native", bridge=True)
    harness.keyvalue = FloorKeyValue(registry)
    try:
        args = ["default", str(keys), str(value_bytes), "per-key" if per_key else "batch", str(repeat), str(keys)]
        result = harness.run_command(target, args, capture=True)
    finally:
        registry.close()
    if result.trap or result.exit_code != 0:
        raise BenchError(f"{path} {keys}x{value_bytes}: exit {result.exit_code} {result.trap or ''} {result.stdout[-300:]}")
    return from_report(path, parse_guest_output(path, result.stdout), None)


__all__ = ["FLOOR_NATIVE", "FLOOR_PER_KEY", "FloorKeyValue", "run_floor"]
