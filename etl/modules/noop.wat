;; Keeps every record as it is: the smallest module of ABI rustmq_etl_v1 (a baseline for
;; measuring what running a module costs).
(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "rustmq_etl_v1"))
  ;; A bump allocator: enough for a module that never frees (one instance per batch).
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
    (i64.const 0)))
