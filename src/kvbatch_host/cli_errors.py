"""The one place where a command's errors become one line, `kvbatch: ...`, and exit status 2.

`guarded(command, args)` runs any subcommand; whatever it raises is turned into one line that
names the problem (a file and the system's reason, a URL and what is wrong with it, the store
that refused), never a traceback. A subcommand added to the CLI gets this for free: it may
raise `ConfigError` with its own message, or let `OSError`, `UnicodeError`, `RecursionError`,
SQLite, Redis and wasmtime errors through. `KVBATCH_TRACEBACK=1` re-raises, for debugging.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
from typing import Callable, NoReturn, Optional

from kvbatch_host.errors import ConfigError, HostKvError

EXIT_USAGE = 2
"""Exit status of every command-line error (bad arguments, files, URLs, stores, components)."""

TRACEBACK_ENV = "KVBATCH_TRACEBACK"


def one_line(text: str, limit: int = 600) -> str:
    """`text` on one line (line breaks and runs of spaces become one space), cut at `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def trap_summary(trap: str) -> str:
    """A wasmtime trap message as one line: its first line and its cause.

    A trap reads "error while executing at wasm backtrace:", the frames, then the cause
    (the fault's message, "fuel allocated for hostcalls has been exhausted", ...), often after
    "Caused by:". The frames are left out; the cause is kept.
    """
    lines = [line.strip() for line in trap.splitlines() if line.strip()]
    if not lines:
        return "unknown trap"
    first, rest = lines[0], lines[1:]
    frame_lines = [line for line in rest if _is_frame(line)]
    causes = [line for line in rest if not _is_frame(line) and line.rstrip(":") not in ("Caused by", "Stack backtrace")]
    if not causes and not frame_lines:
        return one_line(first)
    if causes:
        return one_line(f"{first.rstrip(':')}: {'; '.join(causes)}")
    return one_line(first.rstrip(":"))


def _is_frame(line: str) -> bool:
    head = line.split(":", 1)[0]
    return head.isascii() and head.isdigit() or line.startswith("at ") or line.startswith("note: ")


WASM_MAGIC = b"\0asm"


def check_component_file(path: str | os.PathLike[str]) -> None:
    """Raises `ConfigError` unless `path` is a readable file that starts like WebAssembly."""
    shown = repr(str(path))
    if not os.path.exists(path):
        raise ConfigError(f"component {shown} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"component {shown} is a directory; give a .wasm file")
    try:
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError as err:
        raise ConfigError(f"component {shown}: cannot read it ({err.strerror or err})") from None
    if head != WASM_MAGIC:
        raise ConfigError(f"component {shown} is not a WebAssembly component (it does not start with \\0asm); "
                          "build one with kvbatch build")


def describe(error: BaseException) -> Optional[str]:
    """The one-line message for `error`, or `None` for exit paths that are not errors
    (`SystemExit`, `KeyboardInterrupt` is described as an interruption)."""
    if isinstance(error, (SystemExit, GeneratorExit, subprocess.CalledProcessError)):
        return None  # a failed build's own output is its message: `cli.main` prints it
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, ConfigError):
        return one_line(str(error))
    if isinstance(error, RecursionError):
        return "an input is nested too deeply to read (Python's recursion limit was reached)"
    if isinstance(error, UnicodeDecodeError):
        return one_line(f"an input is not UTF-8 text: byte {error.object[error.start:error.start + 1]!r} at offset "
                        f"{error.start} ({error.reason})")
    if isinstance(error, UnicodeError):
        return one_line(f"text cannot be encoded: {error}")
    if isinstance(error, OSError):
        return _os_error(error)
    if isinstance(error, sqlite3.Error):
        return one_line(f"sqlite store: {error}")
    if isinstance(error, HostKvError):
        return one_line(f"the store failed: {error}")
    if isinstance(error, MemoryError):
        return "out of memory"
    redis_message = _redis_error(error)
    if redis_message is not None:
        return redis_message
    if type(error).__name__ == "WasmtimeError" or type(error).__module__.startswith("wasmtime"):
        return one_line(f"wasmtime: {trap_summary(str(error))}")
    return one_line(f"internal error: {type(error).__name__}: {error} (set {TRACEBACK_ENV}=1 for the traceback)")


def _os_error(error: OSError) -> str:
    reason = error.strerror or str(error) or type(error).__name__
    names = [repr(str(name)) for name in (error.filename, error.filename2) if name is not None]
    return one_line(f"{' -> '.join(names)}: {reason}" if names else reason)


def _redis_error(error: BaseException) -> Optional[str]:
    try:
        from redis import exceptions as rx
    except ImportError:  # pragma: no cover - redis is a pinned dependency
        return None
    if isinstance(error, rx.RedisError):
        return one_line(f"redis: {error}")
    return None


def guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Runs `command(args)`; an error becomes one line on stderr and exit status 2."""
    try:
        return int(command(args))
    except BaseException as error:  # the one place: see the module docstring
        message = describe(error)
        if message is None or os.environ.get(TRACEBACK_ENV):
            raise
        print(f"kvbatch: {message}", file=sys.stderr)
        return 130 if isinstance(error, KeyboardInterrupt) else EXIT_USAGE


class OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose usage errors are one line, `kvbatch: ...`, exit status 2
    (its subparsers are of the same class, so every subcommand behaves alike)."""

    def error(self, message: str) -> NoReturn:
        print(f"kvbatch: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


__all__ = ["EXIT_USAGE", "OneLineParser", "check_component_file", "describe", "guarded", "one_line", "trap_summary"]
