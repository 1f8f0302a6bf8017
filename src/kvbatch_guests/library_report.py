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
  check runs under a host that cannot inject faults (the wasmtime CLI).

After the batch the guest reads every key back through the plain bucket and checks the
report against the store (DESIGN.md: `succeeded` holds the new value, `failed` and
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
SCENARIOS = ("plain", "self-faults")


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
            agreed = report(store_name, scenario, print)
        except kvbatch.KvError as err:
            print(f"library report failed: {type(err).__name__}: {err}")
            raise SystemExit(1)
        if not agreed:
            raise SystemExit(1)
