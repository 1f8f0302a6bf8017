"""`kvbatch serve` in tests: the project's spin.toml pointed at build/spin.wasm, and the command
itself as a subprocess that is stopped by PID whatever happens."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest
from http_expectations import GRANTED, TOKEN

from kvbatch_host.prepare import build as builder

KVBATCH = str(Path(sys.executable).parent / "kvbatch")


def spin_toml(directory: Path, text: str) -> Path:
    """Writes `text` as DIRECTORY/spin.toml; its path."""
    path = directory / "spin.toml"
    path.write_text(text)
    return path


def write_manifest(directory: Path, stores: tuple[str, ...] = GRANTED) -> Path:
    """The project's spin.toml with an absolute source and the given key_value_stores."""
    text = (builder.ROOT / "spin.toml").read_text()
    text = text.replace('source = "build/spin.wasm"', f'source = "{builder.ROOT / "build" / "spin.wasm"}"')
    return spin_toml(directory, re.sub(r"key_value_stores = \[.*\]", "key_value_stores = " + json.dumps(list(stores)), text))


def children_of(pid: int) -> list[int]:
    """The PIDs of the children of process `pid` (none once it is gone)."""
    found: list[int] = []
    tasks = Path(f"/proc/{pid}/task")
    for task in tasks.iterdir() if tasks.is_dir() else ():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended while we looked
            pass
    return found


class Command:
    """`kvbatch serve ARGS` started from `cwd` as a subprocess: its URL (read from its banner), its PID,
    stopped by PID whatever happens (`stop`; also when it does not start within `timeout` seconds).

    `kvbatch`: the command to run (this venv's by default); `environ`: the environment it starts from
    (this process's by default), with `SPIN_VARIABLE_KVBATCH_TOKEN` set to `TOKEN` and `env` on top."""

    def __init__(self, cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180,
                 kvbatch: str = KVBATCH, environ: Mapping[str, str] | None = None) -> None:
        environ = dict(os.environ if environ is None else environ, SPIN_VARIABLE_KVBATCH_TOKEN=TOKEN, **(env or {}))
        self.proc = subprocess.Popen([kvbatch, "serve", "--listen", "127.0.0.1:0", *args], cwd=cwd, env=environ,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.url = ""
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                found = re.search(r" at (http://127\.0\.0\.1:\d+) ", line)
                if found:
                    self.url = found.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(timeout)
        if not self.url:
            self.stop()
            pytest.fail("kvbatch serve did not start:\n" + "".join(self.lines)[-5000:])

    def stop(self) -> int:
        """SIGTERM, whatever happens (SIGKILL after 30 s); then checks that its children are gone too."""
        children: list[int] = []
        try:
            children = children_of(self.proc.pid)
        finally:
            self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        for child in children:
            with pytest.raises(ProcessLookupError):
                os.kill(child, 0)
        return status
