"""The command-line parts for other people's components: `kvbatch build --app` and `kvbatch wit`."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from kvbatch_host import app_build

from kvbatch_host import resources
from kvbatch_host.errors import ConfigError

EPILOG_BUILD = """examples:
  kvbatch build                                     every project target that is stale
  kvbatch build provider demo --force
  kvbatch build --app myapp -o myapp.wasm           your own guest: myapp/app.py exporting Run, kvbatch bundled
  kvbatch build --app myapp --module main --world guest-draft -o myapp-wasmtime.wasm

worlds for --app: """ + "; ".join(f"{name}: {what}" for name, what in app_build.APP_WORLDS.items())


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The `--app` options of `kvbatch build`."""
    parser.add_argument("--app", metavar="DIR", type=Path,
                        help="build your own guest from DIR (module `app` exporting Run) instead of project targets, "
                             "e.g. --app myapp -o myapp.wasm")
    parser.add_argument("--module", default=None, metavar="NAME", help="the module in DIR that exports Run (default: app)")
    parser.add_argument("--world", default=None, metavar="WORLD",
                        help=f"the world to build --app for: {', '.join(app_build.APP_WORLDS)} (default: guest)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT.wasm", help="where --app's component goes")


def build_app_command(args: Any) -> int:
    """`kvbatch build --app DIR ...` (or an error when the --app options are mixed up)."""
    if args.app is None:
        given = [flag for flag, value in (("--module", args.module), ("--world", args.world), ("-o", args.output)) if value]
        raise ConfigError(f"{', '.join(given)} only apply with --app DIR")
    if args.targets:
        raise ConfigError(f"give project targets or --app DIR, not both (got {', '.join(args.targets)})")
    if args.output is None:
        raise ConfigError("--app needs -o OUT.wasm, the path of the component to write")
    world = args.world or "guest"
    module = args.module or "app"
    app_build.check_world(world)
    app_build.module_file(args.app, module)
    if args.output.suffix != ".wasm":
        raise ConfigError(f"-o {args.output}: the output must end in .wasm")
    print(f"building {args.app}/{module} for world {world}:")
    app_build.build_app(args.app, args.output, world=world, module=module, force=args.force)
    return 0


def wants_app(args: Any) -> bool:
    """Whether a parsed `kvbatch build` command line uses the --app options."""
    return any(getattr(args, name, None) is not None for name in ("app", "module", "world", "output"))


def add_wit_parser(sub: Any) -> None:
    """The `kvbatch wit` subcommand."""
    p = sub.add_parser("wit", help="print kvbatch's WIT worlds, or write the whole WIT tree for other toolchains",
                       epilog="examples:\n  kvbatch wit                 the worlds (package kvbatch:components)\n"
                              "  kvbatch wit --out wit       the worlds and every package they use (deps/), for\n"
                              "                              componentize-py -d wit, componentize-js --wit wit, wasm-tools",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, metavar="DIR", help="write the WIT tree into DIR (created; files there are replaced)")
    p.set_defaults(func=wit_command)


def wit_command(args: Any) -> int:
    """Prints `kvbatch.wit`, or copies the WIT tree to `--out`."""
    source = resources.wit_dir()
    if args.out is None:
        sys.stdout.write((source / "kvbatch.wit").read_text())
        print(f"// the packages these worlds use: kvbatch wit --out DIR (from {source})", file=sys.stderr)
        return 0
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} exists and is not a directory")
    shutil.copytree(source, args.out, dirs_exist_ok=True)
    files = sorted(p for p in args.out.rglob("*.wit"))
    print(f"wrote {len(files)} WIT files to {args.out} (worlds: {', '.join(_worlds())})")
    return 0


def _worlds() -> list[str]:
    text = (resources.wit_dir() / "kvbatch.wit").read_text()
    return [line.split()[1] for line in text.splitlines() if line.startswith("world ")]


__all__ = ["add_build_arguments", "build_app_command", "wants_app", "add_wit_parser", "wit_command"]
