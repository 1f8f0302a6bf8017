"""Building a user's own guest: `kvbatch build --app DIR [--module app] [--world W] -o OUT.wasm`.

The app directory holds a Python module (`app` unless told otherwise) that exports `Run`, as
componentize-py expects of a `wasi:cli/run` command. It is componentized against one of
kvbatch's packaged command worlds with the `kvbatch` guest library bundled, incrementally
like the project's own targets (a stamp next to the output records the inputs).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Dict

from kvbatch_host.prepare import build as builder
from kvbatch_host import resources
from kvbatch_host.errors import ConfigError

APP_WORLDS: Dict[str, str] = {
    "guest": "imports wasi:keyvalue store, atomics and batch @0.2.0-draft2 (the harness, Spin)",
    "guest-draft": "imports wasi:keyvalue store, atomics and batch @0.2.0-draft (the wasmtime CLI's -S keyvalue)",
    "guest-nobatch": "imports wasi:keyvalue store and atomics @0.2.0-draft2, no batch (compose a provider in, or per-key calls)",
}
"""The worlds a user's command component can be built for, and what each imports."""


def module_file(app_dir: Path, module: str) -> Path:
    """The file of `module` in `app_dir` (`MODULE.py` or `MODULE/__init__.py`); raises
    `ConfigError` naming what is missing."""
    if not app_dir.is_dir():
        raise ConfigError(f"--app {app_dir}: no such directory")
    if not module.isidentifier():
        raise ConfigError(f"--module {module!r} is not a Python module name")
    for candidate in (app_dir / f"{module}.py", app_dir / module / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"--app {app_dir} has no module {module!r} ({module}.py or {module}/__init__.py); "
                      f"give the module that exports Run with --module")


def check_world(world: str) -> None:
    """Raises `ConfigError` unless `world` is one of `APP_WORLDS`."""
    if world not in APP_WORLDS:
        raise ConfigError(f"unknown world {world!r}; kvbatch's command worlds are {', '.join(APP_WORLDS)}")


def app_target(app_dir: Path, output: Path, world: str = "guest", module: str = "app") -> builder.Target:
    """The build of the app in `app_dir` as a `Target` (checked: the module exists, the world is known)."""
    check_world(world)
    module_file(app_dir, module)
    app_dir = app_dir.resolve()
    lib = builder.SRC / "kvbatch"
    return builder.Target(f"app:{module}", world, module, (app_dir, builder.SRC), (app_dir, lib), output.resolve(),
                          description=f"{app_dir}/{module}, world {world}")


def default_output(app_dir: Path, world: str = "guest", module: str = "app") -> Path:
    """Where an app is built when no output is given: the build directory, keyed by the app's path."""
    tag = hashlib.sha256(str(app_dir.resolve()).encode()).hexdigest()[:12]
    return resources.build_dir() / "apps" / f"{app_dir.resolve().name}-{tag}-{module}-{world}.wasm"


def build_app(app_dir: Path, output: Path, world: str = "guest", module: str = "app", force: bool = False,
              log: Callable[[str], None] = print) -> bool:
    """Builds the app into `output` unless it is up to date; returns whether it built.

    Raises `ConfigError` for a missing module or an unknown world, and
    `subprocess.CalledProcessError` with componentize-py's output when the build fails.
    """
    return builder.build(app_target(app_dir, output, world, module), force=force, log=log)
