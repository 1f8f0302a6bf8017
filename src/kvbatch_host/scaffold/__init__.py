"""`kvbatch new KIND NAME`: a project a user starts from, with kvbatch already in use and tested.

Kinds (`KINDS`), each a directory of templates under `templates/`:
- `spin-http`: a Spin HTTP component (spin-sdk handler, kvbatch over spin-sdk's keyvalue
  bindings), its `spin.toml` with the build command, endpoints in plain Python, tests that run
  them on CPython and serve the built component with the pytest plugin, a README;
- `command`: a `wasi:cli/run` component using the kvbatch guest library, tests under the
  pytest plugin (faults included), a README.

A template `FILE.tmpl` becomes `FILE`, with `@PROJECT@` replaced by the project's name. Nothing
existing is overwritten.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Dict, List

from kvbatch_host.errors import ConfigError

TEMPLATES = Path(__file__).resolve().parent / "templates"
KINDS: Dict[str, str] = {
    "spin-http": "a Spin HTTP component (spin.toml, spin-sdk handler, kvbatch over spin-sdk's bindings)",
    "command": "a command component (wasi:cli/run) using the kvbatch guest library",
}
"""What `kvbatch new` can make, and what each is."""
NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
"""A project name: kebab-case, as Spin requires of application and component names."""
TOKEN = "@PROJECT@"
SUFFIX = ".tmpl"


def template_files(kind: str) -> List[Path]:
    """The template files of `kind`, sorted."""
    return sorted(p for p in (TEMPLATES / kind).iterdir() if p.is_file() and p.name.endswith(SUFFIX))


def create(kind: str, name: str, parent: Path) -> Path:
    """Creates project `name` of `kind` in a new directory `parent/name`; returns that directory.

    Raises `ConfigError` for an unknown kind, a name that is not kebab-case, or a directory
    that already exists.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown project kind {kind!r}; kvbatch new makes {', '.join(KINDS)}")
    if not NAME.fullmatch(name) or len(name) > 64:
        raise ConfigError(f"project name {name!r}: use lowercase letters, digits and single hyphens, starting with "
                          "a letter (e.g. my-app), at most 64 characters")
    target = parent / name
    if target.exists():
        raise ConfigError(f"{target} already exists; kvbatch new creates a new directory")
    target.mkdir(parents=True)
    for template in template_files(kind):
        (target / template.name[: -len(SUFFIX)]).write_text(template.read_text(encoding="utf-8").replace(TOKEN, name), encoding="utf-8")
    return target


EPILOG = """examples:
  kvbatch new spin-http my-app      then: cd my-app && kvbatch serve --build
  kvbatch new command my-tool       then: cd my-tool && kvbatch build --app . -o app.wasm && kvbatch run app.wasm -- a=1

Each project has its tests (python -m pytest in its directory) and a README saying what to run.
"""


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    """Adds `new` to the `kvbatch` subcommands."""
    p = sub.add_parser("new", help="start a project: a Spin HTTP component or a command component, using kvbatch, "
                                   "with tests", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=list(KINDS), metavar="KIND",
                   help="; ".join(f"{kind}: {what}" for kind, what in KINDS.items()))
    p.add_argument("name", metavar="NAME", help="the project's name (kebab-case, e.g. my-app) and its new directory")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """Runs `kvbatch new`."""
    made = create(args.kind, args.name, Path.cwd())
    files = ", ".join(p.name for p in sorted(made.iterdir()))
    print(f"created {args.kind} project {args.name}/ ({files})")
    first = ("kvbatch serve --build" if args.kind == "spin-http"
             else "kvbatch build --app . -o app.wasm && kvbatch run app.wasm -- a=1 b=2")
    print(f"next: cd {args.name} && {first}   (tests: python -m pip install pytest && python -m pytest)")
    return 0
