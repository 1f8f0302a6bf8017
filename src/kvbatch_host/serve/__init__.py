"""`kvbatch serve`: build/spin.wasm as an HTTP server on the wasmtime CLI, over the harness's stores.

Layout of a run: `manifest` reads spin.toml (route, stores, variables); `shims` builds the
stubs and the serve adapter, composes them with build/spin.wasm and precompiles the result;
`store_server` serves the adapter's keyvalue calls from a `StoreRegistry` (fault layer and event
log included); `router` is the listening address, routing like Spin and forwarding to
`wasmtime serve`; `server` starts and stops all of it.
"""
