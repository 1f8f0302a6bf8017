"""Where kvbatch finds what it ships and puts what it builds, installed or in a checkout.

Everything a command needs is located here, the same way for every component name:

* the WIT (`wit_dir()`): `wit/` at the top of a source checkout, the one source of the contracts;
  the wheel ships that directory as package data, `kvbatch_host/wit/`;
* the guest-side sources bundled into components (`guest_source_root()`): the `kvbatch`,
  `kvbatch_guests` and `kvbatch_bulk` packages;
* the build directory (`build_dir()`) where components are built on first use and where the
  compiled and composed caches live: `build/` of a source checkout, else a per-user cache
  directory (`$XDG_CACHE_HOME/kvbatch/<version>` or `~/.cache/kvbatch/<version>`);
  `KVBATCH_BUILD_DIR` overrides both.

Nothing here imports the rest of the host package: it is the bottom layer every other one
may use.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Optional, Tuple

PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed (or checked-out) `kvbatch_host` package."""

BUILD_DIR_ENV = "KVBATCH_BUILD_DIR"
"""Environment variable naming the directory components are built into (and cached under)."""

GUEST_PACKAGES: Tuple[str, ...] = ("kvbatch", "kvbatch_guests", "kvbatch_bulk")
"""The guest-side packages componentize-py bundles; they never import host code."""


def checkout_root() -> Optional[Path]:
    """The repository root when kvbatch runs from a source checkout (editable install), else `None`."""
    src = PACKAGE_DIR.parent
    root = src.parent
    if src.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def wit_dir() -> Path:
    """The directory of kvbatch's WIT: its worlds and the vendored `wasi:*` packages (`deps/`).

    In a checkout, the repository's top-level `wit/`; installed, its copy inside the package."""
    root = checkout_root()
    return root / "wit" if root is not None else PACKAGE_DIR / "wit"


def user_cache_dir() -> Path:
    """The per-user cache directory of this kvbatch version (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kvbatch" / _version()


def build_dir() -> Path:
    """Where components are built and cached: `KVBATCH_BUILD_DIR`, else `build/` of a checkout,
    else `user_cache_dir()`."""
    override = os.environ.get(BUILD_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    root = checkout_root()
    return root / "build" if root is not None else user_cache_dir()


def installed_source_root() -> Path:
    """The directory holding the guest packages where Python imports them from (`src/` or
    `site-packages/`)."""
    return PACKAGE_DIR.parent


def guest_source_root() -> Path:
    """The directory to put on a component's Python path (`-p`) so it can import the guest packages.

    In a checkout that is `src/`. Installed, it is a copy of just `GUEST_PACKAGES` under
    `build_dir()/src`: componentize-py must not be pointed at `site-packages`, whose other
    packages (spin-sdk's `componentize-py.toml` among them) would leak into every build.
    Call `stage_guest_sources()` before building from it.
    """
    if checkout_root() is not None:
        return installed_source_root()
    return build_dir() / "src"


def stage_guest_sources() -> Path:
    """Makes `guest_source_root()` hold the installed guest packages, byte for byte (copying
    only what differs); returns it."""
    root = guest_source_root()
    origin = installed_source_root()
    if root == origin:
        return root
    for package in GUEST_PACKAGES:
        source = origin / package
        if source.is_dir():
            _mirror(source, root / package)
    return root


def isolated_site_dir() -> Path:
    """An empty virtual environment for componentize-py (`VIRTUAL_ENV`): builds against kvbatch's
    WIT must see no installed package's `componentize-py.toml`, whichever `python3` is on PATH."""
    venv = build_dir() / "cache" / "no-site-packages"
    (venv / "site-packages").mkdir(parents=True, exist_ok=True)
    return venv


def _mirror(source: Path, dest: Path) -> None:
    wanted = set()
    for file in source.rglob("*"):
        if "__pycache__" in file.parts or not file.is_file():
            continue
        rel = file.relative_to(source)
        wanted.add(rel)
        target = dest / rel
        if target.is_file() and filecmp.cmp(file, target, shallow=False):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(file, tmp)
        os.replace(tmp, target)
    if dest.is_dir():
        for stale in [f for f in dest.rglob("*") if f.is_file() and f.relative_to(dest) not in wanted]:
            if "__pycache__" not in stale.parts:
                stale.unlink()


def _version() -> str:
    try:
        return package_version("kvbatch")
    except PackageNotFoundError:  # imported from a tree that was never installed
        return "dev"
