"""Bounds on the build directory's caches: the least recently used entries go first, recent ones never.

kvbatch keeps what it builds under `resources.build_dir()`, keyed by content, so every edit of a
guest or a Spin app adds entries. Five directories are bounded here, each by a fixed share of one
total (`KVBATCH_CACHE_MAX_MB`, default `DEFAULT_MAX_MB`):

| cache | its entries | share |
|---|---|---|
| `cache/compiled/` | wasmtime-py's compiled components (`*.cwasm`, 33-65 MB) | 40 % |
| `cache/composed/` | guests with the provider composed in (18-37 MB) | 15 % |
| `cache/bridged/` | components with the byte bridge composed in (14-37 MB) | 15 % |
| `serve/` | one directory per served composition (~115 MB) | 25 % |
| `cache/cli/` | the wasmtime CLI's compiled components, for `kvbatch bench` | 5 % |

The code that writes each cache makes two calls:

* `mark_used(entry)` on a cache hit records the entry's last use;
* `after_write(directory, cache, written)` after a new entry is written prunes the directory,
  least recently used entry first, until it is within its share. It never removes the entry
  just written, an entry used in the last `RECENT_S` seconds (another process, or this one, may
  be about to open a path it was handed), or a temporary file (`*.tmp`, another process writing);
  errors while pruning (an entry another process removed first, a permission) are ignored.

The last use of a file is the later of its access and modification times; `mark_used` sets the
access time only. The modification time is part of a file's identity for remembered facts
(`filememo.file_key`): moving it on every hit would make the next process hash the 18-65 MB
entry again, the work these caches exist to save. A directory's last use is its newest file's.

Removing any of these directories, or the whole build directory, is always safe: whatever is
missing is built again when it is next needed. This module uses the standard library and
`kvbatch_host.errors` only.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import Dict, List, Optional, Tuple

from kvbatch_host.errors import ConfigError

MAX_MB_ENV = "KVBATCH_CACHE_MAX_MB"
"""Environment variable giving the caches' total budget in MB (1 MB = 1,000,000 bytes), read at each prune."""

DEFAULT_MAX_MB = 8000
"""The total budget without `KVBATCH_CACHE_MAX_MB`: 8 GB. One run of kvbatch's own test suite
uses about 3.5 GB of these caches, and each share holds about twice what such a run uses of it:
a least-recently-used cache smaller than what a run uses loses, on the next run, each entry just
before it is needed again, and rebuilds most of them. A user's few guests use well under 1 GB."""

SHARES: Dict[str, int] = {"compiled": 40, "composed": 15, "bridged": 15, "serve": 25, "cli": 5}
"""Each cache's share of the total budget, in percent (they sum to 100)."""

DIRECTORY_ENTRIES = frozenset({"serve"})
"""The caches whose entries are directories (one per composition); the others' are files."""

RECENT_S = 600.0
"""An entry used less than this many seconds ago (10 minutes) is never removed."""

TMP_SUFFIX = ".tmp"
"""Names ending in this are being written by some process: never removed, not counted."""

_MARK_EVERY_NS = 60 * 10**9
"""`mark_used` leaves an access time this recent (a minute) as it is: one `stat`, no write."""

_MB = 1_000_000


def max_total_bytes() -> int:
    """The caches' total budget in bytes: `KVBATCH_CACHE_MAX_MB` (a whole number of MB, 0 or more)
    if set and not empty, else `DEFAULT_MAX_MB`.

    Raises `ConfigError` in one line naming the variable and what it takes for any other value.
    """
    raw = os.environ.get(MAX_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_MB * _MB
    if not (raw.isascii() and raw.isdigit()):
        raise ConfigError(f"{MAX_MB_ENV}={raw!r}: expected a whole number of megabytes (0 or more) for the build "
                          f"caches' total size, e.g. {MAX_MB_ENV}={DEFAULT_MAX_MB} (the default)")
    return int(raw) * _MB


def budget(cache: str) -> int:
    """The budget in bytes of `cache` (a key of `SHARES`): its share of `max_total_bytes()`.

    Raises `ConfigError` for an invalid `KVBATCH_CACHE_MAX_MB`, `KeyError` for an unknown cache."""
    return max_total_bytes() * SHARES[cache] // 100


def mark_used(entry: str | os.PathLike[str]) -> None:
    """Records that the cache entry at `entry` (a file) was just used: its access time becomes now
    unless it is under a minute old; its modification time is kept. Never raises: an entry that
    vanished or cannot be changed is left as it is."""
    try:
        stat = os.stat(entry)
        now_ns = time.time_ns()
        if now_ns - stat.st_atime_ns >= _MARK_EVERY_NS:
            os.utime(entry, ns=(now_ns, stat.st_mtime_ns))
    except OSError:
        pass


def after_write(directory: str | os.PathLike[str], cache: str, written: str | os.PathLike[str]) -> List[Path]:
    """Prunes `directory`, which holds cache `cache` (a key of `SHARES`), to its `budget` after
    `written` (an entry directly inside it) was written; returns the entries removed.

    The budget is read first: an invalid `KVBATCH_CACHE_MAX_MB` raises `ConfigError`. Pruning
    itself never raises (see `prune`)."""
    return prune(directory, budget(cache), keep=written, directories=cache in DIRECTORY_ENTRIES)


def prune(directory: str | os.PathLike[str], budget_bytes: int, keep: Optional[str | os.PathLike[str]] = None,
          directories: bool = False, now: Optional[float] = None) -> List[Path]:
    """Removes entries of `directory`, least recently used first, until the entries' total size is at
    most `budget_bytes` or only protected entries are left; returns the entries removed.

    Entries are the regular files directly inside `directory` (with `directories`, the
    directories directly inside it, each removed whole); anything else is neither counted nor
    removed. Never removed: names ending in `.tmp` (and, with `directories`, a directory holding
    one), the entry named like `keep`, and entries used less than `RECENT_S` seconds before `now`
    (default: the current time). Each entry's last use is looked at again just before it is
    removed. Never raises `OSError`: an entry that vanishes or cannot be removed is skipped, and a
    directory that cannot be listed is left as it is.
    """
    now = time.time() if now is None else now
    keep_name = Path(keep).name if keep is not None else None
    try:
        with os.scandir(directory) as listing:
            names = [item.name for item in listing]
    except OSError:
        return []
    entries: List[Tuple[float, str, int]] = []
    for name in names:
        if name.endswith(TMP_SUFFIX):
            continue
        measured = _measure(Path(directory) / name, directories)
        if measured is not None:
            entries.append((measured[1], name, measured[0]))
    total = sum(size for _, _, size in entries)
    removed: List[Path] = []
    for _, name, size in sorted(entries):
        if total <= budget_bytes:
            break
        if name == keep_name:
            continue
        path = Path(directory) / name
        again = _measure(path, directories)  # another process may have used it since it was listed
        if again is None:
            total -= size  # vanished (pruned by another process) or now being written
            continue
        if now - again[1] < RECENT_S:
            continue
        try:
            if directories:
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            total -= size  # another process pruned it first
        except OSError:
            pass  # a permission, a busy file system: left for the next prune
        else:
            total -= size
            removed.append(path)
    return removed


def _measure(path: Path, directories: bool) -> Optional[Tuple[int, float]]:
    """An entry's size in bytes and last use (seconds since the epoch), or `None` when `path` is not an
    entry of its kind, is being written, or cannot be read."""
    try:
        info = os.lstat(path)
        if not directories:
            return (info.st_size, max(info.st_atime, info.st_mtime)) if S_ISREG(info.st_mode) else None
        if not S_ISDIR(info.st_mode):
            return None
        size, used = 0, info.st_mtime  # not its access time: listing a directory sets that
        for root, _, files in os.walk(path):
            used = max(used, os.lstat(root).st_mtime)
            for file in files:
                if file.endswith(TMP_SUFFIX):
                    return None
                inner = os.lstat(os.path.join(root, file))
                size += inner.st_size
                used = max(used, inner.st_atime, inner.st_mtime)
        return size, used
    except OSError:
        return None
