"""The JavaScript toolchain of the example guest written in JavaScript (`kvbatch build js-guest`).

`src/kvbatch_guests/js/` holds the guest (`guest.js`) and its toolchain, pinned: `package.json`
names `@bytecodealliance/componentize-js` at one version and `package-lock.json` pins every
package it pulls in, with integrity hashes. `ensure_toolchain()` installs exactly that lock with
`npm ci` into `build/node/` (not next to the sources: `node_modules` is ~400 MB and the guest
directories are bundled and hashed by componentize-py builds), and does nothing while a stamp
keyed by the lock's SHA-256 says it is already there.

componentize-js is called with `-d http fetch-event`: otherwise StarlingMonkey imports
`wasi:http@0.2.10`, which the harness does not serve. The guest is built against kvbatch's own
WIT (world `guest`, as `kvbatch wit --out` writes it for other toolchains).

This is a checkout's tool: the JavaScript sources do not ship in the wheel.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Callable, List, Optional

from kvbatch_host import resources
from kvbatch_host.errors import ConfigError

JS_GUEST_DIR = resources.guest_source_root() / "kvbatch_guests" / "js"
"""The JavaScript guest and its `package.json` / `package-lock.json`."""

TOOLCHAIN_FILES = ("package.json", "package-lock.json")


def toolchain_dir() -> Path:
    """Where `npm ci` installs the lock's packages: `node/` of the build directory."""
    return resources.build_dir() / "node"


def missing_tools() -> Optional[str]:
    """Why the JavaScript guest cannot be built here (`node`/`npm` not on PATH), or `None`."""
    absent = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if absent:
        return f"needs {' and '.join(absent)} on PATH (Debian: apt-get install nodejs npm)"
    return None


def _stamp(directory: Path) -> Path:
    lock = (JS_GUEST_DIR / "package-lock.json").read_bytes()
    return directory / f".installed-{hashlib.sha256(lock).hexdigest()[:16]}"


def is_installed() -> bool:
    """Whether `toolchain_dir()` holds exactly the packages of the current lock file."""
    return _stamp(toolchain_dir()).is_file()


def ensure_toolchain(log: Callable[[str], None] = print) -> Path:
    """The `componentize-js` executable of the pinned toolchain, installed with `npm ci` first
    (one progress line) unless the stamp of the current lock is there.

    Raises `ConfigError` when node or npm is missing, `subprocess.CalledProcessError` with npm's
    output when the install fails.
    """
    reason = missing_tools()
    if reason is not None:
        raise ConfigError(f"the JavaScript guest {reason}")
    directory = toolchain_dir()
    binary = directory / "node_modules" / ".bin" / "componentize-js"
    if is_installed() and binary.exists():
        return binary
    log(f"kvbatch: installing componentize-js (npm ci, {JS_GUEST_DIR / 'package-lock.json'}) into {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(".installed-*"):
        stale.unlink()
    for name in TOOLCHAIN_FILES:
        shutil.copyfile(JS_GUEST_DIR / name, directory / name)
    cmd = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    proc = subprocess.run(cmd, cwd=directory, capture_output=True, text=True)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
    _stamp(directory).touch()
    return binary


def componentize_js_command(source: Path, wit: Path, world: str, output: Path) -> List[str]:
    """The componentize-js command line that builds `source` for `world` of `wit` into `output`
    (installing the toolchain first when needed)."""
    return [str(ensure_toolchain()), str(source), "--wit", str(wit), "--world-name", world,
            "-d", "http", "fetch-event", "-o", str(output)]


if __name__ == "__main__":  # ./dev.sh: install the toolchain where node and npm are present
    if missing_tools() is None:
        ensure_toolchain()
