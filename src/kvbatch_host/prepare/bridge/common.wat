;; The part of the byte bridge both keyvalue versions share; draft2.wat and draft.wat include it
;; where they say `;; @include common.wat`, with @KV@ (the wasi:keyvalue version), @HOST@ (the host
;; interface's import module) and get-many's element layout (@KEY_AT@, @TAG_AT@) filled in
;; (kvbatch_host.bridge.render). It expects the version file to have imported the host functions
;; as $host_get ... $host_delete_many and the bucket constructor as $bucket_new.
;;
;; The bridge exports wasi:keyvalue store, atomics and batch to a guest and forwards every call
;; to the host's keyvalue-bridge-draft2 (or -draft), whose values are latin-1 strings: one
;; character per byte. All strings are UTF-8 on both sides of this module (as in the guest), so keys, cursors and error
;; messages pass through as they are, and a value is re-encoded here: each byte >= 0x80 becomes
;; the two UTF-8 bytes of that latin-1 character on the way to the host, and back on the way in.
;; The batch calls carry their values packed into one string (and their sizes in another).
;;
;; Resources: the guest's bucket and cas handles are handles of this component whose rep is the
;; host handle they stand for. Memory: a bump heap emptied after every call (post-return).
;; A host answer that is not valid packed latin-1 traps (unreachable): never a wrong value.
  (memory (export "cm32p2_memory") 1)

  ;; [16, 64): the return area every call shares (8-aligned). From 64: a bump heap, emptied after
  ;; each call returns (its post-return), so a call's memory is reused by the next one.
  (global $RET i32 (i32.const 16))
  (global $HEAP i32 (i32.const 64))
  (global $top (mut i32) (i32.const 64))
  (global $HIGH_BITS i64 (i64.const 0x8080808080808080))

  (func $realloc (export "cm32p2_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (if (i32.and (i32.ne (local.get $old) (i32.const 0)) (i32.le_u (local.get $size) (local.get $old_size)))
      (then (return (local.get $old))))
    (local.set $ptr (i32.and (i32.add (global.get $top) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.lt_u (local.get $end) (local.get $ptr)) (then unreachable))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)) (memory.size)))
                    (i32.const -1))
          (then unreachable))))
    (if (i32.ne (local.get $old) (i32.const 0))
      (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
    (global.set $top (local.get $end))
    (local.get $ptr))

  (func $alloc (param $size i32) (result i32)
    (call $realloc (i32.const 0) (i32.const 0) (i32.const 8) (local.get $size)))
  (func $reset (param i32) (global.set $top (global.get $HEAP)))
  (func (export "cm32p2_initialize"))

  ;; --- latin-1 <-> bytes ----------------------------------------------------------------
  ;; The length of `len` bytes at `src` as latin-1 in UTF-8: one more byte per byte >= 0x80.
  (func $encoded_len (param $src i32) (param $len i32) (result i32)
    (local $i i32) (local $extra i32)
    (block $words_done
      (loop $words
        (br_if $words_done (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $len)))
        (local.set $extra (i32.add (local.get $extra) (i32.wrap_i64 (i64.popcnt
          (i64.and (i64.load (i32.add (local.get $src) (local.get $i))) (global.get $HIGH_BITS))))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $words)))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $extra (i32.add (local.get $extra)
          (i32.shr_u (i32.load8_u (i32.add (local.get $src) (local.get $i))) (i32.const 7))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $bytes)))
    (local.get $extra)
    (local.get $len)
    (i32.add)
    (local.tee $i)
    (if (i32.lt_u (local.get $i) (local.get $len)) (then unreachable))  ;; over 4 GiB: cannot happen
    )

  ;; Writes `len` bytes at `src` as latin-1 in UTF-8 at `dst`; returns how many bytes it wrote.
  (func $encode_into (param $dst i32) (param $src i32) (param $len i32) (result i32)
    (local $i i32) (local $o i32) (local $word i64) (local $b i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.le_u (i32.add (local.get $i) (i32.const 8)) (local.get $len))
          (then
            (local.set $word (i64.load (i32.add (local.get $src) (local.get $i))))
            (if (i64.eqz (i64.and (local.get $word) (global.get $HIGH_BITS)))
              (then
                (i64.store (i32.add (local.get $dst) (local.get $o)) (local.get $word))
                (local.set $i (i32.add (local.get $i) (i32.const 8)))
                (local.set $o (i32.add (local.get $o) (i32.const 8)))
                (br $each)))))
        (local.set $b (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (if (i32.lt_u (local.get $b) (i32.const 0x80))
          (then
            (i32.store8 (i32.add (local.get $dst) (local.get $o)) (local.get $b))
            (local.set $o (i32.add (local.get $o) (i32.const 1))))
          (else
            (i32.store8 (i32.add (local.get $dst) (local.get $o)) (i32.or (i32.const 0xC0) (i32.shr_u (local.get $b) (i32.const 6))))
            (i32.store8 offset=1 (i32.add (local.get $dst) (local.get $o)) (i32.or (i32.const 0x80) (i32.and (local.get $b) (i32.const 0x3F))))
            (local.set $o (i32.add (local.get $o) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (local.get $o))

  ;; Encodes `len` bytes at `src` into a new allocation; returns (ptr, encoded length).
  (func $encode (param $src i32) (param $len i32) (result i32 i32)
    (local $dst i32) (local $n i32)
    (local.set $n (call $encoded_len (local.get $src) (local.get $len)))
    (local.set $dst (call $alloc (local.get $n)))
    (drop (call $encode_into (local.get $dst) (local.get $src) (local.get $len)))
    (local.get $dst) (local.get $n))

  ;; Decodes latin-1 in UTF-8 at `ptr` in place; returns the number of bytes. Traps on any
  ;; character above U+00FF or on malformed UTF-8 (the host only sends latin-1).
  (func $decode (param $ptr i32) (param $len i32) (result i32)
    (local $r i32) (local $w i32) (local $word i64) (local $b i32) (local $c i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $r) (local.get $len)))
        (if (i32.le_u (i32.add (local.get $r) (i32.const 8)) (local.get $len))
          (then
            (local.set $word (i64.load (i32.add (local.get $ptr) (local.get $r))))
            (if (i64.eqz (i64.and (local.get $word) (global.get $HIGH_BITS)))
              (then
                (i64.store (i32.add (local.get $ptr) (local.get $w)) (local.get $word))
                (local.set $r (i32.add (local.get $r) (i32.const 8)))
                (local.set $w (i32.add (local.get $w) (i32.const 8)))
                (br $each)))))
        (local.set $b (i32.load8_u (i32.add (local.get $ptr) (local.get $r))))
        (if (i32.lt_u (local.get $b) (i32.const 0x80))
          (then
            (i32.store8 (i32.add (local.get $ptr) (local.get $w)) (local.get $b))
            (local.set $r (i32.add (local.get $r) (i32.const 1))))
          (else
            (if (i32.ne (i32.and (local.get $b) (i32.const 0xFE)) (i32.const 0xC2)) (then unreachable))
            (if (i32.ge_u (i32.add (local.get $r) (i32.const 1)) (local.get $len)) (then unreachable))
            (local.set $c (i32.load8_u offset=1 (i32.add (local.get $ptr) (local.get $r))))
            (if (i32.ne (i32.and (local.get $c) (i32.const 0xC0)) (i32.const 0x80)) (then unreachable))
            (i32.store8 (i32.add (local.get $ptr) (local.get $w))
              (i32.or (i32.shl (i32.and (local.get $b) (i32.const 0x03)) (i32.const 6)) (i32.and (local.get $c) (i32.const 0x3F))))
            (local.set $r (i32.add (local.get $r) (i32.const 2)))))
        (local.set $w (i32.add (local.get $w) (i32.const 1)))
        (br $each)))
    (local.get $w))

  ;; In a result<option<value>, error> at $RET: decodes the value when it is ok(some).
  (func $decode_optional_value
    (if (i32.and (i32.eqz (i32.load8_u (global.get $RET))) (i32.ne (i32.load8_u offset=4 (global.get $RET)) (i32.const 0)))
      (then (i32.store offset=12 (global.get $RET)
              (call $decode (i32.load offset=8 (global.get $RET)) (i32.load offset=12 (global.get $RET)))))))

  ;; --- store ---------------------------------------------------------------------------
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|open") (param i32 i32) (result i32)
    (call $host_open (local.get 0) (local.get 1) (global.get $RET))
    (if (i32.eqz (i32.load8_u (global.get $RET)))
      (then (i32.store offset=4 (global.get $RET) (call $bucket_new (i32.load offset=4 (global.get $RET))))))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|[method]bucket.get") (param i32 i32 i32) (result i32)
    (call $host_get (local.get 0) (local.get 1) (local.get 2) (global.get $RET))
    (call $decode_optional_value)
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|[method]bucket.set") (param $b i32) (param $k i32) (param $kl i32) (param $v i32) (param $vl i32) (result i32)
    (local $e i32) (local $el i32)
    (call $encode (local.get $v) (local.get $vl))
    (local.set $el) (local.set $e)
    (call $host_set (local.get $b) (local.get $k) (local.get $kl) (local.get $e) (local.get $el) (global.get $RET))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|[method]bucket.delete") (param i32 i32 i32) (result i32)
    (call $host_delete (local.get 0) (local.get 1) (local.get 2) (global.get $RET))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|[method]bucket.exists") (param i32 i32 i32) (result i32)
    (call $host_exists (local.get 0) (local.get 1) (local.get 2) (global.get $RET))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|bucket_dtor") (param i32)
    (call $host_bucket_drop (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|open_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|[method]bucket.get_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|[method]bucket.set_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|[method]bucket.delete_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/store@@KV@|[method]bucket.exists_post") (param i32) (call $reset (local.get 0)))

  ;; --- atomics -------------------------------------------------------------------------
  (func (export "cm32p2|wasi:keyvalue/atomics@@KV@|increment") (param i32 i32 i32 i64) (result i32)
    (call $host_increment (local.get 0) (local.get 1) (local.get 2) (local.get 3) (global.get $RET))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/atomics@@KV@|increment_post") (param i32) (call $reset (local.get 0)))

  ;; --- batch ---------------------------------------------------------------------------
  ;; get-many: the host returns packed-values; the guest gets 20-byte elements with the key at
  ;; @KEY_AT@, the option tag at @TAG_AT@ and the value at 12 (draft2: tuple<string, option<list<u8>>>;
  ;; draft: option<tuple<string, list<u8>>>), keys reused from the request.
  (func (export "cm32p2|wasi:keyvalue/batch@@KV@|get-many") (param $bucket i32) (param $keys i32) (param $n i32) (result i32)
    (local $sizes i32) (local $data i32) (local $end i32) (local $out i32) (local $i i32) (local $e i32) (local $size i32)
    (call $host_get_many (local.get $bucket) (local.get $keys) (local.get $n) (global.get $RET))
    (if (i32.load8_u (global.get $RET)) (then (return (global.get $RET))))
    (local.set $data (i32.load offset=4 (global.get $RET)))
    (local.set $end (i32.add (local.get $data) (call $decode (local.get $data) (i32.load offset=8 (global.get $RET)))))
    (local.set $sizes (i32.load offset=12 (global.get $RET)))
    (if (i32.ne (call $decode (local.get $sizes) (i32.load offset=16 (global.get $RET))) (i32.shl (local.get $n) (i32.const 2)))
      (then unreachable))  ;; one size per key
    (local.set $out (call $alloc (i32.mul (local.get $n) (i32.const 20))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 20))))
        (i64.store offset=@KEY_AT@ (local.get $e) (i64.load (i32.add (local.get $keys) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $size (i32.load (i32.add (local.get $sizes) (i32.shl (local.get $i) (i32.const 2)))))
        (if (i32.eq (local.get $size) (i32.const -1))
          (then (i32.store8 offset=@TAG_AT@ (local.get $e) (i32.const 0)))
          (else
            (if (i32.gt_u (local.get $size) (i32.sub (local.get $end) (local.get $data))) (then unreachable))
            (i32.store8 offset=@TAG_AT@ (local.get $e) (i32.const 1))
            (i32.store offset=12 (local.get $e) (local.get $data))
            (i32.store offset=16 (local.get $e) (local.get $size))
            (local.set $data (i32.add (local.get $data) (local.get $size)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (if (i32.ne (local.get $data) (local.get $end)) (then unreachable))  ;; the sizes account for all the data
    (i32.store offset=4 (global.get $RET) (local.get $out))
    (i32.store offset=8 (global.get $RET) (local.get $n))
    (global.get $RET))

  ;; set-many: the guest's list<tuple<string, list<u8>>> (16-byte elements) becomes the keys'
  ;; (ptr, len) list and packed-values (values back to back, then their sizes, both encoded).
  (func (export "cm32p2|wasi:keyvalue/batch@@KV@|set-many") (param $bucket i32) (param $items i32) (param $n i32) (result i32)
    (local $keys i32) (local $sizes i32) (local $data i32) (local $total i32) (local $i i32) (local $item i32)
    (local $at i32) (local $sizes_enc i32) (local $sizes_len i32)
    (block $summed
      (loop $sum
        (br_if $summed (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $item (i32.add (local.get $items) (i32.shl (local.get $i) (i32.const 4))))
        (local.set $at (i32.add (local.get $total)
          (call $encoded_len (i32.load offset=8 (local.get $item)) (i32.load offset=12 (local.get $item)))))
        (if (i32.lt_u (local.get $at) (local.get $total)) (then unreachable))  ;; over 4 GiB
        (local.set $total (local.get $at))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $sum)))
    (local.set $keys (call $alloc (i32.shl (local.get $n) (i32.const 3))))
    (local.set $sizes (call $alloc (i32.shl (local.get $n) (i32.const 2))))
    (local.set $data (call $alloc (local.get $total)))
    (local.set $at (local.get $data))
    (local.set $i (i32.const 0))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $item (i32.add (local.get $items) (i32.shl (local.get $i) (i32.const 4))))
        (i64.store (i32.add (local.get $keys) (i32.shl (local.get $i) (i32.const 3))) (i64.load (local.get $item)))
        (i32.store (i32.add (local.get $sizes) (i32.shl (local.get $i) (i32.const 2))) (i32.load offset=12 (local.get $item)))
        (local.set $at (i32.add (local.get $at)
          (call $encode_into (local.get $at) (i32.load offset=8 (local.get $item)) (i32.load offset=12 (local.get $item)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (call $encode (local.get $sizes) (i32.shl (local.get $n) (i32.const 2)))
    (local.set $sizes_len) (local.set $sizes_enc)
    (call $host_set_many (local.get $bucket) (local.get $keys) (local.get $n)
                         (local.get $data) (local.get $total) (local.get $sizes_enc) (local.get $sizes_len) (global.get $RET))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/batch@@KV@|delete-many") (param i32 i32 i32) (result i32)
    (call $host_delete_many (local.get 0) (local.get 1) (local.get 2) (global.get $RET))
    (global.get $RET))
  (func (export "cm32p2|wasi:keyvalue/batch@@KV@|get-many_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/batch@@KV@|set-many_post") (param i32) (call $reset (local.get 0)))
  (func (export "cm32p2|wasi:keyvalue/batch@@KV@|delete-many_post") (param i32) (call $reset (local.get 0)))
