"""Throwaway `redis-server`s on free loopback ports, for tests and benchmarks: one node, or a cluster.

    with LocalRedisServer() as server:
        backend = RedisBackend(server.url)

    with LocalRedisCluster(masters=3, replicas=1) as cluster:    # 6 processes, slots spread by redis-cli
        backend = RedisClusterBackend(cluster.url)                # redis+cluster://127.0.0.1:P1,...

No persistence unless asked (`persist_dir`), no password, bound to 127.0.0.1 only. Every process
is started by this module and stopped by its PID (SIGCONT if paused, SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence

START_TIMEOUT_S = 10.0


def redis_server_binary() -> Optional[str]:
    """Path of `redis-server`, or `None` when it is not installed."""
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRedisServer:
    """Starts `redis-server` on `127.0.0.1:PORT` and stops it (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, port: Optional[int] = None, persist_dir: Optional[Path] = None, binary: Optional[str] = None,
                 workdir: Optional[Path] = None, extra_args: Sequence[str] = ()) -> None:
        found = binary or redis_server_binary()
        if found is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server; ./dev.sh test does it)")
        self.binary = found
        self.port = port or free_port()
        self.persist_dir = persist_dir
        self.workdir = workdir
        """Working directory (`--dir`) when not persisting: where a cluster node keeps its nodes.conf."""
        self.extra_args = list(extra_args)
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> List[str]:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "no", "--daemonize", "no",
               "--loglevel", "warning"]
        if self.persist_dir is None:
            cmd += ["--save", "", "--appendonly", "no"]
            if self.workdir is not None:
                self.workdir.mkdir(parents=True, exist_ok=True)
                cmd += ["--dir", str(self.workdir)]
        else:
            self.persist_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["--dir", str(self.persist_dir), "--appendonly", "yes", "--appendfsync", "always"]
        return cmd + self.extra_args

    @property
    def pid(self) -> Optional[int]:
        """The PID of the running process, or `None` when it is not running."""
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self) -> "LocalRedisServer":
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"redis-server exited at start (code {self.process.returncode}): {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if self.paused:
            self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown work, no final reply to anyone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing until `resume`."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def __enter__(self) -> "LocalRedisServer":
        return self.start()

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.stop()


CLUSTER_BUS_OFFSET = 10_000
"""A cluster node listens for its peers on its port + 10,000 (Redis's fixed bus offset)."""
CLUSTER_START_TIMEOUT_S = 30.0


def free_cluster_port(taken: Sequence[int] = ()) -> int:
    """A loopback port P such that P and its cluster bus port P + 10,000 are both free."""
    for _ in range(200):
        port = free_port()
        if port + CLUSTER_BUS_OFFSET > 65_535 or port in taken or port + CLUSTER_BUS_OFFSET in taken:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
        except OSError:
            continue
        return port
    raise RuntimeError("found no loopback port P with P + 10000 free for a cluster node")


class LocalRedisCluster:
    """A Redis Cluster of `masters` masters, each with `replicas` replicas, on loopback ports.

    Nodes are `LocalRedisServer`s in cluster mode, each in its own directory (its `nodes.conf`),
    joined by `redis-cli --cluster create`, which spreads the 16,384 slots evenly over the
    masters. `cluster-require-full-coverage no`: a shard that is down does not stop the others.
    `node_timeout_ms` is how long a silent master has before its replica takes over.
    """

    def __init__(self, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 5000,
                 base_dir: Optional[Path] = None, binary: Optional[str] = None) -> None:
        if masters < 3:
            raise ValueError(f"a Redis Cluster needs at least 3 masters, got {masters}")
        found = binary or redis_server_binary()
        cli = shutil.which("redis-cli")
        if found is None or cli is None:
            raise FileNotFoundError("redis-server/redis-cli are not installed (apt-get install redis-server)")
        self.cli = cli
        self.masters_wanted = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self._own_dir = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="kvbatch-cluster-")) if base_dir is None else base_dir
        ports: List[int] = []
        for _ in range(masters * (1 + replicas)):
            ports.append(free_cluster_port(ports + [p + CLUSTER_BUS_OFFSET for p in ports]))
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms), "--cluster-require-full-coverage", "no",
                "--repl-diskless-sync-delay", "0"]
        self.nodes = [LocalRedisServer(port, binary=found, workdir=self.base_dir / str(port), extra_args=args)
                      for port in ports]

    @property
    def url(self) -> str:
        """The `redis+cluster://` store URL naming every node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def node(self, port: int) -> LocalRedisServer:
        for node in self.nodes:
            if node.port == port:
                return node
        raise KeyError(port)

    def start(self) -> "LocalRedisCluster":
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            done = subprocess.run([self.cli, "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas),
                                   "--cluster-yes"], capture_output=True, timeout=CLUSTER_START_TIMEOUT_S)
            if done.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed: "
                                   + (done.stdout + done.stderr).decode(errors="replace").strip()[-2000:])
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _client(self, node: LocalRedisServer, timeout: float = 2.0) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def _live(self) -> List[LocalRedisServer]:
        return [node for node in self.nodes if node.pid is not None and not node.paused]

    def roles(self) -> Dict[int, str]:
        """Port → `master` or `slave`, for every live, unpaused node."""
        found: Dict[int, str] = {}
        for node in self._live():
            with self._client(node) as client:
                role = client.execute_command("ROLE")
            found[node.port] = role[0].decode() if isinstance(role[0], bytes) else str(role[0])
        return found

    def masters(self) -> List[LocalRedisServer]:
        """The live nodes that are masters now (after a failover, a former replica is one)."""
        return [self.node(port) for port, role in self.roles().items() if role == "master"]

    def slot_owners(self) -> Dict[int, int]:
        """Slot → port of the master serving it, as the first live node reports it."""
        for node in self._live():
            try:
                with self._client(node) as client:
                    ranges = client.execute_command("CLUSTER SLOTS")
            except Exception:
                continue
            owners: Dict[int, int] = {}
            for entry in (ranges.values() if isinstance(ranges, dict) else ranges):
                start, end, master = entry[0], entry[1], entry[2]
                for slot in range(int(start), int(end) + 1):
                    owners[slot] = int(master[1])
            return owners
        raise RuntimeError("no live cluster node answered CLUSTER SLOTS")

    def wait_healthy(self, timeout: float = CLUSTER_START_TIMEOUT_S) -> None:
        """Waits until every live node says `cluster_state:ok`, knows every live node, agrees on
        the masters of all 16,384 slots, and every live replica's link to its master is up."""
        deadline = time.monotonic() + timeout
        problem = "not checked yet"
        while time.monotonic() < deadline:
            problem = self._health_problem()
            if not problem:
                return
            time.sleep(0.1)
        raise RuntimeError(f"redis cluster not healthy within {timeout:.0f} s: {problem}")

    def _health_problem(self) -> str:
        live = self._live()
        live_ports = {node.port for node in live}
        views = set()
        for node in live:
            try:
                with self._client(node) as client:
                    info = client.execute_command("CLUSTER INFO")
                    if info.get("cluster_state") != "ok":
                        return f"node {node.port}: cluster_state is {info.get('cluster_state')!r}"
                    replication = client.info("replication")
                    if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                        return f"replica {node.port}: link to its master is not up"
                    table = client.execute_command("CLUSTER NODES")
            except Exception as err:
                return f"node {node.port}: {err}"
            view = []
            for address, entry in table.items():
                port = int(address.split("@")[0].rsplit(":", 1)[1])
                flags = entry["flags"].split(",")
                if port in live_ports and ("fail" in flags or "fail?" in flags):
                    return f"node {node.port} still sees live node {port} as failing"
                if port not in live_ports and "master" in flags and entry["slots"]:
                    return f"node {node.port} still sees the dead node {port} serving slots"
                if "master" in flags and entry["slots"]:
                    view.append((port, tuple(tuple(r) for r in entry["slots"])))
            views.add(tuple(sorted(view)))
        if len(views) > 1:
            return "nodes disagree on which masters serve which slots"
        return ""

    def wait_failover(self, dead: LocalRedisServer, slot: int, timeout: float = CLUSTER_START_TIMEOUT_S) -> LocalRedisServer:
        """After `dead`, the master of `slot`, was killed: waits until the cluster is healthy with a
        live master serving `slot` again, and returns that master (the promoted replica)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                owner = self.slot_owners().get(slot)
            except RuntimeError:
                owner = None
            if owner is not None and owner != dead.port and not self._health_problem():
                return self.node(owner)
            time.sleep(0.1)
        raise RuntimeError(f"no replica took over slot {slot} of {dead.port} within {timeout:.0f} s")

    def restart(self, node: LocalRedisServer) -> None:
        """Starts a killed node again with its own nodes.conf: it rejoins the cluster (a former
        master comes back as a replica of the node that took over)."""
        node.start()
        self.wait_healthy()

    def stop(self) -> None:
        """Stops every node by its PID, whatever state it is in (paused nodes are resumed first)."""
        for node in self.nodes:
            try:
                node.stop()
            except Exception:  # pragma: no cover - keep stopping the others
                if node.process is not None and node.process.poll() is None:
                    os.kill(node.process.pid, signal.SIGKILL)
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "LocalRedisCluster":
        return self.start()

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.stop()
