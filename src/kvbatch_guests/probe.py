"""The probe guest: runs fixed key-value scenarios and prints what it observed, one JSON line each.

One source, two builds: `build/probe.wasm` (world `guest`, keyvalue draft2) and
`build/probe-draft.wasm` (world `guest-draft`, for `wasmtime run -S keyvalue`). The probe uses
the generated bindings directly, not the kvbatch library, so it observes exactly what the
host (or the provider component) answers.

Usage (arguments after the component path): `STORE [STEP ARG...]`

* `batch` (default): fault-free batch scenarios: set-many, get-many with missing and duplicate
  keys, last-value-wins, delete-many of missing and duplicate keys, empty batches, a large
  value, exists, increment, list-keys. Two runtimes that agree print the same lines.
* `list N`: writes N keys and lists them back page by page with the list-keys cursor.
* `cas KEY`: (draft2) a compare-and-swap that another write interrupts: the first swap must
  fail with `cas-failed`, the retry must succeed.
* `report N`: one set-many of N keys, then a per-key report of what the store holds.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any, List, Optional, Sequence, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import environment, store

try:
    from wit_world.imports import batch
except ImportError:  # the guest-nobatch world
    batch = None  # type: ignore[assignment]
try:
    from wit_world.imports import atomics
except ImportError:
    atomics = None  # type: ignore[assignment]

LARGE_VALUE_SIZE = 64 * 1024
LIST_CHUNK = 500
PREFIX = "probe:"


def emit(step: str, **fields: Any) -> None:
    print(json.dumps({"step": step, **fields}, sort_keys=True))
    sys.stdout.flush()


def describe_error(err: Any) -> str:
    """`other: message`, `access-denied` or `no-such-store` for a binding's error value."""
    value = getattr(err, "value", err)
    kind = type(value).__name__
    if kind.endswith("Other"):
        return f"other: {value.value}"
    if kind.endswith("AccessDenied"):
        return "access-denied"
    if kind.endswith("NoSuchStore"):
        return "no-such-store"
    return f"unrecognised: {value!r}"


def text(value: Optional[bytes]) -> Optional[str]:
    return None if value is None else value.decode("utf-8", "replace")


def entry_value(entry: Any) -> Optional[bytes]:
    """A get-many entry of either version as the value: draft `option<(k, v)>`, draft2 `(k, option<v>)`."""
    if entry is None:
        return None
    return entry[1]


class Probe:
    def __init__(self, bucket: store.Bucket) -> None:
        self.bucket = bucket

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        if batch is None:
            return [self.bucket.get(key) for key in keys]
        return [entry_value(entry) for entry in batch.get_many(self.bucket, list(keys))]

    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        if batch is None:
            for key, value in items:
                self.bucket.set(key, value)
        else:
            batch.set_many(self.bucket, list(items))

    def delete_many(self, keys: Sequence[str]) -> None:
        if batch is None:
            for key in keys:
                self.bucket.delete(key)
        else:
            batch.delete_many(self.bucket, list(keys))

    def list_all(self) -> Tuple[List[str], int]:
        """Every key, following the cursor; returns the keys in the order listed and the page count."""
        keys: List[str] = []
        cursor: Any = None
        pages = 0
        while True:
            response = self.bucket.list_keys(cursor)
            pages += 1
            keys.extend(response.keys)
            cursor = response.cursor
            if cursor is None:
                return keys, pages

    def step(self, name: str, fn: Any) -> None:
        try:
            emit(name, ok=True, observed=fn())
        except Err as err:
            emit(name, ok=False, error=describe_error(err))

    # -- the fault-free batch scenarios -------------------------------------------------

    def batch_scenarios(self) -> None:
        k = [PREFIX + name for name in ("a", "b", "c", "d", "e", "missing", "counter", "big")]
        a, b, c, d, e, missing, counter, big = k
        self.step("set-many three keys", lambda: self.set_many([(a, b"1"), (b, b"2"), (c, b"3")]))
        self.step("get-many present, missing and duplicate keys",
                  lambda: [text(v) for v in self.get_many([a, missing, c, a, b])])
        self.step("set-many duplicate key: last value wins",
                  lambda: self.set_many([(d, b"first"), (e, b"x"), (d, b"second")]))
        self.step("get-many after duplicates", lambda: [text(v) for v in self.get_many([d, e])])
        self.step("delete-many missing and duplicate keys", lambda: self.delete_many([b, missing, b, e]))
        self.step("get-many after delete-many", lambda: [text(v) for v in self.get_many([a, b, c, d, e])])
        self.step("get-many empty", lambda: self.get_many([]))
        self.step("set-many empty", lambda: self.set_many([]))
        self.step("delete-many empty", lambda: self.delete_many([]))
        payload = bytes(i % 251 for i in range(LARGE_VALUE_SIZE))
        self.step("set-many large value", lambda: self.set_many([(big, payload)]))
        self.step("get-many large value", lambda: [
            {"size": len(v), "sha256": hashlib.sha256(v).hexdigest()[:16]} if v is not None else None
            for v in self.get_many([big, missing])
        ])
        self.step("exists", lambda: [self.bucket.exists(a), self.bucket.exists(b)])
        if atomics is not None:
            self.step("increment twice", lambda: [atomics.increment(self.bucket, counter, 5),
                                                  atomics.increment(self.bucket, counter, 5)])
            self.step("counter value", lambda: text(self.bucket.get(counter)))
        self.step("list-keys with the prefix", lambda: sorted(key for key in self.list_all()[0] if key.startswith(PREFIX)))
        self.step("delete-many everything", lambda: self.delete_many(k))
        self.step("list-keys after cleanup", lambda: sorted(key for key in self.list_all()[0] if key.startswith(PREFIX)))

    # -- other steps --------------------------------------------------------------------

    def list_scenario(self, count: int) -> None:
        keys = [f"{PREFIX}list:{i:06d}" for i in range(count)]
        for start in range(0, count, LIST_CHUNK):
            self.set_many([(key, b"v") for key in keys[start : start + LIST_CHUNK]])
        listed, pages = self.list_all()
        mine = [key for key in listed if key.startswith(PREFIX + "list:")]
        emit("list", ok=True, observed={
            "written": count, "listed": len(mine), "distinct": len(set(mine)), "pages": pages,
            "missing": len(set(keys) - set(mine)),
        })

    def cas_scenario(self, key: str) -> None:
        if atomics is None or not hasattr(atomics, "Cas"):
            emit("cas", ok=False, error="this keyvalue version has no cas")
            return
        self.bucket.set(key, b"v0")
        cas = atomics.Cas.new(self.bucket, key)
        emit("cas current", ok=True, observed=text(cas.current()))
        self.bucket.set(key, b"intruder")  # another writer intervenes
        try:
            atomics.swap(cas, b"mine")
            emit("cas swap after intervening write", ok=True, observed="swapped")
            return
        except Err as err:
            failure = err.value
            if not isinstance(failure, atomics.CasError_CasFailed):
                emit("cas swap after intervening write", ok=False, error=describe_error(failure.value))
                return
            emit("cas swap after intervening write", ok=False, error="cas-failed")
            retry = failure.value
        emit("cas current on retry", ok=True, observed=text(retry.current()))
        self.step("cas retry swap", lambda: atomics.swap(retry, b"mine"))
        emit("cas final value", ok=True, observed=text(self.bucket.get(key)))

    def report_scenario(self, count: int) -> None:
        """One set-many, then each key's state as read back: the per-key report."""
        keys = [f"{PREFIX}report:{i:03d}" for i in range(count)]
        new = {key: f"new-{i}".encode() for i, key in enumerate(keys)}
        before = dict(zip(keys, self.get_many(keys)))
        outcome = "ok"
        try:
            self.set_many(list(new.items()))
        except Err as err:
            outcome = f"err {describe_error(err)}"
        print(f"probe report: set-many of {count} keys -> {outcome}")
        after = dict(zip(keys, self.get_many(keys)))
        written = 0
        for key in keys:
            if after[key] == new[key]:
                state = "written"
                written += 1
            elif after[key] == before[key]:
                state = "not written"
            else:
                state = "THIRD STATE"
            print(f"  {key}  {state}")
        print(f"probe report: {written} written, {count - written} not written")


class Run(exports.Run):
    def run(self) -> None:
        args = environment.get_arguments()[1:]
        store_name = args[0] if args else "default"
        step = args[1] if len(args) > 1 else "batch"
        try:
            probe = Probe(store.open(store_name))
        except Err as err:
            emit("open", ok=False, error=describe_error(err))
            raise SystemExit(1)
        try:
            if step == "batch":
                probe.batch_scenarios()
            elif step == "list":
                probe.list_scenario(int(args[2]) if len(args) > 2 else 2500)
            elif step == "cas":
                probe.cas_scenario(args[2] if len(args) > 2 else PREFIX + "cas")
            elif step == "report":
                probe.report_scenario(int(args[2]) if len(args) > 2 else 5)
            else:
                print(f"probe: unknown step {step!r}; expected batch, list, cas or report")
                raise SystemExit(2)
        except Err as err:
            emit(step, ok=False, error=describe_error(err))
            raise SystemExit(1)
