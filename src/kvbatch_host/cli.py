"""The `kvbatch` command line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from kvbatch_host.prepare import build as builder
from kvbatch_host import resources, user_commands
from kvbatch_host.backends import DEFAULT_STORE_URL
from kvbatch_host.cli_errors import OneLineParser, check_component_file, guarded, trap_summary
from kvbatch_host.errors import ConfigError
from kvbatch_host.prepare.compose import compose_provider
from kvbatch_host.setup import Host, HostOptions, add_backend_option, add_batch_options, add_fault_options, add_store_options

FIRED_SHOWN = 20
"""Fired faults listed after a run; the event log has them all."""

EPILOG_RUN = """examples:
  kvbatch run build/demo.wasm
  kvbatch run build/demo.wasm --store memory: --batch native
  kvbatch run build/demo.wasm --store default=sqlite:data/kv.db --store cache=memory: --allow-store default
  kvbatch run build/demo.wasm -- my-store          (arguments after -- go to the component)
  kvbatch demo -- my-store
  kvbatch run build/probe.wasm --store memory: --fault 'op=set,position=2,error=other:disk full' \\
      --events ev.jsonl -- default report
  kvbatch run build/demo.wasm --fault 'op=set,key=user:00*,nth=3,in-doubt=other:timeout' --fault 'op=get,latency=20ms'
  kvbatch run build/demo.wasm --fault-file plan.toml --events events.jsonl

fault rules (--fault, repeatable; fields joined by commas, double-quote a value holding a comma):
  match:  op=get|set|delete|exists|list-keys|increment|cas   key=GLOB|GLOB   store=GLOB
          batch=get-many|set-many|delete-many|none   position=N|N-M|N|M (0-based, within one batch call)
          nth=N (only the Nth match)   times=N (the first N matches; default: every match)
  effect: error=KIND[:MESSAGE]   in-doubt=KIND[:MESSAGE] (performed, then the error)   trap[=MESSAGE]
          latency=50ms|0.2s   (KIND: other, access-denied, no-such-store)
  --fault-file takes the same fields as JSON ([{"op": "set", "position": 2, "error": "other:disk full"}])
  or TOML ([[fault]] tables). --events writes every backend operation and its true outcome as JSON lines.
"""

EPILOG_COMPOSE = """examples:
  kvbatch compose build/demo.wasm -o demo-spin.wasm              draft2 guest + build/provider.wasm: for Spin
  kvbatch compose build/demo-wasmtime.wasm -o demo-cli.wasm      draft guest + build/provider-draft.wasm
  wasmtime run -S keyvalue demo-cli.wasm ""                      ... runs on the wasmtime CLI's store alone
  kvbatch run demo-spin.wasm --batch none                        ... or under the harness, serving store only
  kvbatch compose my-guest.wasm --provider my-provider.wasm -o out.wasm

The result imports wasi:keyvalue/store (one import shared by the guest and the provider) and whatever
else the guest imports, but no batch. It is validated, and cached under build/cache/composed/ by the
hashes of both inputs.
"""

EPILOG_CHECK = """examples:
  kvbatch check                                    the provider component (build/provider.wasm) on memory:
  kvbatch check build/broken/swallow.wasm          any component exporting wasi:keyvalue/batch (draft2 or draft)
  kvbatch check build/provider-draft.wasm          the provider for the wasmtime CLI's keyvalue version
  kvbatch check --native --store sqlite:/tmp/check.db
  kvbatch check --store redis://127.0.0.1:6379/0 --json > report.json
  kvbatch check --large-value-size 1048576         large-value scenarios at Spin's 1 MiB limit (slower)
  kvbatch check --batch-size 50                    also sweep faults over every position of 50-key batches

Each scenario runs without faults and with a fault at every position of its batch: other(msg),
access-denied, no-such-store, and in-doubt writes (applied, then an error). The answer and the
store's final state are checked against the event log. Exit status: 0 every rule held,
1 a rule was broken, 2 bad arguments. Keys are written to the store "kvbatch-check" and removed after.
"""


def cmd_build(args: argparse.Namespace) -> int:
    if user_commands.wants_app(args):
        return user_commands.build_app_command(args)
    print("building components:")
    builder.build_all(args.targets, force=args.force)
    return 0


def cmd_bindings(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else (builder.BUILD / "bindings" if resources.checkout_root() else Path("kvbatch-bindings"))
    for path in builder.generate_bindings(out.resolve()):
        print(f"  bindings: {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    return _run(HostOptions.from_args(args), args.component, args.args)


def _run(options: HostOptions, component: str, component_args: Sequence[str]) -> int:
    """Runs `component` on the host `options` describe and reports what it did (stderr)."""
    with options.open() as host:
        check_component_file(component)  # after the stores and faults: their errors come first
        from kvbatch_host.runner import check_command_component

        check_command_component(component)
        result = host.run(component, component_args)
    if result.trap:
        first = result.trap.splitlines()[0] if result.trap.strip() else ""
        if options.batch == "none" and "wasi:keyvalue/batch" in first and "not found" in first:
            print(f"kvbatch: {component} imports wasi:keyvalue/batch, which --batch none does not serve "
                  "(it is for guests built without it, world guest-nobatch, or composed with a provider); "
                  "use --batch native or provider", file=sys.stderr)
            return 2
    refused = host.registry.refusal_hint() if result.trap or result.exit_code != 0 else None
    if refused is not None:  # the guest failed after the host refused it a store: that is the mistake to name
        print(f"kvbatch: {refused}", file=sys.stderr)
        return 2
    if result.trap:
        print(f"kvbatch: the component trapped: {trap_summary(result.trap)}", file=sys.stderr)
    _report_faults(host)
    return result.exit_code


def _report_faults(host: Host) -> None:
    plan, events_path = host.options.plan, host.options.events_path
    if plan:
        fired = host.fired()
        tail = ":" if fired else f" ({len(plan.rules)} rule(s) matched nothing)"
        print(f"kvbatch: {len(fired)} fault(s) fired{tail}", file=sys.stderr)
        for line in fired[:FIRED_SHOWN]:
            print(f"  {line}", file=sys.stderr)
        if len(fired) > FIRED_SHOWN:
            more = "; --events PATH logs every one" if not events_path else ""
            print(f"  ... and {len(fired) - FIRED_SHOWN} more{more}", file=sys.stderr)
    if events_path and host.events is not None:
        print(f"kvbatch: event log: {events_path} ({len(host.events)} events)", file=sys.stderr)


def cmd_compose(args: argparse.Namespace) -> int:
    out = compose_provider(args.guest, args.provider, args.output,
                           log=lambda line: print(line, file=sys.stderr))
    from kvbatch_host.prepare.compose import keyvalue_version
    from kvbatch_host.prepare.wasm_tools import world

    kv = [name for name in world(out).imports if name.startswith("wasi:keyvalue/")]
    print(f"composed {out}: imports {', '.join(kv)} (wasi:keyvalue@{keyvalue_version(world(out))}) and no batch")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from kvbatch_host.backends import open_backend
    from wasmtime import WasmtimeError

    from kvbatch_host.conformance import Implementation, render, run_suite

    if args.native and args.component:
        raise ConfigError("give a COMPONENT or --native, not both")
    if args.native:
        implementation = Implementation("native")
    else:
        component = Path(args.component) if args.component else builder.TARGETS["provider"].output
        if not args.component:
            builder.ensure("provider")
        check_component_file(component)
        implementation = Implementation("provider", component)
    backend = open_backend(args.store)
    try:
        report = run_suite(implementation, backend, large_value_size=args.large_value_size, wide=args.batch_size,
                           progress=None if args.json else lambda name: print(f"  checking {name}", file=sys.stderr))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    except WasmtimeError as err:
        what = implementation.component or "the native batch"
        raise ConfigError(f"{what} cannot serve as a batch provider (a component exporting "
                          f"wasi:keyvalue/batch and importing only the store of its version): {str(err).splitlines()[0]}") from None
    finally:
        backend.close()
    if args.json:
        import json

        print(json.dumps(report.to_json(), indent=2))
    else:
        print(render(report))
    return 0 if report.passed else 1


def cmd_demo(args: argparse.Namespace) -> int:
    options = HostOptions.from_args(args)  # a malformed fault plan fails before anything is built
    print("building components:")
    builder.build_all(["provider", "demo", "demo-wasmtime"])
    if not options.stores and not options.runtime_config:
        options = options.with_stores(DEFAULT_STORE_URL)
    shown = [*options.stores, *([f"stores of {options.runtime_config}"] if options.runtime_config else [])]
    print(f"\nrunning build/demo.wasm on {', '.join(shown)} (batch: {options.batch})\n")
    return _run(options, str(builder.TARGETS["demo"].output), args.args)


COMMANDS = ("build", "wit", "bindings", "run", "demo", "compose", "check", "bench", "bench-cluster", "bench-aio", "serve",
            "new")


def parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The `kvbatch` parser. With `command` one of `COMMANDS` only that subcommand is defined, so
    a run imports nothing of the others; otherwise all of them (for help, or a mistyped name)."""
    top = OneLineParser(
        prog="kvbatch",
        description="Batch key-value operations for WebAssembly components: build them, run them on real stores.",
    )
    top.add_argument("--version", action="version", version=f"kvbatch {resources.kvbatch_version()}")
    sub = top.add_subparsers(dest="command", required=True)

    def wanted(name: str) -> bool:
        return command not in COMMANDS or command == name

    if wanted('build'):
        p = sub.add_parser("build", help="build the components into build/ (skips what is up to date), or your own --app",
                           epilog=user_commands.EPILOG_BUILD, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("targets", nargs="*", metavar="TARGET",
                       help=f"targets to build (default: all): {', '.join(builder.listed_targets())}")
        p.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
        user_commands.add_build_arguments(p)
        p.set_defaults(func=cmd_build)

    if wanted('wit'):
        user_commands.add_wit_parser(sub)

    if wanted('bindings'):
        p = sub.add_parser("bindings", help="generate the Python bindings of kvbatch's worlds (guest, guest-draft, provider, "
                                            "provider-draft) for your editor and type checker")
        p.add_argument("--out", metavar="DIR", default=None,
                       help="where to write them, one directory per world (default: build/bindings in a checkout, "
                            "else ./kvbatch-bindings)")
        p.set_defaults(func=cmd_bindings)

    if wanted('run'):
        p = sub.add_parser("run", help="run a command component under the harness", epilog=EPILOG_RUN,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("component", help="path to a component exporting wasi:cli/run; arguments for it go after --")
        add_store_options(p)
        add_batch_options(p)
        add_fault_options(p)
        p.set_defaults(func=cmd_run)

    if wanted('demo'):
        p = sub.add_parser("demo", help="build everything and run the demo guest on the embedded SQLite store",
                           epilog=EPILOG_RUN, formatter_class=argparse.RawDescriptionHelpFormatter)
        add_store_options(p)
        add_batch_options(p)
        add_fault_options(p)
        p.set_defaults(func=cmd_demo)

    if wanted('compose'):
        p = sub.add_parser("compose", help="plug the provider into a guest's wasi:keyvalue/batch import ahead of time",
                           epilog=EPILOG_COMPOSE, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("guest", metavar="GUEST.wasm", help="a component importing wasi:keyvalue/batch (draft2 or draft)")
        p.add_argument("-o", "--output", required=True, metavar="OUT.wasm", help="where to write the composed component")
        p.add_argument("--provider", metavar="PATH",
                       help="the provider to plug in (default: build/provider.wasm for a draft2 guest, "
                            "build/provider-draft.wasm for a draft guest, built if stale)")
        p.set_defaults(func=cmd_compose)

    if wanted('check'):
        from kvbatch_host.conformance.scenarios import DEFAULT_LARGE_VALUE_SIZE

        p = sub.add_parser("check", help="hold a batch implementation to the batch semantics under faults (conformance suite)",
                           epilog=EPILOG_CHECK, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("component", nargs="?", metavar="COMPONENT",
                       help="a provider component exporting wasi:keyvalue/batch (draft2 or draft) over an imported store, "
                            "composed with the suite's driver as a guest would be "
                            "(default: build/provider.wasm, built if stale), e.g. kvbatch check build/broken/naive.wasm")
        p.add_argument("--native", action="store_true",
                       help="check the harness's own host-native batch instead of a component, e.g. kvbatch check --native")
        add_backend_option(p, default="memory:", help_tail=", e.g. --store sqlite:/tmp/check.db")
        p.add_argument("--json", action="store_true",
                       help="print the report as JSON (for machines) instead of the table, e.g. kvbatch check --json > report.json")
        p.add_argument("--large-value-size", type=int, default=DEFAULT_LARGE_VALUE_SIZE, metavar="BYTES",
                       help=f"value size of the large-value scenarios (default {DEFAULT_LARGE_VALUE_SIZE}, at most 1048576), "
                            "e.g. --large-value-size 1048576")
        p.add_argument("--batch-size", type=int, default=0, metavar="N",
                       help="also sweep faults over every position of get-many/set-many/delete-many of N keys "
                            "(at most 1000; cases grow with N), e.g. --batch-size 50")
        p.set_defaults(func=cmd_check)

    if wanted('bench'):
        from kvbatch_host import bench

        p = sub.add_parser("bench", help="benchmarks side by side: harness paths, the wasmtime CLI, Redis, component start",
                           epilog=bench.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        bench.add_arguments(p)
        p.set_defaults(func=bench.command)

    if wanted('bench-cluster'):
        from kvbatch_host.bench import cluster as bench_cluster

        p = sub.add_parser("bench-cluster", help="the Redis Cluster backend against one node and redis-py's nonatomic calls; "
                           "3 against 6 masters", epilog=bench_cluster.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        bench_cluster.add_arguments(p)
        p.set_defaults(func=bench_cluster.command)

    if wanted('bench-aio'):
        from kvbatch_host.bench import aio as bench_aio

        p = sub.add_parser("bench-aio", help="kvbatch.aio in a served Spin component at max_concurrency 1, 8, 32 against "
                           "sequential store calls", epilog=bench_aio.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        bench_aio.add_arguments(p)
        p.set_defaults(func=bench_aio.command)

    if wanted('serve'):
        from kvbatch_host.serve import command as serve_command

        serve_command.add_parser(sub)

    if wanted('new'):
        from kvbatch_host import scaffold

        scaffold.add_parser(sub)

    return top


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    component_args: List[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, component_args = argv[:at], argv[at + 1 :]
    resources.ensure_wasmtime_cli_executable()
    top = parser(argv[0] if argv else None)
    args, extra = top.parse_known_args(argv)
    if extra:
        if getattr(args, "component", None) is not None and args.command == "run":
            top.error(f"unrecognized arguments: {' '.join(extra)}; a component's own arguments go after `--`: "
                      f"kvbatch run {args.component} [OPTIONS] -- {' '.join(extra)}")
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    args.args = component_args
    try:
        return guarded(args.func, args)
    except subprocess.CalledProcessError as err:
        print(f"kvbatch: build failed: {' '.join(err.cmd)}\n{err.stdout}{err.stderr}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
