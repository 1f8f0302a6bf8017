"""kvbatch's pytest plugin: test your own component under the harness, with stores and faults.

Installed with kvbatch (entry point `pytest11`), so any test suite gets these fixtures:

* `kvbatch` — a `KvbatchHarness`: choose stores (`.store("memory:")`, default memory), add
  fault rules (`.fault("op=set,position=2,error=other:disk full")`), `.run(component, *args)`
  and get a `KvbatchRun` (exit code, stdout, stderr, trap, and the events of that run), or
  `.serve("spin.toml", build=True)` a Spin app as `kvbatch serve` does and get its `.url`;
  read what the store holds with `.get(key)`. Everything is stopped and closed after the test.
* `kvbatch_sqlite_url` — a `sqlite:` URL of a fresh database in the test's `tmp_path`.
* `kvbatch_redis_url` — a `redis://` URL on a `redis-server` of the session's own (loopback,
  free port, stopped after the session), namespaced per test; the test is skipped when no
  `redis-server` binary is installed.
* `kvbatch_build_app` — `kvbatch_build_app(app_dir, world="guest")` builds a directory with
  module `app` into a component (as `kvbatch build --app` does, cached) and returns its path.

Example (a user's `test_app.py`):

    def test_a_failed_write_is_reported(kvbatch, kvbatch_build_app):
        wasm = kvbatch_build_app("app")
        kvbatch.fault("op=set,key=b,error=other:disk full")
        run = kvbatch.run(wasm)  # batch="provider", as `kvbatch run` and a deployment without native batch

        assert run.exit_code == 0 and "failed: b" in run.stdout
        assert kvbatch.get("b") is None
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from kvbatch_host.faults.events import Event, EventLog
from kvbatch_host.faults import FaultPlan
from kvbatch_host.runner import Harness
from kvbatch_host.backends.stores import DEFAULT_STORE, StoreRegistry
from kvbatch_host.setup import Host, HostOptions


@dataclass
class KvbatchRun:
    """What one run of a command component did."""

    exit_code: int
    stdout: str
    stderr: str
    trap: Optional[str]
    """The trap message when the component trapped, else `None`."""
    events: List[Event] = field(default_factory=list)
    """Every backend operation of this run and its true outcome (applied or not, fault fired)."""

    @property
    def faults(self) -> List[Event]:
        """The events of this run where a fault rule fired."""
        return [e for e in self.events if e.fault is not None]


@dataclass
class ServedApp:
    """A Spin app `KvbatchHarness.serve` started: where it listens."""

    url: str
    """`http://127.0.0.1:PORT`, the address every route of the manifest answers on."""
    served: Any = field(repr=False)


_BUILT_MANIFESTS: set[Path] = set()
"""Manifests whose build commands ran in this test session (`KvbatchHarness.serve(build=True)`)."""


class KvbatchHarness:
    """A harness for one test: stores, a fault plan and the event log, shared by all its runs.

    Stores and faults are fixed by the first `run` (the data persists from run to run); adding
    either afterwards raises `RuntimeError`.
    """

    def __init__(self) -> None:
        self.specs: Dict[str, str] = {}
        self.plan = FaultPlan()
        self.events = EventLog()
        """Everything every run of this test did to the stores."""
        self._host: Optional[Host] = None
        self._harnesses: Dict[str, Harness] = {}
        self._served: List[Any] = []

    @property
    def rules(self) -> List[str]:
        """The fault rules added so far, as given."""
        return [rule.source for rule in self.plan.rules]

    def store(self, url: str = "memory:", name: str = DEFAULT_STORE) -> "KvbatchHarness":
        """Serves store `name` from `url` (`memory:`, `sqlite:PATH`, `redis://...`); returns self."""
        self._not_started("a store")
        self.specs[name] = url
        return self

    def fault(self, rule: str) -> "KvbatchHarness":
        """Adds a fault rule in `kvbatch run --fault` syntax; a malformed rule raises at once."""
        self._not_started("a fault")
        self.plan = self.plan + FaultPlan.parse([rule])
        return self

    def options(self) -> HostOptions:
        """The host these stores and rules describe (store `default` in memory unless a store is chosen)."""
        return HostOptions(stores=tuple(f"{name}={url}" for name, url in self.specs.items()), default_url="memory:",
                           plan=self.plan)

    def run(self, component: str | os.PathLike[str], *args: str, batch: str = "provider") -> KvbatchRun:
        """Runs the command component at `component` with `args`, its batch calls served by
        `batch` and returns what it did. `provider` (the default, as `kvbatch run`'s): kvbatch's
        provider composed in, so the host sees per-key store calls, as where a deployment serves
        no batch; `native`: the host serves `wasi:keyvalue/batch` itself (fault rules may then
        select by `position=`/`batch=`); `none`: no batch import served. A fault rule that cannot
        fire under `batch` raises `ConfigError` before the run, as `kvbatch run` refuses it."""
        harness = self._harness(batch)
        self.host.check_plan(harness, component)
        mark = self.events.mark()
        result = harness.run_command(component, list(args), capture=True)
        return KvbatchRun(result.exit_code, result.stdout, result.stderr, result.trap, self.events.since(mark))

    def serve(self, manifest: str | os.PathLike[str] = "spin.toml", *, build: bool = False) -> "ServedApp":
        """Serves the Spin app of `manifest` (every route and component) on a free loopback port as
        `kvbatch serve` does, over this harness's stores and faults; returns it running (stopped after
        the test). `build`: run the manifest's build commands first, once per test session."""
        from kvbatch_host.serve import manifest as manifests
        from kvbatch_host.serve import server

        path = Path(manifest).resolve()
        app = manifests.load(path)
        first = build and path not in _BUILT_MANIFESTS
        running = server.start(app, ("127.0.0.1", 0), build=first, host=self.host)
        if first:
            _BUILT_MANIFESTS.add(path)
        self._served.append(running)
        return ServedApp(running.url, running)

    def get(self, key: str, name: str = DEFAULT_STORE) -> Optional[bytes]:
        """The value store `name` holds for `key` now, read past the fault layer (`None`: absent)."""
        backend = self.registry.open(name)
        inner = getattr(backend, "inner", backend)
        return inner.get(name, key)

    @property
    def host(self) -> Host:
        """The open host: stores with the fault layer in front, logging to `events` (opened on first use)."""
        if self._host is None:
            self._host = self.options().open(events=self.events)
        return self._host

    @property
    def registry(self) -> StoreRegistry:
        """The stores, opened (with the fault layer in front) on first use."""
        return self.host.registry

    def close(self) -> None:
        """Stops the served apps and closes the stores (the fixture does this after the test)."""
        for running in self._served:
            running.stop()
        self._served.clear()
        if self._host is not None:
            self._host.close()

    def _harness(self, batch: str) -> Harness:
        if batch not in self._harnesses:
            # provider: the provider of the guest's keyvalue version, composed in (built on first use)
            self._harnesses[batch] = self.host.harness(batch)
        return self._harnesses[batch]

    def _not_started(self, what: str) -> None:
        if self._host is not None:
            raise RuntimeError(f"add {what} before the first run: the stores and faults are fixed by then")


@pytest.fixture
def kvbatch() -> Iterator[KvbatchHarness]:
    """A `KvbatchHarness` for this test (memory store unless the test chooses), closed after it."""
    harness = KvbatchHarness()
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def kvbatch_sqlite_url(tmp_path: Path) -> str:
    """A `sqlite:` store URL of a fresh database file in the test's `tmp_path`."""
    return f"sqlite:{tmp_path / 'kvbatch.db'}"


@pytest.fixture(scope="session")
def kvbatch_redis_server() -> Iterator[object]:
    """A `redis-server` of the session's own on a free loopback port, stopped after the session."""
    from kvbatch_host.redis_server import LocalRedisServer

    if shutil.which("redis-server") is None:
        pytest.skip("kvbatch_redis_url needs a redis-server binary on PATH")
    with LocalRedisServer() as server:
        yield server


@pytest.fixture
def kvbatch_redis_url(kvbatch_redis_server: object, request: pytest.FixtureRequest) -> str:
    """A `redis://` store URL on the session's server, namespaced to this test."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:80]
    return f"{kvbatch_redis_server.url}?namespace=t-{name}"  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def kvbatch_build_app() -> Callable[..., Path]:
    """`kvbatch_build_app(app_dir, world="guest", module="app")` builds the app (cached) and returns the wasm."""
    from kvbatch_host.app_build import build_app, default_output

    def build(app_dir: str | os.PathLike[str], world: str = "guest", module: str = "app") -> Path:
        out = default_output(Path(app_dir), world, module)
        build_app(Path(app_dir), out, world=world, module=module, log=lambda line: None)
        return out

    return build
