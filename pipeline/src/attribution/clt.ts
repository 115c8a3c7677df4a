// What attribution needs from a cross-layer transcoder: circuit-tracer's inference layout in raw
// model units (structurally the transcoder's CltWeights).
//   W_enc[ℓ] [F, d], b_enc[ℓ] [F], threshold[ℓ] [F] (JumpReLU: a = pre·[pre > θ], transcoder/jumprelu.ts),
//   W_dec[ℓ] [F, L−ℓ, d] (block k writes to layer ℓ+k), b_dec[j] [d].
// Features read blocks.ℓ.hook_resid_mid and write blocks.j.hook_mlp_out.
export { jumpReluActivations, preActivations } from "../transcoder/index.ts";

export interface CltLike {
  shape: { nLayers: number; dModel: number; nFeatures: number };
  wEnc: Float32Array[];
  bEnc: Float32Array[];
  threshold: Float32Array[];
  wDec: Float32Array[];
  bDec: Float32Array[];
}

export function checkClt(clt: CltLike, nLayers: number, dModel: number): void {
  const { nLayers: L, dModel: d, nFeatures: F } = clt.shape;
  if (L !== nLayers || d !== dModel) {
    throw new Error(`the CLT (${L} layers, d=${d}) does not fit the model (${nLayers} layers, d=${dModel})`);
  }
  for (let l = 0; l < L; l++) {
    const ok =
      clt.wEnc[l]?.length === F * d &&
      clt.bEnc[l]?.length === F &&
      clt.threshold[l]?.length === F &&
      clt.wDec[l]?.length === F * (L - l) * d &&
      clt.bDec[l]?.length === d;
    if (!ok) throw new Error(`CLT layer ${l}: tensor sizes do not match [F=${F}, d=${d}, L=${L}]`);
  }
}

/** Decoder row of feature i of source layer ℓ writing to layer j ≥ ℓ. */
export function decoderRow(clt: CltLike, layer: number, index: number, outLayer: number): Float32Array {
  const { nLayers: L, dModel: d } = clt.shape;
  const n = L - layer;
  const off = (index * n + (outLayer - layer)) * d;
  return clt.wDec[layer]!.subarray(off, off + d);
}

export function encoderRow(clt: CltLike, layer: number, index: number): Float32Array {
  const d = clt.shape.dModel;
  return clt.wEnc[layer]!.subarray(index * d, (index + 1) * d);
}
