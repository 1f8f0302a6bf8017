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
| `memory` | process memory (a kvbatch extension; Spin has no such type) |

Only the store names and kinds carry over: kvbatch keeps its own data layout, so a store the
harness writes is not the same data Spin reads.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Dict, List

from .errors import ConfigError
from .textfiles import read_text

TYPES = ("spin", "redis", "memory")
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
    if kind == "memory":
        return "memory:"
    file = settings.get("path", DEFAULT_SPIN_PATH)
    if not isinstance(file, str) or not file:
        raise ConfigError(f"{where}: path must be a file name")
    return f"sqlite://{(path.parent / file).resolve()}"
