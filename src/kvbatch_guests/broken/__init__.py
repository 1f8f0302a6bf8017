"""Deliberately broken batch providers: each breaks one rule of the batch semantics.

They exist so tests can show that `kvbatch check` catches a faulty batch implementation with
a clear verdict. Each module is a complete provider (world `kvbatch:components/provider`),
built by `kvbatch build broken-NAME`. Never use them for anything else.
"""
