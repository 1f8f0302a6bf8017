"""The kvbatch library inside components: the library-report guest under the harness (with a
fault injected mid-batch by the backend) and under the real wasmtime CLI (draft bindings).

The guest prints one line per key (`  rec:NN  STATUS[  ERROR]`); these tests hold that report
against what the backend actually holds afterwards.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, Sequence

import pytest

from kvbatch_host.backends import Backend, MemoryBackend
from kvbatch_host import HostKvError
from kvbatch_host.runner import Harness, RunResult
from kvbatch_host import StoreRegistry

pytestmark = pytest.mark.component

RECORDS = 12
LINE = re.compile(r"^  (rec:\d\d)  (succeeded|failed|unknown|not_attempted)(?:  (.*))?$", re.M)


def record_value(i: int) -> bytes:
    """What the guest writes at rec:NN (src/kvbatch_guests/library_report.py)."""
    return f"value {i:02d} ".encode() * 3


class FlakyBackend(MemoryBackend):
    """A memory backend whose `fail_at`-th `set` fails once before writing, whose `broken` keys
    never take a write, and whose `in_doubt` keys are written and then answered with an error.

    `set_many` goes key by key and stops at the first error, as a store without a native
    multi-key write would; the guest sees one opaque `err` for the whole call.
    """

    def __init__(self, fail_at: int = 0, broken: Sequence[str] = (), in_doubt: Sequence[str] = ()) -> None:
        super().__init__()
        self.fail_at, self.broken, self.in_doubt = fail_at, set(broken), set(in_doubt)
        self.sets = 0

    def set(self, store: str, key: str, value: bytes) -> None:
        self.sets += 1
        if self.sets == self.fail_at or key in self.broken:
            raise HostKvError("other", f"disk full at {key}")
        super().set(store, key, value)
        if key in self.in_doubt:
            raise HostKvError("other", f"connection lost after writing {key}")

    def set_many(self, store: str, items: Sequence[tuple[str, bytes]]) -> None:
        Backend.set_many(self, store, items)


def statuses(report: str) -> Dict[str, str]:
    return {key: status for key, status, _ in LINE.findall(report)}


def assert_report_matches_backend(report: str, backend: MemoryBackend, store: str = "default") -> Dict[str, str]:
    """The library's promise, checked on the host: succeeded → new value; failed → old (none: fresh store)."""
    states = statuses(report)
    assert sorted(states) == [f"rec:{i:02d}" for i in range(RECORDS)], report
    stored = dict(backend.all_items(store))
    for key, status in states.items():
        new = record_value(int(key[4:]))
        if status == "succeeded":
            assert stored.get(key) == new, (key, report)
        elif status in ("failed", "not_attempted"):
            assert key not in stored, (key, report)
        else:
            assert stored.get(key) in (None, new), (key, report)
    assert f"store check: {RECORDS} of {RECORDS} keys agree with the report" in report
    return states


def run(harness: Harness, wasm: Path, args: Sequence[str]) -> RunResult:
    result = harness.run_command(wasm, list(args), capture=True)
    assert result.trap is None, result.trap
    return result


@pytest.mark.parametrize("batch", ["native", "provider"])
def test_report_matches_the_store_after_a_backend_fault_mid_batch(harness_for, built, batch):
    backend = FlakyBackend(fail_at=6, broken=["rec:07"], in_doubt=["rec:10"])
    result = run(harness_for(backend, batch=batch), built("library-report"), ["default", "plain"])
    assert result.exit_code == 0, result.stdout + result.stderr
    states = assert_report_matches_backend(result.stdout, backend)
    assert [k for k, s in states.items() if s != "succeeded"] == ["rec:07"]
    assert "  rec:07  failed  StoreError: disk full at rec:07" in result.stdout
    assert "attributed=0" not in result.stdout  # the opaque error was attributed key by key


def test_report_matches_the_store_with_faults_injected_inside_the_component(harness_for, built):
    backend = MemoryBackend()
    result = run(harness_for(backend, batch="native"), built("library-report"), ["default", "self-faults"])
    assert result.exit_code == 0, result.stdout + result.stderr
    states = assert_report_matches_backend(result.stdout, backend)
    assert states["rec:05"] == "failed" and states["rec:10"] == "unknown"
    assert sum(1 for s in states.values() if s == "succeeded") == RECORDS - 2


def test_without_a_batch_import_the_library_falls_back_to_per_key_calls(harness_for, built):
    backend = FlakyBackend(broken=["rec:03"])
    result = run(harness_for(backend, batch="none"), built("library-report-nobatch"), ["default"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "(per-key store calls, scenario plain)" in result.stdout
    assert "batch_calls=0" in result.stdout
    states = assert_report_matches_backend(result.stdout, backend)
    assert [k for k, s in states.items() if s != "succeeded"] == ["rec:03"]


def test_a_store_the_component_may_not_open_raises_access_denied(built):
    registry = StoreRegistry(allowed={"other"}).add("default", MemoryBackend())
    result = run(Harness(registry, batch="native"), built("library-report"), ["default"])
    assert result.exit_code == 1
    assert "library report failed: AccessDenied" in result.stdout


@pytest.mark.wasmtime_cli
@pytest.mark.parametrize("scenario", ["plain", "self-faults"])
def test_draft_build_under_the_wasmtime_cli_prints_the_harness_report(built, wasmtime_cli, harness_for, scenario):
    cli = subprocess.run([wasmtime_cli, "run", "-S", "keyvalue", str(built("library-report-wasmtime")), "", scenario],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    backend = MemoryBackend()
    harness = run(harness_for(backend, batch="provider", store=""), built("library-report"), ["", scenario])
    assert harness.exit_code == 0, harness.stdout
    assert cli.stdout == harness.stdout
    assert_report_matches_backend(harness.stdout, backend, store="")
    assert f"store check: {RECORDS} of {RECORDS} keys agree" in cli.stdout


# -- the newer verbs (scenario `verbs`): conditional writes, copy_many, streaming, on_error ----------

VERBS_OK = "verbs check: all outcomes agree with the store"


class CasFailingBackend(MemoryBackend):
    """A memory backend whose compare-and-swap on `broken` keys answers an error without writing."""

    def __init__(self, broken: Sequence[str] = ()) -> None:
        super().__init__()
        self.broken = set(broken)
        self.swaps = 0

    def compare_and_swap(self, store: str, key: str, expected, value: bytes) -> bool:  # type: ignore[no-untyped-def]
        self.swaps += 1
        if key in self.broken:
            raise HostKvError("other", f"cas failed at {key}")
        return super().compare_and_swap(store, key, expected, value)


def verbs_line(report: str, prefix: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(prefix))


@pytest.mark.parametrize("batch", ["native", "provider"])
def test_conditional_writes_and_copies_in_a_component_never_clobber_a_racing_writer(harness_for, built, batch):
    backend = CasFailingBackend()
    result = run(harness_for(backend, batch=batch), built("library-report"), ["default", "verbs"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert VERBS_OK in result.stdout and "(wasi:keyvalue/batch, cas)" in result.stdout
    stored = dict(backend.all_items("default"))
    assert stored["v:race"] == b"theirs" and stored["v:old:0"] == b"old"  # the host's cas kept them
    assert stored["v:taken"] == b"old" and stored["v:dst:0"] == b"s0" and "v:dst:9" not in stored
    assert verbs_line(result.stdout, "set_many only_if=absent:") == (
        "set_many only_if=absent: v:new:0=succeeded v:old:0=failed(KeyExists) v:race=failed(KeyExists) "
        "v:doubt=unknown(StoreError) v:flaky=succeeded")  # its swap erred after writing: no proof it was ours
    assert backend.swaps > 0


def test_a_host_cas_that_fails_leaves_the_key_unwritten_and_reported_failed(harness_for, built):
    backend = CasFailingBackend(broken=["v:new:0", "v:dst:0"])
    result = run(harness_for(backend, batch="native"), built("library-report"), ["default", "verbs"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert VERBS_OK in result.stdout
    assert "v:new:0=failed(StoreError)" in result.stdout and "v:src:0=failed(StoreError)" in result.stdout
    stored = dict(backend.all_items("default"))
    assert "v:new:0" not in stored and "v:dst:0" not in stored


def test_copy_many_in_a_component_copies_into_another_store(built):
    here, there = MemoryBackend(), MemoryBackend()
    registry = StoreRegistry().add("default", here).add("backup", there)
    result = run(Harness(registry, batch="native"), built("library-report"), ["default", "verbs", "backup"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "copy_many to 'backup': v:src:0=succeeded v:src:1=succeeded" in result.stdout
    assert dict(there.all_items("backup")) == {"v:src:0": b"s0", "v:src:1": b"s1"}


def test_the_newer_verbs_work_without_a_batch_import(harness_for, built):
    backend = MemoryBackend()
    result = run(harness_for(backend, batch="none"), built("library-report-nobatch"), ["default", "verbs"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "(per-key store calls, cas)" in result.stdout and VERBS_OK in result.stdout
    assert dict(backend.all_items("default"))["v:race"] == b"theirs"


@pytest.mark.wasmtime_cli
def test_without_cas_the_wasmtime_cli_build_refuses_conditional_verbs_and_copies_with_overwrite(built, wasmtime_cli):
    cli = subprocess.run([wasmtime_cli, "run", "-S", "keyvalue", str(built("library-report-wasmtime")), "", "verbs"],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "(wasi:keyvalue/batch, no cas)" in cli.stdout and VERBS_OK in cli.stdout
    for verb in ("set_many only_if=absent", "copy_many", "builder"):
        assert f"{verb}: refused: Unsupported: " in cli.stdout, verb
    assert "copy_many overwrite=True, opaque error after 1: v:src:0=succeeded v:src:1=failed(StoreError) " \
           "v:src:2=succeeded" in cli.stdout
