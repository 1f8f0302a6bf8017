"""`kvbatch bench-aio`: `kvbatch.aio` inside a served Spin component, against sequential calls.

The Spin app `kvbatch_guests/aio_app.py` (build/aio-spin.wasm) runs under `kvbatch serve` on the
wasmtime CLI, its `spin:key-value@3.0.0` served by the serve adapter over the store server.
Inside the component, timed there, N keys × V bytes (1,000 × 100 B by default) are written
and then read, per path, medians of `repeat`:

| path | what the component does |
|---|---|
| `sequential` | `for key in keys: await store.set(key, value)` (then `store.get`): one call at a time |
| `aio-c1`, `aio-c8`, `aio-c32` | `kvbatch.aio` `set_many` / `get_many` at `max_concurrency` 1, 8, 32 |

Beside each time, `peak` is the most store-server requests that were in flight at once during
that phase (counted by the store server): it shows whether the runtime let the component's
calls overlap. `--latency MS` adds that much latency to every store operation (a fault rule),
to see what overlapping buys when each call waits on the store.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from kvbatch_host.bench.arguments import check_json_path, check_workload
from kvbatch_host.bench.measure import BenchError
from kvbatch_host.bench.report import write_json

DEFAULT_KEYS = 1_000
DEFAULT_VALUE_BYTES = 100
DEFAULT_REPEAT = 3
DEFAULT_CONCURRENCY = (1, 8, 32)
MAX_KEYS = 10_000
TIMEOUT_S = 600.0


@dataclass
class AioMeasurement:
    """One path: median guest-timed milliseconds per phase, and the peak requests in flight."""

    path: str
    concurrency: Optional[int]
    keys: int
    value_bytes: int
    set_ms: float
    get_ms: float
    set_peak: int
    get_peak: int
    repeat: int


def run(keys: int = DEFAULT_KEYS, value_bytes: int = DEFAULT_VALUE_BYTES, repeat: int = DEFAULT_REPEAT,
        concurrency: Sequence[int] = DEFAULT_CONCURRENCY, latency_ms: float = 0.0,
        log: Any = print) -> Dict[str, Any]:
    """Serves the app (memory store), measures every path, stops it; returns the results document."""
    from kvbatch_host.faults import FaultPlan
    from kvbatch_host.serve import aio_app, server
    from kvbatch_host.setup import HostOptions

    plan = FaultPlan.parse([f"op=get|set,latency={latency_ms}ms"] if latency_ms else [])
    served = server.start(aio_app.manifest(log=log), ("127.0.0.1", 0), HostOptions(stores=("memory:",), plan=plan),
                          log=log)
    results: List[AioMeasurement] = []
    try:
        def phase(op: str, c: Optional[int]) -> tuple[float, int]:
            served.instances[0].store_server.reset_peak()
            status, answer = _post(served.url + "/aio/bench", {"n": keys, "size": value_bytes, "op": op, "concurrency": c})
            if status != 200:
                raise BenchError(f"the component's bench {op} (concurrency {c}) answered {status}: {answer}")
            return float(answer["seconds"]) * 1000, served.instances[0].store_server.peak_in_flight

        for c in (None, *concurrency):
            samples: Dict[str, List[tuple[float, int]]] = {"set": [], "get": []}
            for _ in range(repeat):
                for op in ("set", "get"):
                    samples[op].append(phase(op, c))
            median = {op: statistics.median(ms for ms, _ in runs) for op, runs in samples.items()}
            peak = {op: max(p for _, p in runs) for op, runs in samples.items()}
            results.append(AioMeasurement("sequential" if c is None else f"aio-c{c}", c, keys, value_bytes,
                                          round(median["set"], 3), round(median["get"], 3), peak["set"],
                                          peak["get"], repeat))
    finally:
        served.stop()
    base = results[0]
    return {"results": [asdict(r) for r in results],
            "ratios": {f"{r.path}_vs_sequential": round((r.set_ms + r.get_ms) / (base.set_ms + base.get_ms), 3)
                       for r in results[1:]},
            "latency_ms": latency_ms, "machine": platform.machine(),
            "served": "kvbatch serve (wasmtime serve -Sp3), memory: store, loopback store server"}


def _post(url: str, payload: Dict[str, Any]) -> tuple[int, Any]:
    """POSTs JSON; the status and the decoded JSON answer (the stdlib's client: one request at a time)."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def render(doc: Dict[str, Any]) -> List[str]:
    """The results as aligned text lines."""
    lines = [f"  {'path':<12} {'set ms':>9} {'peak':>5} {'get ms':>9} {'peak':>5}   vs sequential"]
    ratios = doc["ratios"]
    for r in doc["results"]:
        ratio = ratios.get(f"{r['path']}_vs_sequential")
        lines.append(f"  {r['path']:<12} {r['set_ms']:>9.1f} {r['set_peak']:>5} {r['get_ms']:>9.1f} {r['get_peak']:>5}"
                     f"   {'-' if ratio is None else f'{ratio:.2f}'}")
    return lines


EPILOG = """examples:
  kvbatch bench-aio                               1,000 x 100 B, sequential and max_concurrency 1, 8, 32
  kvbatch bench-aio --latency 2                   every store operation waits 2 ms first
  kvbatch bench-aio --keys 200 --repeat 1 --json build/bench/aio.json

Times are measured inside the component; `peak` is the most store requests in flight at once
during the phase, as the store server counted them.
"""


def add_arguments(parser: Any) -> None:
    """The options of `kvbatch bench-aio`."""
    parser.add_argument("--keys", type=int, default=DEFAULT_KEYS, help=f"keys per batch (default {DEFAULT_KEYS:,})")
    parser.add_argument("--value-bytes", type=int, default=DEFAULT_VALUE_BYTES,
                        help=f"bytes per value (default {DEFAULT_VALUE_BYTES})")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help=f"runs of each path, medians (default {DEFAULT_REPEAT})")
    parser.add_argument("--concurrency", default=",".join(map(str, DEFAULT_CONCURRENCY)), metavar="N,N,...",
                        help="the max_concurrency values to measure (default 1,8,32)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS",
                        help="latency added to every store get and set, in milliseconds (default 0)")
    parser.add_argument("--json", dest="json_path", type=Path, metavar="PATH", help="write the results to PATH as JSON")


def command(args: Any) -> int:
    """Runs `kvbatch bench-aio` with parsed `args`; bad arguments raise `ConfigError` (exit 2)."""
    from kvbatch_host.errors import ConfigError

    check_workload("bench-aio", args.keys, args.value_bytes, args.repeat, max_keys=MAX_KEYS)
    if not 0 <= args.latency <= 1000:
        raise ConfigError(f"bench-aio: --latency must be in 0..1000 ms, got {args.latency}")
    try:
        concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    except ValueError:
        raise ConfigError(f"bench-aio: --concurrency takes integers separated by commas, got {args.concurrency!r}") from None
    if not concurrency or any(not 1 <= c <= 1000 for c in concurrency):
        raise ConfigError(f"bench-aio: --concurrency values must be in 1..1000, got {args.concurrency!r}")
    check_json_path("bench-aio", args.json_path)
    try:
        doc = run(args.keys, args.value_bytes, args.repeat, concurrency, args.latency,
                  log=lambda line: print(line, file=sys.stderr))
    except BenchError as err:
        print(f"kvbatch bench-aio: {err}", file=sys.stderr)
        return 1
    print(f"kvbatch.aio in a served Spin component, {args.keys:,} keys x {args.value_bytes} B"
          + (f", {args.latency:g} ms store latency" if args.latency else "") + " (guest-timed medians):")
    for line in render(doc):
        print(line)
    if args.json_path is not None:
        write_json(doc, args.json_path)
        print(f"wrote {args.json_path}")
    return 0


__all__ = ["AioMeasurement", "add_arguments", "command", "render", "run"]
