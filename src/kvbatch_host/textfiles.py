"""Reading the small text files a user points the harness at (fault plans, runtime configs).

A path can name anything: a directory, a device that never ends (`/dev/zero`, `/dev/full`),
a FIFO that blocks, a huge file, bytes that are not UTF-8. `read_text` reads only regular
files, at most `MAX_CONFIG_BYTES`, and says which of these it met, naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Type

from kvbatch_host.errors import ConfigError

MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""Largest fault plan or runtime config read (4 MiB)."""


def read_text(path: str | Path, what: str, error: Type[ConfigError] = ConfigError, limit: int = MAX_CONFIG_BYTES) -> str:
    """The UTF-8 text of regular file `path`; `error` (a `ConfigError`) naming `what` and the
    path otherwise: missing, not a regular file, over `limit` bytes, unreadable, not UTF-8."""
    where = f"{what} {str(path)!r}"
    try:
        mode = os.stat(path).st_mode  # before opening: opening a FIFO would block
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise error(f"{where}: cannot read it ({kind})")
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as err:
        raise error(f"{where}: cannot read it ({err.strerror or err})") from None
    if len(data) > limit:
        raise error(f"{where}: larger than {limit:,} bytes, the limit for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{where}: not UTF-8 text (byte {data[err.start:err.start + 1]!r} at offset {err.start})") from None
