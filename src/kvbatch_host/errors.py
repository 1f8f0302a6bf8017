"""Errors the host side raises."""

from __future__ import annotations

from typing import Literal, Optional

ErrorKind = Literal["no-such-store", "access-denied", "other"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("no-such-store", "access-denied", "other")


class HostKvError(Exception):
    """A `wasi:keyvalue` `error` value raised by a backend or the fault layer.

    The keyvalue host returns it to the component as `err(error)` unchanged.
    """

    def __init__(self, kind: ErrorKind, message: Optional[str] = None) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown keyvalue error kind {kind!r}; expected one of {', '.join(ERROR_KINDS)}")
        self.kind: ErrorKind = kind
        self.message = message if message is not None else kind
        super().__init__(f"{kind}: {self.message}" if kind == "other" else kind)


class ConfigError(ValueError):
    """A store URL, store mapping or other harness configuration is malformed."""
