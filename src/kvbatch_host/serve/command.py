"""The `kvbatch serve` subcommand (registered by `kvbatch_host.cli`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kvbatch_host.errors import ConfigError
from kvbatch_host.prepare import build as builder
from kvbatch_host.serve import builds, bulk, server
from kvbatch_host.serve import manifest as manifests
from kvbatch_host.setup import HostOptions, add_fault_options, add_store_options

EPILOG = """examples:
  kvbatch serve                          ./spin.toml (every route and component) on 127.0.0.1:3000
  kvbatch serve --build                  run each component's [component.NAME.build] command first
  kvbatch serve --manifest app/spin.toml --store memory: --listen 127.0.0.1:3001
  kvbatch serve --store default=redis://127.0.0.1:6379/0
  kvbatch serve --fault 'op=set,batch=set-many,position=2,error=other:disk full' --events events.jsonl
  SPIN_VARIABLE_KVBATCH_TOKEN=$(openssl rand -hex 32) kvbatch serve   (no spin.toml here: kvbatch's own
                                         bulk key-value component on /kv/...)

The manifest is --manifest PATH, else ./spin.toml, else kvbatch's own bulk component. Variables
come from SPIN_VARIABLE_<NAME>, as for spin up. A component's granted stores (key_value_stores)
live in sqlite:.kvbatch/spin.db unless --store or --runtime-config say otherwise; other store
names are access-denied. Ctrl-C or SIGTERM stops everything.
"""


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    """Adds `serve` to the `kvbatch` subcommands."""
    p = sub.add_parser("serve", help="serve a Spin app (./spin.toml, else kvbatch's bulk component) over HTTP on the "
                                     "wasmtime CLI, with the harness's stores and faults",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", metavar="PATH", help="the spin.toml to serve (a file or its directory; default: "
                                                      "./spin.toml, else kvbatch's own bulk component)")
    p.add_argument("--build", action="store_true",
                   help="run each component's [component.NAME.build] command (in its workdir) first, as spin up --build")
    p.add_argument("--listen", default=server.DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"loopback address to listen on (default {server.DEFAULT_LISTEN}; port 0 picks a free one)")
    add_store_options(p, default=server.DEFAULT_STORE_URL, allow=False, granted=True)
    add_fault_options(p)
    p.set_defaults(func=command)


def _routes(manifest: manifests.Manifest) -> str:
    return ", ".join(f"{t.route.route} -> {t.component}" for t in manifest.triggers)


def command(args: argparse.Namespace) -> int:
    """Runs `kvbatch serve` until Ctrl-C or SIGTERM."""
    options = HostOptions.from_args(args)  # a malformed fault plan fails before anything starts
    listen = server.parse_listen(args.listen)
    found = server.find_manifest(args.manifest)
    if found is None:
        if args.build:
            raise ConfigError("--build runs the build commands of a spin.toml, and there is none here "
                              "(kvbatch's own component is built on first use; pass --manifest PATH for yours)")
        manifest = bulk.load()
    else:
        manifest = manifests.load(found)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        served = server.start(manifest, listen, options, log=log, build=args.build)
    except builds.BuildFailed as err:
        sys.stderr.write(err.output if err.output.endswith("\n") or not err.output else err.output + "\n")
        raise
    names = ", ".join(f"{c.name} ({builder.shown(c.source)}; stores {', '.join(c.stores) or 'none'})"
                      for c in manifest.components.values())
    print(f"serving {names} at {served.url} (routes {_routes(manifest)}) in {served.started_s:.1f} s; Ctrl-C stops",
          file=sys.stderr, flush=True)
    return server.serve_until_stopped(served)
