"""The `kvbatch` command line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import List, Optional, Sequence

from . import build as builder
from .backends import DEFAULT_STORE_URL
from .errors import ConfigError
from .runner import BATCH_MODES, DEFAULT_PROVIDER, Harness
from .stores import DEFAULT_STORE, StoreRegistry

EPILOG_RUN = """examples:
  kvbatch run build/demo.wasm
  kvbatch run build/demo.wasm --store memory: --batch native
  kvbatch run build/demo.wasm --store default=sqlite:data/kv.db --store cache=memory: --allow-store default
  kvbatch run build/demo.wasm -- my-store          (arguments after -- go to the component)
  kvbatch demo -- my-store
"""


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", action="append", default=[], metavar="[NAME=]URL",
        help=f"serve store NAME (default {DEFAULT_STORE!r}) from URL: memory:, sqlite:PATH, redis://HOST:PORT/DB. "
             f"Repeatable. Without it, {DEFAULT_STORE!r} is served from {DEFAULT_STORE_URL}.",
    )
    parser.add_argument(
        "--allow-store", action="append", default=None, metavar="NAME",
        help="let the component open only these stores (like Spin's key_value_stores); others get access-denied. Repeatable.",
    )
    parser.add_argument(
        "--batch", choices=BATCH_MODES, default="provider",
        help="how wasi:keyvalue/batch is served: native (the host), provider (build/provider.wasm plugged in; default), "
             "none (not defined)",
    )


def _harness(args: argparse.Namespace) -> Harness:
    registry = StoreRegistry.from_specs(args.store, args.allow_store)
    if args.batch == "provider":
        builder.build_all(["provider"], log=lambda line: None)
    return Harness(registry, batch=args.batch, provider_path=DEFAULT_PROVIDER)


def cmd_build(args: argparse.Namespace) -> int:
    print("building components:")
    builder.build_all(args.targets, force=args.force)
    return 0


def cmd_bindings(args: argparse.Namespace) -> int:
    for path in builder.generate_bindings():
        print(f"  bindings: {path.relative_to(builder.ROOT)}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    harness = _harness(args)
    try:
        result = harness.run_command(args.component, args.args)
    finally:
        harness.registry.close()
    if result.trap:
        print(f"kvbatch: the component trapped: {result.trap.splitlines()[0]}", file=sys.stderr)
    return result.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    print("building components:")
    builder.build_all(["provider", "demo", "demo-wasmtime"])
    stores = args.store or [DEFAULT_STORE_URL]
    print(f"\nrunning build/demo.wasm on {', '.join(stores)} (batch: {args.batch})\n")
    args.store = stores
    args.component = str(builder.TARGETS["demo"].output)
    return cmd_run(args)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kvbatch",
        description="Batch key-value operations for WebAssembly components: build them, run them on real stores.",
    )
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build the components into build/ (skips what is up to date)")
    p.add_argument("targets", nargs="*", metavar="TARGET", help=f"targets to build (default: all): {', '.join(builder.TARGETS)}")
    p.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("bindings", help="regenerate the Python bindings of the WIT worlds into build/bindings/")
    p.set_defaults(func=cmd_bindings)

    p = sub.add_parser("run", help="run a command component under the harness", epilog=EPILOG_RUN,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("component", help="path to a component exporting wasi:cli/run; arguments for it go after --")
    _add_store_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="build everything and run the demo guest on the embedded SQLite store")
    _add_store_options(p)
    p.set_defaults(func=cmd_demo)
    return top


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    component_args: List[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, component_args = argv[:at], argv[at + 1 :]
    args = parser().parse_args(argv)
    args.args = component_args
    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"kvbatch: {err}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as err:
        print(f"kvbatch: build failed: {' '.join(err.cmd)}\n{err.stdout}{err.stderr}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
