"""kvbatch's own Spin component (bulk key-value endpoints), as `kvbatch serve` serves it without a spin.toml.

Its sources ship in the package (`spin/app.py` and `spin.toml` of a checkout; installed, the
`kvbatch_spin` package holds both), and the component is built on first use like every other
kvbatch component (`kvbatch build spin`: into `build/` of a checkout, else the per-user cache).
The manifest served is that spin.toml, its component's source pointed at the built file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Mapping, Optional

from kvbatch_host import resources
from kvbatch_host.errors import ConfigError
from kvbatch_host.prepare import build as builder
from kvbatch_host.serve import manifest as manifests

TARGET = "spin"
"""The build target of kvbatch's own Spin component."""


def own_target_output() -> Optional[Path]:
    """Where kvbatch's own component is built, or `None` when its sources are not installed."""
    target = builder.TARGETS.get(TARGET)
    return target.output if target is not None else None


def ensure_built(log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> Path:
    """kvbatch's own component, built first when missing or stale (one progress line)."""
    return builder.ensure(TARGET, log=log)


def load(environ: Optional[Mapping[str, str]] = None) -> manifests.Manifest:
    """kvbatch's own spin.toml as `kvbatch serve` serves it: its component's source is the built file."""
    output = own_target_output()
    path = resources.spin_manifest()
    if output is None or not path.is_file():
        raise ConfigError("kvbatch's own Spin component is not installed with this package "
                          "(no spin.toml here: pass --manifest PATH)")
    manifest = manifests.load(path, environ)
    for component in manifest.components.values():
        component.source = output
        component.build = None
    return manifest
