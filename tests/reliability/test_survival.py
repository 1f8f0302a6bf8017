"""The host survives the guest: traps and exceptions mid-batch leave the store consistent and
the harness usable; many batch calls in one instance leak no handles and keep memory bounded.

The long form (100,000 batch calls) is `./dev.sh test -m soak tests/reliability/test_survival.py`
with KVBATCH_SOAK_CALLS=100000; CI runs the same test with a bounded number of calls.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from wasmtime import WasmtimeError

import kvbatch
from kvbatch_host import faults
from kvbatch_host.backends import MemoryBackend
from kvbatch_host import HostKvError
from kvbatch_host import EventLog
from kvbatch_host import HarnessBucket
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

pytestmark = pytest.mark.component

OLD = {f"k{i:03d}": b"old" for i in range(0, 40, 2)}
NEW = {f"k{i:03d}": b"new-%d" % i for i in range(40)}


def faulted(plan: list[str], provider: Path) -> tuple[Harness, MemoryBackend, EventLog]:
    backend = MemoryBackend()
    backend.set_many("default", list(OLD.items()))
    registry = StoreRegistry().add("default", backend)
    events = EventLog()
    faults.install(registry, faults.FaultPlan.parse(plan), events)
    return Harness(registry, batch="provider", provider_path=provider), backend, events


def assert_every_key_old_or_new(backend: MemoryBackend) -> None:
    final = dict(backend.all_items("default"))
    third = {k: v for k, v in final.items() if v not in (OLD.get(k), NEW.get(k))}
    assert not third, f"keys in a third state: {third}"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_host_trap_mid_batch_leaves_every_key_old_or_new(built):
    harness, backend, events = faulted(["op=set,position=7,trap=backend crashed"], built("provider"))
    ops = harness.batch_ops()
    with pytest.raises(WasmtimeError):
        ops.set_many(harness.keyvalue.open_bucket("default"), list(NEW.items()))
    assert_every_key_old_or_new(backend)
    assert [e.key for e in events if e.op == "set" and e.applied] == list(NEW)[:7]


def test_after_a_trap_a_new_instance_on_the_same_store_works(built):
    harness, backend, _ = faulted(["op=set,position=7,trap=backend crashed"], built("provider"))
    with pytest.raises(WasmtimeError):
        harness.batch_ops().set_many(harness.keyvalue.open_bucket("default"), list(NEW.items()))
    fresh = Harness(harness.registry, batch="provider", provider_path=built("provider"))
    result = kvbatch.Bucket(HarnessBucket(fresh)).set_many({"after": b"trap"})
    assert result.all_succeeded and backend.get("default", "after") == b"trap"


def test_guest_raising_mid_batch_leaves_the_store_consistent_and_the_harness_usable(built):
    """The `trap` provider raises a Python exception when the store fails half-way."""
    harness, backend, _ = faulted(["op=set,position=5,times=1,error=other:disk full"], built("broken-trap"))
    with pytest.raises(WasmtimeError):
        harness.batch_ops().set_many(harness.keyvalue.open_bucket("default"), list(NEW.items()))
    assert_every_key_old_or_new(backend)
    demo = harness.run_command(built("demo"), ["default"], capture=True)
    assert demo.exit_code == 0 and "300 match" in demo.stdout


def test_store_error_mid_batch_is_an_err_not_a_trap_and_the_instance_goes_on(built):
    harness, backend, _ = faulted(["op=set,position=5,times=1,error=other:disk full"], built("provider"))
    ops = harness.batch_ops()
    bucket = harness.keyvalue.open_bucket("default")
    with pytest.raises(HostKvError, match="disk full"):
        ops.set_many(bucket, list(NEW.items()))
    ops.set_many(bucket, list(NEW.items()))
    assert dict(backend.all_items("default")) == NEW


@pytest.mark.soak
def test_many_batch_calls_in_one_harness_leak_no_handles_and_keep_memory_bounded(built):
    """The host-side driver (composed with the provider) is recycled every `recycle` bytes of
    payload, so its guest memory growth (componentize-py keeps ~0.8x of the bytes crossing into
    an export) stays bounded, and each new instance's bucket handle replaces the old one's."""
    calls = int(os.environ.get("KVBATCH_SOAK_CALLS", "3000"))
    recycle = 256 * 1024
    backend = MemoryBackend()
    harness = Harness(StoreRegistry().add("default", backend), batch="provider", provider_path=built("provider"),
                      driver_recycle_bytes=recycle)
    ops = harness.batch_ops()
    bucket = harness.keyvalue.open_bucket("default")
    items = [(f"key-{i}", b"v" * 64) for i in range(8)]
    keys = [k for k, _ in items]
    for i in range(min(500, calls)):  # warm up allocators and caches before the baseline
        ops.set_many(bucket, items)
    handles = harness.keyvalue.open_buckets  # ours, and the one the driver instance keeps
    baseline = rss_bytes()
    for i in range(calls):
        if i % 3 == 0:
            ops.set_many(bucket, items)
        elif i % 3 == 1:
            assert ops.get_many(bucket, keys)[0] == b"v" * 64
        else:
            ops.delete_many(bucket, keys[:2])
    growth = rss_bytes() - baseline
    instances = harness._driver.instances if harness._driver is not None else 0
    print(f"\n{calls} batch calls: open bucket handles {handles} -> {harness.keyvalue.open_buckets}, "
          f"RSS growth {growth / 1e6:.1f} MB, provider instances {instances}")
    assert harness.keyvalue.open_buckets == handles
    assert instances > 1
    assert growth < 32e6, f"RSS grew by {growth / 1e6:.1f} MB over {calls} calls"


def composed_run_peak_mb(calls: int) -> float:
    """Peak RSS of one `kvbatch run` process whose guest (composed with the provider) makes `calls`
    batch calls: a third each set-many of 8 x 64 B, get-many, delete-many."""
    import subprocess
    import sys

    script = ("import sys; from kvbatch_host.cli import main; "
              f"code = main(['run', 'build/bench.wasm', '--store', 'memory:', '--', 'default', '8', '64', 'batch', "
              f"'{max(1, calls // 3)}', '8']); "
              "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
              "print('HWM', hwm, file=sys.stderr); sys.exit(code)")
    from kvbatch_host.prepare import build as builder

    proc = subprocess.run([sys.executable, "-c", script], cwd=builder.ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stderr.rsplit("HWM ", 1)[1].split()[0]) / 1024


@pytest.mark.soak
def test_a_guest_composed_with_the_provider_keeps_memory_bounded_over_many_batch_calls(built):
    """Composed, the provider lives as long as the guest's instance: no recycling is possible, so its
    memory must not grow with the calls the guest makes into it."""
    calls = int(os.environ.get("KVBATCH_SOAK_CALLS", "3000"))
    built("bench")
    few, many = composed_run_peak_mb(30), composed_run_peak_mb(calls)
    print(f"\ncomposed guest: peak RSS {few:.1f} MB after 30 batch calls, {many:.1f} MB after {calls}")
    assert many - few < 32, f"peak RSS grew by {many - few:.1f} MB over {calls} calls"
