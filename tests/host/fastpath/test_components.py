"""Components see the same bytes with and without the fast path: host functions and export calls.

These run guests on the direct path (`bridge=False`): with the byte bridge plugged in, values
reach the host as strings and the fast path's `list<u8>` conversions are not involved.

Each test runs the same work twice in one process, once inside `fastpath.plain()` (wasmtime-py's
own conversions) and once on the fast path, and compares what crossed, byte for byte.
"""

from __future__ import annotations

import json
from typing import Any, Callable, List, Optional, Tuple

import pytest

from kvbatch_host import fastpath
from kvbatch_host.backends import MemoryBackend
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

from backend_helpers import RecordingBackend

MIB = 1024 * 1024
MAX_VALUE = bytes((i * 13 + 5) % 256 for i in range(MIB))

pytestmark = [pytest.mark.component, pytest.mark.skipif(not fastpath.install(), reason="fast path needs the pinned wasmtime")]


def run_bench(built: Callable[..., Any], keys: int, size: int, plain: bool) -> Tuple[dict, List[List[Tuple[str, bytes]]]]:
    backend = RecordingBackend()
    harness = Harness(StoreRegistry().add("default", backend), batch="native", bridge=False)
    args = ["default", str(keys), str(size)]
    if plain:
        with fastpath.plain():
            result = harness.run_command(built("bench"), args, capture=True)
    else:
        result = harness.run_command(built("bench"), args, capture=True)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.trap)
    return json.loads(result.stdout.strip().splitlines()[-1]), backend.batches


@pytest.mark.parametrize("keys, size", [(1, MIB), (20, 0), (40, 300), (3, 17)], ids=["1MiB", "empty-values", "40x300B", "3x17B"])
def test_native_batch_host_functions_receive_and_return_the_same_bytes(built: Callable[..., Any], keys: int, size: int) -> None:
    fast_report, fast_batches = run_bench(built, keys, size, plain=False)
    plain_report, plain_batches = run_bench(built, keys, size, plain=True)
    assert fast_batches == plain_batches
    assert [len(v) for _k, v in fast_batches[0]] == [size] * keys
    assert fast_report["verified"] and plain_report["verified"]  # get-many answered the bytes set-many wrote


def probe_output(built: Callable[..., Any], batch: str, plain: bool) -> str:
    registry = StoreRegistry().add("default", MemoryBackend())
    harness = Harness(registry, batch=batch, provider_path=built("provider"), bridge=False)
    if plain:
        with fastpath.plain():
            result = harness.run_command(built("probe"), ["default", "batch"], capture=True)
    else:
        result = harness.run_command(built("probe"), ["default", "batch"], capture=True)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.trap)
    return result.stdout


@pytest.mark.parametrize("batch", ["native", "provider"])
def test_the_probe_scenarios_print_the_same_lines_on_both_paths(built: Callable[..., Any], batch: str) -> None:
    assert probe_output(built, batch, plain=False) == probe_output(built, batch, plain=True)


def provider_round_trip(built: Callable[..., Any], items: List[Tuple[str, bytes]], keys: List[str], plain: bool) -> Tuple[Any, Any]:
    backend = MemoryBackend()
    harness = Harness(StoreRegistry().add("default", backend), batch="provider", provider_path=built("provider"))
    provider: Any = harness.batch_ops()  # the check driver composed with the provider
    bucket = harness.keyvalue.open_bucket("default")

    def work() -> Tuple[Any, Any]:
        provider.set_many(bucket, items)
        got: List[Optional[bytes]] = provider.get_many(bucket, keys)
        return got, dict(backend.all_items("default"))

    if plain:
        with fastpath.plain():
            return work()
    return work()


def test_calls_into_a_composed_provider_and_its_store_calls_carry_the_same_bytes(built: Callable[..., Any]) -> None:
    items = [("empty", b""), ("all-bytes", bytes(range(256))), ("max", MAX_VALUE), ("ключ-🔑", b"\x00\xff")]
    items += [(f"k{i:03d}", bytes([i]) * i) for i in range(30)]
    keys = [key for key, _v in items] + ["missing", "k001"]
    fast = provider_round_trip(built, items, keys, plain=False)
    plain = provider_round_trip(built, items, keys, plain=True)
    assert fast == plain
    got, stored = fast
    assert stored == dict(items)
    assert got == [value for _k, value in items] + [None, bytes([1])]
