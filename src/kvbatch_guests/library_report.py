"""A test guest: the kvbatch library inside a component, printing a per-key report.

One source, three builds (`kvbatch build library-report library-report-wasmtime
library-report-nobatch`): keyvalue draft2 (harness, Spin), draft (`wasmtime run -S keyvalue`)
and a world without `batch` (per-key fallback). For the same starting store all three print
the same report, except for the first line's mode.

Arguments: `[STORE] [SCENARIO]`. STORE defaults to `default` (the wasmtime CLI's in-memory
store is named ""). SCENARIO:

* `plain` (default): the library runs over the host's store as it is; faults, if any,
  come from the host (the harness's backends);
* `self-faults`: the library runs over a `kvbatch.testing.FaultyBucket` wrapped around the
  real bucket, with faults mid-batch (an opaque `set-many` error after two items, a key that
  never takes a write, in-doubt writes, one of them unreadable afterwards), so the same
  check runs under a host that cannot inject faults (the wasmtime CLI);
* `verbs [OTHER_STORE]`: the newer verbs on the host's real store: conditional writes
  (`only_if`) with a writer racing between the host's `cas` and `swap` and faults on both,
  `copy_many` (keep and overwrite, an opaque error mid-batch, into OTHER_STORE when given),
  `iter_set_many`/`iter_get_many`, the builder's `insert`/`update`, and `on_error`. Where the
  world has no `cas` (keyvalue draft) the conditional verbs must be refused with `Unsupported`.
  It checks each outcome against the store and ends with a `verbs check:` line.

After the batch the guest reads every key back through the plain bucket and checks the
report against the store (the semantics: `succeeded` holds the new value, `failed` and
`not_attempted` the old one, `unknown` either). It exits 1 if they disagree.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from wit_world import exports
from wit_world.imports import environment

import kvbatch
import kvbatch.testing
from kvbatch.raw import RawBucket, WitBucket

RECORDS = 12
CHUNK = 4
SCENARIOS = ("plain", "self-faults", "verbs")


def record_key(i: int) -> str:
    return f"rec:{i:02d}"


def record_value(i: int) -> bytes:
    return f"value {i:02d} ".encode() * 3


def with_faults(raw: RawBucket) -> kvbatch.testing.FaultyBucket:
    """The `self-faults` scenario's faults, around the real bucket."""
    faulty = kvbatch.testing.FaultyBucket(raw)
    faulty.fail("set_many", call=1, after=2)                                    # opaque, 2 of 4 applied
    faulty.fail("set_many", key="rec:05", times=None)                           # never takes a write:
    faulty.fail("set", key="rec:05", times=None, error=kvbatch.StoreError("disk full"))  # failed
    faulty.fail("set_many", key="rec:09")                                       # in doubt, readable:
    faulty.fail("set", key="rec:09", in_doubt=True, times=None)                 # verified -> succeeded
    faulty.fail("set_many", key="rec:10", times=None)                           # in doubt, unreadable:
    faulty.fail("set", key="rec:10", in_doubt=True, times=None)                 # -> unknown
    faulty.fail("get", key="rec:10", times=None)
    return faulty


def check_against_store(result: kvbatch.BatchResult, plain: RawBucket, before: Dict[str, Optional[bytes]],
                        wanted: Dict[str, bytes]) -> List[str]:
    """The keys whose reported outcome the store contradicts."""
    stored = dict(zip(wanted, plain.get_many(list(wanted))))
    wrong = []
    for key, status in result.outcomes().items():
        if status == "succeeded":
            ok = stored[key] == wanted[key]
        elif status == "unknown":
            ok = stored[key] in (before[key], wanted[key])
        else:
            ok = stored[key] == before[key]
        if not ok:
            wrong.append(key)
    return wrong


def report(store_name: str, scenario: str, say: Callable[[str], None]) -> bool:
    """Runs the scenario and prints the report; returns whether the report matched the store."""
    plain = WitBucket.open(store_name)
    raw: RawBucket = with_faults(plain) if scenario == "self-faults" else plain
    retry = kvbatch.RetryPolicy(attempts=2, base_delay=0.0, jitter=0.0)
    bucket = kvbatch.Bucket(raw, chunk_size=CHUNK, retry=retry)
    mode = "wasi:keyvalue/batch" if bucket.has_native_batch else "per-key store calls"
    say(f'kvbatch library report on store "{store_name}" ({mode}, scenario {scenario})')

    wanted = {record_key(i): record_value(i) for i in range(RECORDS)}
    before = dict(zip(wanted, plain.get_many(list(wanted))))
    result = bucket.set_many(wanted)
    say(f"set_many: {result.summary()}")
    for key, status in result.outcomes().items():
        error = result.error(key)
        say(f"  {key}  {status}" + (f"  {type(error).__name__}: {error}" if error is not None else ""))
    wrong = check_against_store(result, plain, before, wanted)
    say(f"store check: {len(wanted) - len(wrong)} of {len(wanted)} keys agree with the report"
        + (f"; DISAGREE: {', '.join(wrong)}" if wrong else ""))
    s = result.stats
    say(f"set_many stats: calls={s.calls} batch_calls={s.batch_calls} chunks={s.chunks} retries={s.retries} "
        f"attributed={s.attributed} verified={s.verified}")

    # The rest runs on the plain bucket: the other operations, the writer and the builder.
    bucket = kvbatch.Bucket(plain, chunk_size=CHUNK, retry=retry)
    got = bucket.get_many([*wanted, "absent", record_key(0)])
    matching = sum(1 for k, v in got.values.items() if v == wanted.get(k))
    say(f"get_many: {len(got.values)} found ({matching} as written), {len(got.missing)} missing, "
        f"{len(got.failed)} failed, duplicates {list(got.duplicates)}")
    # Deletes work on their own keys, so the store keeps what the report above says.
    bucket.set_many({"tmp:0": b"0", "tmp:1": b"1", "tmp:2": b"2"}).raise_for_failures()
    deleted = bucket.delete_many(["tmp:0", "tmp:1", "tmp:0"])
    say(f"delete_many: {deleted.summary()}, duplicates {list(deleted.duplicates)}")
    strict = bucket.delete_many(["tmp:0", "tmp:2"], missing_ok=False)
    say(f"delete_many missing_ok=False: succeeded {list(strict.succeeded)}, "
        f"failed {[f'{k} ({type(e).__name__})' for k, e in strict.failed.items()]}")
    there = bucket.exists_many(["tmp:0", "tmp:1", "tmp:2", record_key(3)])
    say(f"exists_many: {' '.join(f'{k}={v}' for k, v in there.items())}")
    with bucket.writer(flush_at=2) as w:
        w.set("w:a", b"1")
        w.set("w:a", b"2")
        w.set("w:b", b"3")
        w.delete("w:a")
    say(f"writer: {w.results.summary()} in {len(w.flushes)} flushes; "
        f"w:a={bucket.get('w:a')!r} w:b={bucket.get('w:b')!r}")
    ops = bucket.builder().get("b:x").set("b:x", b"new").get("b:x").delete("b:x").get("b:x").execute()
    say("builder: " + " | ".join(f"{r.index} {r.op} {r.key} {r.status}"
                                  + (f" {r.value!r}" if r.op == "get" else "") for r in ops))
    return not wrong



def verbs(store_name: str, other: Optional[str], say: Callable[[str], None]) -> bool:
    """The `verbs` scenario; returns whether every outcome matched the store."""
    plain = WitBucket.open(store_name)
    retry = kvbatch.RetryPolicy(attempts=2, base_delay=0.0, jitter=0.0)
    bucket = kvbatch.Bucket(plain, chunk_size=CHUNK, retry=retry)
    mode = "wasi:keyvalue/batch" if bucket.has_native_batch else "per-key store calls"
    say(f'kvbatch verbs on store "{store_name}" ({mode}, {"cas" if plain.has_cas else "no cas"})')
    wrong: List[str] = []
    errors: List[str] = []

    def on_error(key: str, index: int, error: kvbatch.KvError) -> None:
        errors.append(f"{index}:{key}:{type(error).__name__}")

    def expect(what: str, ok: bool) -> None:
        if not ok:
            wrong.append(what)

    def shown(result: kvbatch.BatchResult) -> str:
        return " ".join(f"{k}={s}" + (f"({type(result.error(k)).__name__})" if result.error(k) else "")
                        for k, s in result.outcomes().items())

    bucket.set_many({"v:old:0": b"old", "v:old:1": b"old", "v:src:0": b"s0", "v:src:1": b"s1", "v:src:2": b"s2",
                     "v:taken": b"old"}).raise_for_failures()

    # Conditional writes through the host's cas, a writer racing between check and swap, faults on both.
    faulty = kvbatch.testing.FaultyBucket(plain)
    faulty.before("swap", lambda: plain.set("v:race", b"theirs"), key="v:race")
    faulty.fail("swap", key="v:doubt", in_doubt=True)
    faulty.fail("cas", key="v:flaky")
    inserts = {"v:new:0": b"mine", "v:old:0": b"mine", "v:race": b"mine", "v:doubt": b"mine", "v:flaky": b"mine"}
    try:
        inserted = kvbatch.Bucket(faulty, chunk_size=CHUNK, retry=retry).set_many(inserts, only_if="absent",
                                                                                on_error=on_error)
    except kvbatch.Unsupported as err:
        say(f"set_many only_if=absent: refused: Unsupported: {err}")
        expect("refusal without cas", not plain.has_cas)
    else:
        say(f"set_many only_if=absent: {shown(inserted)}")
        for key, status in inserted.outcomes().items():
            expect(key, (plain.get(key) == inserts[key]) == (status == "succeeded"))
        expect("v:race kept", plain.get("v:race") == b"theirs" and inserted.outcome("v:race") == "failed")
        try:
            updated = bucket.set_many({"v:old:1": b"upd", "v:missing": b"upd"}, only_if="present", on_error=on_error)
        except kvbatch.Unsupported:
            expect("update refused", False)
        else:
            say(f"set_many only_if=present: {shown(updated)}")
            expect("v:old:1", plain.get("v:old:1") == b"upd" and plain.get("v:missing") is None)

    copies = [("v:src:0", "v:dst:0"), ("v:src:1", "v:taken"), ("v:nosrc", "v:dst:9")]
    try:
        copied = bucket.copy_many(copies, on_error=on_error)
    except kvbatch.Unsupported as err:
        say(f"copy_many: refused: Unsupported: {err}")
        expect("copy refusal without cas", not plain.has_cas)
    else:
        say(f"copy_many: {shown(copied)}")
        for src, dst in copies:
            value = plain.get(src)
            expect(dst, (value is not None and plain.get(dst) == value) == (copied.outcome(src) == "succeeded"))
        expect("v:taken kept", plain.get("v:taken") == b"old")

    opaque = kvbatch.testing.FaultyBucket(plain).fail("set_many", after=1)
    opaque.fail("set", key="v:ow:1", times=None)
    pairs = [("v:src:0", "v:ow:0"), ("v:src:1", "v:ow:1"), ("v:src:2", "v:ow:2")]
    over = kvbatch.Bucket(opaque, chunk_size=CHUNK, retry=retry).copy_many(pairs, overwrite=True, on_error=on_error)
    say(f"copy_many overwrite=True, opaque error after 1: {shown(over)}")
    for src, dst in pairs:
        expect(dst, (plain.get(dst) == plain.get(src)) == (over.outcome(src) == "succeeded"))
    if other:
        target = kvbatch.Bucket(WitBucket.open(other))
        across = bucket.copy_many([("v:src:0", "v:src:0"), ("v:src:1", "v:src:1")], to=target, overwrite=True)
        say(f"copy_many to {other!r}: {shown(across)}")
        expect("across", target.get("v:src:0") == b"s0" and target.get("v:src:1") == b"s1")

    written = list(bucket.iter_set_many(((f"v:s:{i:02d}", b"%d" % i) for i in range(10)), chunk_size=CHUNK))
    say(f"iter_set_many: chunks of {[r.total for r in written]}, {sum(len(r.succeeded) for r in written)} succeeded")
    stream = bucket.iter_get_many((f"v:s:{i:02d}" for i in range(10)), chunk_size=CHUNK)
    first = next(stream)
    stream.close()
    say(f"iter_get_many: first chunk {sorted(first.values)}, then closed")
    expect("iter", all(plain.get(f"v:s:{i:02d}") == b"%d" % i for i in range(10)) and len(first.values) == CHUNK)

    try:
        ops = (bucket.builder().insert("v:b", b"1").update("v:b", b"2").insert("v:b", b"3").update("v:nob", b"4")
               .execute(on_error=on_error))
    except kvbatch.Unsupported as err:
        say(f"builder: refused: Unsupported: {err}")
        expect("builder refusal without cas", not plain.has_cas)
    else:
        say("builder: " + " | ".join(f"{r.index} {r.op} {r.key} {r.status}" for r in ops))
        expect("builder", plain.get("v:b") == b"2" and plain.get("v:nob") is None)
    say(f"on_error: {' '.join(errors)}")
    say(f"verbs check: {'all outcomes agree with the store' if not wrong else 'DISAGREE: ' + ', '.join(wrong)}")
    return not wrong


class Run(exports.Run):
    """`wasi:cli/run`: prints the report; exits 1 if the report and the store disagree."""

    def run(self) -> None:
        args = environment.get_arguments()[1:]
        store_name = args[0] if args else "default"
        scenario = args[1] if len(args) > 1 else "plain"
        if scenario not in SCENARIOS:
            print(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
            raise SystemExit(2)
        try:
            if scenario == "verbs":
                agreed = verbs(store_name, args[2] if len(args) > 2 else None, print)
            else:
                agreed = report(store_name, scenario, print)
        except kvbatch.KvError as err:
            print(f"library report failed: {type(err).__name__}: {err}")
            raise SystemExit(1)
        if not agreed:
            raise SystemExit(1)
