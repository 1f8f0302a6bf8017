"""Backends the harness serves `wasi:keyvalue` from, chosen by URL.

| URL | backend |
|---|---|
| `memory:` | `MemoryBackend`: process memory |
| `sqlite:PATH` or `sqlite:///ABS/PATH` | `SqliteBackend`: one database file (the default) |
| `redis://HOST:PORT/DB` | `RedisBackend` (see `kvbatch_host.backends.redis`) |
| `redis+cluster://HOST:PORT[,HOST:PORT...]` | `RedisClusterBackend` (see `kvbatch_host.backends.redis_cluster`) |
"""

from __future__ import annotations

from kvbatch_host.backends.base import DEFAULT_PAGE_SIZE, Backend
from kvbatch_host.backends.memory import MemoryBackend
from kvbatch_host.backends.sqlite import SqliteBackend
from kvbatch_host.errors import ConfigError

DEFAULT_STORE_URL = "sqlite:.kvbatch/store.db"
"""Where the main job keeps its data, so it survives between runs."""

STORE_URLS = "memory:, sqlite:PATH, redis://HOST:PORT/DB, redis+cluster://HOST:PORT[,HOST:PORT...]"
"""The store URLs `open_backend` takes, as option help and error messages name them."""


def open_backend(url: str) -> Backend:
    """Returns a backend for `url`; raises `ConfigError` naming the URL when it is malformed or
    its store cannot be used (a Redis server is reached once, here)."""
    if url in ("memory:", "memory://", "memory"):
        return MemoryBackend(url)
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        if path.startswith("///"):
            path = path[2:]
        elif path.startswith("//"):
            raise ConfigError(f"sqlite URL {url!r}: use sqlite:relative/path.db or sqlite:///absolute/path.db")
        if not path:
            raise ConfigError(f"sqlite URL {url!r} names no file")
        return SqliteBackend(path, url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from kvbatch_host.backends.redis import RedisBackend
        except ImportError as err:  # pragma: no cover - redis is a pinned dependency
            raise ConfigError(f"redis URL {url!r}: the redis backend is unavailable ({err})") from None
        redis_backend = RedisBackend(url)
        try:
            redis_backend.verify()  # unreachable, or no such database: refused at start
        except ConfigError:
            redis_backend.close()
            raise
        backend: Backend = redis_backend
        return backend
    if url.startswith("redis+cluster:"):
        from kvbatch_host.backends.redis_cluster import RedisClusterBackend

        return RedisClusterBackend(url)
    raise ConfigError(f"unknown store URL {url!r}; expected one of {STORE_URLS}")


__all__ = ["Backend", "MemoryBackend", "SqliteBackend", "open_backend", "DEFAULT_STORE_URL", "DEFAULT_PAGE_SIZE", "STORE_URLS"]
