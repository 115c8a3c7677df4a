// CLT math: JumpReLU pseudo-gradients, each loss term against float64 plain-TS re-computation, the
// fused step's gradients against tfjs autodiff and finite differences, decoder masking, folding.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { FusedStep } from "../src/transcoder/fused.ts";
import { jumpRelu, jumpStep } from "../src/transcoder/jumprelu.ts";
import { TfStep } from "../src/transcoder/loss.ts";
import {
  allocParams,
  type CltParams,
  type CltShape,
  cloneParams,
  foldParams,
  initParams,
  paramList,
} from "../src/transcoder/params.ts";
import { Rng } from "../src/transcoder/rng.ts";
import type { LossCoefs } from "../src/transcoder/step.ts";

await tf.setBackend("cpu");

function randn(rng: Rng, n: number, s = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * s);
}

/** Random params with thresholds spread around the pre-activation scale. */
function randomParams(shape: CltShape, seed: number): CltParams {
  const rng = new Rng(seed);
  const p = allocParams(shape);
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  for (let l = 0; l < L; l++) {
    p.wEnc[l]!.set(randn(rng, d * F, 1 / Math.sqrt(d)));
    p.bEnc[l]!.set(randn(rng, F, 0.3));
    p.logTheta[l]!.set(Float32Array.from({ length: F }, () => Math.log(0.2 + 0.6 * rng.next())));
    p.wDec[l]!.set(randn(rng, F * (L - l) * d, 0.2));
  }
  p.bDec.set(randn(rng, L * d, 0.1));
  return p;
}

/** The loss in float64 plain TS, straight from the formula (independent of both implementations). */
function loss64(p: CltParams, x: Float32Array, y: Float32Array, B: number, k: LossCoefs) {
  const { nLayers: L, dModel: d, nFeatures: F } = p.shape;
  let mse = 0;
  let sp = 0;
  let pre = 0;
  const yhat = new Float64Array(B * L * d);
  for (let t = 0; t < B; t++) for (let q = 0; q < L * d; q++) yhat[t * L * d + q] = p.bDec[q]!;
  for (let l = 0; l < L; l++) {
    const n = L - l;
    const norms = new Float64Array(F);
    for (let i = 0; i < F; i++) {
      let s = 0;
      for (let q = 0; q < n * d; q++) s += p.wDec[l]![i * n * d + q]! ** 2;
      norms[i] = Math.sqrt(s);
    }
    for (let t = 0; t < B; t++) {
      for (let i = 0; i < F; i++) {
        let z = p.bEnc[l]![i]!;
        for (let r = 0; r < d; r++) z += x[t * L * d + l * d + r]! * p.wEnc[l]![r * F + i]!;
        const th = Math.exp(p.logTheta[l]![i]!);
        const a = z > th ? z : 0;
        sp += Math.tanh(k.c * norms[i]! * a);
        pre += Math.max(0, th - z) * norms[i]!;
        if (a !== 0) {
          for (let kk = 0; kk < n; kk++) {
            for (let r = 0; r < d; r++) {
              yhat[t * L * d + (l + kk) * d + r]! += a * p.wDec[l]![(i * n + kk) * d + r]!;
            }
          }
        }
      }
    }
  }
  for (let q = 0; q < B * L * d; q++) mse += (yhat[q]! - y[q]!) ** 2;
  return { mse: mse / B, sparsity: (k.lambda * sp) / B, preAct: (k.lambdaPre * pre) / B, yhat };
}

const shape: CltShape = { nLayers: 3, dModel: 6, nFeatures: 10 };
const B = 16;
const coefs: LossCoefs = { lambda: 0.7, c: 2.5, lambdaPre: 0.3, bandwidth: 0.4 };

function batch(seed: number) {
  const rng = new Rng(seed);
  const { nLayers: L, dModel: d } = shape;
  return { x: randn(rng, B * L * d), y: randn(rng, B * L * d) };
}

test("JumpReLU forward and z-gradient match finite differences away from the threshold", () => {
  const zv = [-1.3, -0.2, 0.05, 0.31, 0.9, 1.7, 2.4, -0.7];
  const thv = [0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0];
  const eps = 0.1;
  const z = tf.tensor1d(zv);
  const th = tf.tensor1d(thv);
  const fwd = jumpRelu(z, th, eps).arraySync() as number[];
  fwd.forEach((v, i) => {
    assert.equal(v + 0, zv[i]! > thv[i]! ? Math.fround(zv[i]!) : 0);
  });
  // weights make the check sensitive to each element
  const w = tf.tensor1d([1.1, -0.4, 0.7, 2.0, -1.5, 0.3, 0.9, -0.8]);
  const gz = tf
    .grad((zz: tf.Tensor) => tf.sum(tf.mul(jumpRelu(zz, th, eps), w)))(z)
    .arraySync() as number[];
  const h = 1e-3;
  for (let i = 0; i < zv.length; i++) {
    const f = (dz: number) =>
      zv.reduce((s, v, j) => {
        const zz = j === i ? v + dz : v;
        return s + (zz > thv[j]! ? zz : 0) * [1.1, -0.4, 0.7, 2.0, -1.5, 0.3, 0.9, -0.8][j]!;
      }, 0);
    const fd = (f(h) - f(-h)) / (2 * h);
    assert.ok(Math.abs(gz[i]! - fd) < 1e-4, `dz[${i}] ${gz[i]} vs fd ${fd}`);
  }
});

test("JumpReLU threshold pseudo-gradient −(θ/ε)·rect((z−θ)/ε), summed over the batch, and log-param chain rule", () => {
  const eps = 0.5;
  // rows = tokens, cols = features; feature 0 has z within ε/2 of θ for two tokens
  const zv = [
    [0.9, 0.1, 2.0],
    [1.2, 0.0, 0.5],
    [1.3, 0.3, 1.74],
  ];
  const thv = [1.0, 0.4, 2.0];
  const dy = [
    [1.0, 2.0, 3.0],
    [-2.0, 0.5, 1.0],
    [4.0, 1.0, -1.0],
  ];
  const z = tf.tensor2d(zv);
  const dyT = tf.tensor2d(dy);
  const logTh = tf.tensor1d(thv.map(Math.log));
  const [gTheta] = tf
    .grads((zz: tf.Tensor, th: tf.Tensor) => tf.sum(tf.mul(jumpRelu(zz, th, eps), dyT)))([z, tf.tensor1d(thv)])
    .slice(1);
  const gLog = tf.grad((lt: tf.Tensor) => tf.sum(tf.mul(jumpRelu(z, tf.exp(lt), eps), dyT)))(logTh);
  const gt = gTheta!.arraySync() as number[];
  const gl = gLog.arraySync() as number[];
  for (let i = 0; i < 3; i++) {
    let want = 0;
    for (let t = 0; t < 3; t++) {
      const u = (zv[t]![i]! - thv[i]!) / eps;
      if (Math.abs(u) < 0.5) want += -(thv[i]! / eps) * dy[t]![i]!;
    }
    assert.ok(Math.abs(gt[i]! - want) < 1e-5, `θ[${i}]: ${gt[i]} vs ${want}`);
    assert.ok(Math.abs(gl[i]! - want * thv[i]!) < 1e-5, `logθ[${i}]: ${gl[i]} vs ${want * thv[i]!}`);
  }
  // sanity: feature 0 has in-window tokens 0 (z=.9), 1 (1.2); token 2 (1.3) is outside (|u|=0.6)
  assert.ok(Math.abs(gt[0]! - -(1 / eps) * (1.0 - 2.0)) < 1e-5, "Math.abs(gt[0]! - -(1 / eps) * (1.0 - 2.0)) < 1e-5");
});

test("step function: zero z-gradient, −(1/ε)·rect θ-gradient", () => {
  const eps = 0.2;
  const z = tf.tensor1d([0.95, 1.2, 0.5]);
  const th = tf.tensor1d([1.0, 1.0, 1.0]);
  assert.deepEqual(jumpStep(z, th, eps).arraySync(), [0, 1, 0]);
  const [gz, gth] = tf.grads((zz: tf.Tensor, t: tf.Tensor) => tf.sum(jumpStep(zz, t, eps)))([z, th]);
  assert.deepEqual(gz!.arraySync(), [0, 0, 0]);
  const g = gth!.arraySync() as number[];
  assert.ok(Math.abs(g[0]! - -5) < 1e-5 && g[1] === 0 && g[2] === 0, String(g));
});

test("each loss term (fused and tfjs) equals a float64 plain-TS re-computation", () => {
  const p = randomParams(shape, 1);
  const { x, y } = batch(2);
  const want = loss64(p, x, y, B, coefs);
  const fused = new FusedStep(shape, B).run(p, x, y, coefs, null);
  const ref = new TfStep(shape, B).run(p, x, y, coefs, null);
  for (const st of [fused, ref]) {
    assert.ok(Math.abs(st.mse - want.mse) / want.mse < 1e-5, `mse ${st.mse} vs ${want.mse}`);
    assert.ok(Math.abs(st.sparsity - want.sparsity) / want.sparsity < 1e-5, `sp ${st.sparsity} vs ${want.sparsity}`);
    assert.ok(Math.abs(st.preAct - want.preAct) / want.preAct < 1e-5, `pre ${st.preAct} vs ${want.preAct}`);
    assert.ok(
      Math.abs(st.loss - (want.mse + want.sparsity + want.preAct)) / st.loss < 1e-5,
      "Math.abs(st.loss - (want.mse + want.sparsity + want.preAct)) / st.loss < 1e-5",
    );
  }
  assert.ok(want.sparsity > 0 && want.preAct > 0, "want.sparsity > 0 && want.preAct > 0");
  // active counts are an integer identity
  assert.deepEqual(Array.from(fused.active), Array.from(ref.active));
});

test("fused gradients equal tfjs autodiff through the customGrad JumpReLU (all parameters)", () => {
  const p = randomParams(shape, 3);
  const { x, y } = batch(4);
  const gF = allocParams(shape);
  const gT = allocParams(shape);
  new FusedStep(shape, B).run(p, x, y, coefs, gF);
  new TfStep(shape, B).run(p, x, y, coefs, gT);
  const lt = paramList(gT);
  for (const [name, a] of paramList(gF)) {
    const b = lt.find(([n]) => n === name)![1];
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(b[i]!));
      maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    }
    assert.ok(maxAbs > 0, `${name}: zero gradient`);
    assert.ok(maxDiff <= 1e-4 * Math.max(1, maxAbs), `${name}: max diff ${maxDiff} (max ${maxAbs})`);
  }
});

test("fused gradients of W_enc, b_enc, W_dec, b_dec match central finite differences (float64 loss)", () => {
  const p = randomParams(shape, 5);
  const { x, y } = batch(6);
  const g = allocParams(shape);
  new FusedStep(shape, B).run(p, x, y, coefs, g);
  const total = (q: CltParams) => {
    const r = loss64(q, x, y, B, coefs);
    return r.mse + r.sparsity + r.preAct;
  };
  const rng = new Rng(9);
  const h = 1e-2;
  let checked = 0;
  for (const [name] of paramList(p)) {
    if (name.startsWith("log_threshold")) continue; // pseudo-gradient, tested above
    for (let trial = 0; trial < 4; trial++) {
      const arr = paramList(p).find(([n]) => n === name)![1];
      const idx = rng.int(arr.length);
      const qp = cloneParams(p);
      const qm = cloneParams(p);
      paramList(qp).find(([n]) => n === name)![1][idx]! += h;
      paramList(qm).find(([n]) => n === name)![1][idx]! -= h;
      const fd = (total(qp) - total(qm)) / (2 * h);
      const an = paramList(g).find(([n]) => n === name)![1][idx]!;
      // a perturbation that flips a feature on/off makes the loss discontinuous: skip those
      const fp = new FusedStep(shape, B).run(qp, x, y, coefs, null).active;
      const fm = new FusedStep(shape, B).run(qm, x, y, coefs, null).active;
      if (Array.from(fp).join() !== Array.from(fm).join()) continue;
      assert.ok(Math.abs(an - fd) < 2e-3 * Math.max(1, Math.abs(fd)), `${name}[${idx}]: ${an} vs fd ${fd}`);
      checked++;
    }
  }
  assert.ok(checked >= 10, `only ${checked} finite-difference checks ran`);
});

test("decoder masking: layer-ℓ features never write to an earlier layer", () => {
  const p = randomParams(shape, 7);
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  for (let l = 0; l < L; l++) assert.equal(p.wDec[l]!.length, F * (L - l) * d);
  const { x, y } = batch(8);
  const base = loss64(p, x, y, B, coefs).yhat;
  for (let l = 0; l < L; l++) {
    const q = cloneParams(p);
    q.wDec[l]!.fill(5); // huge change to every decoder of layer ℓ
    q.bEnc[l]!.fill(10); // and every layer-ℓ feature on
    const yh = loss64(q, x, y, B, coefs).yhat;
    for (let j = 0; j < L; j++) {
      let diff = 0;
      for (let t = 0; t < B; t++)
        for (let r = 0; r < d; r++) diff += Math.abs(yh[t * L * d + j * d + r]! - base[t * L * d + j * d + r]!);
      if (j < l) assert.equal(diff, 0, `layer-${l} features changed layer ${j}`);
      else assert.ok(diff > 0, `layer-${l} features do not reach layer ${j}`);
    }
  }
});

test("normalization folding leaves pre-activations and reconstructions unchanged", () => {
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const rng = new Rng(11);
  const n = 64;
  const xRaw = randn(rng, n * L * d, 7);
  const yRaw = randn(rng, n * L * d, 0.3);
  const norm = { sIn: Float64Array.from([0.5, 2, 3.5]), sOut: Float64Array.from([4, 0.25, 1.5]) };
  const scale = (a: Float32Array, s: Float64Array) => Float32Array.from(a, (v, q) => v * s[Math.floor(q / d) % L]!);
  const xn = scale(xRaw, norm.sIn);
  const yn = scale(yRaw, norm.sOut);
  const p = initParams(shape, xn, yn, n, { seed: 1, thresholdInit: 1, initFiringRate: 0.2, decoderInitNorm: 0.5 });
  // init puts the quantile token exactly on θ; move off it so rounding cannot flip a feature
  for (const b of p.bEnc) for (let i = 0; i < b.length; i++) b[i]! += 0.0123;
  const w = foldParams(p, norm);
  // reference: normalized-space computation, then de-normalize the output
  for (let t = 0; t < 5; t++) {
    for (let l = 0; l < L; l++) {
      for (let i = 0; i < F; i++) {
        let zn = p.bEnc[l]![i]!;
        let zf = w.bEnc[l]![i]!;
        for (let r = 0; r < d; r++) {
          zn += xn[t * L * d + l * d + r]! * p.wEnc[l]![r * F + i]!;
          zf += xRaw[t * L * d + l * d + r]! * w.wEnc[l]![i * d + r]!;
        }
        assert.ok(Math.abs(zn - zf) < 1e-4 * Math.max(1, Math.abs(zn)), `pre-activation ${zn} vs ${zf}`);
        assert.ok(
          Math.abs(w.threshold[l]![i]! - Math.exp(p.logTheta[l]![i]!)) < 1e-7,
          "Math.abs(w.threshold[l]![i]! - Math.exp(p.logTheta[l]![i]!)) < 1e-7",
        );
      }
    }
  }
  const r = loss64(p, xn, yn, n, coefs).yhat;
  // folded reconstruction, computed directly from the folded weights on raw inputs
  const folded = (() => {
    const out = new Float64Array(n * L * d);
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < L; j++) for (let r2 = 0; r2 < d; r2++) out[t * L * d + j * d + r2] = w.bDec[j]![r2]!;
      for (let l = 0; l < L; l++) {
        for (let i = 0; i < F; i++) {
          let z = w.bEnc[l]![i]!;
          for (let r2 = 0; r2 < d; r2++) z += xRaw[t * L * d + l * d + r2]! * w.wEnc[l]![i * d + r2]!;
          if (!(z > w.threshold[l]![i]!)) continue;
          for (let k = 0; k < L - l; k++) {
            for (let r2 = 0; r2 < d; r2++) {
              out[t * L * d + (l + k) * d + r2]! += z * w.wDec[l]![(i * (L - l) + k) * d + r2]!;
            }
          }
        }
      }
    }
    return out;
  })();
  let maxErr = 0;
  let maxAbs = 0;
  for (let q = 0; q < n * L * d; q++) {
    const j = Math.floor(q / d) % L;
    maxErr = Math.max(maxErr, Math.abs(r[q]! / norm.sOut[j]! - folded[q]!));
    maxAbs = Math.max(maxAbs, Math.abs(folded[q]!));
  }
  assert.ok(maxErr < 1e-4 * maxAbs, `folded reconstruction differs by ${maxErr}`);
});

test("data-dependent init: unit-std pre-activations firing at the target rate, b_dec = mean target", () => {
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const rng = new Rng(12);
  const n = 2000;
  const x = randn(rng, n * L * d, 1);
  const y = Float32Array.from({ length: n * L * d }, (_, q) => 0.5 + 0.1 * rng.normal() + (q % d));
  const p = initParams(shape, x, y, n, { seed: 3, thresholdInit: 1, initFiringRate: 0.1, decoderInitNorm: 0.2 });
  const st = new FusedStep(shape, n).run(p, x, y, { ...coefs, lambda: 0, lambdaPre: 0 }, null);
  for (let l = 0; l < L; l++) {
    const rate = st.active[l]! / (n * F);
    assert.ok(Math.abs(rate - 0.1) < 0.01, `layer ${l} fires at ${rate}`);
    for (let i = 0; i < F; i++) {
      let s = 0;
      for (let q = 0; q < (L - l) * d; q++) s += p.wDec[l]![i * (L - l) * d + q]! ** 2;
      assert.ok(Math.abs(Math.sqrt(s) - 0.2) < 1e-5, "Math.abs(Math.sqrt(s) - 0.2) < 1e-5");
    }
  }
  for (let r = 0; r < d; r++)
    assert.ok(Math.abs(p.bDec[r]! - (0.5 + r)) < 0.01, "Math.abs(p.bDec[r]! - (0.5 + r)) < 0.01");
});
