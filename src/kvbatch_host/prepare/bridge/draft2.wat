;; The byte bridge for wasi:keyvalue@0.2.0-draft2 (world kvbatch:components/bridge-draft2, wit/bridge.wit).
;; What both keyvalue versions share, and how the bridge works, is in common.wat; this file
;; holds the draft2-only parts.
(module
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "get" (func $host_get (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "set" (func $host_set (param i32 i32 i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "delete" (func $host_delete (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "exists" (func $host_exists (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "list-keys" (func $host_list_keys (param i32 i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "open" (func $host_open (param i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "increment" (func $host_increment (param i32 i32 i32 i64 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "[static]cas.new" (func $host_cas_new (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "[method]cas.current" (func $host_cas_current (param i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "swap" (func $host_swap (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "get-many" (func $host_get_many (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "set-many" (func $host_set_many (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "delete-many" (func $host_delete_many (param i32 i32 i32 i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "close" (func $host_bucket_drop (param i32)))
  (import "cm32p2|kvbatch:components/keyvalue-bridge-draft2@0.1" "cas_drop" (func $host_cas_drop (param i32)))
  (import "cm32p2|_ex_wasi:keyvalue/store@0.2.0-draft2" "bucket_new" (func $bucket_new (param i32) (result i32)))
  (import "cm32p2|_ex_wasi:keyvalue/atomics@0.2.0-draft2" "cas_drop" (func $cas_drop (param i32)))
  (import "cm32p2|_ex_wasi:keyvalue/atomics@0.2.0-draft2" "cas_new" (func $cas_new (param i32) (result i32)))
  (import "cm32p2|_ex_wasi:keyvalue/atomics@0.2.0-draft2" "cas_rep" (func $cas_rep (param i32) (result i32)))


  ;; @include common.wat

  ;; --- draft2 only: list-keys with a string cursor, cas ------------------------------------
  (global $skip_cas_dtor (mut i32) (i32.const 0))
  (func (export "cm32p2|wasi:keyvalue/store@0.2.0-draft2|[method]bucket.list-keys") (param i32 i32 i32 i32) (result i32)
    (call $host_list_keys (local.get 0) (local.get 1) (local.get 2) (local.get 3) (global.get $RET))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/store@0.2.0-draft2|[method]bucket.list-keys_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/atomics@0.2.0-draft2|[static]cas.new") (param i32 i32 i32) (result i32)
    (call $host_cas_new (local.get 0) (local.get 1) (local.get 2) (global.get $RET))
    (if (i32.eqz (i32.load8_u (global.get $RET)))
      (then (i32.store offset=4 (global.get $RET) (call $cas_new (i32.load offset=4 (global.get $RET))))))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/atomics@0.2.0-draft2|[method]cas.current") (param i32) (result i32)
    (call $host_cas_current (local.get 0) (global.get $RET))
    (call $decode_optional_value)
    (global.get $RET))
  ;; swap consumes the guest's cas: the host's handle moves to the host, ours is dropped without
  ;; its destructor dropping the host's handle a second time. A cas-failed error carries a new
  ;; host cas, handed to the guest as a new handle of ours.
  (func (export "cm32p2|wasi:keyvalue/atomics@0.2.0-draft2|swap") (param $cas i32) (param $v i32) (param $vl i32) (result i32)
    (local $rep i32) (local $e i32) (local $el i32)
    (local.set $rep (call $cas_rep (local.get $cas)))
    (global.set $skip_cas_dtor (i32.const 1))
    (call $cas_drop (local.get $cas))
    (global.set $skip_cas_dtor (i32.const 0))
    (call $encode (local.get $v) (local.get $vl))
    (local.set $el) (local.set $e)
    (call $host_swap (local.get $rep) (local.get $e) (local.get $el) (global.get $RET))
    (if (i32.and (i32.eq (i32.load8_u (global.get $RET)) (i32.const 1)) (i32.eq (i32.load8_u offset=4 (global.get $RET)) (i32.const 1)))
      (then (i32.store offset=8 (global.get $RET) (call $cas_new (i32.load offset=8 (global.get $RET))))))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/atomics@0.2.0-draft2|cas_dtor") (param i32)
    (if (i32.eqz (global.get $skip_cas_dtor)) (then (call $host_cas_drop (local.get 0)))))
  (func (export "cm32p2|wasi:keyvalue/atomics@0.2.0-draft2|[static]cas.new_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/atomics@0.2.0-draft2|[method]cas.current_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/atomics@0.2.0-draft2|swap_post") (param i32) (call $reset (local.get 0)))

)
