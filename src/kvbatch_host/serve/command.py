"""The `kvbatch serve` subcommand (registered by `kvbatch_host.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kvbatch_host.serve import manifest as manifests
from kvbatch_host.serve import server
from kvbatch_host.setup import HostOptions, add_fault_options, add_store_options

EPILOG = """examples:
  SPIN_VARIABLE_KVBATCH_TOKEN=$(openssl rand -hex 32) kvbatch serve       spin.toml's route on 127.0.0.1:3000
  kvbatch serve --store memory: --listen 127.0.0.1:3001
  kvbatch serve --store default=redis://127.0.0.1:6379/0
  kvbatch serve --fault 'op=set,batch=set-many,position=2,error=other:disk full' --events events.jsonl

Granted stores (key_value_stores) live in sqlite:.kvbatch/spin.db unless --store or --runtime-config
say otherwise; other store names are access-denied (403). Ctrl-C or SIGTERM stops everything.
"""


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    """Adds `serve` to the `kvbatch` subcommands."""
    p = sub.add_parser("serve", help="serve build/spin.wasm over HTTP on the wasmtime CLI, with the harness's stores and faults",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", metavar="PATH", help="the spin.toml to serve (default: ./spin.toml, else the project's)")
    p.add_argument("--listen", default=server.DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"loopback address to listen on (default {server.DEFAULT_LISTEN}; port 0 picks a free one)")
    add_store_options(p, default=server.DEFAULT_STORE_URL, allow=False, granted=True)
    add_fault_options(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """Runs `kvbatch serve` until Ctrl-C or SIGTERM."""
    options = HostOptions.from_args(args)  # a malformed fault plan fails before anything starts
    listen = server.parse_listen(args.listen)
    manifest = manifests.load(Path(args.manifest) if args.manifest else server.default_manifest())
    print("preparing build/spin.wasm for wasmtime serve (the first start compiles it, ~30 s)", file=sys.stderr)
    served = server.start(manifest, listen, options, log=lambda line: print(line, file=sys.stderr))
    print(f"serving {manifest.source} at {served.url}{manifest.route.prefix} (route {manifest.route.route}, stores "
          f"{', '.join(manifest.stores) or 'none'}) in {served.started_s:.1f} s; Ctrl-C stops", file=sys.stderr, flush=True)
    return server.serve_until_stopped(served)
