"""The Redis Cluster backend (redis-py's `RedisCluster`): `redis+cluster://HOST:PORT[,HOST:PORT...]`.

Same layout as the single-node Redis backend: store `S` keeps key `K` in the Redis key
`kvbatch:S:K` (`?namespace=NAME` replaces `kvbatch`). The cluster hashes the whole name, so
the keys of one store spread over every master; only a hash tag `{...}` inside `K` itself
pins keys together (a `{` or `}` in a store name is escaped so that a store name never does).

| operation | Redis Cluster |
|---|---|
| get / set / delete / exists / increment | GET / SET / DEL / EXISTS / INCRBY, routed by redis-py (MOVED, ASK, topology refresh) |
| get-many / set-many / delete-many | the keys grouped by hash slot: one MGET / MSET / DEL per slot (at most `MAX_KEYS_PER_COMMAND` keys), pipelined per master, the masters answered in parallel |
| cas swap | WATCH, GET, compare, MULTI/SET/EXEC on the key's master |
| list-keys | SCAN on every master in turn (ordered by the first slot each serves); the cursor is `MASTER:SCAN-CURSOR` |

**What is atomic.** One MSET or DEL is atomic on its node, so at most the keys of one slot
change together. A batch is not atomic across slots: when a master fails mid-batch, the
slots of the other masters are applied and its own are not, or in doubt. The error then
carries `applied_by_key` (`True` applied, `False` refused, `None` the answer was lost: the
connection broke or timed out after the command was sent), which the fault layer writes to
the event log per key.

**Redirections and failover.** A batch command answered MOVED is sent again to the slot's
new master (redis-py's slot table is patched), ASK is followed with ASKING, TRYAGAIN is
retried after a pause, at most `MAX_REDIRECTS` rounds. A broken connection makes the client
reload the topology (`CLUSTER SLOTS`) before the next call; nothing sent is re-sent blindly,
so the caller (the guest library's retries) decides, knowing the outcome is unknown.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import parse_qsl

from redis import exceptions as rx
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.retry import Retry

from kvbatch_host.errors import ConfigError, HostKvError
from kvbatch_host.backends.base import DEFAULT_PAGE_SIZE, Backend
from kvbatch_host.backends.redis import (CAS_RETRIES, DEFAULT_NAMESPACE, SOCKET_TIMEOUT_S, RedisError, RedisKeyCommands, escape_glob,
                                         redis_error)

SCHEME = "redis+cluster://"
MAX_KEYS_PER_COMMAND = 1000
"""Keys in one MGET / MSET / DEL: a slot holding more (hash tags) is sent in several commands."""
MAX_REDIRECTS = 5
"""Rounds of MOVED / ASK / TRYAGAIN a batch follows before the keys still redirected fail."""
TRYAGAIN_PAUSE_S = 0.05
MAX_PARALLEL_NODES = 16
"""Masters one batch talks to at the same time (one thread each)."""
MAX_TIMEOUT_S = 300.0
MAX_MASTERS = 4096


@dataclass(frozen=True)
class ClusterUrl:
    """A parsed `redis+cluster://` URL."""

    nodes: Tuple[Tuple[str, int], ...]
    namespace: str = DEFAULT_NAMESPACE
    timeout: float = SOCKET_TIMEOUT_S


def parse_cluster_url(url: str) -> ClusterUrl:
    """Parses `redis+cluster://HOST:PORT[,HOST:PORT...][?namespace=NAME][&timeout=SECONDS]`.

    Raises `ConfigError` naming the URL and what is wrong: no node, an empty entry, a missing
    or invalid port, credentials, a path, an unknown or repeated parameter, a namespace that
    is empty or holds `:`, `{` or `}`, a timeout outside (0, 300] seconds.
    """
    where = f"redis+cluster URL {url!r}"
    if not url.startswith(SCHEME):
        raise ConfigError(f"{where}: expected redis+cluster://HOST:PORT[,HOST:PORT...]")
    rest = url[len(SCHEME):]
    rest, _, query = rest.partition("?")
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise ConfigError(f"{where}: a #fragment is not allowed")
    hosts, slash, path = rest.partition("/")
    if slash and path:
        raise ConfigError(f"{where}: a cluster has no databases; no path is allowed after the nodes (got /{path})")
    if "@" in hosts:
        raise ConfigError(f"{where}: credentials in the URL are not supported")
    if not hosts:
        raise ConfigError(f"{where} names no node; expected redis+cluster://HOST:PORT[,HOST:PORT...]")
    nodes: List[Tuple[str, int]] = []
    for index, entry in enumerate(hosts.split(","), 1):
        if not entry:
            raise ConfigError(f"{where}: node {index} is empty (two commas, or a trailing comma)")
        host, colon, port_text = entry.rpartition(":")
        if not colon or not host:
            raise ConfigError(f"{where}: node {index} {entry!r} is not HOST:PORT")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host or any(ch in host for ch in "[]/ "):
            raise ConfigError(f"{where}: node {index} {entry!r} has an invalid host")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ConfigError(f"{where}: node {index} {entry!r}: port must be a number in 1..65535")
        nodes.append((host, int(port_text)))
    namespace = DEFAULT_NAMESPACE
    timeout = SOCKET_TIMEOUT_S
    seen = set()
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in seen:
            raise ConfigError(f"{where}: parameter {name!r} is given twice")
        seen.add(name)
        if name == "namespace":
            if not value or re.search(r"[:{}]", value):
                raise ConfigError(f"{where}: namespace must be non-empty and hold no ':', '{{' or '}}'")
            namespace = value
        elif name == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise ConfigError(f"{where}: timeout must be a number of seconds, got {value!r}") from None
            if not 0 < timeout <= MAX_TIMEOUT_S:
                raise ConfigError(f"{where}: timeout must be in (0, {MAX_TIMEOUT_S:.0f}] seconds, got {value!r}")
        else:
            raise ConfigError(f"{where}: unknown parameter {name!r}; expected namespace or timeout")
    return ClusterUrl(tuple(nodes), namespace, timeout)


class ClusterBatchError(RedisError):
    """A batch call that failed on some slots: per key, whether it took effect.

    `applied_by_key[key]` is `True` (its slot's command was applied), `False` (refused, or never
    sent) or `None` (sent, answer lost). `applied` is `None` when any key is in doubt.
    """

    def __init__(self, message: str, applied_by_key: Dict[str, Optional[bool]]) -> None:
        doubt = any(value is None for value in applied_by_key.values())
        super().__init__(message, applied=None if doubt else False)
        self.applied_by_key = applied_by_key


def _node(host: str, port: int) -> ClusterNode:
    made: ClusterNode = ClusterNode(host, port)  # type: ignore[no-untyped-call]
    return made


def _escape_store(store: str) -> str:
    """Injective: `\\` first, so every other escape is a backslash pair; `{`/`}` never form a hash tag."""
    return store.replace("\\", "\\\\").replace(":", "\\:").replace("{", "\\[").replace("}", "\\]")


@dataclass
class _Command:
    """One per-slot command of a batch and what became of it."""

    slot: int
    args: Tuple[Any, ...]
    keys: List[str]
    """The store keys (not Redis names) the command acts on."""
    result: Any = None
    state: str = "pending"
    """`pending`, `ok`, `refused` (an error reply, or never sent), `lost` (sent, no answer)."""
    error: Optional[BaseException] = None
    node: str = ""
    ask: Optional[Tuple[str, int]] = None

    def settle(self, state: str, error: Optional[BaseException] = None, result: Any = None) -> None:
        self.state, self.error, self.result = state, error, result


class RedisClusterBackend(RedisKeyCommands, Backend):
    """Stores kept in a Redis Cluster, spread over its masters by hash slot."""

    atomic_batches = False
    """set-many / delete-many are atomic per slot at most: a failed batch reports per key."""

    _client: RedisCluster

    def __init__(self, url: str, client: Optional[RedisCluster] = None) -> None:
        self.url = url
        self._replicas: Dict[str, int] = {}
        parsed = parse_cluster_url(url)
        self.namespace = parsed.namespace
        self.timeout = parsed.timeout
        if client is None:
            try:
                client = RedisCluster(startup_nodes=[_node(host, port) for host, port in parsed.nodes],
                                      retry=Retry(NoBackoff(), 0), require_full_coverage=False,
                                      socket_timeout=parsed.timeout, socket_connect_timeout=parsed.timeout)
            except (rx.RedisError, rx.RedisClusterException) as err:
                first = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise ConfigError(f"redis+cluster URL {url!r}: no node of the cluster answered ({first})") from None
        self._client = client
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_lock = threading.Lock()

    # -- names and routing ----------------------------------------------------------------

    @property
    def client(self) -> RedisCluster:
        """The redis-py cluster client (for tests and tools that inspect the cluster)."""
        return self._client

    def prefix(self, store: str) -> str:
        """The Redis key prefix of `store`."""
        return f"{self.namespace}:{_escape_store(store)}:"

    def redis_key(self, store: str, key: str) -> str:
        """The Redis name of `key` in `store`."""
        return self.prefix(store) + key

    def slot(self, store: str, key: str) -> int:
        """The hash slot of `key` in `store`."""
        return int(key_slot(self.redis_key(store, key).encode("utf-8", "surrogateescape")))

    def masters(self) -> List[ClusterNode]:
        """The masters as the client knows them, ordered by the first slot each serves (stable
        across a failover: a promoted replica takes over its master's slots and place)."""
        first: Dict[str, Tuple[int, ClusterNode]] = {}
        manager = self._client.nodes_manager
        with manager._lock:
            table = dict(manager.slots_cache)
        for slot in sorted(table):
            owners = table[slot]
            if owners and owners[0].name not in first:
                first[owners[0].name] = (slot, owners[0])
        return [node for _, node in sorted(first.values(), key=lambda item: item[0])]

    def _replicas_of(self, name: str, redis_node: Any) -> int:
        """How many replicas the master `name` has connected (`ROLE`, asked once per topology)."""
        known = self._replicas.get(name)
        if known is None:
            role = redis_node.execute_command("ROLE")
            known = self._replicas[name] = len(role[2]) if len(role) > 2 and isinstance(role[2], list) else 0
        return known

    def _refresh(self, failed: Optional[str] = None) -> None:
        """Reloads the slot table after a node failed (the next call sees a failover), asking the
        `failed` node last."""
        self._replicas.clear()
        try:
            self._client.nodes_manager.initialize(last_failed_node_name=failed)
        except Exception:  # every node down: the next command reports it
            pass

    # -- errors ---------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str, write: bool, direct: bool = False) -> Iterator[None]:
        """Maps redis-py errors to `RedisError` with what is known of `applied`. `direct`: the
        commands went to a node's own connection, so a broken one reloads the slot table here
        (commands sent through `RedisCluster` have the client do it)."""
        try:
            yield
        except HostKvError:
            raise
        except (rx.ConnectionError, rx.TimeoutError) as err:
            if direct:
                self._refresh()
            raise redis_error(f"redis cluster {what}", err, write) from None
        except rx.RedisClusterException as err:  # e.g. a slot no node serves: nothing was sent
            raise RedisError(f"redis cluster {what}: {err}", applied=False) from None
        except rx.RedisError as err:
            raise redis_error(f"redis cluster {what}", err, write) from None

    # -- atomics --------------------------------------------------------------------------

    def compare_and_swap(self, store: str, key: str, expected: Optional[bytes], value: bytes) -> bool:
        """WATCH / GET / MULTI / SET / EXEC on the master of `key`'s slot; a MOVED reply (the slot
        changed masters) patches the slot table and starts again on the new master."""
        name = self.redis_key(store, key)
        slot = self.slot(store, key)
        with self._errors("WATCH/MULTI/EXEC", write=True, direct=True):
            for _ in range(MAX_REDIRECTS):
                node = self._client.nodes_manager.get_node_from_slot(slot)
                connection = self._client.get_redis_connection(node)
                try:
                    with connection.pipeline(transaction=True) as pipe:
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
                    raise RedisError(f"redis cluster cas on {key!r}: the key kept changing for {CAS_RETRIES} attempts",
                                     applied=False)
                except rx.AskError as err:  # MovedError too: the slot moved, nothing was applied
                    if isinstance(err, rx.MovedError):
                        self._client.nodes_manager.move_slot(err)
                    else:
                        self._refresh()
                except rx.ExecAbortError:
                    self._refresh()  # the queued SET was redirected: EXEC discarded it
        raise RedisError(f"redis cluster cas on {key!r}: slot {slot} kept moving for {MAX_REDIRECTS} attempts",
                         applied=False)

    # -- many keys ------------------------------------------------------------------------

    def _commands(self, store: str, keys: Sequence[str], command: str,
                  values: Optional[Dict[str, bytes]] = None) -> List[_Command]:
        """One `command` per slot (and per `MAX_KEYS_PER_COMMAND` keys) over the distinct `keys`;
        with `values`, each Redis name is followed by its value (MSET)."""
        prefix = self.prefix(store)
        groups: Dict[int, List[str]] = {}
        for key in keys:
            groups.setdefault(key_slot((prefix + key).encode("utf-8", "surrogateescape")), []).append(key)
        commands = []
        for slot, group in groups.items():
            for start in range(0, len(group), MAX_KEYS_PER_COMMAND):
                part = group[start:start + MAX_KEYS_PER_COMMAND]
                args: List[Any] = [command]
                if values is None:
                    args += [prefix + key for key in part]
                else:
                    for key in part:
                        args += (prefix + key, values[key])
                commands.append(_Command(slot, tuple(args), part))
        return commands

    def get_many(self, store: str, keys: Sequence[str]) -> List[Optional[bytes]]:
        distinct = list(dict.fromkeys(keys))
        commands = self._commands(store, distinct, "MGET")
        self._execute(commands)
        found: Dict[str, Optional[bytes]] = {}
        failed = [c for c in commands if c.state != "ok"]
        if failed:
            raise RedisError(f"redis cluster MGET: {self._describe(failed, len(distinct))}", applied=False)
        for command in commands:
            for key, value in zip(command.keys, command.result):
                found[key] = None if value is None else bytes(value)
        return [found[key] for key in keys]

    def set_many(self, store: str, items: Sequence[Tuple[str, bytes]]) -> None:
        last_value_wins = {key: bytes(value) for key, value in items}
        if not last_value_wins:
            return
        self._write("MSET", self._commands(store, list(last_value_wins), "MSET", last_value_wins), len(last_value_wins))

    def delete_many(self, store: str, keys: Sequence[str]) -> None:
        distinct = list(dict.fromkeys(keys))
        if not distinct:
            return
        commands = self._commands(store, distinct, "DEL")
        self._write("DEL", commands, len(distinct))

    def _write(self, what: str, commands: List[_Command], total: int) -> None:
        self._execute(commands, durable=True)
        failed = [c for c in commands if c.state != "ok"]
        if not failed:
            return
        applied: Dict[str, Optional[bool]] = {}
        for command in commands:
            outcome = {"ok": True, "refused": False}.get(command.state)
            for key in command.keys:
                applied[key] = outcome
        raise ClusterBatchError(f"redis cluster {what}: {self._describe(failed, total)}", applied)

    @staticmethod
    def _describe(failed: List[_Command], total: int) -> str:
        keys = sum(len(c.keys) for c in failed)
        lost = sum(len(c.keys) for c in failed if c.state == "lost")
        first: Dict[str, str] = {}
        for command in failed:
            first.setdefault(command.node or "?", f"{type(command.error).__name__}: {command.error}")
        where = "; ".join(f"{node}: {reason}" for node, reason in first.items())
        return (f"{keys} of {total} keys failed ({lost} in doubt: sent, answer lost) on "
                f"{len(first)} node(s): {where}")

    # -- sending --------------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_NODES, thread_name_prefix="kvbatch-cluster")
            return self._pool

    def _execute(self, commands: List[_Command], durable: bool = False) -> None:
        """Sends `commands` to the masters of their slots (in parallel), following redirections;
        every command ends `ok`, `refused` or `lost`. With `durable` (writes), a master that has
        replicas is asked to `WAIT` for all of them: a write they did not confirm in time is `lost`
        (in doubt), since Redis replicates asynchronously and a failover would drop it."""
        pending = list(commands)
        for round_ in range(MAX_REDIRECTS + 1):
            by_node: Dict[str, Tuple[ClusterNode, List[_Command]]] = {}
            manager = self._client.nodes_manager
            with manager._lock:
                table = dict(manager.slots_cache)  # one consistent view of the slot table per round
            for command in pending:
                if command.ask is not None:
                    host, port = command.ask
                    node = manager.get_node(host, port) or _node(host, port)
                else:
                    owners = table.get(command.slot)
                    if not owners:  # no node serves the slot: nothing sent
                        command.settle("refused", rx.SlotNotCoveredError(f"slot {command.slot} is not covered"))
                        continue
                    node = owners[0]
                command.node = node.name
                by_node.setdefault(node.name, (node, []))[1].append(command)
            groups = [(node, group, durable) for node, group in by_node.values()]
            if len(groups) == 1:
                self._send(*groups[0])
            elif groups:
                for future in [self._executor().submit(self._send, *group) for group in groups]:
                    future.result()
            broken = [c.node for c in pending if c.state == "lost" or isinstance(c.error, (rx.ConnectionError, rx.TimeoutError))]
            if broken:
                self._refresh(broken[0])
            pending = [c for c in pending if c.state == "refused" and self._redirect(c)]
            if not pending or round_ == MAX_REDIRECTS:
                return
            if any(isinstance(c.error, rx.TryAgainError) for c in pending):
                time.sleep(TRYAGAIN_PAUSE_S)

    def _redirect(self, command: _Command) -> bool:
        """Whether a refused command goes again (MOVED, ASK, TRYAGAIN), updating where it goes."""
        error = command.error
        if isinstance(error, rx.MovedError):
            self._client.nodes_manager.move_slot(error)
            command.ask = None
        elif isinstance(error, rx.AskError):
            command.ask = error.node_addr
        elif isinstance(error, rx.TryAgainError):
            command.ask = None
        else:
            return False
        command.settle("pending")
        return True

    def _send(self, node: ClusterNode, commands: List[_Command], durable: bool = False) -> None:
        """One node's commands in one pipelined write, answers read in order. A command whose
        answer was read is `ok` or `refused`; after a broken connection the rest are `lost`
        (sent, unknown) — or `refused` when the connection could not even be made. With
        `durable`, a `WAIT` for the node's replicas follows; `ok` commands it does not cover
        become `lost`."""
        redis_node: Any
        connection: Any
        try:
            redis_node = self._client.get_redis_connection(node)
            pool = redis_node.connection_pool
            connection = pool.get_connection()
        except (rx.RedisError, rx.RedisClusterException, OSError) as err:
            for command in commands:
                command.settle("refused", err)
            return
        try:
            packed: List[Tuple[Any, ...]] = []
            for command in commands:
                if command.ask is not None:
                    packed.append(("ASKING",))
                packed.append(command.args)
            wait_ms = max(1, int(self.timeout * 500))  # half the socket timeout: WAIT answers before the read gives up
            replicas = self._replicas_of(node.name, redis_node) if durable else 0
            if replicas:
                packed.append(("WAIT", replicas, wait_ms))
            connection.send_packed_command(connection.pack_commands(packed))
            for command in commands:
                if command.ask is not None:
                    try:  # the command's own answer says whether ASKING let it in
                        redis_node.parse_response(connection, "ASKING")
                    except rx.ResponseError:
                        pass
                try:
                    result = redis_node.parse_response(connection, command.args[0])
                except rx.ResponseError as err:
                    command.settle("refused", err)
                else:
                    command.settle("ok", None, result)
            if replicas:
                confirmed = int(redis_node.parse_response(connection, "WAIT"))
                if confirmed < replicas:
                    unconfirmed = RedisError(f"{node.name}: written, but {confirmed} of {replicas} replica(s) confirmed it "
                                             f"within {wait_ms} ms; a failover now would drop it", applied=None)
                    for command in commands:
                        if command.state == "ok":
                            command.settle("lost", unconfirmed)
        except (rx.RedisError, OSError) as err:
            connection.disconnect()
            for command in commands:
                if command.state == "pending":
                    command.settle("lost", err)
        finally:
            pool.release(connection)

    # -- listing --------------------------------------------------------------------------

    def list_keys(self, store: str, after: Optional[str], limit: int = DEFAULT_PAGE_SIZE) -> Tuple[List[str], Optional[str]]:
        """A page of about `limit` keys: SCAN on each master in turn. The cursor `M:C` names the
        master (its place in `masters()`) and its SCAN cursor, so a page boundary inside a
        master resumes there and each master is listed once."""
        index, cursor = self._parse_cursor(after)
        prefix = self.prefix(store)
        pattern = escape_glob(prefix) + "*"
        found: List[str] = []
        seen = set()
        with self._errors("SCAN", write=False, direct=True):
            masters = self.masters()
            while index < len(masters) and len(found) < limit:
                connection = self._client.get_redis_connection(masters[index])
                cursor, raw = connection.scan(cursor=cursor, match=pattern, count=max(10, limit - len(found)))
                for item in raw:
                    key = (item if isinstance(item, str) else item.decode("utf-8", "surrogateescape"))[len(prefix):]
                    if key not in seen:
                        seen.add(key)
                        found.append(key)
                if cursor == 0:
                    index += 1
        return found, (f"{index}:{cursor}" if index < len(masters) else None)

    @staticmethod
    def _parse_cursor(after: Optional[str]) -> Tuple[int, int]:
        if after is None:
            return 0, 0
        head, colon, tail = after.partition(":")
        if colon and head.isdigit() and tail.isdigit() and int(head) < MAX_MASTERS:
            return int(head), int(tail)
        raise HostKvError("other", f"invalid list-keys cursor {after!r} for a redis cluster store")

    def all_items(self, store: str) -> Iterable[Tuple[str, bytes]]:
        """Every pair in `store`, in key order (a full SCAN of every master)."""
        prefix = self.prefix(store)
        names = set()
        with self._errors("SCAN", write=False, direct=True):
            for master in self.masters():
                connection = self._client.get_redis_connection(master)
                for raw in connection.scan_iter(match=escape_glob(prefix) + "*", count=1000):
                    names.add(raw.decode("utf-8", "surrogateescape")[len(prefix):])
        ordered = sorted(names)
        for start in range(0, len(ordered), 10_000):
            part = ordered[start:start + 10_000]
            for key, value in zip(part, self.get_many(store, part)):
                if value is not None:
                    yield key, value

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self._client.close()
