"""`kvbatch bench-cluster`: the Redis Cluster backend next to one Redis node and redis-py's own
cluster batch calls, all in one run, on loopback servers the run starts and stops.

Every path writes, reads back (checking every value) and deletes the same N keys × V bytes
(10,000 × 100 B by default), timed per phase, medians of `repeat`:

| path | what runs |
|---|---|
| `cluster-3`, `cluster-6` | `RedisClusterBackend.set_many / get_many / delete_many` on 3 and on 6 masters: one MSET / MGET / DEL per slot, pipelined per master, the masters in parallel |
| `single-node` | `RedisBackend` on one redis-server: one MSET, one MGET, one DEL |
| `redis-py-nonatomic` | redis-py's `RedisCluster.mset_nonatomic` / `mget_nonatomic` / `delete` on the 3 masters (its own slot grouping) |
| `guest-cluster-3`, `guest-single-node` | the bench guest (`build/bench.wasm`) under the harness with host-native batch over those backends (only with `--guest`) |

Ratios: `cluster_vs_single_node`, `cluster_vs_redis_py_nonatomic` (set + get + delete time,
below 1 is faster) and `masters_6_vs_3` (the 6-master time over the 3-master time). Every
server runs on this machine: on few cores more masters share the same CPUs, so the ratio
says what sharding costs here, not what it buys on separate hosts.
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from kvbatch_host.backends.base import Backend
from kvbatch_host.bench.arguments import check_json_path, check_workload
from kvbatch_host.bench.measure import BenchError, bench_value
from kvbatch_host.bench.report import write_json

DEFAULT_KEYS = 10_000
DEFAULT_VALUE_BYTES = 100
DEFAULT_REPEAT = 3
MAX_KEYS = 1_000_000
STORE = "default"


@dataclass
class ClusterMeasurement:
    """One path: median milliseconds per phase over `repeat` runs."""

    path: str
    keys: int
    value_bytes: int
    set_ms: float
    get_ms: float
    delete_ms: float
    repeat: int

    @property
    def total_ms(self) -> float:
        return self.set_ms + self.get_ms + self.delete_ms

    def to_json(self) -> Dict[str, Any]:
        return {**asdict(self), "total_ms": round(self.total_ms, 3)}


def _median_ms(samples: List[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _workload(keys: int, value_bytes: int) -> Dict[str, bytes]:
    return {f"bench:{i:08d}": bench_value(i, value_bytes) for i in range(keys)}


def measure_backend(path: str, backend: Backend, keys: int, value_bytes: int, repeat: int) -> ClusterMeasurement:
    """set_many, get_many (every value checked), delete_many of the workload on `backend`."""
    items = _workload(keys, value_bytes)
    names, values = list(items), list(items.values())
    pairs = list(items.items())
    phases: Dict[str, List[float]] = {"set": [], "get": [], "delete": []}
    for _ in range(repeat):
        started = time.perf_counter()
        backend.set_many(STORE, pairs)
        set_done = time.perf_counter()
        got = backend.get_many(STORE, names)
        get_done = time.perf_counter()
        backend.delete_many(STORE, names)
        done = time.perf_counter()
        if got != values:
            raise BenchError(f"{path}: values read back differ from the values written")
        phases["set"].append(set_done - started)
        phases["get"].append(get_done - set_done)
        phases["delete"].append(done - get_done)
    if any(value is not None for value in backend.get_many(STORE, names[:100])):
        raise BenchError(f"{path}: keys remain after delete_many")
    return ClusterMeasurement(path, keys, value_bytes, _median_ms(phases["set"]), _median_ms(phases["get"]),
                              _median_ms(phases["delete"]), repeat)


def measure_redis_py_nonatomic(client: Any, prefix: str, keys: int, value_bytes: int, repeat: int) -> ClusterMeasurement:
    """redis-py's own cluster batch calls: `mset_nonatomic`, `mget_nonatomic`, `delete` (split by slot)."""
    items = {prefix + name: value for name, value in _workload(keys, value_bytes).items()}
    names, values = list(items), list(items.values())
    phases: Dict[str, List[float]] = {"set": [], "get": [], "delete": []}
    for _ in range(repeat):
        started = time.perf_counter()
        client.mset_nonatomic(items)
        set_done = time.perf_counter()
        got = client.mget_nonatomic(names)
        get_done = time.perf_counter()
        client.delete(*names)
        done = time.perf_counter()
        if got != values:
            raise BenchError("redis-py-nonatomic: values read back differ from the values written")
        phases["set"].append(set_done - started)
        phases["get"].append(get_done - set_done)
        phases["delete"].append(done - get_done)
    return ClusterMeasurement("redis-py-nonatomic", keys, value_bytes, _median_ms(phases["set"]), _median_ms(phases["get"]),
                              _median_ms(phases["delete"]), repeat)


def measure_guest(path: str, backend_factory: Callable[[], Backend], keys: int, value_bytes: int,
                  repeat: int) -> ClusterMeasurement:
    """The bench guest under the harness, host-native batch over the backend (guest-timed)."""
    from kvbatch_host.bench.measure import run_harness
    from kvbatch_host.bench.plan import chunk_for

    m = run_harness("native", keys, value_bytes, repeat, chunk_for(keys, value_bytes), backend_factory=backend_factory,
                    label=path)
    return ClusterMeasurement(path, keys, value_bytes, round(m.set_ms, 3), round(m.get_ms, 3), round(m.delete_ms, 3),
                              m.repeat)


def _ratio(a: Optional[ClusterMeasurement], b: Optional[ClusterMeasurement]) -> Optional[float]:
    if a is None or b is None or b.total_ms <= 0:
        return None
    return round(a.total_ms / b.total_ms, 3)


def run(keys: int = DEFAULT_KEYS, value_bytes: int = DEFAULT_VALUE_BYTES, repeat: int = DEFAULT_REPEAT,
        guest: bool = False, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Starts the servers (one node, a 3-master and a 6-master cluster, one at a time), measures
    every path, stops every server, and returns the results document."""
    from kvbatch_host.backends.redis import RedisBackend
    from kvbatch_host.backends.redis_cluster import RedisClusterBackend
    from kvbatch_host.redis_server import LocalRedisCluster, LocalRedisServer

    runs: List[ClusterMeasurement] = []
    by: Dict[str, ClusterMeasurement] = {}

    def add(m: ClusterMeasurement) -> None:
        runs.append(m)
        by[m.path] = m
        log(f"  {m.path:<20} set {m.set_ms:9.1f} ms  get {m.get_ms:9.1f} ms  delete {m.delete_ms:9.1f} ms")

    log(f"kvbatch bench-cluster: {keys:,} keys x {value_bytes} B, median of {repeat}")
    with LocalRedisServer() as server:
        single = RedisBackend(server.url + "?namespace=bench")
        try:
            add(measure_backend("single-node", single, keys, value_bytes, repeat))
        finally:
            single.close()
        if guest:
            add(measure_guest("guest-single-node", lambda: RedisBackend(server.url + "?namespace=bench-guest"), keys,
                              value_bytes, repeat))
    with LocalRedisCluster(masters=3) as cluster3:
        backend = RedisClusterBackend(cluster3.url + "?namespace=bench")
        try:
            add(measure_backend("cluster-3", backend, keys, value_bytes, repeat))
            add(measure_redis_py_nonatomic(backend.client, backend.prefix(STORE) + "py:", keys, value_bytes, repeat))
        finally:
            backend.close()
        if guest:
            add(measure_guest("guest-cluster-3", lambda: RedisClusterBackend(cluster3.url + "?namespace=bench-guest"), keys,
                              value_bytes, repeat))
    with LocalRedisCluster(masters=6) as cluster6:
        backend = RedisClusterBackend(cluster6.url + "?namespace=bench")
        try:
            add(measure_backend("cluster-6", backend, keys, value_bytes, repeat))
        finally:
            backend.close()
    ratios = {
        "cluster_vs_single_node": _ratio(by.get("cluster-3"), by.get("single-node")),
        "cluster_vs_redis_py_nonatomic": _ratio(by.get("cluster-3"), by.get("redis-py-nonatomic")),
        "masters_6_vs_3": _ratio(by.get("cluster-6"), by.get("cluster-3")),
        "guest_cluster_vs_single_node": _ratio(by.get("guest-cluster-3"), by.get("guest-single-node")),
    }
    meta = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": _cpus(), "servers": "loopback, this machine, no persistence"}
    return {"runs": [m.to_json() for m in runs], "ratios": ratios, "meta": meta}


def _cpus() -> Optional[int]:
    import os

    return os.cpu_count()


def render_ratios(doc: Dict[str, Any]) -> List[str]:
    """The ratios, one line each, for people."""
    notes = {
        "cluster_vs_single_node": "3-master cluster batch time / one node (MSET/MGET/DEL)",
        "cluster_vs_redis_py_nonatomic": "3-master cluster batch time / redis-py mset_nonatomic+mget_nonatomic+delete",
        "masters_6_vs_3": "6 masters / 3 masters, same backend (all on this machine's cores)",
        "guest_cluster_vs_single_node": "the bench guest under the harness: cluster / one node",
    }
    return [f"  {name:<32} {'-' if value is None else f'{value:.3f}':>8}   {notes[name]}"
            for name, value in doc["ratios"].items()]


# -- the `kvbatch bench-cluster` subcommand ----------------------------------------------------------

EPILOG = """examples:
  kvbatch bench-cluster                          10,000 x 100 B on every path, 3 repeats
  kvbatch bench-cluster --guest                  also the bench guest under the harness (builds build/bench.wasm)
  kvbatch bench-cluster --keys 1000 --repeat 1 --json build/bench/cluster.json

Starts one redis-server, a 3-master and a 6-master Redis Cluster on loopback ports (Debian's
redis-server and redis-cli), one at a time, and stops each by PID when its part is done.
"""


def add_arguments(parser: Any) -> None:
    """The options of `kvbatch bench-cluster`."""
    parser.add_argument("--keys", type=int, default=DEFAULT_KEYS, help=f"keys per batch (default {DEFAULT_KEYS:,})")
    parser.add_argument("--value-bytes", type=int, default=DEFAULT_VALUE_BYTES,
                        help=f"bytes per value (default {DEFAULT_VALUE_BYTES})")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help=f"runs of each path, medians (default {DEFAULT_REPEAT})")
    parser.add_argument("--guest", action="store_true", help="also run the bench guest under the harness over both backends")
    parser.add_argument("--json", dest="json_path", type=Path, metavar="PATH", help="write the results to PATH as JSON")


def command(args: Any) -> int:
    """Runs `kvbatch bench-cluster` with parsed `args`; bad arguments raise `ConfigError` (exit 2)."""
    from kvbatch_host.errors import ConfigError
    from kvbatch_host.redis_server import redis_server_binary

    check_workload("bench-cluster", args.keys, args.value_bytes, args.repeat, max_keys=MAX_KEYS)
    check_json_path("bench-cluster", args.json_path)
    if redis_server_binary() is None:
        raise ConfigError("bench-cluster: redis-server is not installed (apt-get install redis-server)")
    if args.guest:
        from kvbatch_host.prepare import build as builder

        builder.build_all(["bench"], log=lambda line: None)
    try:
        doc = run(args.keys, args.value_bytes, args.repeat, guest=args.guest)
    except BenchError as err:
        print(f"kvbatch bench-cluster: {err}")
        return 1
    print("ratios (below 1: the first is faster):")
    for line in render_ratios(doc):
        print(line)
    if args.json_path is not None:
        write_json(doc, args.json_path)
        print(f"wrote {args.json_path}")
    return 0


__all__ = ["ClusterMeasurement", "run", "measure_backend", "measure_redis_py_nonatomic", "render_ratios", "add_arguments",
           "command"]
