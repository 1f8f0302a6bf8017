"""Serving `wasi:keyvalue` to a running component: the host functions (`keyvalue`), and what
they rely on in wasmtime-py (`wasmtime_compat`, `fastpath`). Below them: the fault layer and
the event log (`kvbatch_host.faults`), then the backends."""
