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


def write_manifest(directory: Path, stores: tuple[str, ...] = GRANTED) -> Path:
    """The project's spin.toml with an absolute source and the given key_value_stores."""
    text = (builder.ROOT / "spin.toml").read_text()
    text = text.replace('source = "build/spin.wasm"', f'source = "{builder.ROOT / "build" / "spin.wasm"}"')
    text = re.sub(r"key_value_stores = \[.*\]", "key_value_stores = " + json.dumps(list(stores)), text)
    path = directory / "spin.toml"
    path.write_text(text)
    return path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended while we looked
            pass
    return found


class Command:
    """`kvbatch serve` as a subprocess: its URL (from its banner), its PID, stopped with SIGTERM."""

    def __init__(self, cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180) -> None:
        environ = dict(os.environ, SPIN_VARIABLE_KVBATCH_TOKEN=TOKEN, **(env or {}))
        self.proc = subprocess.Popen([KVBATCH, "serve", "--listen", "127.0.0.1:0", *args], cwd=cwd, env=environ,
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
            self.proc.kill()
            self.proc.wait()
            pytest.fail("kvbatch serve did not start:\n" + "".join(self.lines))

    def stop(self) -> int:
        """SIGTERM, whatever happens (SIGKILL after 30 s); then checks that its children are gone too."""
        children: list[int] = []
        try:
            children = _children(self.proc.pid)
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
