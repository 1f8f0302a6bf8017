"""Preparing a component to run, in the order `Harness.prepare` follows: build it from Python
(`build`), ask wasm-tools what it imports (`wasm_tools`), compose the provider into it
(`compose`), then the byte bridge (`bridge`), and compile it or load it from the cache
(`components`). The caches these keep in the build directory, and `kvbatch serve`'s, are bounded by
`cache_bound`. Nothing here serves or runs anything."""
