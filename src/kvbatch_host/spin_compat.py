"""Does a component link under Spin? Its imports against what Spin's platform world serves.

The Spin CLI is not needed: spin-sdk ships the WIT of the world Spin serves
(`spin:up/http-trigger@4.1.0`, which includes `spin:up/platform@4.1.0`). This module reads
that world and a built component through `wasm-tools component wit --json` and checks:

* every interface the component imports is served by the platform world under a
  semver-compatible version (`0.2.9` is served by `0.2.6`: same major, and same minor
  while the major is 0; a pre-release such as `0.2.0-draft2` or `0.3.0-rc-2026-03-15`
  must match exactly), with every function the component imports, taking the same
  parameters by name;
* every interface the trigger world exports (`wasi:http/handler@0.3.0`) is exported by the
  component with every function the world expects.

`wasmtime` links WASI imports across compatible patch versions the same way, which is why
`wasm-tools component targets` (exact versions) is too strict here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, cast

from kvbatch_host.prepare.build import wasm_tools

SPIN_TRIGGER_WORLD = "spin:up/http-trigger@4.1.0"
SPIN_PLATFORM_WORLD = "spin:up/platform@4.1.0"

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")


@dataclass(frozen=True)
class Interface:
    """One interface of a world: `namespace:package/name@version` and its functions' parameter names."""

    package: str
    """`namespace:package` without the version."""
    name: str
    version: Optional[str]
    functions: Dict[str, Tuple[str, ...]]

    @property
    def qualified(self) -> str:
        return f"{self.package}/{self.name}" + (f"@{self.version}" if self.version else "")


@dataclass
class Report:
    """What the check found; `ok` when the component links under the world."""

    unserved: List[str] = field(default_factory=list)
    """Imports the world serves under no compatible version (or lacks a function of)."""
    missing_exports: List[str] = field(default_factory=list)
    """Exports the world expects that the component lacks (or lacks a function of)."""
    matched: Dict[str, str] = field(default_factory=dict)
    """Each import → the served interface that satisfies it."""

    @property
    def ok(self) -> bool:
        return not self.unserved and not self.missing_exports


def resolve_json(path: Path) -> Dict[str, Any]:
    """`wasm-tools component wit --json` of a WIT directory or a component."""
    proc = subprocess.run([wasm_tools(), "component", "wit", "--json", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"wasm-tools could not read {path}: {proc.stderr.strip()}")
    return cast(Dict[str, Any], json.loads(proc.stdout))


def spin_sdk_wit() -> Path:
    """The WIT directory inside the installed spin-sdk package."""
    import spin_sdk

    return Path(spin_sdk.__file__).parent / "wit"


def parse_version(version: str) -> Tuple[int, int, int, Optional[str]]:
    match = _VERSION.match(version)
    if not match:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch, pre = match.groups()
    return int(major), int(minor), int(patch), pre


def compatible(imported: Optional[str], served: Optional[str]) -> bool:
    """Whether an import of version `imported` is satisfied by an interface of version `served`."""
    if imported is None or served is None:
        return imported == served
    a, b = parse_version(imported), parse_version(served)
    if a[3] is not None or b[3] is not None:
        return imported == served
    if a[0] != b[0]:
        return False
    return a[0] != 0 or a[1] == b[1]


def _interface(resolve: Dict[str, Any], index: int) -> Interface:
    raw = resolve["interfaces"][index]
    package = resolve["packages"][raw["package"]]["name"]
    base, _, version = package.partition("@")
    functions = {name: tuple(p["name"] for p in fn.get("params", [])) for name, fn in raw.get("functions", {}).items()}
    return Interface(base, raw["name"], version or None, functions)


def _world(resolve: Dict[str, Any], qualified: str) -> Dict[str, Any]:
    package, _, rest = qualified.partition("/")
    name, _, version = rest.partition("@")
    package_name = f"{package}@{version}" if version else package
    for world in resolve["worlds"]:
        if world["name"] == name and resolve["packages"][world["package"]]["name"] == package_name:
            return cast(Dict[str, Any], world)
    raise LookupError(f"no world {qualified} in the WIT")


def world_items(resolve: Dict[str, Any], world: Dict[str, Any], direction: str) -> Tuple[List[Interface], List[str]]:
    """A world's imported or exported interfaces, and the names of any other items (functions, types)."""
    interfaces, others = [], []
    for key, item in world[direction].items():
        if "interface" in item:
            iface = _interface(resolve, item["interface"]["id"])
            if iface.name is not None:
                interfaces.append(iface)
                continue
        if "type" not in item:
            others.append(key)
    return interfaces, others


def component_world(resolve: Dict[str, Any]) -> Dict[str, Any]:
    """The world `wasm-tools component wit` decodes a component into (`root:component/root`)."""
    for world in resolve["worlds"]:
        if resolve["packages"][world["package"]]["name"] == "root:component":
            return cast(Dict[str, Any], world)
    raise LookupError("no root:component world: is this a component?")


def _find(wanted: Interface, offered: List[Interface]) -> Tuple[Optional[Interface], str]:
    same = [o for o in offered if o.package == wanted.package and o.name == wanted.name]
    if not same:
        return None, "not served at any version"
    fits = [o for o in same if compatible(wanted.version, o.version)]
    if not fits:
        return None, f"served only as {', '.join(sorted(str(o.version) for o in same))}"
    for candidate in fits:
        gaps = [f for f, params in wanted.functions.items() if candidate.functions.get(f) != params]
        if not gaps:
            return candidate, ""
    return None, f"{fits[0].qualified} lacks or differs in {', '.join(sorted(gaps))}"


def check(component: Path, wit: Optional[Path] = None, trigger_world: str = SPIN_TRIGGER_WORLD) -> Report:
    """Checks `component` against `trigger_world` in `wit` (spin-sdk's WIT by default)."""
    served_resolve = resolve_json(wit or spin_sdk_wit())
    world = _world(served_resolve, trigger_world)
    served, _ = world_items(served_resolve, world, "imports")
    expected_exports, _ = world_items(served_resolve, world, "exports")

    comp_resolve = resolve_json(component)
    comp_world = component_world(comp_resolve)
    imports, other_imports = world_items(comp_resolve, comp_world, "imports")
    exports, _ = world_items(comp_resolve, comp_world, "exports")

    report = Report()
    for wanted in imports:
        match, why = _find(wanted, served)
        if match is None:
            report.unserved.append(f"{wanted.qualified}: {why}")
        else:
            report.matched[wanted.qualified] = match.qualified
    report.unserved += [f"{name}: a bare world-level import Spin does not serve" for name in other_imports]
    for expected in expected_exports:
        offered = [e for e in exports if e.package == expected.package and e.name == expected.name and e.version == expected.version]
        if not offered:
            report.missing_exports.append(f"{expected.qualified}: not exported")
            continue
        gaps = [f for f, params in expected.functions.items() if offered[0].functions.get(f) != params]
        if gaps:
            report.missing_exports.append(f"{expected.qualified}: lacks or differs in {', '.join(sorted(gaps))}")
    return report


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m kvbatch_host.spin_compat COMPONENT.wasm`: prints the report; exit 1 if it would not link."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kvbatch_host.spin_compat COMPONENT.wasm", file=sys.stderr)
        return 2
    report = check(Path(args[0]))
    for name, served in sorted(report.matched.items()):
        print(f"  ok       {name}" + ("" if name == served else f"  (served as {served})"))
    for problem in report.unserved:
        print(f"  UNSERVED {problem}")
    for problem in report.missing_exports:
        print(f"  MISSING  {problem}")
    print(f"{'links' if report.ok else 'does NOT link'} under {SPIN_TRIGGER_WORLD}: "
          f"{len(report.matched)} imports served, {len(report.unserved)} unserved, {len(report.missing_exports)} exports missing")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
