"""The Redis backend (redis-py): `redis://HOST:PORT/DB`, `rediss://...`, `unix:///path.sock`.

Layout: store `S` keeps key `K` in the Redis key `kvbatch:S:K` (a `:` or `\\` in the store name
is escaped with `\\`, so two stores never share a key). `?namespace=NAME` in the URL replaces
the `kvbatch` root, e.g. to keep test data apart. Values are stored as they are; counters of
`increment` as decimal digits, the form `INCRBY` works on (Spin's Redis store does the same).

| operation | Redis |
|---|---|
| get / set / delete / exists | GET / SET / DEL / EXISTS |
| get-many | MGET (in chunks of `MGET_CHUNK` keys) |
| set-many | one MSET: atomic, so a failure leaves no key changed |
| delete-many | one DEL of the distinct keys: atomic |
| increment | INCRBY |
| cas swap | WATCH, GET, compare, MULTI/SET/EXEC; a write by anyone before EXEC makes the swap re-check (and fail) |
| list-keys | SCAN with MATCH on the store's prefix; the cursor is SCAN's cursor |

`list-keys` pages come in Redis's hash order, not sorted, and hold about `limit` keys (SCAN's
COUNT is a hint). SCAN's guarantee applies: every key present for the whole listing is
returned; a key may come twice if Redis rehashes while you list.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, ContextManager, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis import exceptions as rx

from kvbatch_host.errors import ConfigError, HostKvError
from kvbatch_host.backends.base import DEFAULT_PAGE_SIZE, Backend

DEFAULT_NAMESPACE = "kvbatch"
MGET_CHUNK = 10_000
"""Keys per MGET: bounds one reply's size without costing round trips for ordinary batches."""
SOCKET_TIMEOUT_S = 30.0
"""How long one command may take before it fails with `error::other`."""
CAS_RETRIES = 100
"""How often a swap re-checks after another writer touched the key between WATCH and EXEC."""


class RedisError(HostKvError):
    """`error::other` from Redis, saying whether the operation may have taken effect.

    `applied` is `False` when Redis refused the command, `None` when the connection failed
    and nobody can know (the fault layer logs it as unknown).
    """

    def __init__(self, message: str, applied: Optional[bool]) -> None:
        super().__init__("other", message)
        self.applied = applied


MAX_DB = 2**31 - 1
"""The largest database number Redis can be configured with (`databases` is a signed int)."""


def _database(url: str, scheme: str, path: str, query_db: List[str]) -> int:
    """The database a `redis://` URL names (0 when it names none): its path is empty, `/` or
    `/N` with N ASCII digits; `?db=N` likewise. Anything else is a `ConfigError`, so data
    never goes to a database the user did not mean (redis-py would read `/abc` as 0 and
    `/1/2` as 12)."""
    candidates: List[str] = []
    if scheme != "unix" and path not in ("", "/"):
        candidates.append(path[1:])
    candidates.extend(query_db)
    if len(candidates) > 1:
        raise ConfigError(f"redis URL {url!r} names the database more than once; give /N or ?db=N")
    if not candidates:
        return 0
    text = candidates[0]
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > MAX_DB:
        raise ConfigError(f"redis URL {url!r}: the database must be a number from 0 to {MAX_DB} "
                          f"(e.g. redis://127.0.0.1:6379/0), got {text!r}")
    return int(text)


def _escape_store(store: str) -> str:
    return store.replace("\\", "\\\\").replace(":", "\\:")


def escape_glob(text: str) -> str:
    """`text` with Redis's glob characters escaped, to match it literally in `SCAN MATCH`."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def redis_error(what: str, err: rx.RedisError, write: bool) -> "RedisError":
    """The `RedisError` for a redis-py error, with what is known of `applied`: `False` when Redis
    refused the command (or it only read), `None` when the answer to a write was lost."""
    applied = False if isinstance(err, rx.ResponseError) or not write else None
    return RedisError(f"{what}: {err}", applied=applied)


class RedisKeyCommands:
    """The one-key operations, the same on one Redis server and on a Redis Cluster: each is one
    command on the key's Redis name, its redis-py errors mapped by the backend's `_errors`."""

    _client: Any

    def redis_key(self, store: str, key: str) -> str:
        """The Redis name of `key` in `store`."""
        raise NotImplementedError

    def _errors(self, what: str, write: bool) -> ContextManager[None]:
        raise NotImplementedError

    def get(self, store: str, key: str) -> Optional[bytes]:
        with self._errors("GET", write=False):
            value = self._client.get(self.redis_key(store, key))
        return None if value is None else bytes(value)

    def set(self, store: str, key: str, value: bytes) -> None:
        with self._errors("SET", write=True):
            self._client.set(self.redis_key(store, key), bytes(value))

    def delete(self, store: str, key: str) -> None:
        with self._errors("DEL", write=True):
            self._client.delete(self.redis_key(store, key))

    def exists(self, store: str, key: str) -> bool:
        with self._errors("EXISTS", write=False):
            return bool(self._client.exists(self.redis_key(store, key)))

    def increment(self, store: str, key: str, delta: int) -> int:
        with self._errors("INCRBY", write=True):
            return int(self._client.incrby(self.redis_key(store, key), delta))


class RedisBackend(RedisKeyCommands, Backend):
    """Stores kept in one Redis database."""

    atomic_batches = True
    """set-many and delete-many are single atomic commands: on error, no key changed."""

    _client: redis.Redis

    def __init__(self, url: str, client: Optional[redis.Redis] = None) -> None:
        self.url = url
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError as err:
            raise ConfigError(f"redis URL {url!r} is malformed: {err}") from None
        query = parse_qsl(parts.query, keep_blank_values=True)
        self.db = _database(url, parts.scheme, parts.path, [v for k, v in query if k == "db"])
        namespace = DEFAULT_NAMESPACE
        rest = []
        for name, value in query:
            if name == "namespace":
                if not value or ":" in value:
                    raise ConfigError(f"redis URL {url!r}: namespace must be non-empty and hold no ':'")
                namespace = value
            else:
                rest.append((name, value))
        self.namespace = namespace
        if client is None:
            plain = urlunsplit(parts._replace(query=urlencode(rest)))
            try:
                client = redis.Redis.from_url(plain, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S)
            except (ValueError, TypeError) as err:
                raise ConfigError(f"redis URL {url!r}: {err}") from None
        self._client = client

    def verify(self) -> None:
        """Connects once (selecting the database): `ConfigError` naming the URL when the
        server cannot be reached or has no such database, so a run does not start against it."""
        try:
            self._client.ping()
        except rx.ResponseError as err:
            raise ConfigError(f"redis URL {self.url!r}: the server refused database {self.db}: {err}") from None
        except rx.RedisError as err:
            raise ConfigError(f"redis URL {self.url!r}: cannot connect: {err}") from None

    @property
    def client(self) -> redis.Redis:
        """The redis-py client (for tests and tools that inspect the database)."""
        return self._client

    def prefix(self, store: str) -> str:
        """The Redis key prefix of `store`."""
        return f"{self.namespace}:{_escape_store(store)}:"

    def redis_key(self, store: str, key: str) -> str:
        """The Redis name of `key` in `store`."""
        return self.prefix(store) + key

    @contextmanager
    def _errors(self, what: str, write: bool) -> Iterator[None]:
        try:
            yield
        except HostKvError:
            raise
        except rx.RedisError as err:
            raise redis_error(f"redis {what}", err, write) from None

    # -- many keys ------------------------------------------------------------------------

    def get_many(self, store: str, keys: Sequence[str]) -> List[Optional[bytes]]:
        distinct = list(dict.fromkeys(keys))
        found: Dict[str, Optional[bytes]] = {}
        with self._errors("MGET", write=False):
            for start in range(0, len(distinct), MGET_CHUNK):
                part = distinct[start : start + MGET_CHUNK]
                values = self._client.mget([self.redis_key(store, key) for key in part])
                found.update(zip(part, values))  # type: ignore[arg-type]
        return [None if found[key] is None else bytes(found[key]) for key in keys]  # type: ignore[arg-type]

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        mapping = {self.redis_key(store, key): bytes(value) for key, value in items}  # last value wins
        if not mapping:
            return
        with self._errors("MSET", write=True):
            self._client.mset(mapping)

    def delete_many(self, store: str, keys: Sequence[str]) -> None:
        distinct = list(dict.fromkeys(self.redis_key(store, key) for key in keys))
        if not distinct:
            return
        with self._errors("DEL", write=True):
            self._client.delete(*distinct)

    def list_keys(self, store: str, after: Optional[str], limit: int = DEFAULT_PAGE_SIZE) -> Tuple[List[str], Optional[str]]:
        """A page of about `limit` keys from SCAN; `after` is the cursor the previous page returned."""
        if after is None:
            cursor = 0
        else:
            try:
                cursor = int(after)
                if cursor <= 0:
                    raise ValueError(after)
            except ValueError:
                raise HostKvError("other", f"invalid list-keys cursor {after!r} for a redis store") from None
        prefix = self.prefix(store)
        pattern = escape_glob(prefix) + "*"
        found: List[str] = []
        seen = set()
        with self._errors("SCAN", write=False):
            while True:
                cursor, raw = self._client.scan(cursor=cursor, match=pattern, count=max(10, limit - len(found)))
                for item in raw:
                    key = (item if isinstance(item, str) else item.decode("utf-8", "surrogateescape"))[len(prefix) :]
                    if key not in seen:
                        seen.add(key)
                        found.append(key)
                if cursor == 0 or len(found) >= limit:
                    break
        return found, (str(cursor) if cursor != 0 else None)

    def all_items(self, store: str) -> Iterable[Tuple[str, bytes]]:
        """Every pair in `store`, in key order (one full SCAN, duplicates removed)."""
        prefix = self.prefix(store)
        with self._errors("SCAN", write=False):
            names = sorted({raw.decode("utf-8", "surrogateescape")[len(prefix) :]
                            for raw in self._client.scan_iter(match=escape_glob(prefix) + "*", count=1000)})
        for start in range(0, len(names), MGET_CHUNK):
            part = names[start : start + MGET_CHUNK]
            for key, value in zip(part, self.get_many(store, part)):
                if value is not None:
                    yield key, value

    # -- atomics --------------------------------------------------------------------------

    def compare_and_swap(self, store: str, key: str, expected: Optional[bytes], value: bytes) -> bool:
        name = self.redis_key(store, key)
        with self._errors("WATCH/MULTI/EXEC", write=True):
            with self._client.pipeline(transaction=True) as pipe:
                for _ in range(CAS_RETRIES):
                    try:
                        pipe.watch(name)  # type: ignore[no-untyped-call]
                        current = pipe.get(name)
                        if (None if current is None else bytes(current)) != expected:  # type: ignore[arg-type]
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.set(name, bytes(value))
                        pipe.execute()
                        return True
                    except rx.WatchError:
                        continue  # someone wrote between WATCH and EXEC: compare again
        raise RedisError(f"redis cas on {key!r}: the key kept changing for {CAS_RETRIES} attempts", applied=False)

    def close(self) -> None:
        self._client.close()
