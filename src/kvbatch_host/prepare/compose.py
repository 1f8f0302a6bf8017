"""Static composition: the provider component plugged into a guest's `wasi:keyvalue/batch` import.

This is how the provider is deployed anywhere (Spin, the wasmtime CLI, the harness): ahead of
time, with `wasm-tools compose`, into one component. The result imports the guest's
`wasi:keyvalue/store` (one import, shared by the guest and the provider, so both hold the same
`bucket` handles) and everything else the guest imports, but no `batch`; the host serves
`store` only and sees the provider's per-key calls.

`compose_provider` checks before it composes and says in one line what does not fit: a file
that is not a component, a guest that imports no `batch`, a provider that exports no `batch`
or exports another keyvalue version than the guest imports. The provider of each version is
built from one Python source (`src/kvbatch_guests/provider.py`): `build/provider.wasm` for
draft2 (Spin's) and `build/provider-draft.wasm` for draft (the wasmtime CLI's).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Optional

from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import wasm_tools
from kvbatch_host.prepare.wasm_tools import WasmToolsError, World

DRAFT2 = "0.2.0-draft2"
DRAFT = "0.2.0-draft"

PROVIDER_TARGETS = {DRAFT2: "provider", DRAFT: "provider-draft"}
"""The build target of the project's provider for each `wasi:keyvalue` version."""

CACHE = builder.BUILD / "cache" / "composed"
BATCH = "wasi:keyvalue/batch@"
STORE = "wasi:keyvalue/store@"


class ComposeError(WasmToolsError):
    """A guest and a provider that cannot be composed; the message says why, in one line."""


def _version(names: list[str]) -> Optional[str]:
    return names[0].rpartition("@")[2] if names else None


def batch_version(world: World) -> Optional[str]:
    """The `wasi:keyvalue` version of the `batch` a component imports, or `None`."""
    return _version(world.imported(BATCH))


def keyvalue_version(world: World) -> Optional[str]:
    """The `wasi:keyvalue` version of the `store` a component imports, or `None`."""
    return _version(world.imported(STORE))


def default_provider(version: str, log: Optional[Callable[[str], None]] = None) -> Path:
    """The project's provider for keyvalue `version`, built first (with one progress line) when it is
    missing or stale."""
    target = PROVIDER_TARGETS.get(version)
    if target is None:
        raise ComposeError(f"no kvbatch provider for wasi:keyvalue@{version}; there are providers for "
                           f"{', '.join(PROVIDER_TARGETS)}")
    return builder.ensure(target, **({"log": log} if log else {}))


def check_provider(provider: str | os.PathLike[str], version: Optional[str] = None) -> str:
    """The keyvalue version `provider` serves: it must export `batch` (of `version`, if given)
    and import `store` of the same version, and nothing that a guest would have to give it."""
    world = wasm_tools.world(provider)
    exported = _version(world.exported(BATCH))
    if exported is None:
        raise ComposeError(f"{provider} exports no wasi:keyvalue/batch: it is not a batch provider")
    if version is not None and exported != version:
        raise ComposeError(f"{provider} exports wasi:keyvalue/batch@{exported}, but the guest imports "
                           f"wasi:keyvalue/batch@{version}: use the provider of the guest's version "
                           f"(build/{PROVIDER_TARGETS.get(version, 'provider')}.wasm)")
    imported = keyvalue_version(world)
    if imported is not None and imported != exported:
        raise ComposeError(f"{provider} exports batch@{exported} over store@{imported}: the versions must match")
    return exported


def compose_provider(guest: str | os.PathLike[str], provider: Optional[str | os.PathLike[str]] = None,
                     out: Optional[str | os.PathLike[str]] = None, log: Optional[Callable[[str], None]] = None) -> Path:
    """`guest` with a provider plugged into its `wasi:keyvalue/batch` import, validated.

    `provider` defaults to the project's provider of the guest's keyvalue version (built if
    stale). The composition is cached under `build/cache/composed/` by the hashes of both
    inputs; with `out` it is also copied there. The result imports no `batch`.
    """
    version = batch_version(wasm_tools.world(guest))
    if version is None:
        raise ComposeError(f"{guest} imports no wasi:keyvalue/batch: there is nothing to plug a provider into "
                           "(run it as it is, with --batch none)")
    if provider is None:
        provider = default_provider(version, log)
    check_provider(provider, version)
    composed = wasm_tools.plug(guest, provider, CACHE, Path(provider).stem)
    if batch_version(wasm_tools.world(composed)) is not None:
        raise ComposeError(f"composing {provider} into {guest} left a wasi:keyvalue/batch import")
    if out is None:
        return composed
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(composed, out)
    return Path(out)
