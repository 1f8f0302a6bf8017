"""The runnable blocks of the README, the docs pages and the examples' READMEs, as the tests run them.

A shell block is marked by an HTML comment on the line before its fence, `<!-- NAME:sh -->`, a file
block by `<!-- NAME:file PATH -->`: the block is the content of PATH, relative to where the commands
run. In a shell block, lines starting with `# ` are the standard output of the command before them.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

from checkout import ROOT


def marked_blocks(text: str, name: str) -> List[Tuple[str, str, str]]:
    """The blocks of `text` marked `<!-- NAME:KIND [PATH] -->`, in order: (kind, path, body)."""
    pattern = re.compile(r"<!-- " + re.escape(name) + r":(\w+)(?: (\S+))? -->\n```\w*\n(.*?)```", re.S)
    return [(kind, path, body) for kind, path, body in pattern.findall(text)]


@dataclass
class Script:
    """Shell blocks flattened into one script whose output is split back per command."""

    lines: List[str] = field(default_factory=list)
    expected: List[List[str]] = field(default_factory=list)
    commands: List[str] = field(default_factory=list)

    def add(self, body: str) -> None:
        command: List[str] = []
        for line in body.splitlines():
            if line.startswith("# ") and not command:
                self.expected[-1].append(line[2:])
                continue
            command.append(line)
            if line.endswith("\\"):
                continue
            text = "\n".join(command)
            self.lines += [f"printf '\\n@@@ step {len(self.expected)}\\n'", text]
            self.commands.append(text)
            self.expected.append([])
            command = []

    def run(self, cwd: Path, env: Mapping[str, str], prelude: str = "", timeout: Optional[float] = None
            ) -> subprocess.CompletedProcess[str]:
        script = "set -eo pipefail\n" + prelude + "\n" + "\n".join(self.lines)
        return subprocess.run(["bash", "-c", script], cwd=cwd, env=dict(env), capture_output=True, text=True,
                              timeout=timeout)

    def mismatches(self, stdout: str) -> List[str]:
        """What differs between the documented outputs and `stdout`; [] when every step printed what
        its `# ` lines say (steps without such lines may print anything)."""
        outputs = re.split(r"\n@@@ step \d+\n", stdout)[1:]  # a marker starts a line even after output without one
        if len(outputs) != len(self.expected):
            return [f"{len(outputs)} steps ran, {len(self.expected)} expected"]
        return [f"step {i} ({self.commands[i]!r}): printed {out.splitlines()!r}, documented {want!r}"
                for i, (out, want) in enumerate(zip(outputs, self.expected)) if want and out.splitlines() != want]


def lay_out(blocks: List[Tuple[str, str, str]], directory: Path) -> Script:
    """Writes the file blocks under `directory` and returns the shell blocks as one `Script`."""
    script = Script()
    for kind, path, body in blocks:
        if kind == "file":
            (directory / path).parent.mkdir(parents=True, exist_ok=True)
            (directory / path).write_text(body)
        elif kind == "sh":
            script.add(body)
    return script


def fenced(text: str, language: str) -> List[str]:
    """The bodies of the fenced blocks of `text` in `language`."""
    return re.findall(r"^```" + re.escape(language) + r"\n(.*?)^```", text, re.S | re.M)


def docs_pages() -> Dict[str, str]:
    """Every Markdown page of the site, by its path under `docs/`."""
    return {str(p.relative_to(ROOT / "docs")): p.read_text() for p in sorted((ROOT / "docs").rglob("*.md"))}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, process: "subprocess.Popen[str]", seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the server did not listen on port {port} within {seconds} s")


def stop(process: "subprocess.Popen[str]") -> None:
    """Stops `process` and everything it started (its own session), by its PID."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def served(block: str, cwd: Path, env: Mapping[str, str], seconds: float = 600) -> Iterator[int]:
    """Runs a documented server block (its `127.0.0.1:3000` moved to a free port) until the block
    of the `with` ends; yields the port once it listens."""
    port = free_port()
    script = block.strip().replace("127.0.0.1:3000", f"127.0.0.1:{port}")
    *setup, last = script.splitlines()
    process = subprocess.Popen(["bash", "-c", "\n".join([*setup, f"exec {last}"])], cwd=cwd, env=dict(env), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(port, process, seconds)
        yield port
    finally:
        stop(process)
