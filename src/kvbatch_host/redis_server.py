"""A throwaway `redis-server` on a free loopback port, for tests and benchmarks.

    with LocalRedisServer() as server:
        backend = RedisBackend(server.url)

No persistence unless asked (`persist_dir`), no password, bound to 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import List, Optional

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

    def __init__(self, port: Optional[int] = None, persist_dir: Optional[Path] = None, binary: Optional[str] = None) -> None:
        found = binary or redis_server_binary()
        if found is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server; ./dev.sh test does it)")
        self.binary = found
        self.port = port or free_port()
        self.persist_dir = persist_dir
        self.process: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> List[str]:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "no", "--daemonize", "no",
               "--loglevel", "warning"]
        if self.persist_dir is None:
            cmd += ["--save", "", "--appendonly", "no"]
        else:
            self.persist_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["--dir", str(self.persist_dir), "--appendonly", "yes", "--appendfsync", "always"]
        return cmd

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
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "LocalRedisServer":
        return self.start()

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.stop()
