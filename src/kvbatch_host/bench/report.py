"""Turning measurements into the headline figures, a table, JSON and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from kvbatch_host.bench.measure import Measurement, ratio
from kvbatch_host.bench.plan import (FLOOR_NATIVE, FLOOR_PER_KEY, GROWTH, HEADLINE_KEYS, LIBRARY, LIBRARY_PER_KEY, MIB, RAW,
                                     RAW_PER_KEY, REDIS_KEYS, REDIS_LARGE_KEYS, REFERENCE, REFERENCE_PER_KEY, SMALL_VALUE,
                                     Plan, size_label)

HEADLINE_KEYS_NAMES = (
    "value_1mib_roundtrip_ms",
    "harness_vs_wasmtime_cli_20000x100",
    "provider_vs_native_20000x100",
    "batch_vs_per_key_redis_1000x100",
    "growth_10x_keys",
    "cold_start_ms",
    "cached_start_ms",
    "provider_vs_per_key_20000x100",
    "value_1mib_vs_cli",
    "per_key_call_us",
    "cli_per_key_call_us",
    "run_wall_vs_cli",
    "rss_vs_cli",
    "redis_native_vs_redis_py_10000x100",
    "library_vs_raw_20000x100",
    "library_vs_raw_per_key",
    "host_call_floor_us",
    "per_key_call_vs_floor",
    "value_1mib_floor_ms",
    "value_1mib_vs_floor",
    "serve_vs_floor_get10",
    "serve_errors_32",
    "serve_p99_over_p50_32",
    "serve_rss_32_mb",
)
"""The figures every run reports under "headline" (null when this run did not measure them)."""


class Results:
    """Measurements by (path, keys, value_bytes)."""

    def __init__(self, measurements: List[Measurement]) -> None:
        self.measurements = measurements
        self._by = {(m.path, m.keys, m.value_bytes): m for m in measurements}

    def get(self, path: str, keys: int, value_bytes: int) -> Optional[Measurement]:
        return self._by.get((path, keys, value_bytes))

    def figure(self, path: str, keys: int, value_bytes: int, what: str = "set_get_ms") -> Optional[float]:
        m = self.get(path, keys, value_bytes)
        value = None if m is None else getattr(m, what)
        return None if value is None else float(value)


def headline(results: Results, start: Dict[str, float],
             serve: Optional[Dict[str, Optional[float]]] = None) -> Dict[str, Optional[float]]:
    """The headline figures (see `HEADLINE_KEYS_NAMES`), rounded; `serve`: those of `kvbatch serve`."""
    serve = serve or {}
    n, v = HEADLINE_KEYS, SMALL_VALUE
    figures = {
        "value_1mib_roundtrip_ms": results.figure("native", 1, MIB),
        "harness_vs_wasmtime_cli_20000x100": ratio(results.figure("native", n, v), results.figure(REFERENCE, n, v)),
        "provider_vs_native_20000x100": ratio(results.figure("provider", n, v), results.figure("native", n, v)),
        "batch_vs_per_key_redis_1000x100": ratio(results.figure("redis-per-key", REDIS_KEYS, v, "total_ms"),
                                                 results.figure("redis-native", REDIS_KEYS, v, "total_ms")),
        "growth_10x_keys": ratio(results.figure("native", GROWTH[1], v, "total_ms"),
                                 results.figure("native", GROWTH[0], v, "total_ms")),
        "cold_start_ms": start.get("cold_start_ms"),
        "cached_start_ms": start.get("cached_start_ms"),
        "provider_vs_per_key_20000x100": ratio(results.figure("provider", n, v), results.figure("per-key", n, v)),
        "value_1mib_vs_cli": ratio(results.figure("native", 1, MIB), results.figure(REFERENCE, 1, MIB)),
        "per_key_call_us": per_call_us(results.get("per-key", n, v)),
        "cli_per_key_call_us": per_call_us(results.get(REFERENCE_PER_KEY, n, v)),
        "run_wall_vs_cli": ratio(start.get("kvbatch_run_wall_ms"), start.get("cli_run_wall_ms")),
        "rss_vs_cli": ratio(results.figure("native", n, v, "peak_rss_mb"), results.figure(REFERENCE, n, v, "peak_rss_mb")),
        "redis_native_vs_redis_py_10000x100": ratio(results.figure("redis-native", REDIS_LARGE_KEYS, v, "total_ms"),
                                                    results.figure("redis-py-mset", REDIS_LARGE_KEYS, v, "total_ms")),
        "library_vs_raw_20000x100": ratio(results.figure(LIBRARY, n, v, "total_ms"), results.figure(RAW, n, v, "total_ms")),
        "library_vs_raw_per_key": ratio(results.figure(LIBRARY_PER_KEY, n, v, "total_ms"),
                                        results.figure(RAW_PER_KEY, n, v, "total_ms")),
        "host_call_floor_us": per_call_us(results.get(FLOOR_PER_KEY, n, v)),
        "per_key_call_vs_floor": ratio(per_call_us(results.get("per-key", n, v)), per_call_us(results.get(FLOOR_PER_KEY, n, v))),
        "value_1mib_floor_ms": results.figure(FLOOR_NATIVE, 1, MIB),
        "value_1mib_vs_floor": ratio(results.figure("native", 1, MIB), results.figure(FLOOR_NATIVE, 1, MIB)),
    }
    figures.update(serve)
    return {key: None if figures.get(key) is None else round(float(figures[key]), 3) for key in HEADLINE_KEYS_NAMES}  # type: ignore[arg-type]


def per_call_us(m: Optional[Measurement]) -> Optional[float]:
    """Microseconds per `store` call of a per-key run: its three phases make one call per key each."""
    return None if m is None or m.keys == 0 else m.total_ms * 1000 / (3 * m.keys)


def growth(results: Results, plan: Plan) -> Dict[str, Dict[str, Optional[float]]]:
    """For each path: time at 10x the keys divided by the time before, per step of the sweep."""
    out: Dict[str, Dict[str, Optional[float]]] = {}
    sizes = plan.batch_sizes
    for path in sorted({m.path for m in results.measurements}):
        steps: Dict[str, Optional[float]] = {}
        for small, large in zip(sizes, sizes[1:]):
            if large == small * 10:
                value = ratio(results.figure(path, large, SMALL_VALUE, "total_ms"), results.figure(path, small, SMALL_VALUE, "total_ms"))
                if value is not None:
                    steps[f"{small}->{large}"] = round(value, 2)
        if steps:
            out[path] = steps
    return out


def reference_for(m: Measurement) -> Optional[str]:
    """The path a measurement's "vs ref" column divides by: redis-py for Redis, the wasmtime CLI
    making the same calls (per key for the per-key path) for the rest."""
    if m.path.startswith("redis-"):
        return None if m.path == "redis-py-mset" else "redis-py-mset"
    if m.path in (REFERENCE, REFERENCE_PER_KEY, RAW, RAW_PER_KEY, FLOOR_PER_KEY, FLOOR_NATIVE):
        return None
    if m.path in (LIBRARY, LIBRARY_PER_KEY):
        return RAW if m.path == LIBRARY else RAW_PER_KEY
    return REFERENCE_PER_KEY if m.path == "per-key" else REFERENCE


def peak_memory(results: Results, plan: Plan) -> Dict[str, Dict[str, Optional[float]]]:
    """Peak RSS (MB) of each path for the largest batch and the largest value."""
    largest_n, largest_v = max(plan.batch_sizes), max(plan.value_sizes)
    out: Dict[str, Dict[str, Optional[float]]] = {}
    for path in sorted({m.path for m in results.measurements}):
        row: Dict[str, Optional[float]] = {}
        for label, keys, size in ((f"{largest_n}x{SMALL_VALUE}B", largest_n, SMALL_VALUE), ("1x1MiB", 1, largest_v)):
            m = results.get(path, keys, size)
            if m is not None and m.peak_rss_mb is not None:
                row[label] = round(m.peak_rss_mb, 1)
        if row:
            out[path] = row
    return out


def table(results: Results) -> str:
    """A fixed-width table: one row per measurement, with its ratio to the reference path."""
    head = (f"{'path':<20} {'keys':>7} {'value':>8} {'set ms':>9} {'get ms':>9} {'del ms':>8} {'total ms':>9} {'keys/s':>10} "
            f"{'vs ref':>8} {'RSS MB':>7} {'run ms':>7}")
    lines = [head, "-" * len(head)]
    for m in sorted(results.measurements, key=lambda m: (m.path.startswith("redis"), m.value_bytes != SMALL_VALUE, m.keys, m.value_bytes, m.path)):
        ref = reference_for(m)
        base = results.get(ref, m.keys, m.value_bytes) if ref else None
        vs = f"{m.total_ms / base.total_ms:7.1f}x" if base and base.total_ms > 0 else "       -"
        rate = m.keys / (m.total_ms / 1000) if m.total_ms > 0 else 0.0
        rss = f"{m.peak_rss_mb:7.0f}" if m.peak_rss_mb is not None else "      -"
        wall = f"{m.wall_ms:7.0f}" if m.wall_ms is not None else "      -"
        lines.append(f"{m.path:<20} {m.keys:>7} {size_label(m.value_bytes):>8} {m.set_ms:9.1f} {m.get_ms:9.1f} {m.delete_ms:8.1f} "
                     f"{m.total_ms:9.1f} {rate:10.0f} {vs} {rss} {wall}")
    return "\n".join(lines)


def document(results: Results, plan: Plan, start: Dict[str, float], meta: Dict[str, Any],
             serve: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Everything a run found, as the JSON `--json` writes (`serve`: the `kvbatch serve` load runs)."""
    serve = serve or {}
    return {
        "headline": headline(results, start, serve.get("headline")),
        "serve": serve,
        "meta": meta,
        "quick": plan.quick,
        "repeat": plan.repeat,
        "start": {k: round(v, 3) for k, v in start.items()},
        "growth": growth(results, plan),
        "peak_rss_mb": peak_memory(results, plan),
        "runs": [m.as_dict() for m in results.measurements],
    }


def write_json(doc: Dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def write_plots(results: Results, plan: Plan, out_dir: Path) -> List[Path]:
    """Throughput against batch size (100 B values) and cost against value size (one key)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = sorted({m.path for m in results.measurements if not m.path.startswith("redis")})
    written = []

    throughput: Dict[str, List[Tuple[float, float]]] = {}
    for path in paths:
        points = [(n, results.get(path, n, SMALL_VALUE)) for n in plan.batch_sizes]
        throughput[path] = [(n, n / (m.total_ms / 1000)) for n, m in points if m is not None and m.total_ms > 0]
    written.append(_plot(plt, throughput, out_dir / "throughput_vs_batch_size.png", x_base=10,
                         xlabel="keys per batch (100 B values)", ylabel="keys/s (set-many + get-many + delete-many)",
                         title="kvbatch bench: throughput against batch size"))
    cost: Dict[str, List[Tuple[float, float]]] = {}
    for path in paths:
        points = [(v, results.get(path, 1, v)) for v in plan.value_sizes]
        cost[path] = [(v, m.set_get_ms) for v, m in points if m is not None]
    written.append(_plot(plt, cost, out_dir / "cost_vs_value_size.png", x_base=2,
                         xlabel="value size, bytes (one key)", ylabel="set-many + get-many, ms",
                         title="kvbatch bench: cost against value size"))
    return written


def _plot(plt: Any, series: Dict[str, List[Tuple[float, float]]], target: Path, *, x_base: int,
          xlabel: str, ylabel: str, title: str) -> Path:
    """Writes one log-log line plot of `series` (path -> points) to `target`."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for path, points in series.items():
        if points:
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=path)
    ax.set_xscale("log", base=x_base)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
