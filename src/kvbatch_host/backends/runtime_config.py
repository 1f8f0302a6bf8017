"""Store configuration from a Spin runtime config file (`--runtime-config runtime-config.toml`).

The same file `spin up --runtime-config-file` reads can name the harness's stores:

    [key_value_store.default]
    type = "redis"
    url = "redis://127.0.0.1:6379/0"

    [key_value_store.cache]
    type = "spin"                      # Spin's built-in SQLite store
    path = ".spin/cache.db"            # relative to the runtime config file's directory

| `type` | served from |
|---|---|
| `spin` | a SQLite file (`path`, default `.spin/sqlite_key_value.db`) |
| `redis` | Redis at `url` |
| `redis-cluster` | a Redis Cluster: `urls = ["redis://HOST:PORT", ...]` (its startup nodes), optional `namespace` (a kvbatch extension) |
| `memory` | process memory (a kvbatch extension; Spin has no such type) |

Only the store names and kinds carry over: kvbatch keeps its own data layout, so a store the
harness writes is not the same data Spin reads.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Dict, List

from kvbatch_host.errors import ConfigError
from kvbatch_host.textfiles import read_text

TYPES = ("spin", "redis", "redis-cluster", "memory")
DEFAULT_SPIN_PATH = ".spin/sqlite_key_value.db"


def store_specs(path: str | Path) -> List[str]:
    """`NAME=URL` store specs (as `--store` takes them) for every `[key_value_store.NAME]` table."""
    path = Path(path)
    try:
        data = tomllib.loads(read_text(path, "runtime config"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"runtime config {str(path)!r}: invalid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(f"runtime config {str(path)!r}: nested too deeply to be a runtime config") from None
    stores = data.get("key_value_store")
    if not isinstance(stores, dict) or not stores:
        raise ConfigError(f"runtime config {str(path)!r} has no [key_value_store.NAME] table")
    return [f"{name}={_url(path, name, table)}" for name, table in stores.items()]


def _url(path: Path, name: str, table: Any) -> str:
    where = f"runtime config {str(path)!r}, [key_value_store.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table with type = ...")
    settings: Dict[str, Any] = dict(table)
    kind = settings.get("type")
    if kind not in TYPES:
        raise ConfigError(f"{where}: type {kind!r} is not supported; expected one of {', '.join(TYPES)}")
    if kind == "redis":
        url = settings.get("url")
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"{where}: type redis needs url = \"redis://HOST:PORT/DB\"")
        return url
    if kind == "redis-cluster":
        return _cluster_url(where, settings)
    if kind == "memory":
        return "memory:"
    file = settings.get("path", DEFAULT_SPIN_PATH)
    if not isinstance(file, str) or not file:
        raise ConfigError(f"{where}: path must be a file name")
    return f"sqlite://{(path.parent / file).resolve()}"


def _cluster_url(where: str, settings: Dict[str, Any]) -> str:
    """`redis+cluster://H1:P1,H2:P2[?namespace=NS]` from `urls = ["redis://H1:P1", ...]`."""
    urls = settings.get("urls")
    expected = 'type redis-cluster needs urls = ["redis://HOST:PORT", ...] (one or more nodes of the cluster)'
    if not isinstance(urls, list) or not urls:
        raise ConfigError(f"{where}: {expected}")
    nodes = []
    for index, url in enumerate(urls, 1):
        if not isinstance(url, str) or not url.startswith("redis://"):
            raise ConfigError(f"{where}: urls[{index}] is {url!r}; {expected}")
        address = url[len("redis://"):].rstrip("/")
        if not address or "/" in address or "?" in address or "@" in address:
            raise ConfigError(f"{where}: urls[{index}] {url!r} must be redis://HOST:PORT, with no database, "
                              "parameters or credentials (a cluster has one database)")
        nodes.append(address)
    spec = "redis+cluster://" + ",".join(nodes)
    namespace = settings.get("namespace")
    if namespace is not None:
        if not isinstance(namespace, str):
            raise ConfigError(f"{where}: namespace must be a string")
        spec += "?namespace=" + namespace
    unknown = set(settings) - {"type", "urls", "namespace"}
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))} for type redis-cluster; "
                          "expected urls and namespace")
    from kvbatch_host.backends.redis_cluster import parse_cluster_url

    try:
        parse_cluster_url(spec)  # the same checks as --store, reported against this file
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return spec
