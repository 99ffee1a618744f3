;; Drops tombstones (records without a value) and keeps the rest: a filter that reads the
;; envelope in place (version, timestamp, partition, topic, key, then the value's length).
(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "rustmq_etl_v1"))
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.lt_s
              (memory.grow (i32.add (i32.div_u (i32.sub (global.get $next)
                                                         (i32.mul (memory.size) (i32.const 65536)))
                                               (i32.const 65536))
                                    (i32.const 1)))
              (i32.const 0))
          (then (return (i32.const 0))))))
    (local.get $p))
  (func (export "process") (param $ptr i32) (param $len i32) (result i64)
    (local $q i32)
    (local $key i32)
    ;; The topic's length is at byte 13; the key's length follows the topic.
    (local.set $q (i32.add (local.get $ptr) (i32.const 13)))
    (local.set $q (i32.add (i32.add (local.get $q) (i32.const 4)) (i32.load (local.get $q))))
    (local.set $key (i32.load (local.get $q)))
    (local.set $q (i32.add (local.get $q) (i32.const 4)))
    (if (i32.gt_s (local.get $key) (i32.const 0))
      (then (local.set $q (i32.add (local.get $q) (local.get $key)))))
    ;; A value length of -1: no value.
    (if (result i64) (i32.eq (i32.load (local.get $q)) (i32.const -1))
      (then (i64.const 1))
      (else (i64.const 0)))))
