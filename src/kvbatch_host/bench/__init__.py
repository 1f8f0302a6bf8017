"""`kvbatch bench`: what kvbatch costs next to the runtimes users would pick instead.

Side by side in one run, with the same guest source (`src/kvbatch_guests/bench.py`, which
times its own `set-many` + `get-many` + `delete-many`):

* `native`: the harness serving `wasi:keyvalue/batch` itself (memory backend), with the byte
  bridge plugged in as the harness does for draft2 guests (`kvbatch_host.prepare.bridge`);
* `provider`: the harness running the guest composed with the provider component (static
  composition, as `kvbatch compose` does), through the byte bridge: the host sees per-key calls;
* `per-key`: the harness, a guest without `batch` making one `store` call per key;
* `wasmtime-cli`: `wasmtime run -S keyvalue` (its native in-memory host): the reference;
* `redis-*`: the harness over the Redis backend (batch and per-key) against redis-py's
  MSET/MGET/DEL and pipelines from Python, on a loopback `redis-server` the run starts;
* component start: compile from scratch, load the compiled form, instantiate the composed guest.

`run_benchmarks` returns the JSON document (`headline`, `runs`, `growth`, `peak_rss_mb`,
`start`, `meta`); the CLI prints the table and writes the JSON and PNG plots.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from kvbatch_host.prepare import build as builder
from kvbatch_host import fastpath
from kvbatch_host.errors import ConfigError
from kvbatch_host.versions import WASMTIME_VERSION
from kvbatch_host.bench import measure
from kvbatch_host.bench.arguments import check_json_path
from kvbatch_host.bench.measure import BenchError, Measurement
from kvbatch_host.bench.plan import (FLOOR_NATIVE, FLOOR_PER_KEY, LIBRARY, LIBRARY_PER_KEY, RAW, RAW_PER_KEY, REDIS_PATHS,
                                     REFERENCE, REFERENCE_PER_KEY, SMALL_VALUE, Job, Plan, make_plan)
from kvbatch_host.bench.report import HEADLINE_KEYS_NAMES, Results, document, table, write_json, write_plots

TARGETS = ("provider", "bench", "bench-nobatch", "bench-wasmtime")
DEFAULT_OUT = Path("build/bench")


@dataclass
class Options:
    """What a `kvbatch bench` run does."""

    quick: bool = False
    repeat: Optional[int] = None
    json_path: Optional[Path] = None
    plots_dir: Optional[Path] = DEFAULT_OUT
    cli: bool = True
    redis: bool = True
    serve: bool = True
    progress: bool = True


@contextlib.contextmanager
def _redis(enabled: bool, notes: List[str]) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from kvbatch_host.redis_server import LocalRedisServer, redis_server_binary

    if redis_server_binary() is None:
        notes.append("redis: skipped, redis-server is not installed (apt-get install redis-server)")
        yield None
        return
    with LocalRedisServer() as server:
        yield server


def run_benchmarks(options: Options, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Builds what is stale, runs the plan, returns the results document."""
    builder.build_all(list(TARGETS), log=lambda line: None)
    plan = make_plan(options.quick, options.repeat, cli=options.cli, redis=options.redis)
    notes: List[str] = []
    measurements: List[Measurement] = []
    cli_path = measure.wasmtime_cli() if options.cli else None
    from tqdm import tqdm

    with _redis(options.redis, notes) as server:
        jobs = [job for job in plan.jobs if server is not None or job.path not in REDIS_PATHS]
        bar = tqdm(total=len(jobs) + 2, desc="kvbatch bench", unit="run", disable=not options.progress, leave=False)
        try:
            bar.set_postfix_str("warm-up")
            _warm_up(jobs, server, cli_path)
            bar.set_postfix_str("component start")
            start = measure.measure_start(builder.TARGETS["provider"].output, 1 if plan.quick else plan.repeat)
            start.update(measure.measure_run_wall(cli_path, plan.start_repeat))
            bar.update(2)
            for job in jobs:
                bar.set_postfix_str(job.label)
                measurements.extend(_run(job, plan, server, cli_path))
                bar.update()
            serve = _serve(options, plan.quick, notes, bar)
        finally:
            bar.close()
    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": _cpus(),
        "wasmtime_py": WASMTIME_VERSION,
        "fastpath": fastpath.installed() and fastpath.active(),
        "harness_backend": "memory",
        "processes": "every run is a fresh process: `kvbatch run` (python -m kvbatch_host, bytecode cache on) or "
                     "`wasmtime run -S keyvalue`, after one untimed run of each configuration fills the caches",
        "peak_rss": "of each run's own process (VmHWM, sampled every 5 ms)",
        "notes": notes,
    }
    return document(Results(measurements), plan, start, meta, serve)


def _serve(options: Options, quick: bool, notes: List[str], bar: Any) -> Dict[str, Any]:
    """The `kvbatch serve` load runs (`serve_load`), or nothing when skipped (with a note why)."""
    from kvbatch_host.bench import serve_load

    if not options.serve:
        return {}
    if not serve_load.hey_available():
        notes.append("serve: skipped, the load generator hey is not installed (apt-get install hey)")
        return {}
    if "spin" not in builder.TARGETS:
        notes.append("serve: skipped, the Spin component is built from a checkout only")
        return {}
    bar.set_postfix_str("kvbatch serve")
    return serve_load.measure_serve(quick)


def _cpus() -> Optional[int]:
    import os

    return os.cpu_count()


def _store_url(job: Job, server: Any) -> str:
    return server.url if job.path.startswith("redis-") else "memory:"


def _warm_up(jobs: List[Job], server: Any, cli_path: Optional[str]) -> None:
    """One small untimed run of every configuration the jobs use: compositions, compiled code,
    bytecode and the CLI's own cache exist before anything is timed."""
    seen = set()
    for job in jobs:
        if job.path.startswith("redis-py-") or job.path in IN_CLI_WARMED:
            continue
        path = REFERENCE if job.path.startswith(REFERENCE) else job.path.removeprefix("redis-")
        key = (path, _store_url(job, server))
        if key in seen:
            continue
        seen.add(key)
        if path == REFERENCE:
            assert cli_path is not None
            measure.run_cli(10, SMALL_VALUE, 1, 10, builder.TARGETS["bench-wasmtime"].output, cli_path)
        else:
            measure.run_kvbatch(path, 10, SMALL_VALUE, 1, 10, store_url=key[1])


IN_CLI_WARMED = (LIBRARY, LIBRARY_PER_KEY, FLOOR_PER_KEY, FLOOR_NATIVE)
"""Jobs that need no warm-up of their own: the library runs use the CLI's warmed bench guest, the
floors run in this process."""


def _run(job: Job, plan: Plan, server: Any, cli_path: Optional[str]) -> List[Measurement]:
    repeat = job.repeat or plan.repeat
    if job.path in (LIBRARY, LIBRARY_PER_KEY):
        assert cli_path is not None
        per_key = job.path == LIBRARY_PER_KEY
        return list(measure.run_library_cli(job.keys, job.value_bytes, repeat, job.chunk,
                                            builder.TARGETS["bench-wasmtime"].output, cli_path, per_key,
                                            (job.path, RAW_PER_KEY if per_key else RAW)))
    if job.path in (FLOOR_PER_KEY, FLOOR_NATIVE):
        from kvbatch_host.bench.floors import run_floor

        return [run_floor(job.path, job.keys, job.value_bytes, repeat)]
    if job.path in (REFERENCE, REFERENCE_PER_KEY):
        assert cli_path is not None
        mode = "per-key" if job.path == REFERENCE_PER_KEY else "batch"
        return [measure.run_cli(job.keys, job.value_bytes, repeat, job.chunk, builder.TARGETS["bench-wasmtime"].output,
                                cli_path, mode=mode, label=job.path)]
    if job.path.startswith("redis-py-"):
        from kvbatch_host.backends.redis import RedisBackend

        backend = RedisBackend(server.url)
        try:
            return [measure.run_redis_py(backend.client, backend.prefix("default"), job.keys, job.value_bytes, repeat,
                                         job.path.rpartition("-")[2])]
        finally:
            backend.close()
    if job.path.startswith("redis-"):
        return [measure.run_kvbatch(job.path[len("redis-"):], job.keys, job.value_bytes, repeat, job.chunk,
                                    store_url=server.url, label=job.path)]
    return [measure.run_kvbatch(job.path, job.keys, job.value_bytes, repeat, job.chunk)]


def print_summary(doc: Dict[str, Any], log: Callable[[str], None] = print) -> None:
    """The table, the headline and the notes, as `kvbatch bench` prints them."""
    runs = [Measurement(**{k: v for k, v in r.items() if k in Measurement.__dataclass_fields__}) for r in doc["runs"]]
    log(table(Results(runs)))
    log("")
    log("headline:")
    for key in HEADLINE_KEYS_NAMES:
        value = doc["headline"][key]
        log(f"  {key:<36} {'-' if value is None else value}")
    start = doc["start"]
    for key, name in (("instantiate_ms", "instantiate_composed_ms"), ("kvbatch_run_wall_ms", "kvbatch_run_wall_ms"),
                      ("cli_run_wall_ms", "cli_run_wall_ms")):
        log(f"  {name:<36} {start.get(key, '-')}")
    if doc["growth"]:
        log("growth (time at 10x the keys / time before):")
        for path, steps in doc["growth"].items():
            log(f"  {path:<18} " + "  ".join(f"{step}: {value}" for step, value in steps.items()))
    for name, run in doc.get("serve", {}).get("runs", {}).items():
        log(f"serve {name:<9} {run['rps']} req/s, p50 {_ms(run['p50_ms'])} ms, p99 {_ms(run['p99_ms'])} ms, "
            f"{run['errors']} errors, {run['non_2xx']} non-2xx of {run['requested']}")
    if doc["peak_rss_mb"]:
        log("peak RSS, MB: " + "; ".join(f"{path} " + ", ".join(f"{k} {v}" for k, v in row.items())
                                        for path, row in doc["peak_rss_mb"].items()))
    if not doc["meta"]["fastpath"]:
        log("note: the fast value path is off (plain wasmtime-py conversions)")
    for note in doc["meta"]["notes"]:
        log(f"note: {note}")


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(options: Options, log: Callable[[str], None] = print) -> int:
    """Runs the benchmark, prints the summary, writes the JSON and plots; returns an exit code."""
    try:
        doc = run_benchmarks(options, log)
    except BenchError as err:
        log(f"kvbatch bench: {err}")
        return 1
    print_summary(doc, log)
    if options.json_path is not None:
        write_json(doc, options.json_path)
        log(f"wrote {options.json_path}")
    if options.plots_dir is not None:
        runs = [Measurement(**{k: v for k, v in r.items() if k in Measurement.__dataclass_fields__}) for r in doc["runs"]]
        plan = make_plan(options.quick, options.repeat, cli=options.cli, redis=options.redis)
        for path in write_plots(Results(runs), plan, options.plots_dir):
            log(f"wrote {path}")
    return 0


__all__ = ["Options", "run_benchmarks", "print_summary", "main", "HEADLINE_KEYS_NAMES", "BenchError"]


# -- the `kvbatch bench` subcommand ------------------------------------------------------------

EPILOG = """examples:
  kvbatch bench --quick                      a small subset, every headline figure once
  kvbatch bench --json build/bench/bench.json
  kvbatch bench --quick --no-cli --no-redis --no-serve   the harness paths only
"""


def add_arguments(parser: Any) -> None:
    """The options of `kvbatch bench` (see `Options`)."""
    parser.add_argument("--quick", action="store_true", help="a small subset that still yields every headline figure")
    parser.add_argument("--json", dest="json_path", type=Path, metavar="PATH", help="write every result to PATH as JSON")
    parser.add_argument("--plots", dest="plots_dir", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"where the PNG plots go (default {DEFAULT_OUT})")
    parser.add_argument("--no-plots", action="store_true", help="write no plots")
    parser.add_argument("--repeat", type=int, metavar="N", help="repeats of each workload, medians reported (default 3)")
    parser.add_argument("--no-cli", action="store_true", help="skip the wasmtime CLI reference")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis comparison")
    parser.add_argument("--no-serve", action="store_true", help="skip the kvbatch serve load runs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_outputs(json_path: Optional[Path], plots_dir: Optional[Path]) -> None:
    """Fails before any benchmark runs when an output cannot be written: `ConfigError` naming it."""
    if plots_dir is not None:
        try:
            plots_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"bench: cannot write {str(err.filename or plots_dir)!r} ({err.strerror or err})") from None
    check_json_path("bench", json_path)


PLOTS_HINT = "kvbatch: the plots need matplotlib: pip install 'kvbatch[bench]' (or pass --no-plots)"
"""What `kvbatch bench` says when plots are asked for and the `bench` extra is not installed."""


def plotting_available() -> bool:
    """Whether matplotlib (the `kvbatch[bench]` extra) can be imported."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def command(args: Any) -> int:
    """Runs `kvbatch bench` with parsed `args`."""
    if args.repeat is not None and args.repeat < 1:
        raise ConfigError(f"bench: --repeat must be at least 1, got {args.repeat}")
    if not args.no_plots and not plotting_available():
        print(PLOTS_HINT, file=sys.stderr)
        return 2
    _check_outputs(args.json_path, None if args.no_plots else args.plots_dir)
    options = Options(quick=args.quick, repeat=args.repeat, json_path=args.json_path,
                      plots_dir=None if args.no_plots else args.plots_dir, cli=not args.no_cli, redis=not args.no_redis,
                      serve=not args.no_serve,
                      progress=not args.no_progress)
    return main(options)
