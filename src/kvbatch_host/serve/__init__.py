"""`kvbatch serve`: build/spin.wasm as an HTTP server on the wasmtime CLI, over the harness's stores.

Layout of a run: `manifest` reads spin.toml (routes, stores, variables); `shims` builds the
stubs, the serve adapter and the serve front (Spin's routing), composes them with the component
and precompiles the result; `store_server` serves the adapter's keyvalue calls from a
`StoreRegistry` (fault layer and event log included); `router` picks the component a request's
route leads to when a manifest has several; `server` starts and stops all of it.
"""
