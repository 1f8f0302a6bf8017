"""The fast value path through wasmtime-py, behind a gate.

wasmtime-py converts every component value through Python objects, one element at a time (a
1 MiB `list<u8>` is a million ctypes calls). The fast path replaces the two places where values
cross, host functions and export calls, with converters built once per function type that move
`list<u8>`, strings, lists, tuples, options and results in bulk. It does so through wasmtime-py's
private names, so it is written for one release, `PINNED_WASMTIME`.

This package is the gate and touches none of those names. `install()` checks the installed
version, then loads the code that does (`wasmtime_internals`, `err_lowering`) and patches
wasmtime-py; any failure there (another version, a name gone, a layout that changed) leaves
wasmtime-py as it is, prints one warning line on stderr, and values take wasmtime-py's own
(plain) path, with the same results, only slower. Nothing is patched before `install()`, which
the harness calls when it first serves `wasi:keyvalue` to a component.

* `plain()` switches the fast path off for a block (tests compare both paths byte for byte);
* `KVBATCH_FASTPATH=0` in the environment keeps it from being installed (to measure the plain path);
* `HostErr`, `HostRep`: what host functions return for an `err`, and get for a borrowed handle.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Iterator, List

from kvbatch_host import versions

ENV_SWITCH = "KVBATCH_FASTPATH"
"""Set to `0` (or `off`) to keep the fast path from being installed."""

_LOAD_ERRORS = (ImportError, AttributeError, AssertionError, TypeError, ValueError, OSError, LookupError)
"""What loading or patching wasmtime-py's internals can raise when they are not what the fast path expects."""


@dataclass(frozen=True)
class HostErr:
    """The `err` case of a `result` a host function returns, with its payload (for `error`: a `Variant`)."""

    payload: Any


class HostRep(int):
    """A borrowed host-defined resource as the fast path hands it to a host function: its rep.

    The borrow is already released. `handle.to_host(store).rep` works on it as on the
    `ResourceAny` wasmtime-py would have passed, so host functions need not tell them apart.
    """

    __slots__ = ()

    def to_host(self, store: Any) -> "HostRep":
        return self

    @property
    def rep(self) -> int:
        return int(self)


_host_resource_ids: List[int] = []


def host_resource(type_id: int) -> None:
    """Registers the host-defined resource type `type_id`: host functions defined from now on get
    its borrows as `HostRep`s on the fast path (idempotent)."""
    if type_id not in _host_resource_ids:
        _host_resource_ids.append(type_id)


def host_resource_ids() -> List[int]:
    """The resource type ids registered with `host_resource`."""
    return list(_host_resource_ids)


# -- the switch ------------------------------------------------------------------------------

_state = threading.local()
_plain_blocks = 0
"""How many `plain()` blocks are open in any thread (when none, no thread-local is read)."""
_plain_lock = threading.Lock()
_installed = False
_lowers_err = False
_warned = False


def installed() -> bool:
    """Whether the fast path is installed in this process."""
    return _installed


def active() -> bool:
    """Whether the fast path converts values in this thread right now."""
    return _installed and not (_plain_blocks and getattr(_state, "plain", False))


def lowers_host_err() -> bool:
    """Whether this process's wasmtime-py lowers a returned `HostErr` as `err` (on either path)."""
    return _lowers_err


@contextlib.contextmanager
def plain() -> Iterator[None]:
    """Within the block (in this thread), values take wasmtime-py's plain path."""
    global _plain_blocks
    before = getattr(_state, "plain", False)
    _state.plain = True
    with _plain_lock:
        _plain_blocks += 1
    try:
        yield
    finally:
        _state.plain = before
        with _plain_lock:
            _plain_blocks -= 1


def disabled_by_environment() -> bool:
    """Whether `KVBATCH_FASTPATH` switches the fast path off."""
    return os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "off", "no", "false")


def _warn(message: str) -> None:
    """One line on stderr, once per process."""
    global _warned
    if not _warned:
        _warned = True
        print(f"kvbatch: warning: {message}", file=sys.stderr, flush=True)


def _pinned() -> bool:
    if versions.WASMTIME_VERSION == versions.PINNED_WASMTIME:
        return True
    _warn(f"wasmtime-py {versions.WASMTIME_VERSION} is not the pinned {versions.PINNED_WASMTIME}: values cross "
          "on wasmtime-py's plain (slower) path, and an error from bucket.get traps instead of reaching the guest")
    return False


def _failed(what: str, err: BaseException) -> None:
    detail = str(err).splitlines()[0] if str(err).strip() else ""
    _warn(f"{what} does not load on this wasmtime-py {versions.WASMTIME_VERSION} ({type(err).__name__}"
          f"{': ' + detail if detail else ''}); values cross on wasmtime-py's plain (slower) path")


def install(allocator: bool = True) -> bool:
    """Installs `HostErr` lowering and the fast path into wasmtime-py (idempotent); returns whether
    the fast path is installed.

    On a wasmtime-py other than `PINNED_WASMTIME`, or when its internals are not what the fast path
    expects, nothing more is changed, one warning line goes to stderr, and values take the plain
    path. `KVBATCH_FASTPATH=0` keeps the fast path (not the `HostErr` lowering) out. With
    `allocator`, also calls `tune_allocator()`. Host functions defined before the call keep the plain path.
    """
    global _installed, _lowers_err
    if _installed:
        return True
    if not _pinned():
        return False
    if not _lowers_err:
        try:
            from kvbatch_host.fastpath import err_lowering

            err_lowering.patch()
            _lowers_err = True
        except _LOAD_ERRORS as err:
            _failed("the lowering of host errors", err)
    if disabled_by_environment():
        return False
    try:
        from kvbatch_host.fastpath import wasmtime_internals

        wasmtime_internals.patch()
    except _LOAD_ERRORS as err:
        _failed("the fast path", err)
        return False
    if allocator:
        tune_allocator()
    _installed = True
    return True


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
BOUNDED_MMAP_THRESHOLD = 8 << 20
"""`tune_allocator(bounded=True)`: blocks up to this size come from the heap."""
BOUNDED_TRIM_THRESHOLD = 32 << 20
"""`tune_allocator(bounded=True)`: at most this much freed heap is kept for reuse."""
_tuned = ""


def tune_allocator(bounded: bool = False) -> bool:
    """Keeps glibc from serving large blocks with fresh `mmap` pages; returns whether it could.

    A 1 MiB `list<u8>` is a 32 MiB array of C values on each side of the boundary, and above
    glibc's mmap threshold every such array is new pages: ~8,000 page faults (~30 ms here) per
    crossing. Served from the heap and kept there (trim threshold 1 GiB), the memory is reused
    by the next crossing. The cost: memory freed by this process stays with it for reuse.

    `bounded` is for the byte bridge, whose values cross as one string of a few MiB at most: blocks
    up to `BOUNDED_MMAP_THRESHOLD` come from the heap and at most `BOUNDED_TRIM_THRESHOLD` of freed
    heap is kept (glibc's own adaptive thresholds give a 1 MiB value's buffers back and fault them
    in again on every crossing, about 1 ms of a 1 MiB set + get). It never loosens an unbounded tuning.
    """
    global _tuned
    if _tuned == "unbounded" or (bounded and _tuned == "bounded"):
        return True
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if bounded:
        done = bool(mallopt(_M_MMAP_THRESHOLD, BOUNDED_MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                       BOUNDED_TRIM_THRESHOLD))
    else:
        done = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    if done:
        _tuned = "bounded" if bounded else "unbounded"
    return done


__all__ = ["ENV_SWITCH", "HostErr", "HostRep", "active", "disabled_by_environment", "host_resource", "install",
           "installed", "lowers_host_err", "plain", "tune_allocator"]
