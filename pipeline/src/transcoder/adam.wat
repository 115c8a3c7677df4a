;; Adam(W) update of one tensor, in place, float32 arithmetic, four lanes at a time (WebAssembly SIMD).
;; The source of adam-wasm.ts (wasm bytes as base64): after editing, run `npm run build:wasm -w
;; @circuit-atlas/pipeline`; test/transcoder-adam.test.ts fails when the two differ.
;;
;; Per element, with every operation rounded to float32 (optim.ts adamUpdate32 is the same sequence
;; in JS, bit for bit):
;;   g̃ = gs·g                         gs: global-norm clipping factor
;;   m ← b1·m + (1−b1)·g̃
;;   v ← b2·v + (1−b2)·g̃·g̃            ((1−b2)·g̃)·g̃, left to right
;;   p ← wd·p − ss·m / (√v·isb + eps)  ss = lr/(1−b1^t), isb = 1/√(1−b2^t), wd = 1 − lr·λ_wd
;; p, g, m, v are byte offsets of four float32 tensors of n elements in the imported memory (shared, so
;; the worker threads of optim.ts run the same kernel on other element ranges of the same tensors).
(module
  (import "env" "memory" (memory 1 65536 shared))
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $b1 f64) (param $b2 f64) (param $ss f64) (param $isb f64) (param $eps f64) (param $wd f64) (param $gs f64)
    (local $end i32) (local $end4 i32)
    (local $B1 v128) (local $B2 v128) (local $C1 v128) (local $C2 v128) (local $SS v128) (local $ISB v128)
    (local $EPS v128) (local $WD v128) (local $GS v128)
    (local $gi v128) (local $mi v128) (local $vi v128)
    (local.set $B1 (f32x4.splat (f32.demote_f64 (local.get $b1))))
    (local.set $B2 (f32x4.splat (f32.demote_f64 (local.get $b2))))
    (local.set $C1 (f32x4.splat (f32.demote_f64 (f64.sub (f64.const 1) (local.get $b1)))))
    (local.set $C2 (f32x4.splat (f32.demote_f64 (f64.sub (f64.const 1) (local.get $b2)))))
    (local.set $SS (f32x4.splat (f32.demote_f64 (local.get $ss))))
    (local.set $ISB (f32x4.splat (f32.demote_f64 (local.get $isb))))
    (local.set $EPS (f32x4.splat (f32.demote_f64 (local.get $eps))))
    (local.set $WD (f32x4.splat (f32.demote_f64 (local.get $wd))))
    (local.set $GS (f32x4.splat (f32.demote_f64 (local.get $gs))))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    ;; four elements per iteration
    (block $quadsDone
      (loop $quads
        (br_if $quadsDone (i32.ge_u (local.get $p) (local.get $end4)))
        (local.set $gi (f32x4.mul (local.get $GS) (v128.load (local.get $g))))
        (local.set $mi (f32x4.add
          (f32x4.mul (local.get $B1) (v128.load (local.get $m)))
          (f32x4.mul (local.get $C1) (local.get $gi))))
        (local.set $vi (f32x4.add
          (f32x4.mul (local.get $B2) (v128.load (local.get $v)))
          (f32x4.mul (f32x4.mul (local.get $C2) (local.get $gi)) (local.get $gi))))
        (v128.store (local.get $m) (local.get $mi))
        (v128.store (local.get $v) (local.get $vi))
        (v128.store (local.get $p) (f32x4.sub
          (f32x4.mul (local.get $WD) (v128.load (local.get $p)))
          (f32x4.div
            (f32x4.mul (local.get $SS) (local.get $mi))
            (f32x4.add (f32x4.mul (f32x4.sqrt (local.get $vi)) (local.get $ISB)) (local.get $EPS)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $m (i32.add (local.get $m) (i32.const 16)))
        (local.set $v (i32.add (local.get $v) (i32.const 16)))
        (br $quads)))
    ;; the last n mod 4 elements one at a time, in lane 0 (same operations)
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $gi (f32x4.mul (local.get $GS) (v128.load32_zero (local.get $g))))
        (local.set $mi (f32x4.add
          (f32x4.mul (local.get $B1) (v128.load32_zero (local.get $m)))
          (f32x4.mul (local.get $C1) (local.get $gi))))
        (local.set $vi (f32x4.add
          (f32x4.mul (local.get $B2) (v128.load32_zero (local.get $v)))
          (f32x4.mul (f32x4.mul (local.get $C2) (local.get $gi)) (local.get $gi))))
        (v128.store32_lane 0 (local.get $m) (local.get $mi))
        (v128.store32_lane 0 (local.get $v) (local.get $vi))
        (v128.store32_lane 0 (local.get $p) (f32x4.sub
          (f32x4.mul (local.get $WD) (v128.load32_zero (local.get $p)))
          (f32x4.div
            (f32x4.mul (local.get $SS) (local.get $mi))
            (f32x4.add (f32x4.mul (f32x4.sqrt (local.get $vi)) (local.get $ISB)) (local.get $EPS)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (local.set $m (i32.add (local.get $m) (i32.const 4)))
        (local.set $v (i32.add (local.get $v) (i32.const 4)))
        (br $tail))))
)
