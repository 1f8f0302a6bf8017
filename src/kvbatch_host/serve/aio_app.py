"""The `kvbatch.aio` Spin app (`kvbatch_guests/aio_app.py`) as `kvbatch serve` serves it, for
`kvbatch bench-aio` and the tests: built on first use, served from a manifest written here."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from kvbatch_host.prepare import build as builder
from kvbatch_host.serve.manifest import Component, Manifest, Trigger
from kvbatch_host.serve.routes import Route

ROUTE = "/aio/..."
TARGET = "aio-spin"


def manifest(log: Callable[[str], None] = lambda line: None) -> Manifest:
    """Builds build/aio-spin.wasm if stale; its manifest: route `/aio/...`, store `default` granted."""
    target = builder.TARGETS[TARGET]
    builder.build(target, log=log)
    source: Path = target.output
    return Manifest(path=source.parent / "aio-spin.toml", triggers=[Trigger(Route(ROUTE), "aio")],
                    components={"aio": Component("aio", source, ["default"])})


__all__ = ["ROUTE", "TARGET", "manifest"]
