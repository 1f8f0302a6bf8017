"""Versions the host is written against (the bottom layer: imports nothing of kvbatch_host).

* `PINNED_WASMTIME`: the wasmtime-py release whose internals the fast path
  (`kvbatch_host.fastpath`) was written for; `WASMTIME_VERSION` is the one installed. Compiled
  components are cached per installed version.
* `DRAFT2`, `DRAFT`: the two `wasi:keyvalue` versions the host serves (Spin's and the wasmtime
  CLI's).
"""

from __future__ import annotations

from importlib.metadata import version

PINNED_WASMTIME = "50.0.1"
"""The wasmtime-py version `pyproject.toml` pins and the fast path was written against."""

WASMTIME_VERSION = version("wasmtime")
"""The wasmtime-py version installed in this environment."""

DRAFT2 = "0.2.0-draft2"
"""`wasi:keyvalue@0.2.0-draft2`: the version Spin serves."""

DRAFT = "0.2.0-draft"
"""`wasi:keyvalue@0.2.0-draft`: the version the wasmtime CLI serves (`-S keyvalue`)."""

KEYVALUE_VERSIONS = (DRAFT2, DRAFT)
"""Every `wasi:keyvalue` version the host serves, preferred first."""
