"""The benchmark guest: times `set-many`, `get-many` and `delete-many` from inside the component.

One source, two builds: `build/bench.wasm` (world `guest`, keyvalue draft2, for the harness)
and `build/bench-wasmtime.wasm` (world `guest-draft`, for `wasmtime run -S keyvalue`), so every
path is timed by the same code with the same clock (`wasi:clocks/monotonic-clock`).

Arguments (after the component path):

    STORE KEYS VALUE_BYTES [MODE [REPEAT [CHUNK]]]

* MODE `batch` (default) calls `wasi:keyvalue/batch`; `per-key` makes one `store` call per key;
  `library` times `kvbatch.Bucket`'s `set_many` + `get_many` + `delete_many` (chunks of CHUNK
  keys) against the bare generated bindings in chunks of CHUNK, interleaved in this one instance;
  `library-per-key` the same over a bucket without `batch` (one `store` call per key) against
  bare per-key `store` calls;
* REPEAT (default 1) runs the three phases that many times in this one instance;
* CHUNK (default: all keys in one call; 100 in the library modes) splits each batch into calls
  of at most CHUNK keys.

Prints one JSON line: `{"keys": .., "value_bytes": .., "mode": .., "calls": .., "set_many_s": [..],
"get_many_s": [..], "delete_many_s": [..], "verified": true}`. `verified` says every value read
back equalled the value written and every key was gone after `delete-many`. In the library modes
the phases are the library's and `"raw": {"set_many_s": [..], ...}` holds the bare bindings'.
Keys are `bench:00000000`...; values are deterministic bytes derived from the key's index.
"""

from __future__ import annotations

import json
import time
from typing import List, Optional, Sequence, Tuple

from wit_world import exports
from wit_world.imports import environment

import kvbatch
from kvbatch.errors import KvError
from kvbatch.raw import WitBucket

from componentize_py_types import Err
from wit_world.imports import store as wit_store

try:
    from wit_world.imports import batch as wit_batch
except ImportError:  # a world without batch (bench-nobatch)
    wit_batch = None  # type: ignore[assignment]

MODES = ("batch", "per-key", "library", "library-per-key")
LIBRARY_CHUNK = 100
"""Keys per call in the library modes, for the library and the bare bindings alike."""
USAGE = "usage: bench STORE KEYS VALUE_BYTES [batch|per-key|library|library-per-key [REPEAT [CHUNK]]]"


def bench_key(i: int) -> str:
    return f"bench:{i:08d}"


def bench_value(i: int, size: int) -> bytes:
    """`size` bytes that differ from key to key (so a mixed-up answer is caught)."""
    if size == 0:
        return b""
    seed = i.to_bytes(4, "little") + b"kvbatch-bench"
    return (seed * (size // len(seed) + 1))[:size]


def _chunks(items: Sequence, size: int) -> List[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items]


def run_bench(bucket: WitBucket, keys: int, value_bytes: int, repeat: int = 1, chunk: Optional[int] = None) -> dict:
    """Runs set-many, get-many and delete-many of `keys` × `value_bytes`, `repeat` times."""
    names = [bench_key(i) for i in range(keys)]
    items: List[Tuple[str, bytes]] = [(name, bench_value(i, value_bytes)) for i, name in enumerate(names)]
    size = chunk or max(keys, 1)
    item_parts = _chunks(items, size)
    key_parts = _chunks(names, size)
    report: dict = {"keys": keys, "value_bytes": value_bytes, "calls": len(key_parts),
                    "set_many_s": [], "get_many_s": [], "delete_many_s": []}
    verified = True
    for _ in range(repeat):
        started = time.perf_counter()
        for part in item_parts:
            bucket.set_many(part)
        set_done = time.perf_counter()
        got: List[Optional[bytes]] = []
        for part in key_parts:
            got.extend(bucket.get_many(part))
        get_done = time.perf_counter()
        for part in key_parts:
            bucket.delete_many(part)
        delete_done = time.perf_counter()
        report["set_many_s"].append(set_done - started)
        report["get_many_s"].append(get_done - set_done)
        report["delete_many_s"].append(delete_done - get_done)
        verified = verified and got == [value for _name, value in items]
        if names:
            verified = verified and bucket.get_many(names[:1] + names[-1:]) == [None, None]
    report["verified"] = verified
    return report


def _raw_phases(handle: object, names: List[str], items: List[Tuple[str, bytes]], size: int,
                per_key: bool) -> Tuple[float, float, float, List[Optional[bytes]]]:
    """The three phases through the bare generated bindings: `batch` calls of `size` keys, or one
    `store` call per key; the seconds of each and the values read."""
    got: List[object] = []
    started = time.perf_counter()
    if per_key:
        for key, value in items:
            handle.set(key, value)  # type: ignore[attr-defined]
        set_done = time.perf_counter()
        for key in names:
            got.append(handle.get(key))  # type: ignore[attr-defined]
        get_done = time.perf_counter()
        for key in names:
            handle.delete(key)  # type: ignore[attr-defined]
    else:
        for i in range(0, len(items), size):
            wit_batch.set_many(handle, items[i:i + size])
        set_done = time.perf_counter()
        for i in range(0, len(names), size):
            got.extend(wit_batch.get_many(handle, names[i:i + size]))
        get_done = time.perf_counter()
        for i in range(0, len(names), size):
            wit_batch.delete_many(handle, names[i:i + size])
    done = time.perf_counter()
    if not per_key:  # draft: option<(key, value)>; draft2: (key, option<value>)
        got = [None if entry is None else entry[1] for entry in got]  # type: ignore[index]
    return set_done - started, get_done - set_done, done - get_done, got  # type: ignore[return-value]


def run_library_bench(store: str, keys: int, value_bytes: int, repeat: int, chunk: Optional[int],
                      per_key: bool) -> dict:
    """`kvbatch.Bucket` against the bare bindings on the same keys, interleaved `repeat` times."""
    size = chunk or LIBRARY_CHUNK
    names = [bench_key(i) for i in range(keys)]
    items: List[Tuple[str, bytes]] = [(name, bench_value(i, value_bytes)) for i, name in enumerate(names)]
    values = [value for _name, value in items]
    try:
        handle = wit_store.open(store)
    except Err as err:
        raise KvError(f"cannot open store {store!r}: {err.value}") from None
    bucket = kvbatch.Bucket(WitBucket(handle, store, None if per_key else wit_batch, Err), chunk_size=size)
    report: dict = {"keys": keys, "value_bytes": value_bytes, "calls": -(-keys // size),
                    "set_many_s": [], "get_many_s": [], "delete_many_s": [],
                    "raw": {"set_many_s": [], "get_many_s": [], "delete_many_s": []}}
    verified = True
    for _ in range(repeat):
        set_s, get_s, delete_s, got = _raw_phases(handle, names, items, size, per_key)
        for phase, seconds in zip(("set_many_s", "get_many_s", "delete_many_s"), (set_s, get_s, delete_s)):
            report["raw"][phase].append(seconds)
        verified = verified and got == values
        started = time.perf_counter()
        written = bucket.set_many(items)
        set_done = time.perf_counter()
        read = bucket.get_many(names)
        get_done = time.perf_counter()
        deleted = bucket.delete_many(names)
        delete_done = time.perf_counter()
        report["set_many_s"].append(set_done - started)
        report["get_many_s"].append(get_done - set_done)
        report["delete_many_s"].append(delete_done - get_done)
        verified = (verified and written.all_succeeded and read.all_succeeded and deleted.all_succeeded
                    and [read.values.get(name) for name in names] == values)
        if names:
            verified = verified and bucket.get_many(names[:1] + names[-1:]).missing == (names[0], names[-1])
    report["verified"] = verified
    return report


def parse_args(args: Sequence[str]) -> Tuple[str, int, int, str, int, Optional[int]]:
    """The benchmark's arguments, or `ValueError` naming the one that is wrong."""
    if len(args) < 3:
        raise ValueError(USAGE)
    store, keys, value_bytes = args[0], int(args[1]), int(args[2])
    mode = args[3] if len(args) > 3 else "batch"
    repeat = int(args[4]) if len(args) > 4 else 1
    chunk = int(args[5]) if len(args) > 5 else None
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if keys < 0 or value_bytes < 0 or repeat < 1 or (chunk is not None and chunk < 1):
        raise ValueError("KEYS and VALUE_BYTES must be >= 0, REPEAT and CHUNK >= 1")
    return store, keys, value_bytes, mode, repeat, chunk


class Run(exports.Run):
    """`wasi:cli/run`: runs the benchmark and prints its JSON line."""

    def run(self) -> None:
        try:
            store, keys, value_bytes, mode, repeat, chunk = parse_args(environment.get_arguments()[1:])
        except ValueError as err:
            print(f"bench: {err}")
            raise SystemExit(2)
        try:
            if mode.startswith("library"):
                per_key = mode == "library-per-key" or wit_batch is None
                report = run_library_bench(store, keys, value_bytes, repeat, chunk, per_key)
                report["mode"] = "library-per-key" if per_key else "library"
            else:
                bucket = WitBucket.open(store, use_batch=mode == "batch")
                report = run_bench(bucket, keys, value_bytes, repeat, chunk)
                report["mode"] = mode if bucket.has_native_batch or mode == "per-key" else "per-key"
        except KvError as err:
            print(f"bench failed: {type(err).__name__}: {err}")
            raise SystemExit(1)
        print(json.dumps(report, sort_keys=True))
