"""The kvbatch host harness: wasmtime-py serving wasi:keyvalue from real backends."""
