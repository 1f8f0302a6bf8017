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
from kvbatch_host.versions import DRAFT, DRAFT2

PROVIDER_TARGETS = {DRAFT2: "provider", DRAFT: "provider-draft"}
"""The build target of the project's provider for each `wasi:keyvalue` version."""

GET_MANY_SHAPES = {
    DRAFT2: "result<list<tuple<string, option<list<u8>>>>, error>",
    DRAFT: "result<list<option<tuple<string, list<u8>>>>, error>",
}
"""The result type of `batch.get-many` in each version kvbatch serves. Upstream wasi-keyvalue's main
branch is also called `0.2.0-draft2` but has the draft shape: a component built against it does not
link where Spin's `0.2.0-draft2` is served."""

WHERE_TO_BUILD = ("build it against kvbatch's WIT (kvbatch build --app DIR --world guest or guest-draft; "
                  "kvbatch wit --out DIR for other toolchains)")

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


def check_keyvalue(component: str | os.PathLike[str], world: Optional[World] = None) -> Optional[str]:
    """The one `wasi:keyvalue` version `component` uses (imports or exports), or `None` for none.

    Raises `ComposeError` in one line when kvbatch cannot serve or compose it: a version other than
    `0.2.0-draft2` and `0.2.0-draft`, two versions at once, or a `get-many` of another shape than
    that version's (a guest built against upstream wasi-keyvalue's `0.2.0-draft2`).
    """
    world = world or wasm_tools.world(component)
    names = [n for n in world.imports + world.exports if n.startswith("wasi:keyvalue/")]
    versions = sorted({n.rpartition("@")[2] for n in names})
    if not versions:
        return None
    unknown = [v for v in versions if v not in GET_MANY_SHAPES]
    if unknown:
        raise ComposeError(f"{component} uses wasi:keyvalue@{unknown[0]}; kvbatch serves wasi:keyvalue@{DRAFT2} "
                           f"(Spin's) and @{DRAFT} (the wasmtime CLI's): {WHERE_TO_BUILD}")
    if len(versions) > 1:
        raise ComposeError(f"{component} uses wasi:keyvalue at two versions ({', '.join(versions)}); "
                           f"a component uses one: {WHERE_TO_BUILD}")
    version = versions[0]
    for named, shape in world.get_many:
        if named == version and shape != GET_MANY_SHAPES[version]:
            served = "Spin's" if version == DRAFT2 else "the wasmtime CLI's"
            raise ComposeError(f"{component}'s wasi:keyvalue@{version} get-many returns {shape}, but {served} "
                               f"@{version}, which kvbatch serves, returns {GET_MANY_SHAPES[version]} (was it built "
                               f"against upstream wasi-keyvalue?): {WHERE_TO_BUILD}")
    return version


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
    check_keyvalue(provider, world)
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
    world = wasm_tools.world(guest)
    check_keyvalue(guest, world)
    version = batch_version(world)
    if version is None:
        raise ComposeError(f"{guest} imports no wasi:keyvalue/batch: there is nothing to plug a provider into "
                           "(run it as it is, with --batch none)")
    if provider is None:
        provider = default_provider(version, log)
    check_provider(provider, version)
    composed = wasm_tools.plug(guest, provider, CACHE, Path(provider).stem, bound="composed")
    if batch_version(wasm_tools.world(composed)) is not None:
        raise ComposeError(f"composing {provider} into {guest} left a wasi:keyvalue/batch import")
    if out is None:
        return composed
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(composed, out)
    return Path(out)
