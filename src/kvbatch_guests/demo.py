"""The demo guest: realistic batch work on a key-value store, with a per-key summary.

One source, two builds: `build/demo.wasm` (world `guest`, keyvalue draft2, for the harness and
Spin) and `build/demo-wasmtime.wasm` (world `guest-draft`, for `wasmtime run -S keyvalue`).
Both print the same report for the same starting store.

Arguments (after the component path): `[STORE]`; the default store is `default`, which is
what Spin and the wasmtime CLI call their default.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable, Dict, List, Optional, Union

from wit_world import exports
from wit_world.imports import environment

import kvbatch
from kvbatch.raw import RawBucket

RECORDS = 300
CHUNK = 100
PREFIX = "user:"
GRID_WIDTH = 50


def record_key(i: int) -> str:
    return f"{PREFIX}{i:04d}"


def record_value(i: int) -> bytes:
    body = {"id": i, "name": f"user {i}", "score": (i * 37) % 101, "tags": ["demo"] * (i % 3)}
    return json.dumps(body, sort_keys=True).encode()


def run_demo(bucket: Union[kvbatch.Bucket, RawBucket], say: Callable[[str], None] = print) -> Dict[str, str]:
    """Loads, reads back and partly deletes the demo records with the kvbatch library; returns
    each key's final state. Any key that does not succeed raises `kvbatch.BatchFailed`."""
    if not isinstance(bucket, kvbatch.Bucket):
        bucket = kvbatch.Bucket(bucket, chunk_size=CHUNK)
    keys = [record_key(i) for i in range(RECORDS)]
    expected = {key: record_value(i) for i, key in enumerate(keys)}
    mode = "wasi:keyvalue/batch" if bucket.has_native_batch else "per-key store calls"
    say(f'kvbatch demo on store "{bucket.name}" ({mode})')

    previous = len(bucket.get_many(keys, chunk_size=CHUNK, raise_on_error=True).values)
    if previous:
        say(f"found {previous} records left by a previous run")

    written = bucket.set_many([(key, expected[key]) for key in keys], chunk_size=CHUNK).raise_for_failures()
    say(f"set-many:    wrote {len(written.succeeded)} records in {written.stats.chunks} calls of <= {CHUNK}")

    read = bucket.get_many(keys, chunk_size=CHUNK, raise_on_error=True)
    state: Dict[str, str] = {}
    for key in keys:
        value = read.values.get(key)
        state[key] = "kept" if value == expected[key] else ("missing" if value is None else "differs")
    counts = {s: sum(1 for v in state.values() if v == s) for s in ("kept", "differs", "missing")}
    say(f"get-many:    read {read.total} keys: {counts['kept']} match, {counts['differs']} differ, {counts['missing']} missing")

    doomed = keys[::3]
    deleted = bucket.delete_many(doomed + doomed[:5], chunk_size=CHUNK).raise_for_failures()  # duplicates: deleted once
    say(f"delete-many: removed every third record ({deleted.total} keys, {len(deleted.duplicates)} named twice)")

    after = bucket.get_many(keys, chunk_size=CHUNK, raise_on_error=True)
    doomed_set = set(doomed)
    for key in after.missing:
        state[key] = "deleted" if key in doomed_set else "missing"
    present = len(after.values)
    say(f"get-many:    {present} present, {RECORDS - present} absent after delete")
    return state


def render_grid(state: Dict[str, str]) -> List[str]:
    """One character a key, in key order: . kept  x deleted  ? missing  ! differs."""
    marks = {"kept": ".", "deleted": "x", "missing": "?", "differs": "!"}
    row = "".join(marks[state[key]] for key in sorted(state))
    keys = sorted(state)
    lines = []
    for start in range(0, len(row), GRID_WIDTH):
        lines.append(f"  {keys[start]}  {row[start:start + GRID_WIDTH]}")
    return lines


def summary_digest(state: Dict[str, str]) -> str:
    return hashlib.sha256("\n".join(f"{k}={state[k]}" for k in sorted(state)).encode()).hexdigest()[:16]


class Run(exports.Run):
    """`wasi:cli/run`: runs the demo and prints the report."""

    def run(self) -> None:
        args = environment.get_arguments()[1:]
        store_name: Optional[str] = args[0] if args else "default"
        try:
            bucket = kvbatch.open(store_name, chunk_size=CHUNK)
            state = run_demo(bucket)
        except kvbatch.KvError as err:
            print(f"demo failed: {type(err).__name__}: {err}")
            raise SystemExit(1)
        print("per-key summary (. kept  x deleted  ? missing  ! differs):")
        for line in render_grid(state):
            print(line)
        print(f"summary digest: {summary_digest(state)}")
