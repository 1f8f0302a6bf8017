"""Starting and stopping everything `kvbatch serve` runs: per component a store server and a
`wasmtime serve`. A manifest with one component is served by its `wasmtime serve` straight on the
listening address (the serve front composed into the component routes like Spin); with several,
each listens on a private loopback port and the router on the listening address picks the one a
request's route leads to."""

from __future__ import annotations

import errno
import json
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
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from kvbatch_host.errors import ConfigError
from kvbatch_host.faults import FaultLayer
from kvbatch_host.faults.events import EventLog
from kvbatch_host.backends.stores import StoreRegistry
from kvbatch_host.setup import Host, HostOptions
from kvbatch_host.serve import builds, bulk, shims
from kvbatch_host.serve.manifest import Component, Manifest
from kvbatch_host.serve.router import Backend, Router, free_port
from kvbatch_host.serve.routes import RouteTable
from kvbatch_host.serve.store_server import StoreServer

DEFAULT_LISTEN = "127.0.0.1:3000"
DEFAULT_STORE_URL = "sqlite:.kvbatch/spin.db"
"""Where granted stores live unless --store or --runtime-config say otherwise (persistent, like Spin's .spin/)."""
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 5.0
WASMTIME_OPTIONS = ("-Sp3", "-Scli", "-Shttp", "-Sinherit-network", *shims.WASMTIME_FLAGS, *shims.WASMTIME_LIMITS,
                    "--allow-precompiled", "--max-instance-reuse-count", "1000")
"""`-Sinherit-network`: the serve adapter keeps a TCP connection (wasi:sockets) to its store server on
loopback. `--max-instance-reuse-count 1000`: an instance serves up to 1,000 requests (wasmtime's
default for a WASIp3 component is 128), so its start, its store connection and its opened stores
are paid for once per 1,000 requests; it is still replaced from time to time, so the memory a
large request grew does not stay for the server's life."""
MAX_CONCURRENT_REQUESTS = min(16, 4 * (os.cpu_count() or 1))
"""Requests `wasmtime serve` runs at once; more wait in its queue. Each request in flight pins its own
instance of the composition (45 core instances with the serve front) and wasmtime refuses past
1,000 core instances, so an unbounded server answers 500 from ~22 concurrent requests; a few per
core keeps every core busy."""


def parse_listen(text: str) -> Tuple[str, int]:
    """`HOST:PORT` (loopback only) as a tuple; `ConfigError` naming what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:3000")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise ConfigError(f"--listen {text!r}: kvbatch serve listens on loopback only (127.0.0.1, localhost or ::1)")
    return ("127.0.0.1" if host == "localhost" else host.strip("[]")), int(port)


def host_options(manifest: Manifest, options: HostOptions) -> HostOptions:
    """`options` as `kvbatch serve` applies them to `manifest`: the stores any served component is
    granted (the union of their `key_value_stores`), each from --store / the runtime config, else all
    from one backend at `DEFAULT_STORE_URL`. Each component opens them through `component_view`."""
    granted = tuple(dict.fromkeys(name for component in manifest.components.values() for name in component.stores))
    return replace(options, allow=granted, default_url=DEFAULT_STORE_URL, serve_allowed=True)


def component_view(registry: StoreRegistry, component: Component) -> StoreRegistry:
    """`registry`'s backends (fault layers included) as `component` may open them: its own allow-list."""
    return StoreRegistry(backends=registry.backends, allowed=set(component.stores))


@dataclass
class Instance:
    """One served component: its `wasmtime serve` process on a private port and its store server."""

    component: Component
    backend: Backend
    store_server: StoreServer
    process: "subprocess.Popen[bytes]"
    prepared: shims.Prepared


@dataclass
class Served:
    """A running `kvbatch serve`: its address and the parts to stop."""

    url: str
    manifest: Manifest
    router: Optional[Router]
    """The router on the listening address; `None` when one component is served there directly."""
    instances: List[Instance]
    host: Host
    started_s: float = 0.0
    compiled: bool = False
    """Whether this start composed and compiled some component (a first start) rather than reusing the cache."""
    owns_host: bool = True
    """Whether `stop` closes the stores and the event log (not when the caller opened them)."""

    @property
    def registry(self) -> StoreRegistry:
        return self.host.registry

    @property
    def events(self) -> Optional[EventLog]:
        return self.host.events

    @property
    def layers(self) -> List[FaultLayer]:
        return self.host.layers

    @property
    def processes(self) -> List["subprocess.Popen[bytes]"]:
        return [instance.process for instance in self.instances]

    def stop(self) -> None:
        """Stops every `wasmtime serve` (SIGTERM, then SIGKILL after `STOP_TIMEOUT_S`), the router and the
        store servers, then closes the stores and the event log (when this start opened them)."""
        _stop_processes(self.processes)
        if self.router is not None:
            self.router.stop()
        for instance in self.instances:
            instance.store_server.stop()
        if self.owns_host:
            self.host.close()


def _stop_processes(processes: Sequence["subprocess.Popen[bytes]"]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


def _wait_listening(address: Tuple[str, int], process: "subprocess.Popen[bytes]", timeout: float, name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"wasmtime serve of component {name!r} exited with status {process.returncode} before "
                              "listening (its stderr is above)")
        try:
            with socket.create_connection(address, timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ConfigError(f"wasmtime serve of component {name!r} did not listen on {address[0]}:{address[1]} "
                      f"within {timeout:.0f} s")


def prepare_sources(manifest: Manifest, build: bool = False, log: Callable[[str], None] = lambda line: None
                    ) -> Dict[str, shims.Prepared]:
    """Runs the build commands (`build`), then composes and precompiles every served component unless cached.

    Raises `ConfigError` for a source that does not exist (suggesting --build), a failed build
    (`builds.BuildFailed`, its output attached) or a component that is not an HTTP component.
    """
    if build:
        builds.build_components(manifest, log=log)
    for component in manifest.components.values():
        own = bulk.own_target_output()
        if own is not None and component.source.resolve() == own.resolve():
            bulk.ensure_built(log=log)
        if not component.source.is_file():
            hint = (" (run kvbatch serve --build to run its build command first)" if component.build is not None and not build
                    else " (its build command did not write it)" if component.build is not None
                    else " (build it first: the manifest gives no [component.%s.build] command)" % component.name)
            raise ConfigError(f"component {component.name!r}: source {str(component.source)!r} does not exist{hint}")
    prepared: Dict[str, shims.Prepared] = {}
    for component in manifest.components.values():
        prepared[component.name] = shims.prepare(component.source, log=log, name=component.name)
    return prepared


def _claim(listen: Tuple[str, int]) -> Tuple[str, int]:
    """`listen` with port 0 replaced by a free port, once binding it has succeeded; `ConfigError` when it cannot be bound."""
    family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(listen)
        except OSError as err:
            reason = "address already in use" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
            raise ConfigError(f"cannot listen on {listen[0]}:{listen[1]}: {reason}") from None
        return listen[0], int(probe.getsockname()[1])


def _address(listen: Tuple[str, int]) -> str:
    host, port = listen
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start(manifest: Manifest, listen: Tuple[str, int], options: HostOptions = HostOptions(),
          log: Callable[[str], None] = lambda line: None, build: bool = False, host: Optional[Host] = None) -> Served:
    """Builds what is stale (with `build`: the components' own build commands first), then opens the
    stores `options` give (see `host_options`) and starts the store servers and one `wasmtime serve`
    per component (straight on `listen` for a single component, else on private ports behind the
    router); returns them running.

    `host`: serve these open stores (fault layer and event log included; the caller closes them)
    instead of opening what `options` describe.
    Raises `ConfigError` (nothing left running) for a bad store, port, source, build or a missing wasmtime.
    """
    started = time.monotonic()
    wasmtime = shims.wasmtime()
    prepared = prepare_sources(manifest, build=build, log=log)
    listen = _claim(listen)
    direct = len(manifest.components) == 1
    owns_host = host is None
    if host is None:
        host = host_options(manifest, options).open()
    registry = host.registry
    backends = {name: listen if direct else ("127.0.0.1", free_port()) for name in manifest.components}
    router: Optional[Router] = None
    if not direct:
        try:
            router = Router(listen, RouteTable([(t.route, backends[t.component]) for t in manifest.triggers]))
        except ConfigError:
            if owns_host:
                host.close()
            raise
    lock = threading.Lock()  # one store operation at a time across components: backends are not all thread-safe
    instances: List[Instance] = []
    try:
        for component in manifest.components.values():
            secret = secrets.token_hex(32)
            store_server = StoreServer(component_view(registry, component), secret,
                                       log=lambda line: print(line, file=sys.stderr), lock=lock).start()
            routes = [trigger.route.route for trigger in manifest.triggers if trigger.component == component.name]
            env: Dict[str, str] = dict(os.environ, KVBATCH_SERVE_STORE=store_server.url, KVBATCH_SERVE_SECRET=secret,
                                       KVBATCH_SERVE_STORE_TCP=store_server.tcp_address,
                                       KVBATCH_SERVE_STORES=",".join(component.stores),
                                       KVBATCH_SERVE_ROUTES=json.dumps(routes))
            names = ["KVBATCH_SERVE_STORE", "KVBATCH_SERVE_STORE_TCP", "KVBATCH_SERVE_SECRET", "KVBATCH_SERVE_STORES",
                     "KVBATCH_SERVE_ROUTES"]
            for name, value in component.variables.items():
                env["KVBATCH_SERVE_VAR_" + name] = value
                names.append("KVBATCH_SERVE_VAR_" + name)
            cmd = [wasmtime, "serve", *WASMTIME_OPTIONS, "--max-concurrent-requests", str(MAX_CONCURRENT_REQUESTS),
                   "--addr", _address(backends[component.name])]
            for name in names:  # values pass through the environment, never the command line (ps shows that)
                cmd += ["--env", name]
            cmd.append(str(prepared[component.name].compiled))
            try:
                process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                           start_new_session=True, preexec_fn=_die_with_parent)
            except BaseException:
                store_server.stop()
                raise
            instances.append(Instance(component, backends[component.name], store_server, process, prepared[component.name]))
            threading.Thread(target=_relay_stderr, args=(process,), name="kvbatch-wasmtime-stderr", daemon=True).start()
        for instance in instances:
            _wait_listening(instance.backend, instance.process, START_TIMEOUT_S, instance.component.name)
    except BaseException:
        _stop_processes([instance.process for instance in instances])
        for instance in instances:
            instance.store_server.stop()
        if router is not None:
            router.httpd.server_close()
        if owns_host:
            host.close()
        raise
    if router is not None:
        router.start()
    return Served(f"http://{_address(listen)}", manifest, router, instances, host, time.monotonic() - started,
                  any(p.built for p in prepared.values()), owns_host=owns_host)


def serve_until_stopped(served: Served) -> int:
    """Blocks until Ctrl-C, SIGTERM or wasmtime exiting; stops everything; returns the exit status."""
    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        while True:
            for instance in served.instances:
                if instance.process.poll() is not None:
                    print(f"kvbatch: wasmtime serve of component {instance.component.name!r} exited with status "
                          f"{instance.process.returncode}", file=sys.stderr)
                    return 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        sink = served.events.sink if served.events is not None else None
        served.stop()
        if sink is not None:
            print(f"kvbatch: event log: {sink.name} ({len(served.events or [])} events)", file=sys.stderr)


def find_manifest(given: Optional[str], cwd: Optional[Path] = None) -> Optional[Path]:
    """The manifest `kvbatch serve` serves: `--manifest PATH`, else `spin.toml` in the current
    directory (as `spin up` finds it), else `None` (kvbatch's own bulk component)."""
    if given:
        path = Path(given)
        return path / "spin.toml" if path.is_dir() else path
    here = (cwd or Path.cwd()) / "spin.toml"
    return here if here.is_file() else None
