"""The kvbatch host harness: wasmtime-py serving wasi:keyvalue from real backends.

The public names, for tests and host-side tools:

    from kvbatch_host import Harness, StoreRegistry, FaultPlan, EventLog, HarnessBucket, HostOptions

Each is loaded on first use, so importing one part of the package (e.g. `kvbatch_host.versions`)
does not load the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvbatch_host.backends import Backend, open_backend
    from kvbatch_host.backends.stores import DEFAULT_STORE, StoreRegistry
    from kvbatch_host.errors import ConfigError, HostKvError
    from kvbatch_host.faults import FaultLayer, FaultPlan, FaultPlanError, FaultRule, InjectedTrap
    from kvbatch_host.faults.events import Event, EventLog
    from kvbatch_host.host_bucket import HarnessBucket
    from kvbatch_host.runner import BATCH_MODES, Harness, RunResult
    from kvbatch_host.setup import Host, HostOptions

_EXPORTS = {
    "Backend": "kvbatch_host.backends",
    "open_backend": "kvbatch_host.backends",
    "DEFAULT_STORE": "kvbatch_host.backends.stores",
    "StoreRegistry": "kvbatch_host.backends.stores",
    "ConfigError": "kvbatch_host.errors",
    "HostKvError": "kvbatch_host.errors",
    "FaultLayer": "kvbatch_host.faults",
    "FaultPlan": "kvbatch_host.faults",
    "FaultPlanError": "kvbatch_host.faults",
    "FaultRule": "kvbatch_host.faults",
    "InjectedTrap": "kvbatch_host.faults",
    "Event": "kvbatch_host.faults.events",
    "EventLog": "kvbatch_host.faults.events",
    "HarnessBucket": "kvbatch_host.host_bucket",
    "BATCH_MODES": "kvbatch_host.runner",
    "Harness": "kvbatch_host.runner",
    "RunResult": "kvbatch_host.runner",
    "Host": "kvbatch_host.setup",
    "HostOptions": "kvbatch_host.setup",
}

__all__ = [
    "BATCH_MODES",
    "Backend",
    "ConfigError",
    "DEFAULT_STORE",
    "Event",
    "EventLog",
    "FaultLayer",
    "FaultPlan",
    "FaultPlanError",
    "FaultRule",
    "Harness",
    "HarnessBucket",
    "Host",
    "HostKvError",
    "HostOptions",
    "InjectedTrap",
    "RunResult",
    "StoreRegistry",
    "open_backend",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kvbatch_host' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
