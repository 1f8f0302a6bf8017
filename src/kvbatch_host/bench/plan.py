"""What `kvbatch bench` measures: the workloads of the full run and of `--quick`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

MIB = 1024 * 1024

HARNESS = ("native", "provider", "per-key")
REFERENCE = "wasmtime-cli"
REFERENCE_PER_KEY = "wasmtime-cli-per-key"
"""The wasmtime CLI running the same guest with one `store` call per key: the per-call floor."""
REDIS_PATHS = ("redis-native", "redis-per-key", "redis-py-mset", "redis-py-pipeline")
"""Redis: the harness with host-native batch and with per-key calls over the Redis backend,
and redis-py's MSET/MGET/DEL and pipelines straight from Python (the backend's floor)."""

LIBRARY = "library-cli"
"""`kvbatch.Bucket` in the bench guest under the wasmtime CLI, beside the bare bindings (`RAW`), in
chunks of `LIBRARY_CHUNK` keys: one run of the guest's `library` mode measures both."""
RAW = "raw-bindings-cli"
LIBRARY_PER_KEY = "library-cli-per-key"
"""The same over a bucket without `batch` (one `store` call per key), beside bare per-key calls (`RAW_PER_KEY`)."""
RAW_PER_KEY = "raw-bindings-cli-per-key"
LIBRARY_CHUNK = 100
FLOOR_PER_KEY = "floor-per-key"
"""The per-key workload against host functions that do nothing (`kvbatch_host.bench.floors`)."""
FLOOR_NATIVE = "floor-native"
"""One batch call per phase against host functions that do nothing (`kvbatch_host.bench.floors`)."""

SMALL_VALUE = 100
HEADLINE_KEYS = 20_000
REDIS_KEYS = 1_000
REDIS_LARGE_KEYS = 10_000
GROWTH = (10_000, 100_000)
GROWTH_REPEAT = 3
"""Repeats of the growth workloads even in `--quick`: their ratio is of medians."""
START_KEYS = 100
"""Keys of the small workload whose whole-process wall time `run_wall_vs_cli` compares."""

CALL_BYTES = 2_000_000
"""Most value bytes one batch call moves; bigger workloads are split into calls of this size.

Without the byte bridge (`kvbatch run --no-bridge`) wasmtime-py 50's host calls trap past ~2.7
million list elements ("fuel allocated for hostcalls has been exhausted"; wasmtime's hostcall
fuel, which the C API cannot raise). The split keeps every path's calls the same size as that
reference path's, the wasmtime CLI included, so all make the same calls.
"""


def chunk_for(keys: int, value_bytes: int) -> int:
    """Keys per batch call for `keys` × `value_bytes` (all of them when they fit in one call)."""
    if keys * max(value_bytes, 1) <= CALL_BYTES:
        return max(keys, 1)
    return max(1, CALL_BYTES // max(value_bytes, 1))


@dataclass(frozen=True)
class Job:
    """One measurement to make: `keys` × `value_bytes` on `path`."""

    path: str
    keys: int
    value_bytes: int
    repeat: Optional[int] = None
    """Repeats of this job (None: the plan's)."""

    @property
    def chunk(self) -> int:
        if self.path in (LIBRARY, LIBRARY_PER_KEY):
            return LIBRARY_CHUNK
        return chunk_for(self.keys, self.value_bytes)

    @property
    def label(self) -> str:
        return f"{self.path} {self.keys}x{size_label(self.value_bytes)}"


def size_label(n: int) -> str:
    """`n` bytes as people write it: 1MiB, 64KiB, 100B."""
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB}MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}KiB"
    return f"{n}B"


@dataclass(frozen=True)
class Plan:
    """The jobs of one run, how often each repeats, and which sweeps they form."""

    jobs: Tuple[Job, ...]
    repeat: int
    start_repeat: int
    batch_sizes: Tuple[int, ...]
    value_sizes: Tuple[int, ...]
    quick: bool


def make_plan(quick: bool, repeat: int | None = None, cli: bool = True, redis: bool = True) -> Plan:
    """The full plan (batch sizes 10..100,000 at 100 B, value sizes 16 B..1 MiB for one key, on
    every path) or the quick subset that still yields every headline figure."""
    paths: List[str] = list(HARNESS) + ([REFERENCE] if cli else [])
    runs = repeat or 3  # medians of 3, quick or not: a single run's first call pays one-time costs
    growth_repeat = max(runs, GROWTH_REPEAT)
    if quick:
        batch_sizes: Tuple[int, ...] = (1_000, 10_000, 100_000)
        value_sizes: Tuple[int, ...] = (16, MIB)
        jobs = [Job("native", n, SMALL_VALUE, growth_repeat if n in GROWTH else None) for n in batch_sizes]
        jobs += [Job(p, 1, v) for p in ("native",) + ((REFERENCE,) if cli else ()) for v in value_sizes]
        jobs += [Job(p, 1_000, SMALL_VALUE) for p in ("per-key",) + ((REFERENCE,) if cli else ())]
        jobs += [Job(p, HEADLINE_KEYS, SMALL_VALUE)
                 for p in ("native", "provider", "per-key") + ((REFERENCE, REFERENCE_PER_KEY) if cli else ())]
    else:
        batch_sizes = (10, 100, 1_000, 10_000, 100_000)
        value_sizes = (16, 256, 4096, 65536, MIB)
        jobs = [Job(p, n, SMALL_VALUE, growth_repeat if (p == "native" and n in GROWTH) else None)
                for p in paths for n in batch_sizes]
        jobs += [Job(p, 1, v) for p in paths for v in value_sizes]
        jobs += [Job(p, HEADLINE_KEYS, SMALL_VALUE) for p in paths + ([REFERENCE_PER_KEY] if cli else [])]
    jobs += [Job(FLOOR_PER_KEY, HEADLINE_KEYS, SMALL_VALUE), Job(FLOOR_NATIVE, 1, MIB)]
    if cli:
        jobs += [Job(p, HEADLINE_KEYS, SMALL_VALUE, max(runs, 5)) for p in (LIBRARY, LIBRARY_PER_KEY)]
    if redis:
        jobs += [Job(p, REDIS_KEYS, SMALL_VALUE) for p in REDIS_PATHS]
        jobs += [Job(p, REDIS_LARGE_KEYS, SMALL_VALUE) for p in (REDIS_PATHS if not quick else ("redis-native", "redis-py-mset"))]
    unique = tuple(dict.fromkeys(jobs))
    return Plan(unique, runs, 3 if quick else 5, batch_sizes, value_sizes, quick)
