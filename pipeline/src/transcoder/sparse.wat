;; The sparse CLT step's row kernels (sparse-kernel.ts drives them), float32, four lanes at a time
;; (WebAssembly SIMD). The source of sparse-wasm.ts (wasm bytes as base64): after editing, run
;; `npm run build:wasm -w @circuit-atlas/pipeline`; test/transcoder-sparse.test.ts fails when the two
;; differ.
;;
;; All pointers are byte offsets into the imported (shared) memory. A layer's candidates that need
;; work are listed feature by feature: entries fs[i] .. fs[i+1]) of tok (byte offset of the token's row
;; in Y / G / X) and act (a = z), the feature's active entries first (fs[i] .. fa[i]), then those
;; whose dL/da is needed although they do not fire (within ε/2 below θ). Each decoder
;; call covers one column tile [c0, c1) of every decoder row, so the tile of G or Y the batch touches
;; (B rows of c1 − c0 floats) stays in cache while the feature rows stream past once. Threads split
;; the forward by columns and the backward by features, so they never write the same bytes.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; y[0..n) += a·x[0..n)
  (func $axpy (param $n i32) (param $a f32) (param $x i32) (param $y i32)
    (local $A v128) (local $end i32) (local $end8 i32)
    (local.set $A (f32x4.splat (local.get $a)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end8 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done8
      (loop $l8
        (br_if $done8 (i32.ge_u (local.get $x) (local.get $end8)))
        (v128.store (local.get $y)
          (f32x4.add (v128.load (local.get $y)) (f32x4.mul (local.get $A) (v128.load (local.get $x)))))
        (v128.store offset=16 (local.get $y)
          (f32x4.add (v128.load offset=16 (local.get $y)) (f32x4.mul (local.get $A) (v128.load offset=16 (local.get $x)))))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (local.set $y (i32.add (local.get $y) (i32.const 32)))
        (br $l8)))
    (block $done1
      (loop $l1
        (br_if $done1 (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $y)
          (f32.add (f32.load (local.get $y)) (f32.mul (local.get $a) (f32.load (local.get $x)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (br $l1))))

  ;; Σ x·w over [0..n) (two vector accumulators)
  (func $dot (param $n i32) (param $x i32) (param $w i32) (result f32)
    (local $s0 v128) (local $s1 v128) (local $end i32) (local $end8 i32) (local $s f32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end8 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done8
      (loop $l8
        (br_if $done8 (i32.ge_u (local.get $x) (local.get $end8)))
        (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (local.get $x)) (v128.load (local.get $w)))))
        (local.set $s1 (f32x4.add (local.get $s1)
          (f32x4.mul (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $w)))))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (local.set $w (i32.add (local.get $w) (i32.const 32)))
        (br $l8)))
    (local.set $s (call $hsum (f32x4.add (local.get $s0) (local.get $s1))))
    (block $done1
      (loop $l1
        (br_if $done1 (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $x)) (f32.load (local.get $w)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $w (i32.add (local.get $w) (i32.const 4)))
        (br $l1)))
    (local.get $s))

  ;; Σ x·w over [0..n), and y += a·x in the same pass (x read once for both)
  (func $dotAxpy (param $n i32) (param $a f32) (param $x i32) (param $w i32) (param $y i32) (result f32)
    (local $A v128) (local $s0 v128) (local $s1 v128) (local $xv v128) (local $xv1 v128)
    (local $end i32) (local $end8 i32) (local $s f32) (local $xs f32)
    (local.set $A (f32x4.splat (local.get $a)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end8 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done8
      (loop $l8
        (br_if $done8 (i32.ge_u (local.get $x) (local.get $end8)))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $xv1 (v128.load offset=16 (local.get $x)))
        (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $xv) (v128.load (local.get $w)))))
        (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $xv1) (v128.load offset=16 (local.get $w)))))
        (v128.store (local.get $y) (f32x4.add (v128.load (local.get $y)) (f32x4.mul (local.get $A) (local.get $xv))))
        (v128.store offset=16 (local.get $y)
          (f32x4.add (v128.load offset=16 (local.get $y)) (f32x4.mul (local.get $A) (local.get $xv1))))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (local.set $w (i32.add (local.get $w) (i32.const 32)))
        (local.set $y (i32.add (local.get $y) (i32.const 32)))
        (br $l8)))
    (local.set $s (call $hsum (f32x4.add (local.get $s0) (local.get $s1))))
    (block $done1
      (loop $l1
        (br_if $done1 (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $xs (f32.load (local.get $x)))
        (local.set $s (f32.add (local.get $s) (f32.mul (local.get $xs) (f32.load (local.get $w)))))
        (f32.store (local.get $y) (f32.add (f32.load (local.get $y)) (f32.mul (local.get $a) (local.get $xs))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $w (i32.add (local.get $w) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (br $l1)))
    (local.get $s))

  ;; y[0..n) = c·x[0..n)
  (func $scale (param $n i32) (param $c f32) (param $x i32) (param $y i32)
    (local $C v128) (local $end i32) (local $end4 i32)
    (local.set $C (f32x4.splat (local.get $c)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.ge_u (local.get $x) (local.get $end4)))
        (v128.store (local.get $y) (f32x4.mul (local.get $C) (v128.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $l4)))
    (block $done1
      (loop $l1
        (br_if $done1 (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $y) (f32.mul (local.get $c) (f32.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (br $l1))))

  ;; Σ y² over [0..n) of float32 values, accumulated in float64 lane pairs
  (func $sumSq (param $n i32) (param $y i32) (result f64)
    (local $v v128) (local $s0 v128) (local $s1 v128) (local $end i32) (local $end4 i32) (local $r f64) (local $ys f64)
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.ge_u (local.get $y) (local.get $end4)))
        (local.set $v (v128.load (local.get $y)))
        (local.set $s0 (f64x2.add (local.get $s0)
          (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (f64x2.promote_low_f32x4 (local.get $v)))))
        (local.set $v (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
        (local.set $s1 (f64x2.add (local.get $s1)
          (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (f64x2.promote_low_f32x4 (local.get $v)))))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $l4)))
    (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
    (local.set $r (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
    (block $done1
      (loop $l1
        (br_if $done1 (i32.ge_u (local.get $y) (local.get $end)))
        (local.set $ys (f64.promote_f32 (f32.load (local.get $y))))
        (local.set $r (f64.add (local.get $r) (f64.mul (local.get $ys) (local.get $ys))))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (br $l1)))
    (local.get $r))

;; Four entries of one feature at once, so each load of the feature's row (and of its gradient row)
  ;; serves four token rows: y_j[0..n) += a_j·w[0..n). n is a multiple of 4.
  (func $fwd4 (param $n i32) (param $w i32) (param $a1 f32) (param $a2 f32) (param $a3 f32) (param $a4 f32)
    (param $y1 i32) (param $y2 i32) (param $y3 i32) (param $y4 i32)
    (local $A1 v128) (local $A2 v128) (local $A3 v128) (local $A4 v128) (local $wv v128) (local $end i32)
    (local.set $A1 (f32x4.splat (local.get $a1)))
    (local.set $A2 (f32x4.splat (local.get $a2)))
    (local.set $A3 (f32x4.splat (local.get $a3)))
    (local.set $A4 (f32x4.splat (local.get $a4)))
    (local.set $end (i32.add (local.get $w) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $w) (local.get $end)))
        (local.set $wv (v128.load (local.get $w)))
        (v128.store (local.get $y1) (f32x4.add (v128.load (local.get $y1)) (f32x4.mul (local.get $A1) (local.get $wv))))
        (v128.store (local.get $y2) (f32x4.add (v128.load (local.get $y2)) (f32x4.mul (local.get $A2) (local.get $wv))))
        (v128.store (local.get $y3) (f32x4.add (v128.load (local.get $y3)) (f32x4.mul (local.get $A3) (local.get $wv))))
        (v128.store (local.get $y4) (f32x4.add (v128.load (local.get $y4)) (f32x4.mul (local.get $A4) (local.get $wv))))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $y1 (i32.add (local.get $y1) (i32.const 16)))
        (local.set $y2 (i32.add (local.get $y2) (i32.const 16)))
        (local.set $y3 (i32.add (local.get $y3) (i32.const 16)))
        (local.set $y4 (i32.add (local.get $y4) (i32.const 16)))
        (br $l))))

  ;; Four active entries of one feature: ga[0..4) += g_j·w, gw += Σ_j a_j·g_j (in entry order).
  (func $bwd4 (param $n i32) (param $w i32) (param $gw i32) (param $a1 f32) (param $a2 f32) (param $a3 f32) (param $a4 f32)
    (param $g1 i32) (param $g2 i32) (param $g3 i32) (param $g4 i32) (param $ga i32)
    (local $A1 v128) (local $A2 v128) (local $A3 v128) (local $A4 v128) (local $wv v128) (local $y v128)
    (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $v4 v128)
    (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s4 v128) (local $end i32)
    (local.set $A1 (f32x4.splat (local.get $a1)))
    (local.set $A2 (f32x4.splat (local.get $a2)))
    (local.set $A3 (f32x4.splat (local.get $a3)))
    (local.set $A4 (f32x4.splat (local.get $a4)))
    (local.set $end (i32.add (local.get $w) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $w) (local.get $end)))
        (local.set $wv (v128.load (local.get $w)))
        (local.set $v1 (v128.load (local.get $g1)))
        (local.set $v2 (v128.load (local.get $g2)))
        (local.set $v3 (v128.load (local.get $g3)))
        (local.set $v4 (v128.load (local.get $g4)))
        (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $v1) (local.get $wv))))
        (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $v2) (local.get $wv))))
        (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $v3) (local.get $wv))))
        (local.set $s4 (f32x4.add (local.get $s4) (f32x4.mul (local.get $v4) (local.get $wv))))
        (local.set $y (f32x4.add (v128.load (local.get $gw)) (f32x4.mul (local.get $A1) (local.get $v1))))
        (local.set $y (f32x4.add (local.get $y) (f32x4.mul (local.get $A2) (local.get $v2))))
        (local.set $y (f32x4.add (local.get $y) (f32x4.mul (local.get $A3) (local.get $v3))))
        (v128.store (local.get $gw) (f32x4.add (local.get $y) (f32x4.mul (local.get $A4) (local.get $v4))))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $gw (i32.add (local.get $gw) (i32.const 16)))
        (local.set $g1 (i32.add (local.get $g1) (i32.const 16)))
        (local.set $g2 (i32.add (local.get $g2) (i32.const 16)))
        (local.set $g3 (i32.add (local.get $g3) (i32.const 16)))
        (local.set $g4 (i32.add (local.get $g4) (i32.const 16)))
        (br $l)))
    (call $addDots (local.get $ga) (local.get $s1) (local.get $s2) (local.get $s3) (local.get $s4)))

  ;; Four inactive entries of one feature (dL/da only): ga[0..4) += g_j·w.
  (func $dot4 (param $n i32) (param $w i32) (param $g1 i32) (param $g2 i32) (param $g3 i32) (param $g4 i32) (param $ga i32)
    (local $wv v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s4 v128) (local $end i32)
    (local.set $end (i32.add (local.get $w) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $w) (local.get $end)))
        (local.set $wv (v128.load (local.get $w)))
        (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (v128.load (local.get $g1)) (local.get $wv))))
        (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (v128.load (local.get $g2)) (local.get $wv))))
        (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (v128.load (local.get $g3)) (local.get $wv))))
        (local.set $s4 (f32x4.add (local.get $s4) (f32x4.mul (v128.load (local.get $g4)) (local.get $wv))))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $g1 (i32.add (local.get $g1) (i32.const 16)))
        (local.set $g2 (i32.add (local.get $g2) (i32.const 16)))
        (local.set $g3 (i32.add (local.get $g3) (i32.const 16)))
        (local.set $g4 (i32.add (local.get $g4) (i32.const 16)))
        (br $l)))
    (call $addDots (local.get $ga) (local.get $s1) (local.get $s2) (local.get $s3) (local.get $s4)))

  ;; ga[j] += the lane sum of s_j, j = 0..3
  (func $addDots (param $ga i32) (param $s1 v128) (param $s2 v128) (param $s3 v128) (param $s4 v128)
    (f32.store (local.get $ga) (f32.add (f32.load (local.get $ga)) (call $hsum (local.get $s1))))
    (f32.store offset=4 (local.get $ga) (f32.add (f32.load offset=4 (local.get $ga)) (call $hsum (local.get $s2))))
    (f32.store offset=8 (local.get $ga) (f32.add (f32.load offset=8 (local.get $ga)) (call $hsum (local.get $s3))))
    (f32.store offset=12 (local.get $ga) (f32.add (f32.load offset=12 (local.get $ga)) (call $hsum (local.get $s4)))))

  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

;; Decoder forward over one column tile: Y[t, c0..c1) += a·W[i, c0..c1) for every active entry
  ;; (entries fs[i] .. fa[i]) of feature i; four at a time, then one by one. W: the layer's decoder,
  ;; rowW bytes per feature row; Y: where column 0 of the layer's block sits in token row 0 (tok holds
  ;; each row's byte offset from there). c1 − c0 is a multiple of 4.
  (func (export "dec_fwd")
    (param $W i32) (param $rowW i32) (param $Y i32) (param $c0 i32) (param $c1 i32) (param $F i32)
    (param $fs i32) (param $fa i32) (param $tok i32) (param $act i32)
    (local $i i32) (local $k i32) (local $kEnd i32) (local $w i32) (local $n i32) (local $y i32) (local $tp i32) (local $ap i32)
    (local.set $n (i32.sub (local.get $c1) (local.get $c0)))
    (local.set $y (i32.add (local.get $Y) (i32.shl (local.get $c0) (i32.const 2))))
    (local.set $w (i32.add (local.get $W) (i32.shl (local.get $c0) (i32.const 2))))
    (block $featsDone
      (loop $feats
        (br_if $featsDone (i32.ge_u (local.get $i) (local.get $F)))
        (local.set $k (i32.load (i32.add (local.get $fs) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $kEnd (i32.load (i32.add (local.get $fa) (i32.shl (local.get $i) (i32.const 2)))))
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $kEnd)))
            (local.set $tp (i32.add (local.get $tok) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $ap (i32.add (local.get $act) (i32.shl (local.get $k) (i32.const 2))))
            (call $fwd4 (local.get $n) (local.get $w)
              (f32.load (local.get $ap)) (f32.load offset=4 (local.get $ap))
              (f32.load offset=8 (local.get $ap)) (f32.load offset=12 (local.get $ap))
              (i32.add (local.get $y) (i32.load (local.get $tp))) (i32.add (local.get $y) (i32.load offset=4 (local.get $tp)))
              (i32.add (local.get $y) (i32.load offset=8 (local.get $tp))) (i32.add (local.get $y) (i32.load offset=12 (local.get $tp))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $quads)))
        (block $entriesDone
          (loop $entries
            (br_if $entriesDone (i32.ge_u (local.get $k) (local.get $kEnd)))
            (call $axpy (local.get $n)
              (f32.load (i32.add (local.get $act) (i32.shl (local.get $k) (i32.const 2))))
              (local.get $w)
              (i32.add (local.get $y) (i32.load (i32.add (local.get $tok) (i32.shl (local.get $k) (i32.const 2))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $entries)))
        (local.set $w (i32.add (local.get $w) (local.get $rowW)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $feats))))

  ;; Decoder backward over one column tile, feature by feature:
  ;;   gW[i, c0..c1) = coef_i·W[i, c0..c1) + Σ_k act_k·G[t_k, c0..c1)   (active entries fs[i] .. fa[i])
  ;;   ga[k]        += G[t_k, c0..c1)·W[i, c0..c1)           (all entries fs[i] .. fs[i+1]: the tile's
  ;;                                                           part of dL/da)
  ;; for features [i0, i1), four entries at a time, then one by one; coef: float32 per feature (the
  ;; decoder-norm term). Returns Σ gW² over the tile (float64). c1 − c0 is a multiple of 4.
  (func (export "dec_bwd")
    (param $W i32) (param $gW i32) (param $rowW i32) (param $G i32) (param $c0 i32) (param $c1 i32)
    (param $i0 i32) (param $F i32)
    (param $fs i32) (param $fa i32) (param $tok i32) (param $act i32) (param $coef i32) (param $ga i32)
    (result f64)
    (local $i i32) (local $k i32) (local $kAct i32) (local $kEnd i32) (local $w i32) (local $gw i32) (local $n i32)
    (local $g i32) (local $tp i32) (local $ap i32) (local $gap i32) (local $sq f64)
    (local.set $n (i32.sub (local.get $c1) (local.get $c0)))
    (local.set $g (i32.add (local.get $G) (i32.shl (local.get $c0) (i32.const 2))))
    (local.set $i (local.get $i0))
    (local.set $w (i32.add (i32.add (local.get $W) (i32.shl (local.get $c0) (i32.const 2)))
      (i32.mul (local.get $i0) (local.get $rowW))))
    (local.set $gw (i32.add (i32.add (local.get $gW) (i32.shl (local.get $c0) (i32.const 2)))
      (i32.mul (local.get $i0) (local.get $rowW))))
    (block $featsDone
      (loop $feats
        (br_if $featsDone (i32.ge_u (local.get $i) (local.get $F)))
        (call $scale (local.get $n)
          (f32.load (i32.add (local.get $coef) (i32.shl (local.get $i) (i32.const 2))))
          (local.get $w) (local.get $gw))
        (local.set $k (i32.load (i32.add (local.get $fs) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $kAct (i32.load (i32.add (local.get $fa) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $kEnd (i32.load offset=4 (i32.add (local.get $fs) (i32.shl (local.get $i) (i32.const 2)))))
        ;; active entries: dots and the gradient row
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $kAct)))
            (local.set $tp (i32.add (local.get $tok) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $ap (i32.add (local.get $act) (i32.shl (local.get $k) (i32.const 2))))
            (call $bwd4 (local.get $n) (local.get $w) (local.get $gw)
              (f32.load (local.get $ap)) (f32.load offset=4 (local.get $ap))
              (f32.load offset=8 (local.get $ap)) (f32.load offset=12 (local.get $ap))
              (i32.add (local.get $g) (i32.load (local.get $tp))) (i32.add (local.get $g) (i32.load offset=4 (local.get $tp)))
              (i32.add (local.get $g) (i32.load offset=8 (local.get $tp))) (i32.add (local.get $g) (i32.load offset=12 (local.get $tp)))
              (i32.add (local.get $ga) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $quads)))
        (block $actDone
          (loop $acts
            (br_if $actDone (i32.ge_u (local.get $k) (local.get $kAct)))
            (local.set $gap (i32.add (local.get $ga) (i32.shl (local.get $k) (i32.const 2))))
            (f32.store (local.get $gap) (f32.add (f32.load (local.get $gap))
              (call $dotAxpy (local.get $n)
                (f32.load (i32.add (local.get $act) (i32.shl (local.get $k) (i32.const 2))))
                (i32.add (local.get $g) (i32.load (i32.add (local.get $tok) (i32.shl (local.get $k) (i32.const 2)))))
                (local.get $w) (local.get $gw))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $acts)))
        ;; entries near the threshold: dots only
        (block $quads2Done
          (loop $quads2
            (br_if $quads2Done (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $kEnd)))
            (local.set $tp (i32.add (local.get $tok) (i32.shl (local.get $k) (i32.const 2))))
            (call $dot4 (local.get $n) (local.get $w)
              (i32.add (local.get $g) (i32.load (local.get $tp))) (i32.add (local.get $g) (i32.load offset=4 (local.get $tp)))
              (i32.add (local.get $g) (i32.load offset=8 (local.get $tp))) (i32.add (local.get $g) (i32.load offset=12 (local.get $tp)))
              (i32.add (local.get $ga) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $quads2)))
        (block $restDone
          (loop $rest
            (br_if $restDone (i32.ge_u (local.get $k) (local.get $kEnd)))
            (local.set $gap (i32.add (local.get $ga) (i32.shl (local.get $k) (i32.const 2))))
            (f32.store (local.get $gap) (f32.add (f32.load (local.get $gap))
              (call $dot (local.get $n)
                (i32.add (local.get $g) (i32.load (i32.add (local.get $tok) (i32.shl (local.get $k) (i32.const 2)))))
                (local.get $w))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $rest)))
        (local.set $sq (f64.add (local.get $sq) (call $sumSq (local.get $n) (local.get $gw))))
        (local.set $w (i32.add (local.get $w) (local.get $rowW)))
        (local.set $gw (i32.add (local.get $gw) (local.get $rowW)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $feats)))
    (local.get $sq))

  ;; ∂W_enc [d, F] for features [i0, i1), sixteen at a time: column i = base_i·x̄ + Σ_k corr_k·x_{t_k}
  ;; built as a row of tmp (16·d floats), then written transposed (sixteen adjacent floats per row of
  ;; gW). X: column 0 of the layer's block in token row 0; xbar: x̄ (float32, d). Returns Σ gW² (f64).
  (func (export "enc_grad")
    (param $gW i32) (param $F i32) (param $d i32) (param $X i32) (param $i0 i32) (param $i1 i32)
    (param $fs i32) (param $tok i32) (param $corr i32) (param $base i32) (param $xbar i32) (param $tmp i32)
    (result f64)
    (local $ib i32) (local $nb i32) (local $j i32) (local $i i32) (local $k i32) (local $kEnd i32) (local $row i32)
    (local $r i32) (local $v f32) (local $vd f64) (local $sq f64) (local $rowBytes i32) (local $dst i32)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $ib (local.get $i0))
    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $ib) (local.get $i1)))
        (local.set $nb (i32.sub (local.get $i1) (local.get $ib)))
        (if (i32.gt_u (local.get $nb) (i32.const 16)) (then (local.set $nb (i32.const 16))))
        ;; rows of tmp: one feature's column of ∂W_enc each
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $nb)))
            (local.set $i (i32.add (local.get $ib) (local.get $j)))
            (local.set $row (i32.add (local.get $tmp) (i32.mul (local.get $j) (local.get $rowBytes))))
            (call $scale (local.get $d)
              (f32.load (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 2))))
              (local.get $xbar) (local.get $row))
            (local.set $k (i32.load (i32.add (local.get $fs) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $kEnd (i32.load offset=4 (i32.add (local.get $fs) (i32.shl (local.get $i) (i32.const 2)))))
            (block $entriesDone
              (loop $entries
                (br_if $entriesDone (i32.ge_u (local.get $k) (local.get $kEnd)))
                (call $axpy (local.get $d)
                  (f32.load (i32.add (local.get $corr) (i32.shl (local.get $k) (i32.const 2))))
                  (i32.add (local.get $X) (i32.load (i32.add (local.get $tok) (i32.shl (local.get $k) (i32.const 2)))))
                  (local.get $row))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $entries)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cols)))
        ;; transpose into gW[r, ib .. ib+nb)
        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $d)))
            (local.set $dst (i32.add (local.get $gW)
              (i32.shl (i32.add (i32.mul (local.get $r) (local.get $F)) (local.get $ib)) (i32.const 2))))
            (local.set $row (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 2))))
            (local.set $j (i32.const 0))
            (block $tDone
              (loop $t
                (br_if $tDone (i32.ge_u (local.get $j) (local.get $nb)))
                (local.set $v (f32.load (local.get $row)))
                (f32.store (local.get $dst) (local.get $v))
                (local.set $vd (f64.promote_f32 (local.get $v)))
                (local.set $sq (f64.add (local.get $sq) (f64.mul (local.get $vd) (local.get $vd))))
                (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $t)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $ib (i32.add (local.get $ib) (i32.const 16)))
        (br $blocks)))
    (local.get $sq))
  ;; out[i] = ‖W[i, 0..n)‖ (float64 sum of squares, float32 result) for rows [i0, i1): the decoder norms.
  (func (export "row_norms") (param $W i32) (param $n i32) (param $i0 i32) (param $i1 i32) (param $out i32)
    (local $i i32) (local $w i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $i (local.get $i0))
    (local.set $w (i32.add (local.get $W) (i32.mul (local.get $i0) (local.get $rowBytes))))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $i1)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (f32.demote_f64 (f64.sqrt (call $sumSq (local.get $n) (local.get $w)))))
        (local.set $w (i32.add (local.get $w) (local.get $rowBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; out[i] = Σ_r xbar[r]·W[r, i] (float64; xbar float64) for columns [i0, i1) of W [d, F]: with the
  ;; batch's column sums of x as xbar, the sum of the pre-activations over the batch less B·b_enc.
  (func (export "pre_sums") (param $W i32) (param $d i32) (param $F i32) (param $i0 i32) (param $i1 i32)
    (param $xbar i32) (param $out i32)
    (local $r i32) (local $X v128) (local $xs f64) (local $row i32) (local $o i32) (local $end i32) (local $end4 i32)
    (local $v v128) (local $oStart i32)
    (local.set $oStart (i32.add (local.get $out) (i32.shl (local.get $i0) (i32.const 3))))
    (memory.fill (local.get $oStart) (i32.const 0) (i32.shl (i32.sub (local.get $i1) (local.get $i0)) (i32.const 3)))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $d)))
        (local.set $xs (f64.load (i32.add (local.get $xbar) (i32.shl (local.get $r) (i32.const 3)))))
        (local.set $X (f64x2.splat (local.get $xs)))
        (local.set $row (i32.add (local.get $W)
          (i32.shl (i32.add (i32.mul (local.get $r) (local.get $F)) (local.get $i0)) (i32.const 2))))
        (local.set $end (i32.add (local.get $row) (i32.shl (i32.sub (local.get $i1) (local.get $i0)) (i32.const 2))))
        (local.set $end4 (i32.add (local.get $row)
          (i32.shl (i32.and (i32.sub (local.get $i1) (local.get $i0)) (i32.const -4)) (i32.const 2))))
        (local.set $o (local.get $oStart))
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.ge_u (local.get $row) (local.get $end4)))
            (local.set $v (v128.load (local.get $row)))
            (v128.store (local.get $o)
              (f64x2.add (v128.load (local.get $o)) (f64x2.mul (local.get $X) (f64x2.promote_low_f32x4 (local.get $v)))))
            (v128.store offset=16 (local.get $o)
              (f64x2.add (v128.load offset=16 (local.get $o))
                (f64x2.mul (local.get $X)
                  (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))))
            (local.set $row (i32.add (local.get $row) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.const 32)))
            (br $quads)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $row) (local.get $end)))
            (f64.store (local.get $o)
              (f64.add (f64.load (local.get $o)) (f64.mul (local.get $xs) (f64.promote_f32 (f32.load (local.get $row))))))
            (local.set $row (i32.add (local.get $row) (i32.const 4)))
            (local.set $o (i32.add (local.get $o) (i32.const 8)))
            (br $tail)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

)
