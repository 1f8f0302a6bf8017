"""Starting and stopping everything `kvbatch serve` runs: store server, `wasmtime serve`, router."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from kvbatch_host.prepare import build as builder
from kvbatch_host.errors import ConfigError
from kvbatch_host.faults import FaultLayer
from kvbatch_host.faults.events import EventLog
from kvbatch_host.backends.stores import StoreRegistry
from kvbatch_host.setup import Host, HostOptions
from kvbatch_host.serve import shims
from kvbatch_host.serve.manifest import Manifest
from kvbatch_host.serve.router import Router, free_port
from kvbatch_host.serve.store_server import StoreServer

DEFAULT_LISTEN = "127.0.0.1:3000"
DEFAULT_STORE_URL = "sqlite:.kvbatch/spin.db"
"""Where granted stores live unless --store or --runtime-config say otherwise (persistent, like Spin's .spin/)."""
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 5.0
WASMTIME_OPTIONS = ("-Sp3", "-Scli", "-Shttp", *shims.WASMTIME_FLAGS, "--allow-precompiled")


def parse_listen(text: str) -> Tuple[str, int]:
    """`HOST:PORT` (loopback only) as a tuple; `ConfigError` naming what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:3000")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise ConfigError(f"--listen {text!r}: kvbatch serve listens on loopback only (127.0.0.1, localhost or ::1)")
    return ("127.0.0.1" if host == "localhost" else host.strip("[]")), int(port)


def host_options(manifest: Manifest, options: HostOptions) -> HostOptions:
    """`options` as `kvbatch serve` applies them to `manifest`: the component may open only the
    stores it is granted (`key_value_stores`), each from --store / the runtime config, else all from
    one backend at `DEFAULT_STORE_URL`."""
    return replace(options, allow=tuple(manifest.stores), default_url=DEFAULT_STORE_URL, serve_allowed=True)


@dataclass
class Served:
    """A running `kvbatch serve`: its address and the parts to stop."""

    url: str
    router: Router
    store_server: StoreServer
    process: "subprocess.Popen[bytes]"
    host: Host
    started_s: float = 0.0
    compiled: bool = False

    @property
    def registry(self) -> StoreRegistry:
        return self.host.registry

    @property
    def events(self) -> Optional[EventLog]:
        return self.host.events

    @property
    def layers(self) -> List[FaultLayer]:
        return self.host.layers

    def stop(self) -> None:
        """Stops wasmtime serve (SIGTERM, then SIGKILL after `STOP_TIMEOUT_S`), the router, the store
        server, then closes the stores and the event log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.router.stop()
        self.store_server.stop()
        self.host.close()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when `kvbatch serve` dies, even by SIGKILL (Linux `PR_SET_PDEATHSIG`)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _relay_stderr(process: "subprocess.Popen[bytes]") -> None:
    """Copies wasmtime's stderr (the component's log) to ours, without its private "Serving HTTP on" address."""
    assert process.stderr is not None
    for line in process.stderr:
        if not line.startswith(b"Serving HTTP on "):
            sys.stderr.buffer.write(line)
            sys.stderr.flush()


def _wait_listening(address: Tuple[str, int], process: "subprocess.Popen[bytes]", timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"wasmtime serve exited with status {process.returncode} before listening (its stderr is above)")
        try:
            with socket.create_connection(address, timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ConfigError(f"wasmtime serve did not listen on {address[0]}:{address[1]} within {timeout:.0f} s")


def start(manifest: Manifest, listen: Tuple[str, int], options: HostOptions = HostOptions(),
          log: Callable[[str], None] = lambda line: None) -> Served:
    """Builds what is stale, then opens the stores `options` give (see `host_options`) and starts the
    store server, `wasmtime serve` and the router; returns them running.

    Raises `ConfigError` (nothing left running) for a bad store, port or a missing wasmtime.
    """
    started = time.monotonic()
    wasmtime = shims.wasmtime()
    if manifest.source.resolve() == builder.TARGETS["spin"].output.resolve():
        builder.build(builder.TARGETS["spin"], log=log)
    prepared = shims.prepare(manifest.source, log=log)
    host = host_options(manifest, options).open()
    registry = host.registry
    secret = secrets.token_hex(32)
    try:
        router = Router(listen, manifest.route, ("127.0.0.1", free_port()))
    except ConfigError:
        host.close()
        raise
    store_server = StoreServer(registry, secret, log=lambda line: print(line, file=sys.stderr)).start()
    env: Dict[str, str] = dict(os.environ, KVBATCH_SERVE_STORE=store_server.url, KVBATCH_SERVE_SECRET=secret)
    names = ["KVBATCH_SERVE_STORE", "KVBATCH_SERVE_SECRET"]
    for name, value in manifest.variables.items():
        env["KVBATCH_SERVE_VAR_" + name] = value
        names.append("KVBATCH_SERVE_VAR_" + name)
    cmd = [wasmtime, "serve", *WASMTIME_OPTIONS, "--addr", "%s:%d" % router.backend]
    for name in names:  # values pass through the environment, never the command line (ps shows that)
        cmd += ["--env", name]
    cmd.append(str(prepared.compiled))
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=_die_with_parent)
    threading.Thread(target=_relay_stderr, args=(process,), name="kvbatch-wasmtime-stderr", daemon=True).start()
    try:
        _wait_listening(router.backend, process, START_TIMEOUT_S)
    except BaseException:
        process.kill()
        process.wait()
        router.httpd.server_close()
        store_server.stop()
        host.close()
        raise
    router.start()
    address, port = router.address
    return Served(f"http://{address}:{port}", router, store_server, process, host, time.monotonic() - started,
                  prepared.built)


def serve_until_stopped(served: Served) -> int:
    """Blocks until Ctrl-C, SIGTERM or wasmtime exiting; stops everything; returns the exit status."""
    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        while served.process.poll() is None:
            time.sleep(0.2)
        print(f"kvbatch: wasmtime serve exited with status {served.process.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        sink = served.events.sink if served.events is not None else None
        served.stop()
        if sink is not None:
            print(f"kvbatch: event log: {sink.name} ({len(served.events or [])} events)", file=sys.stderr)


def default_manifest() -> Path:
    """spin.toml in the current directory, else the project's."""
    here = Path("spin.toml")
    return here if here.exists() else builder.ROOT / "spin.toml"
