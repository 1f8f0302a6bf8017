"""`kvbatch serve --build`: each component's `[component.NAME.build] command`, run as `spin up --build` runs it.

Every command runs through the shell (`sh -c`) in the component's `workdir` (the manifest's
directory by default), in manifest order, and stops at the first that fails. The toolchain
kvbatch is installed with (componentize-py, spin-sdk, kvbatch itself) is found without
activating anything: the running interpreter's `bin` directory comes first on `PATH` and, in a
virtual environment, `VIRTUAL_ENV` names it (componentize-py takes the packages whose WIT and
modules it bundles from there).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

from kvbatch_host.errors import ConfigError
from kvbatch_host.serve.manifest import Manifest

OUTPUT_TAIL_CHARS = 8000
"""How much of a failed build's output is shown (its end, where the error is)."""


class BuildFailed(ConfigError):
    """A build command exited non-zero; `output` is what it printed."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def toolchain_env(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """`environ` with the running interpreter's `bin` directory first on `PATH` (and `VIRTUAL_ENV` set
    when that interpreter is a virtual environment's)."""
    env = dict(os.environ if environ is None else environ)
    bindir = str(Path(sys.executable).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bindir]
    env["PATH"] = os.pathsep.join([bindir, *rest])
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
    return env


def build_components(manifest: Manifest, log: Callable[[str], None] = lambda line: None) -> int:
    """Runs the build commands of the manifest's served components; returns how many ran.

    Raises `BuildFailed` (the command's output attached) when one exits non-zero, and
    `ConfigError` when a working directory does not exist.
    """
    env = toolchain_env()
    ran = 0
    for component in manifest.components.values():
        step = component.build
        if step is None:
            continue
        if not step.workdir.is_dir():
            raise ConfigError(f"component {component.name!r}: build workdir {str(step.workdir)!r} does not exist")
        for command in step.commands:
            log(f"kvbatch: building component {component.name!r} with `{command}`")
            started = time.monotonic()
            proc = subprocess.run(["sh", "-c", command], cwd=step.workdir, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
            if proc.returncode != 0:
                raise BuildFailed(f"the build command of component {component.name!r} failed with exit status "
                                  f"{proc.returncode}: {command}", proc.stdout[-OUTPUT_TAIL_CHARS:])
            ran += 1
            log(f"kvbatch: built component {component.name!r} in {time.monotonic() - started:.1f} s")
    return ran
