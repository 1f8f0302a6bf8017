;; The byte bridge for wasi:keyvalue@0.2.0-draft, the wasmtime CLI's version (world
;; kvbatch:components/bridge-draft, wit/bridge.wit). What both keyvalue versions share, and how
;; the bridge works, is in common.wat; this file holds the draft-only parts.
(module
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "get" (func $host_get (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "set" (func $host_set (param i32 i32 i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "delete" (func $host_delete (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "exists" (func $host_exists (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "list-keys" (func $host_list_keys (param i32 i32 i64 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "open" (func $host_open (param i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "increment" (func $host_increment (param i32 i32 i32 i64 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "get-many" (func $host_get_many (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "set-many" (func $host_set_many (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "delete-many" (func $host_delete_many (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft@0.1" "close" (func $host_bucket_drop (param i32)))
  (import "cm32p2|_ex_wasi:keyvalue/store@0.2.0-draft" "bucket_new" (func $bucket_new (param i32) (result i32)))



  ;; @include common.wat

  ;; --- draft only: list-keys with a u64 cursor ----------------------------------------------
  (func (export "cm32p2|wasi:keyvalue/store@0.2.0-draft|[method]bucket.list-keys") (param i32 i32 i64) (result i32)
    (call $host_list_keys (local.get 0) (local.get 1) (local.get 2) (global.get $RET))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/store@0.2.0-draft|[method]bucket.list-keys_post") (param i32) (call $reset (local.get 0)))
)
