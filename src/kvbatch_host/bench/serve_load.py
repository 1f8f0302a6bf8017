"""`kvbatch serve` under load, beside its floor, on loopback: the `serve_*` headline figures.

* the floor: a Spin handler that answers `hello` (`kvbatch build spin-hello`), composed with the
  same stubs, serve adapter and serve front and precompiled as `kvbatch serve` does, under
  `wasmtime serve` with the same options;
* `kvbatch serve` (a fresh process, memory store, as a user starts it) answering
  `POST /kv/stores/default/get-many` of 10 keys written beforehand.

The load generator is `hey` (Debian's `hey` package; `./dev.sh` installs it): bounded runs at
1 connection, alternating between the two (3 rounds with `--quick`, 5 without; each side's
median round is its figure, requests per second side by side), then a bounded run at
32 connections on `kvbatch serve` (errors, p50/p99 latency, peak RSS of the serve process and its
`wasmtime` child, sampled every 20 ms).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from kvbatch_host.bench.measure import BenchError
from kvbatch_host.prepare import build as builder

HEY = "hey"
GET_KEYS = 10
START_TIMEOUT_S = 180.0
TOKEN_ENV = "SPIN_VARIABLE_KVBATCH_TOKEN"


@dataclass(frozen=True)
class Load:
    """One bounded `hey` run: how many requests were asked, answered 2xx, answered otherwise, and lost."""

    connections: int
    requested: int
    ok: int
    non_2xx: int
    errors: int
    seconds: float
    p50_ms: Optional[float]
    p99_ms: Optional[float]

    @property
    def rps(self) -> Optional[float]:
        return self.ok / self.seconds if self.seconds > 0 else None


def hey_available() -> bool:
    return shutil.which(HEY) is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_hey(url: str, connections: int, requests: int, *, body: Optional[bytes] = None,
            headers: Tuple[str, ...] = (), timeout_s: float = 120.0) -> Load:
    """`requests` requests (rounded down to a multiple of `connections`: hey gives each connection
    the same number) over `connections` connections (POST with `body`, else GET), each answered
    within 20 s or counted an error; the whole run killed after `timeout_s`."""
    requests = max(1, requests // connections) * connections
    cmd = [HEY, "-n", str(requests), "-c", str(connections), "-t", "20", "-o", "csv"]
    for header in headers:
        cmd += ["-H", header]
    with tempfile.NamedTemporaryFile(suffix=".json") as payload:
        if body is not None:
            payload.write(body)
            payload.flush()
            cmd += ["-m", "POST", "-T", "application/json", "-D", payload.name]
        proc = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise BenchError(f"hey failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    times: List[float] = []
    ends: List[float] = []
    non_2xx = 0
    for line in proc.stdout.splitlines()[1:]:
        fields = line.split(",")
        if len(fields) < 8:
            continue
        latency, status, offset = float(fields[0]), int(fields[6]), float(fields[7])
        ends.append(offset + latency)
        if 200 <= status < 300:
            times.append(latency)
        else:
            non_2xx += 1
    answered = len(ends)
    seconds = max(ends) if ends else 0.0
    quantiles = statistics.quantiles(times, n=100, method="inclusive") if len(times) >= 2 else None
    return Load(connections, requests, len(times), non_2xx, requests - answered, seconds,
                None if quantiles is None else quantiles[49] * 1000, None if quantiles is None else quantiles[98] * 1000)


# -- the processes ---------------------------------------------------------------------------------

def _wait_listening(port: int, proc: "subprocess.Popen[bytes]", timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def _stop(proc: "subprocess.Popen[bytes]") -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def hello_floor(log: Any = lambda line: None) -> Iterator[str]:
    """The hello handler served as `kvbatch serve` serves a component, without the rest: its URL."""
    from kvbatch_host.serve import server, shims

    builder.build(builder.TARGETS["spin-hello"], log=log)
    prepared = shims.prepare(builder.TARGETS["spin-hello"].output, log=log)
    port = free_port()
    cmd = [shims.wasmtime(), "serve", *server.WASMTIME_OPTIONS, "--addr", f"127.0.0.1:{port}", str(prepared.compiled)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_listening(port, proc, START_TIMEOUT_S)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(proc)


@contextmanager
def kvbatch_serve(token: str) -> Iterator[Tuple[str, "subprocess.Popen[bytes]"]]:
    """`kvbatch serve --store memory:` in a fresh process on a free loopback port: its base URL and process."""
    port = free_port()
    env = dict(os.environ, **{TOKEN_ENV: token})
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "kvbatch_host", "serve", "--store", "memory:", "--listen", f"127.0.0.1:{port}",
           "--manifest", str(builder.ROOT / "spin.toml")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    lines: List[str] = []

    def drain() -> None:  # keep its stderr flowing (and the last lines, for an error message)
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append(raw.decode(errors="replace").rstrip())
            del lines[:-20]

    threading.Thread(target=drain, daemon=True).start()
    try:
        try:
            _wait_listening(port, proc, START_TIMEOUT_S)
        except BenchError as err:
            raise BenchError(f"kvbatch serve: {err}: {' | '.join(lines[-5:])}") from None
        yield f"http://127.0.0.1:{port}", proc
    finally:
        _stop(proc)


def _children(pid: int) -> List[int]:
    """The PIDs of `pid`'s child processes (Linux's /proc)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants now, MB."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            todo += _children(current)
        except (OSError, ValueError):
            continue
    return total / 1024


@contextmanager
def peak_rss(pid: int, every_s: float = 0.02) -> Iterator[List[float]]:
    """Samples the resident memory of `pid`'s process tree while the block runs; `[peak MB]` after it."""
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_mb(pid))
            done.wait(every_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


# -- the figures -----------------------------------------------------------------------------------

def _median_rps(loads: List[Load]) -> Load:
    """The run with the median requests per second (the upper median of an even number)."""
    return sorted(loads, key=lambda load: load.rps or 0.0)[len(loads) // 2]


def measure_serve(quick: bool, log: Any = lambda line: None) -> Dict[str, Any]:
    """The serve runs and their headline figures (`serve_vs_floor_get10`, `serve_errors_32`,
    `serve_p99_over_p50_32`, `serve_rss_32_mb`)."""
    single, rounds = (200, 3) if quick else (500, 5)
    loaded = 1000 if quick else 6000
    token = secrets.token_hex(16)
    keys = [f"bench:{i:02d}" for i in range(GET_KEYS)]
    auth = f"Authorization: Bearer {token}"
    runs: Dict[str, Any] = {}
    with kvbatch_serve(token) as (base, proc):
        items = json.dumps({"items": {k: "x" * 100 for k in keys}, "encoding": "text"}).encode()
        seed = run_hey(f"{base}/kv/stores/default/set-many", 1, 1, body=items, headers=(auth,))
        if seed.ok != 1:
            raise BenchError(f"kvbatch serve: the set-many before the load runs failed ({seed})")
        body = json.dumps({"keys": keys}).encode()
        url = f"{base}/kv/stores/default/get-many"
        run_hey(url, 1, 20, body=body, headers=(auth,))  # warm: the first requests instantiate
        with hello_floor(log) as hello:
            run_hey(hello, 1, 20)
            floors: List[Load] = []
            gets: List[Load] = []
            for _ in range(rounds):  # alternated, so a slow spell of the machine weighs on both
                floors.append(run_hey(hello, 1, single))
                gets.append(run_hey(url, 1, single, body=body, headers=(auth,)))
            floor, get10 = _median_rps(floors), _median_rps(gets)
        with peak_rss(proc.pid) as peak:
            at32 = run_hey(url, 32, loaded, body=body, headers=(auth,), timeout_s=300)
    loads = {"hello_1": floor, "get10_1": get10, "get10_32": at32}
    runs = {name: asdict(load) for name, load in loads.items()}
    for name, load in loads.items():
        runs[name]["rps"] = None if load.rps is None else round(load.rps, 1)
    headline = {
        "serve_vs_floor_get10": None if not (floor.rps and get10.rps) else get10.rps / floor.rps,
        "serve_errors_32": float(at32.errors + at32.non_2xx),
        "serve_p99_over_p50_32": None if not (at32.p50_ms and at32.p99_ms) else at32.p99_ms / at32.p50_ms,
        "serve_rss_32_mb": peak[0] or None,
    }
    return {"headline": headline, "runs": runs}


__all__ = ["Load", "hey_available", "measure_serve", "run_hey"]
