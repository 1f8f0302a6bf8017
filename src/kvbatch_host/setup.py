"""Host setup: which stores a component gets, which faults sit in front of them, where the event
log goes, and how batch calls are served, as one value built once.

`HostOptions` holds what `kvbatch run`, `demo`, `serve` and the pytest plugin are told (the
command-line options `add_store_options`/`add_fault_options`/`add_batch_options` define, or
the plugin's `store()`/`fault()` calls). The fault plan is parsed when the value is built, so a
malformed rule fails before any store is opened. `HostOptions.open()` opens the stores, puts the
fault layer in front of them and opens the event log, and returns a `Host`: use it in a `with`
block (or call `close()`), which closes the stores and the log.

    options = HostOptions(stores=("memory:",), plan=FaultPlan.parse(["op=set,nth=2,error=other"]))
    with options.open() as host:
        result = host.run("build/demo.wasm")
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from kvbatch_host.backends import DEFAULT_STORE_URL, STORE_URLS, runtime_config
from kvbatch_host.backends.stores import DEFAULT_STORE, StoreRegistry
from kvbatch_host.errors import ConfigError
from kvbatch_host.faults import FaultLayer, FaultPlan, FaultRule
from kvbatch_host.faults import install as install_faults
from kvbatch_host.faults.events import EventLog
from kvbatch_host.prepare import bridge as byte_bridge
from kvbatch_host.runner import BATCH_MODES, Harness, RunResult

__all__ = ["HostOptions", "Host", "add_store_options", "add_fault_options", "add_batch_options", "BATCH_MODES"]


@dataclass(frozen=True)
class HostOptions:
    """What a host serves a component: stores, fault plan, event log, batch mode (immutable)."""

    stores: Tuple[str, ...] = ()
    """`--store` specs, `URL` (store `default`) or `NAME=URL`."""
    runtime_config: Optional[str] = None
    """A Spin runtime config file whose `[key_value_store.NAME]` tables add stores."""
    allow: Optional[Tuple[str, ...]] = None
    """The store names a component may open (others are access-denied); `None`: any served name."""
    default_url: str = DEFAULT_STORE_URL
    """Where store `default` lives when nothing configures a store."""
    serve_allowed: bool = False
    """Serve every allowed name nothing configures from `default_url` (as `kvbatch serve` does for
    a manifest's `key_value_stores`), instead of only `default` when nothing is configured."""
    plan: FaultPlan = field(default_factory=FaultPlan)
    events_path: Optional[str] = None
    """A file the event log is written to, as JSON lines."""
    batch: str = "provider"
    """How `wasi:keyvalue/batch` is served: `native`, `provider` or `none` (see `kvbatch_host.runner`)."""
    provider: Optional[Path] = None
    """The provider `batch="provider"` composes in (default: the project's, of the guest's version)."""
    bridge: bool = field(default_factory=byte_bridge.enabled)
    """Whether keyvalue guests get the byte bridge composed in."""

    def __post_init__(self) -> None:
        if self.batch not in BATCH_MODES:
            raise ConfigError(f"unknown batch mode {self.batch!r}; expected one of {', '.join(BATCH_MODES)}")
        if self.provider is not None and self.batch != "provider":
            raise ConfigError(f"--provider goes with --batch provider, not --batch {self.batch}")

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> "HostOptions":
        """The options the `add_*_options` arguments of `args` give (absent ones keep their
        defaults), with `overrides` on top. Parses the fault plan: `FaultPlanError` names a bad rule."""
        given: dict[str, Any] = {}
        if hasattr(args, "store"):
            given["stores"] = tuple(args.store)
        if getattr(args, "runtime_config", None):
            given["runtime_config"] = args.runtime_config
        if getattr(args, "allow_store", None) is not None:
            given["allow"] = tuple(args.allow_store)
        plan = FaultPlan.parse(getattr(args, "fault", None) or [])
        if getattr(args, "fault_file", None):
            plan = plan + FaultPlan.load(args.fault_file)
        given["plan"] = plan
        if getattr(args, "events", None):
            given["events_path"] = args.events
        if getattr(args, "batch", None) is not None:
            given["batch"] = args.batch
        if getattr(args, "provider", None):
            given["provider"] = Path(args.provider)
        if getattr(args, "no_bridge", False):
            given["bridge"] = False
        given.update(overrides)
        return cls(**given)

    def with_stores(self, *specs: str) -> "HostOptions":
        """The same options serving `specs` instead."""
        return replace(self, stores=tuple(specs))

    def store_specs(self) -> List[str]:
        """Every configured store as a `NAME=URL` or `URL` spec: `--store`s, then the runtime config's."""
        specs = list(self.stores)
        if self.runtime_config:
            specs += runtime_config.store_specs(self.runtime_config)
        return specs

    def registry(self) -> StoreRegistry:
        """The stores, opened (without the fault layer); `ConfigError` names a store that cannot be."""
        specs = self.store_specs()
        if not self.serve_allowed:
            return StoreRegistry.from_specs(specs or [f"{DEFAULT_STORE}={self.default_url}"], self.allow)
        allow = self.allow or ()
        registry = StoreRegistry.from_specs(specs, allow) if specs else StoreRegistry(allowed=set(allow))
        try:
            return registry.serve_unconfigured(allow, self.default_url)
        except BaseException:
            registry.close()
            raise

    @property
    def logs_events(self) -> bool:
        """Whether the host puts the fault layer in front of the stores (a plan or an event log asks for it)."""
        return bool(self.plan) or self.events_path is not None

    def open(self, events: Optional[EventLog] = None) -> "Host":
        """Opens the stores, then the event log (to `events_path`, or `events` when given: the layer
        is then always installed), with the fault layer in front when a plan or log asks for it."""
        registry = self.registry()
        try:
            layers: List[FaultLayer] = []
            if events is None and self.logs_events:
                events = EventLog.to_file(self.events_path) if self.events_path else EventLog()
            if events is not None:
                layers = install_faults(registry, self.plan, events)
        except BaseException:
            registry.close()
            raise
        return Host(self, registry, events, layers)


@dataclass
class Host:
    """Open stores with their fault layers and event log; closed by `close()` or the `with` block."""

    options: HostOptions
    registry: StoreRegistry
    events: Optional[EventLog] = None
    """Every backend operation and its true outcome; `None` when no plan or log was asked for."""
    layers: List[FaultLayer] = field(default_factory=list)
    """The fault layers, one per distinct backend (sharing one plan state and the event log)."""

    def __enter__(self) -> "Host":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def harness(self, batch: Optional[str] = None) -> Harness:
        """A `Harness` over these stores, in `batch` mode (default: the options' mode)."""
        mode = self.options.batch if batch is None else batch
        return Harness(self.registry, batch=mode, provider_path=self.options.provider if mode == "provider" else None,
                       bridge=self.options.bridge)

    def run(self, component: str | os.PathLike[str], args: Sequence[str] = (), *, capture: bool = False) -> RunResult:
        """Runs the command component at `component` with `args` on a new `harness()`, after refusing
        fault rules that cannot match under its batch mode (`check_plan`)."""
        harness = self.harness()
        self.check_plan(harness, component)
        return harness.run_command(component, args, capture=capture)

    def check_plan(self, harness: Harness, component: str | os.PathLike[str]) -> None:
        """Refuses fault rules that match by batch call when `harness` composes the provider into
        `component`: the host then sees only the provider's per-key store calls, not the batch call."""
        if not self.options.plan or not harness.composes_provider(component):
            return
        for index, rule in enumerate(self.options.plan.rules, 1):
            used = _batch_fields(rule)
            if used:
                raise ConfigError(
                    f"fault rule {index} ({rule.describe()}): {' and '.join(f'{u}=' for u in used)} "
                    f"{'select' if len(used) > 1 else 'selects'} by the batch call a store operation serves, but with "
                    "--batch provider the provider is composed into the guest and the host sees only its per-key store "
                    "calls; match them with key=, nth= or times=, or use --batch native")

    def fired(self) -> List[str]:
        """One line per fault that fired so far (empty without a plan)."""
        return self.layers[0].summary() if self.layers else []

    def close(self) -> None:
        """Closes the stores, then the event log (`ConfigError` if the log could not be written)."""
        try:
            self.registry.close()
        finally:
            if self.events is not None:
                self.events.close()


def _batch_fields(rule: FaultRule) -> List[str]:
    return [name for name, value in (("position", rule.positions), ("batch", rule.batch)) if value is not None]


# -- the command-line options --------------------------------------------------------------


def add_store_options(parser: argparse.ArgumentParser, *, default: str = DEFAULT_STORE_URL, allow: bool = True,
                      granted: bool = False) -> None:
    """`--store`, `--runtime-config` and (with `allow`) `--allow-store`. `default` is where stores
    live when none is configured; `granted` says they are the ones a manifest grants (`kvbatch serve`)."""
    where = (f"Granted stores nothing configures are served from {default}." if granted
             else f"Without it, {DEFAULT_STORE!r} is served from {default}.")
    parser.add_argument(
        "--store", action="append", default=[], metavar="[NAME=]URL",
        help=f"serve store NAME (default {DEFAULT_STORE!r}) from URL: {STORE_URLS}. Repeatable. {where} "
             "E.g. --store memory: --store cache=redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "--runtime-config", metavar="PATH",
        help="serve the stores a Spin runtime config file names ([key_value_store.NAME] with type spin, redis, "
             "redis-cluster or memory), e.g. --runtime-config spin/runtime-config.redis.toml. Combines with --store.",
    )
    if allow:
        parser.add_argument(
            "--allow-store", action="append", default=None, metavar="NAME",
            help="let the component open only these stores (like Spin's key_value_stores); others get access-denied. "
                 "Repeatable, e.g. --allow-store default",
        )


def add_backend_option(parser: argparse.ArgumentParser, *, default: str, help_tail: str = "") -> None:
    """`--store URL`: one backend (no store name), e.g. the one `kvbatch check` runs on."""
    parser.add_argument("--store", default=default, metavar="URL",
                        help=f"the backend to run on: {STORE_URLS} (default {default}){help_tail}")


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """`--batch`, `--provider` and `--no-bridge`: how batch calls and values reach the host."""
    parser.add_argument(
        "--batch", choices=BATCH_MODES, default="provider",
        help="how wasi:keyvalue/batch is served: provider (the default: the provider of the guest's keyvalue version, "
             "build/provider.wasm or build/provider-draft.wasm, composed into the guest ahead of time, as "
             "`kvbatch compose` does), native (the host), none (not defined: for guests built without batch or "
             "already composed), e.g. --batch native",
    )
    parser.add_argument(
        "--provider", metavar="PATH",
        help="with --batch provider, compose this provider component instead of the project's, "
             "e.g. --provider build/broken/naive.wasm",
    )
    parser.add_argument(
        "--no-bridge", action="store_true",
        help="serve wasi:keyvalue to the component directly, values as list<u8>, instead of through the byte "
             "bridge (build/bridge-draft2.wasm or bridge-draft.wasm composed in; the default, ~10x faster for values). "
             "KVBATCH_BRIDGE=0 does the same.",
    )


def add_fault_options(parser: argparse.ArgumentParser) -> None:
    """`--fault`, `--fault-file` and `--events`."""
    parser.add_argument(
        "--fault", action="append", default=[], metavar="RULE",
        help="inject a fault between the component and the store, e.g. 'op=set,position=2,error=other:disk full' "
             "(the third write of each set-many fails) or 'op=get,key=user:*,latency=50ms'. Repeatable; "
             "`kvbatch run --help` lists the fields.",
    )
    parser.add_argument(
        "--fault-file", metavar="PATH",
        help="read fault rules from a .json or .toml file (same fields as --fault), e.g. --fault-file plan.toml",
    )
    parser.add_argument(
        "--events", metavar="PATH",
        help="write the event log, every backend operation and its true outcome (applied or not), as JSON lines, "
             "e.g. --events events.jsonl",
    )
