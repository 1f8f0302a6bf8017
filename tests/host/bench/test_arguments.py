"""The workload benchmarks (`kvbatch bench-aio`, `kvbatch bench-cluster`) check their arguments the
same way, before anything is built or started: one line naming the option and its limit, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvbatch_host.cli import main

COMMANDS = {"bench-aio": "10,000", "bench-cluster": "1,000,000"}
"""Each command and its largest --keys."""


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("argv, problem", [
    (["--keys", "0"], "--keys must be in 1..{max_keys}, got 0"),
    (["--value-bytes", "1048577"], "--value-bytes must be in 0..1048576, got 1048577"),
    (["--repeat", "0"], "--repeat must be at least 1, got 0"),
])
def test_a_workload_out_of_bounds_is_the_same_one_line_error(command: str, argv: list[str], problem: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, *argv]) == 2
    assert capsys.readouterr().err == f"kvbatch: {command}: {problem.format(max_keys=COMMANDS[command])}\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_json_path_that_is_a_directory_is_refused_before_anything_runs(command: str, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--keys", "10", "--json", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"kvbatch: {command}: --json {str(tmp_path)!r} is a directory; give a file name\n"
