"""Every command-line error is one line, `kvbatch: ...`, exit status 2, never a traceback.

The fuzz test drives every subcommand the parser has with hostile arguments, files and URLs
(in process, so it is fast); the others pin the pieces: the one wrapper, the trap's cause,
store and event-log files that cannot be used, Redis URLs, fault plans."""

from __future__ import annotations

import argparse
import json
import os
import socket
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from kvbatch_host import cli
from kvbatch_host.backends import open_backend
from kvbatch_host.cli_errors import describe, guarded, one_line, trap_summary
from kvbatch_host import ConfigError
from kvbatch_host import EventLog
from kvbatch_host.faults import MAX_RULE_POSITIONS, FaultPlan, FaultPlanError, parse_rule


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_main(argv: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, argv: List[str]) -> None:
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kvbatch: "), (argv, err)


@pytest.fixture
def hostile(tmp_path: Path) -> Dict[str, str]:
    """Files and URLs a careless or hostile user might pass."""
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "a-file").write_text("plain text\n")
    (tmp_path / "random.db").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "corrupt.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    (tmp_path / "latin1.json").write_bytes(b'[{"op": "set", "error": "other:caf\xe9"}]')
    (tmp_path / "latin1.toml").write_bytes(b'[[fault]]\nop = "set"\nerror = "other:caf\xe9"\n')
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "deep.toml").write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "nan.json").write_text('[{"op": "get", "latency": NaN}]')
    (tmp_path / "inf.json").write_text('[{"op": "get", "latency": 1e999}]')
    (tmp_path / "nan.toml").write_text('[[fault]]\nop = "get"\nlatency = nan\n')
    (tmp_path / "wide.json").write_text(json.dumps([{"position": "|".join(f"{i}0000000-{i}9999999" for i in range(10)),
                                                     "error": "other"}]))
    (tmp_path / "not-wasm.wasm").write_text("(module)")
    os.mkfifo(tmp_path / "a-fifo")  # opening it for reading would block forever
    with open(tmp_path / "huge.json", "wb") as huge:
        huge.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of zeros, no disk used
    return {
        "fifo": str(tmp_path / "a-fifo"),
        "huge": str(tmp_path / "huge.json"),
        "dir": str(tmp_path / "a-directory"),
        "under-file": str(tmp_path / "a-file" / "below.x"),
        "missing": str(tmp_path / "missing" / "nothing.json"),
        "proc": "/proc/kvbatch-nope/x",
        "file": str(tmp_path / "a-file"),
        "random": str(tmp_path / "random.db"),
        "corrupt": str(tmp_path / "corrupt.db"),
        "not-wasm": str(tmp_path / "not-wasm.wasm"),
        **{name: str(tmp_path / name) for name in ("latin1.json", "latin1.toml", "deep.json", "deep.toml", "nan.json",
                                                   "inf.json", "nan.toml", "wide.json")},
        "redis-down": f"redis://127.0.0.1:{free_port()}/0",
    }


def store_urls(h: Dict[str, str]) -> List[str]:
    return [f"sqlite:{h['dir']}", f"sqlite:{h['random']}", f"sqlite:{h['corrupt']}", f"sqlite:{h['under-file']}",
            f"sqlite://{h['proc']}", "sqlite:///dev/full", "sqlite:", "sqlite://host/x", "redis://[::1/0",
            "redis://127.0.0.1:1/abc", "redis://127.0.0.1:1/l", "redis://127.0.0.1:1/1/2", "redis://127.0.0.1:99999/0",
            "redis://127.0.0.1:1/٣", h["redis-down"], "bogus://", "", "name=", "\x00"]


def plan_files(h: Dict[str, str]) -> List[str]:
    return [h[n] for n in ("dir", "under-file", "missing", "proc", "file", "random", "latin1.json", "latin1.toml",
                           "deep.json", "deep.toml", "nan.json", "inf.json", "nan.toml", "wide.json")] + [
        "/dev/full", "/dev/zero", h["fifo"], h["huge"]]


def hostile_values(h: Dict[str, str]) -> Dict[str, List[str]]:
    """Hostile values for each option (by `dest`) of every subcommand; each must be refused."""
    paths = [h["dir"], h["under-file"], h["proc"]]
    return {
        "store": store_urls(h),
        "runtime_config": plan_files(h),
        "fault": ["", "op=set", "op=set,latency=nan", "op=set,latency=inf", "position=0-9999999|1-2,error=other",
                  "nth=٣,error=other", "op=set,error=bogus", 'key="unclosed', "op=set,position=²,error=other"],
        "fault_file": plan_files(h),
        "events": paths,
        "batch": ["", "bogus", "NATIVE"],
        "large_value_size": ["-1", "0", "x", "1e3", "99999999999", "²"],
        "batch_size": ["-1", "x", "5000", "²"],
        "json_path": paths,
        "plots_dir": [h["under-file"], h["proc"]],
        "repeat": ["0", "-1", "x", "²"],
        "provider": [h["missing"], h["dir"], h["not-wasm"]],
        "output": [h["dir"], h["under-file"], h["proc"]],
    }


def positional_sets(h: Dict[str, str]) -> Dict[str, List[List[str]]]:
    components = [[h["missing"]], [h["dir"]], [h["not-wasm"]], [h["file"]], ["/dev/null"], [h["proc"]]]
    out = ["-o", str(Path(h["dir"]) / "out.wasm")]
    return {"build": [["nope"], ["../provider"], [""]], "run": components, "check": components,
            "compose": [[*c, *out] for c in components]}


def subcommands() -> Dict[str, argparse.ArgumentParser]:
    for action in cli.parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the CLI has no subcommands")


# Options whose hostile values are only refused after real work (building every component)
# are driven through the subcommand that shares their code without that work: demo = run.
WORK_FIRST = {"demo"}


def fuzz_cases(h: Dict[str, str]) -> List[List[str]]:
    cases: List[List[str]] = []
    values = hostile_values(h)
    positionals = positional_sets(h)
    for name, sub in subcommands().items():
        cases.append([name, "--no-such-option"])
        cases.append([name, "--store"] if any("--store" in a.option_strings for a in sub._actions) else [name, "-Z"])
        for args in positionals.get(name, []):
            cases.append([name, *args])
        if name in WORK_FIRST:
            continue
        base = {"run": [h["missing"]], "check": ["--native"], "compose": [h["not-wasm"], "-o", "x.wasm"]}.get(name, [])
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0 or action.dest not in values:
                continue
            for value in values[action.dest]:
                cases.append([name, *base, action.option_strings[0], value])
    return cases


def test_the_fuzz_covers_every_subcommand_and_every_option_it_knows(hostile):
    cases = fuzz_cases(hostile)
    assert {case[0] for case in cases} == set(subcommands())
    run_options = {case[2] for case in cases if case[0] == "run" and len(case) > 3}
    assert {"--store", "--runtime-config", "--fault", "--fault-file", "--events", "--batch"} <= run_options
    assert len(cases) > 100


def test_every_subcommand_answers_hostile_arguments_files_and_urls_with_one_line_and_exit_2(hostile, capsys):
    for argv in fuzz_cases(hostile):
        code, _out, err = run_main(argv, capsys)
        assert_one_line_error(code, err, argv)


@pytest.mark.parametrize("which", ["random", "corrupt", "dir", "under-file"])
def test_check_on_a_store_that_is_not_a_database_names_the_store(hostile, capsys, which):
    code, _out, err = run_main(["check", "--native", "--store", f"sqlite:{hostile[which]}"], capsys)
    assert_one_line_error(code, err, [which])
    assert "sqlite store" in err


def test_check_with_redis_down_is_one_line_naming_the_url(hostile, capsys):
    code, _out, err = run_main(["check", "--native", "--store", hostile["redis-down"]], capsys)
    assert_one_line_error(code, err, ["redis-down"])
    assert hostile["redis-down"] in err and "cannot connect" in err


def test_the_wrapper_maps_any_error_of_a_new_subcommand_to_one_line(capsys):
    def new_subcommand(args: argparse.Namespace) -> int:
        open("/proc/kvbatch-nope/file", "w")
        return 0

    assert guarded(new_subcommand, argparse.Namespace()) == 2
    assert capsys.readouterr().err == "kvbatch: '/proc/kvbatch-nope/file': No such file or directory\n"


@pytest.mark.parametrize("error, expected", [
    (ConfigError("store 'x' is configured twice"), "store 'x' is configured twice"),
    (RecursionError(), "nested too deeply"),
    (b"\xff".decode("utf-8", "replace") and UnicodeDecodeError("utf-8", b"ab\xff", 2, 3, "invalid start byte"),
     "not UTF-8 text: byte b'\\xff' at offset 2"),
    (IsADirectoryError(21, "Is a directory", "/tmp"), "'/tmp': Is a directory"),
    (MemoryError(), "out of memory"),
    (TypeError("boom\nsecond line"), "internal error: TypeError: boom second line"),
])
def test_describe_gives_one_line_naming_the_problem(error, expected):
    message = describe(error)
    assert message is not None and expected in message and "\n" not in message


def test_usage_errors_are_one_line_naming_the_subcommand(capsys):
    code, _out, err = run_main(["run", "x.wasm", "--batch", "bogus"], capsys)
    assert code == 2 and err == ("kvbatch: argument --batch: invalid choice: 'bogus' (choose from 'native', 'provider', "
                                 "'none') (see kvbatch run --help)\n")


TRAP = """error while executing at wasm backtrace:
    0: 0x1d4a2f - libpython3.14.so!_PyEval_EvalFrameDefault
    1: 0x1c8e1 - <unknown>!wit-component:shim!indirect-wasi:keyvalue/store@0.2.0-draft2-[method]bucket.set
note: using the `WASMTIME_BACKTRACE_DETAILS=1` environment variable may show more debugging information

Caused by:
    kvbatch fault: host crashed (op=set key='probe:report:001')"""


def test_trap_summary_keeps_the_first_line_and_the_cause_without_frames():
    assert trap_summary(TRAP) == ("error while executing at wasm backtrace: kvbatch fault: host crashed "
                                  "(op=set key='probe:report:001')")


def test_trap_summary_of_a_fuel_trap_names_the_fuel():
    trap = ("error while executing at wasm backtrace:\n    0: 0x1 - x!y\n\nCaused by:\n"
            "    fuel allocated for hostcalls has been exhausted")
    assert trap_summary(trap).endswith("fuel allocated for hostcalls has been exhausted")


def test_one_line_flattens_and_bounds_text():
    assert one_line("a\n  b\tc") == "a b c"
    assert len(one_line("x" * 5000)) == 600


# -- event logs -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["dir", "under-file", "proc"])
def test_an_event_log_that_cannot_be_opened_is_a_config_error_naming_it(hostile, which):
    with pytest.raises(ConfigError, match="event log .*cannot open it for writing"):
        EventLog.to_file(hostile[which])


def test_an_event_log_on_a_full_disk_keeps_recording_and_fails_at_close_naming_the_file():
    log = EventLog.to_file("/dev/full")
    for i in range(3):
        log.record("set", "default", key=f"k{i}", applied=True, result="ok")  # never raises into the operation
    assert len(log) == 3
    with pytest.raises(ConfigError, match=r"event log '/dev/full': cannot write it \(No space left on device\)"):
        log.close()


# -- stores -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which, reason", [
    ("dir", "is a directory"), ("random", "file is not a database"), ("corrupt", "file is not a database"),
    ("under-file", "a part of the path is a file"), ("proc", "No such file or directory"),
])
def test_a_sqlite_store_that_cannot_be_a_database_is_refused_at_start(hostile, which, reason):
    with pytest.raises(ConfigError, match=reason):
        open_backend(f"sqlite:{hostile[which]}")


def test_a_sqlite_store_on_a_full_disk_is_refused_at_start():
    with pytest.raises(ConfigError, match="database or disk is full"):
        open_backend("sqlite:///dev/full")


@pytest.mark.parametrize("url, reason", [
    ("redis://127.0.0.1:1/abc", "database must be a number"), ("redis://127.0.0.1:1/l", "got 'l'"),
    ("redis://127.0.0.1:1/1/2", "got '1/2'"), ("redis://127.0.0.1:1/٣", "database must be a number"),
    ("redis://127.0.0.1:1/99999999999", "from 0 to 2147483647"), ("redis://127.0.0.1:1/0?db=2", "more than once"),
    ("redis://[::1/0", "malformed: Invalid IPv6 URL"), ("redis://127.0.0.1:99999/0", "Port out of range"),
])
def test_a_redis_url_whose_database_is_not_a_number_in_range_is_refused_naming_it(url, reason):
    with pytest.raises(ConfigError, match=reason) as info:
        open_backend(url)
    assert url in str(info.value)


@pytest.mark.redis
def test_a_redis_database_the_server_does_not_have_is_refused_at_start(redis_server):
    url = redis_server.url.rsplit("/", 1)[0] + "/99"
    with pytest.raises(ConfigError, match="refused database 99"):
        open_backend(url)


@pytest.mark.redis
def test_a_redis_url_naming_a_database_by_query_reaches_that_database(redis_server):
    url = redis_server.url.rsplit("/", 1)[0] + "/?db=3&namespace=t-query-db"
    backend = open_backend(url)
    try:
        backend.set("s", "k", b"v")
        assert backend.client.connection_pool.connection_kwargs["db"] == 3  # type: ignore[attr-defined]
    finally:
        backend.delete("s", "k")
        backend.close()


@pytest.mark.parametrize("which, reason", [("/dev/zero", "not a regular file"), ("fifo", "not a regular file"),
                                           ("huge", "larger than 4,194,304 bytes"), ("dir", "a directory")])
def test_a_fault_file_that_never_ends_or_is_too_big_is_refused_without_reading_it_all(hostile, which, reason):
    with pytest.raises(FaultPlanError, match=reason):
        FaultPlan.load(hostile.get(which, which))


# -- fault plans ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nan.json", "inf.json", "nan.toml"])
def test_a_fault_file_with_a_non_finite_number_is_refused(hostile, name):
    with pytest.raises(FaultPlanError, match="not a finite number"):
        FaultPlan.load(hostile[name])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_plan_given_as_data_with_non_finite_latency_is_refused(value):
    with pytest.raises(FaultPlanError, match="latency"):
        FaultPlan.from_data([{"op": "get", "latency": value}])


@pytest.mark.parametrize("name, reason", [("latin1.json", "not UTF-8 text"), ("deep.json", "nested too deeply"),
                                          ("deep.toml", "nested too deeply")])
def test_a_fault_file_that_is_not_utf8_or_is_nested_deeply_is_refused_naming_it(hostile, name, reason):
    with pytest.raises(FaultPlanError, match=reason) as info:
        FaultPlan.load(hostile[name])
    assert name in str(info.value)


def test_the_position_cap_is_per_rule_and_checked_without_building_the_positions(hostile):
    tracemalloc.start()
    try:
        with pytest.raises(FaultPlanError, match=f"the limit is {MAX_RULE_POSITIONS:,} per rule"):
            FaultPlan.load(hostile["wide.json"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # the old per-range cap built 100,000,000 ints (over 1 GB)


def test_a_rule_at_the_position_cap_is_one_range_and_matches_its_ends():
    rule = parse_rule(f"position=0-{MAX_RULE_POSITIONS - 1},error=other")
    assert rule.positions is not None and rule.positions.ranges == ((0, MAX_RULE_POSITIONS - 1),)
    assert 0 in rule.positions and MAX_RULE_POSITIONS - 1 in rule.positions and MAX_RULE_POSITIONS not in rule.positions


def test_overlapping_position_ranges_merge_and_count_once():
    rule = parse_rule("position=0-10|5-20|21,error=other")
    assert rule.positions is not None and rule.positions.ranges == ((0, 21),) and len(rule.positions) == 22


@pytest.mark.parametrize("spec", ["nth=٣,error=other", "times=５,error=other", "nth=1_0,error=other",
                                  "position=²,error=other"])
def test_fault_numbers_take_ascii_digits_only(spec):
    with pytest.raises(FaultPlanError):
        parse_rule(spec)


# -- inside a run (components) ----------------------------------------------------------------


@pytest.mark.component
def test_run_prints_the_traps_cause_not_only_its_first_line(built: Callable[[str], Path], capfd):
    code = cli.main(["run", str(built("probe")), "--store", "memory:", "--batch", "native",
                     "--fault", "op=set,position=1,trap=host crashed", "--", "default", "report", "3"])
    err = capfd.readouterr().err
    assert code != 0
    assert "the component trapped: error while executing" in err and "kvbatch fault: host crashed" in err


@pytest.mark.component
def test_run_with_events_on_a_full_disk_keeps_the_guests_output_and_ends_in_one_line(built: Callable[[str], Path],
                                                                                    capfd):
    code = cli.main(["run", str(built("probe")), "--store", "memory:", "--batch", "native", "--events", "/dev/full",
                     "--", "default", "report", "2"])
    captured = capfd.readouterr()
    assert code == 2
    assert "probe:report:000" in captured.out or captured.out.strip(), "the guest's output is not lost"
    assert "Traceback" not in captured.err
    assert captured.err.splitlines()[-1].startswith("kvbatch: event log '/dev/full': cannot write it")


# -- mistakes a new user makes (one line, exit 2) ---------------------------------------------------


def test_a_store_spec_with_an_empty_name_is_one_line_asking_for_name_equals_url(capsys):
    code, _, err = run_main(["run", "x.wasm", "--store", "=memory:"], capsys)
    assert_one_line_error(code, err, ["--store", "=memory:"])
    assert "names no store before '='" in err and "default=memory:" in err


def test_component_arguments_without_the_separator_say_where_they_go(capsys, tmp_path):
    code, _, err = run_main(["run", "app.wasm", "--store", "memory:", "default", "report"], capsys)
    assert_one_line_error(code, err, ["default", "report"])
    assert "a component's own arguments go after `--`: kvbatch run app.wasm [OPTIONS] -- default report" in err


def test_version_prints_the_installed_version(capsys):
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and out.strip().startswith("kvbatch ") and len(out.split()) == 2


def test_the_wasmtime_cli_gets_its_exec_bit_from_any_command(monkeypatch, tmp_path, capsys):
    import importlib.util
    import types

    binary = tmp_path / "wasmtime"
    binary.write_text("")
    binary.chmod(0o644)
    spec = types.SimpleNamespace(origin=str(tmp_path / "__init__.py"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec if name == "wasmtime_cli" else None)
    run_main(["--version"], capsys)
    assert os.access(binary, os.X_OK)


@pytest.mark.component
@pytest.mark.parametrize("options, expected", [
    (["--store", "memory:"], "store 'other', which is not served (add --store other=URL, e.g. --store other=memory:)"),
    (["--store", "memory:", "--store", "other=memory:", "--allow-store", "default"],
     "store 'other', which is served but not allowed (add --allow-store other)"),
])
def test_a_store_the_guest_opened_that_is_not_served_is_named_with_the_option_that_serves_it(
        built: Callable[[str], Path], capfd, options, expected):
    code = cli.main(["run", str(built("probe")), *options, "--batch", "native", "--", "other", "report", "3"])
    err = capfd.readouterr().err
    assert code == 2 and err.splitlines()[-1] == f"kvbatch: the component opened {expected}"
