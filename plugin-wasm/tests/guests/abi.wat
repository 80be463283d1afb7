;; A hand-written guest for the runner's tests: a well-behaved ABI
;; implementation plus hostile functions. Offsets 0..1024 hold constant
;; strings; a bump allocator hands out the rest of the first 3 pages.
(module
  (import "flowbot" "get_config" (func $get_config (param i32 i32) (result i64)))
  (import "flowbot" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "flowbot" "kv_get" (func $kv_get (param i32 i32) (result i64)))
  (import "flowbot" "emit_event" (func $emit_event (param i32 i32) (result i32)))
  (import "flowbot" "log" (func $log (param i32 i32 i32)))
  (import "flowbot" "http_request" (func $http_request (param i32 i32) (result i64)))

  (memory (export "memory") 4)
  (global $bump (mut i32) (i32.const 1024))
  (global $config_len (mut i32) (i32.const -1))
  (global $calls (mut i32) (i32.const 0))

  (data (i32.const 0) "{\"data\":")              ;; 8 bytes
  (data (i32.const 16) "not json at all")        ;; 15 bytes
  (data (i32.const 32) "{\"error\":\"nope\"}")   ;; 16 bytes
  (data (i32.const 64) "counter")                ;; 7 bytes
  (data (i32.const 80) "{\"event_type\":\"hello.said\"}") ;; 27 bytes
  (data (i32.const 112) "greeting")              ;; 8 bytes
  (data (i32.const 128) "hello from wasm")       ;; 15 bytes
  (data (i32.const 144) "null")                  ;; 4 bytes
  (data (i32.const 160) "inits")                 ;; 5 bytes

  (func $alloc (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $bump) (local.get $n)) (i32.const 196608))
      (then (global.set $bump (i32.const 1024))))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))

  (func (export "free") (param i32))

  (func $pack (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $n))))

  ;; {"data":<bytes at p..p+n>}
  (func $respond (param $p i32) (param $n i32) (result i64)
    (local $out i32)
    (local.set $out (call $alloc (i32.add (local.get $n) (i32.const 9))))
    (memory.copy (local.get $out) (i32.const 0) (i32.const 8))
    (memory.copy (i32.add (local.get $out) (i32.const 8)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (local.get $out) (i32.add (local.get $n) (i32.const 8))) (i32.const 125))
    (call $pack (local.get $out) (i32.add (local.get $n) (i32.const 9))))

  ;; {"data":<decimal n>} for 0 <= n < 1000000
  (func $respond_int (param $v i32) (result i64)
    (local $buf i32) (local $len i32) (local $i i32)
    (local.set $buf (call $alloc (i32.const 8)))
    (local.set $len (i32.const 1))
    (if (i32.ge_u (local.get $v) (i32.const 10)) (then (local.set $len (i32.const 2))))
    (if (i32.ge_u (local.get $v) (i32.const 100)) (then (local.set $len (i32.const 3))))
    (if (i32.ge_u (local.get $v) (i32.const 1000)) (then (local.set $len (i32.const 4))))
    (if (i32.ge_u (local.get $v) (i32.const 10000)) (then (local.set $len (i32.const 5))))
    (if (i32.ge_u (local.get $v) (i32.const 100000)) (then (local.set $len (i32.const 6))))
    (local.set $i (local.get $len))
    (loop $digits
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $buf) (local.get $i))
                  (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digits (i32.gt_u (local.get $i) (i32.const 0))))
    (call $respond (local.get $buf) (local.get $len)))

  (func (export "init") (param $p i32) (param $n i32) (result i64)
    (global.set $config_len (local.get $n))
    (drop (call $kv_incr (i32.const 160) (i32.const 5)))  ;; counts instances
    (call $respond (i32.const 144) (i32.const 4)))

  (func (export "echo") (param $p i32) (param $n i32) (result i64)
    (call $respond (local.get $p) (local.get $n)))

  ;; The length of the config JSON this instance's init received.
  (func (export "config_len") (param i32 i32) (result i64)
    (call $respond_int (global.get $config_len)))

  ;; How many times this instance has been called (1 on a fresh instance).
  (func (export "calls") (param i32 i32) (result i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (call $respond_int (global.get $calls)))

  (func (export "fail") (param i32 i32) (result i64)
    (call $pack (i32.const 32) (i32.const 16)))
  (func (export "garbage") (param i32 i32) (result i64)
    (call $pack (i32.const 16) (i32.const 15)))
  (func (export "bad_pointer") (param i32 i32) (result i64)
    (call $pack (i32.const 0xFFFF0000) (i32.const 100)))
  (func (export "huge_length") (param i32 i32) (result i64)
    (call $pack (i32.const 0) (i32.const -1)))
  (func (export "trap") (param i32 i32) (result i64)
    unreachable)
  (func (export "spin") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const 0))
  ;; Grows memory a page at a time until refused, then traps.
  (func (export "grow") (param i32 i32) (result i64)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable)
  (func (export "wrong_type") (param i32) (result i32) (i32.const 0))

  ;; KV[key] += 1 (stored as one decimal digit); returns the new value.
  (func $kv_incr (param $key i32) (param $key_len i32) (result i32)
    (local $packed i64) (local $value i32)
    (local.set $packed (call $kv_get (local.get $key) (local.get $key_len)))
    (if (i64.eq (local.get $packed) (i64.const -1))
      (then (local.set $value (i32.const 0)))
      (else (local.set $value (i32.sub (i32.load8_u (i32.wrap_i64 (i64.shr_u (local.get $packed) (i64.const 32)))) (i32.const 48)))))
    (local.set $value (i32.add (local.get $value) (i32.const 1)))
    (i32.store8 (i32.const 1000) (i32.add (i32.const 48) (local.get $value)))
    (drop (call $kv_set (local.get $key) (local.get $key_len) (i32.const 1000) (i32.const 1)))
    (local.get $value))

  (func (export "bump_counter") (param i32 i32) (result i64)
    (call $respond_int (call $kv_incr (i32.const 64) (i32.const 7))))

  ;; Returns the config value "greeting" as a JSON string, or null.
  (func (export "greeting") (param i32 i32) (result i64)
    (local $packed i64) (local $p i32) (local $n i32) (local $out i32)
    (local.set $packed (call $get_config (i32.const 112) (i32.const 8)))
    (if (i64.lt_s (local.get $packed) (i64.const 0))
      (then (i32.store (i32.const 1000) (i32.const 0x6c6c756e)) ;; "null"
            (return (call $respond (i32.const 1000) (i32.const 4)))))
    (local.set $p (i32.wrap_i64 (i64.shr_u (local.get $packed) (i64.const 32))))
    (local.set $n (i32.wrap_i64 (local.get $packed)))
    (local.set $out (call $alloc (i32.add (local.get $n) (i32.const 2))))
    (i32.store8 (local.get $out) (i32.const 34))
    (memory.copy (i32.add (local.get $out) (i32.const 1)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (local.get $out) (i32.add (local.get $n) (i32.const 1))) (i32.const 34))
    (call $respond (local.get $out) (i32.add (local.get $n) (i32.const 2))))

  ;; Emits an event and logs a line; returns the emit status.
  (func (export "announce") (param i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 128) (i32.const 15))
    (call $respond_int (call $emit_event (i32.const 80) (i32.const 27))))

  ;; Passes the params (an HTTP request) to the host; returns its envelope as is.
  (func (export "http") (param $p i32) (param $n i32) (result i64)
    (call $http_request (local.get $p) (local.get $n)))

  ;; Hands the host an out-of-bounds key: the host refuses, the guest lives on.
  (func (export "hostile_key") (param i32 i32) (result i64)
    (call $respond_int (call $kv_set (i32.const 0x7FFFFFF0) (i32.const 64) (i32.const 0) (i32.const 1))))
)
