"""Facts about files remembered across processes, keyed by each file's identity.

Before a guest runs, `kvbatch run` needs a few facts about files that rarely change: a
component's SHA-256 (to find its compiled code), its world (imports and exports, from
`wasm-tools component wit`) and the composition it was plugged into. Computing them again in
every process means reading and hashing ~40 MB and starting `wasm-tools`: a few hundred
milliseconds and as many megabytes of peak memory, for an answer that is already known.

A fact is remembered under the identity of the files it was computed from (`FileKey`: resolved
path, modification time in ns, size), the trust model of `make`: builds replace their outputs
(`os.replace`), so a rebuilt file has a new identity and its facts are computed afresh. Facts
live as small JSON files under `build/cache/memo/` (`KVBATCH_MEMO_DIR` moves them); an unreadable or corrupt one is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Sequence, Tuple

from kvbatch_host import resources

FileKey = Tuple[str, int, int]

MEMO_ENV = "KVBATCH_MEMO_DIR"
"""Environment variable naming the directory of remembered facts."""

_known: Dict[Tuple[str, Tuple[FileKey, ...]], Any] = {}


def file_key(path: str | os.PathLike[str]) -> FileKey:
    """A cheap identity for a file's current contents: its resolved path, modification time (ns)
    and size. Builds replace their outputs (`os.replace`), so a rebuilt file gets a new key."""
    stat = os.stat(path)
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def memo_dir() -> Path:
    """Where remembered facts are kept (`build/cache/memo/`, or `KVBATCH_MEMO_DIR`)."""
    return Path(os.environ.get(MEMO_ENV) or resources.build_dir() / "cache" / "memo")


def remembered(kind: str, paths: Sequence[str | os.PathLike[str]], compute: Callable[[], Any]) -> Any:
    """The fact `kind` about the files at `paths`: remembered if their identities are unchanged
    since it was computed, else `compute()` (a JSON-serialisable value), then remembered."""
    keys = tuple(file_key(p) for p in paths)
    seen = (kind, keys)
    if seen in _known:
        return _known[seen]
    name = hashlib.sha256(json.dumps([kind, keys]).encode()).hexdigest()[:32]
    where = memo_dir() / kind / f"{name}.json"
    try:
        stored = json.loads(where.read_text(encoding="utf-8"))
        if stored.get("files") == [list(k) for k in keys]:
            _known[seen] = stored["value"]
            return stored["value"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    value = compute()
    _write(where, {"files": [list(k) for k in keys], "value": value})
    _known[seen] = value
    return value


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 (hex) of the file at `path`, remembered by its identity."""
    def compute() -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    value: str = remembered("sha256", [path], compute)
    return value


def _write(where: Path, doc: Dict[str, Any]) -> None:
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where.parent, prefix=where.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(doc, out)
        os.replace(tmp, where)
    except OSError:
        pass  # a read-only cache only costs the recomputation next time
