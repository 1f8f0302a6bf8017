"""Components `kvbatch serve` composes around build/spin.wasm (guest side: stdlib and bindings only)."""
