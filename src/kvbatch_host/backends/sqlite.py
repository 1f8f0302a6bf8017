"""The embedded SQLite backend: the harness's default store, durable across runs.

One table holds every store. Each single-key operation commits on its own; `set_many` and
`delete_many` commit once per call (all or nothing, which is stronger than the spec asks).
WAL mode and a busy timeout let several processes share one file safely.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from types import TracebackType
from typing import Dict, List, Literal, Optional, Sequence, Tuple

from kvbatch_host.errors import ConfigError, HostKvError
from kvbatch_host.backends.base import DEFAULT_PAGE_SIZE, Backend, decode_counter, encode_counter

BUSY_TIMEOUT_MS = 10_000
"""How long a writer waits for another process's lock before the operation fails."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    store TEXT NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (store, key)
) WITHOUT ROWID
"""


class SqliteBackend(Backend):
    """Stores kept in one SQLite database file.

    Raises `ConfigError` naming the URL and the reason when the file cannot serve as one (a
    directory, a file that is not a database or is corrupt, a path under a regular file or
    `/proc`, a disk already full).
    """

    atomic_batches = True

    def __init__(self, path: str, url: Optional[str] = None) -> None:
        self.path = path
        self.url = url or f"sqlite:{path}"
        self._lock = threading.RLock()
        try:
            if path != ":memory:":
                if os.path.isdir(path):
                    raise ConfigError(f"sqlite store {self.url!r}: {path!r} is a directory, not a database file")
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(SCHEMA)
            self._db.execute("SELECT count(*) FROM kv WHERE store = ''").fetchone()  # a corrupt table fails here
        except (FileExistsError, NotADirectoryError) as err:
            raise ConfigError(f"sqlite store {self.url!r}: cannot create {err.filename or path!r}: "
                              "a part of the path is a file, not a directory") from None
        except OSError as err:
            raise ConfigError(f"sqlite store {self.url!r}: cannot create {err.filename or path!r} "
                              f"({err.strerror or err})") from None
        except sqlite3.Error as err:
            db = getattr(self, "_db", None)
            if db is not None:
                db.close()
            raise ConfigError(f"sqlite store {self.url!r}: cannot use {path!r} as a database ({err})") from None

    def _errors(self) -> "_SqliteErrors":
        return _SqliteErrors(self._lock)

    def get(self, store: str, key: str) -> Optional[bytes]:
        with self._errors():
            row = self._db.execute("SELECT value FROM kv WHERE store=? AND key=?", (store, key)).fetchone()
        return None if row is None else bytes(row[0])

    def set(self, store: str, key: str, value: bytes) -> None:
        with self._errors():
            self._db.execute("INSERT OR REPLACE INTO kv(store, key, value) VALUES (?, ?, ?)", (store, key, bytes(value)))

    def delete(self, store: str, key: str) -> None:
        with self._errors():
            self._db.execute("DELETE FROM kv WHERE store=? AND key=?", (store, key))

    def exists(self, store: str, key: str) -> bool:
        with self._errors():
            row = self._db.execute("SELECT 1 FROM kv WHERE store=? AND key=?", (store, key)).fetchone()
        return row is not None

    def get_many(self, store: str, keys: Sequence[str]) -> List[Optional[bytes]]:
        found: Dict[str, bytes] = {}
        distinct = list(dict.fromkeys(keys))
        with self._errors():
            for start in range(0, len(distinct), 500):
                part = distinct[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(f"SELECT key, value FROM kv WHERE store=? AND key IN ({marks})", (store, *part))
                found.update((key, bytes(value)) for key, value in rows)
        return [found.get(key) for key in keys]

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        rows = [(store, key, bytes(value)) for key, value in dict(items).items()]
        with self._errors(), self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO kv(store, key, value) VALUES (?, ?, ?)", rows)

    def delete_many(self, store: str, keys: Sequence[str]) -> None:
        with self._errors(), self._transaction():
            self._db.executemany("DELETE FROM kv WHERE store=? AND key=?", [(store, key) for key in dict.fromkeys(keys)])

    def list_keys(self, store: str, after: Optional[str], limit: int = DEFAULT_PAGE_SIZE) -> Tuple[List[str], Optional[str]]:
        where, params = ("store=? AND key>?", (store, after)) if after is not None else ("store=?", (store,))
        with self._errors():
            rows = self._db.execute(f"SELECT key FROM kv WHERE {where} ORDER BY key LIMIT ?", (*params, limit + 1)).fetchall()
        keys = [row[0] for row in rows[:limit]]
        return keys, (keys[-1] if len(rows) > limit else None)

    def increment(self, store: str, key: str, delta: int) -> int:
        with self._errors(), self._transaction(immediate=True):
            row = self._db.execute("SELECT value FROM kv WHERE store=? AND key=?", (store, key)).fetchone()
            value = decode_counter(None if row is None else bytes(row[0]), key) + delta
            self._db.execute("INSERT OR REPLACE INTO kv(store, key, value) VALUES (?, ?, ?)", (store, key, encode_counter(value)))
        return value

    def compare_and_swap(self, store: str, key: str, expected: Optional[bytes], value: bytes) -> bool:
        with self._errors(), self._transaction(immediate=True):
            row = self._db.execute("SELECT value FROM kv WHERE store=? AND key=?", (store, key)).fetchone()
            if (None if row is None else bytes(row[0])) != expected:
                return False
            self._db.execute("INSERT OR REPLACE INTO kv(store, key, value) VALUES (?, ?, ?)", (store, key, bytes(value)))
        return True

    def _transaction(self, immediate: bool = False) -> "_Transaction":
        return _Transaction(self._db, immediate)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _SqliteErrors:
    """Holds the connection lock and turns `sqlite3.Error` into `error::other`."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> Literal[False]:
        self._lock.release()
        if exc is not None and isinstance(exc, sqlite3.Error) and not isinstance(exc, HostKvError):
            raise HostKvError("other", f"sqlite: {exc}") from exc
        return False


class _Transaction:
    def __init__(self, db: sqlite3.Connection, immediate: bool) -> None:
        self._db = db
        self._immediate = immediate

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE" if self._immediate else "BEGIN")

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> Literal[False]:
        self._db.execute("ROLLBACK" if exc is not None else "COMMIT")
        return False
