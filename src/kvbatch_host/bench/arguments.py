"""The checks the workload benchmarks (`kvbatch bench-aio`, `kvbatch bench-cluster`) make of their
arguments before anything is built, started or measured: each a `ConfigError` naming the option
and its limit (the command line prints it as one line, exit status 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from kvbatch_host.errors import ConfigError

MAX_VALUE_BYTES = 1_048_576
"""The largest `--value-bytes` (1 MiB, the largest value the stores take)."""


def check_workload(command: str, keys: int, value_bytes: int, repeat: int, *, max_keys: int) -> None:
    """`--keys` in 1..`max_keys`, `--value-bytes` in 0..1 MiB, `--repeat` at least 1."""
    if not 1 <= keys <= max_keys:
        raise ConfigError(f"{command}: --keys must be in 1..{max_keys:,}, got {keys}")
    if not 0 <= value_bytes <= MAX_VALUE_BYTES:
        raise ConfigError(f"{command}: --value-bytes must be in 0..{MAX_VALUE_BYTES}, got {value_bytes}")
    if repeat < 1:
        raise ConfigError(f"{command}: --repeat must be at least 1, got {repeat}")


def check_json_path(command: str, path: Optional[Path]) -> None:
    """`--json PATH` can be written (its folder is made): else a `ConfigError` naming it."""
    if path is None:
        return
    try:
        if path.is_dir():
            raise ConfigError(f"{command}: --json {str(path)!r} is a directory; give a file name")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as err:
        raise ConfigError(f"{command}: cannot write {str(err.filename or path)!r} ({err.strerror or err})") from None


__all__ = ["MAX_VALUE_BYTES", "check_json_path", "check_workload"]
