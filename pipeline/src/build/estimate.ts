// Rough time and memory per stage for `--dry-run` and the resource line printed before a build.
// FLOP counts of the dense work divided by a sustained rate; the CLT's memory is its parameters,
// gradients and two Adam moments in float32 plus the activation buffer. Estimates, not promises:
// they say whether a config fits this machine and roughly how long it takes.
import { freemem, totalmem } from "node:os";
import type { BuildConfig } from "./config.ts";

export interface ModelShape {
  nLayers: number;
  dModel: number;
  nParams: number;
  nCtx: number;
}

export interface StageEstimate {
  stage: string;
  seconds: number;
  bytes: number;
}

/** Sustained float32 GEMM rate of the backend, FLOP/s (measured by `npm run bench:model` on this 2-core box). */
export function sustainedFlops(backend: string): number {
  return backend.includes("blas") || backend === "tensorflow" ? 25e9 : 1e9;
}

export function estimateStages(cfg: BuildConfig, m: ModelShape, backend: string): StageEstimate[] {
  const rate = sustainedFlops(backend);
  const { nLayers: L, dModel: d } = m;
  const F = cfg.clt.featuresPerLayer;
  const encParams = L * F * d;
  const decParams = (F * d * L * (L + 1)) / 2;
  const cltParams = encParams + decParams;
  const forward = (tokens: number) => 2 * m.nParams * tokens;
  // Training: forward + backward (3×) of the dense encoder, the decoder only for active features (the
  // fused engine's sparse path; ~32 active per layer), plus harvesting through the model.
  const activeDecoder = 32 * L * d * ((L + 1) / 2);
  const cltFlops = 6 * (encParams + activeDecoder) * cfg.clt.tokens + forward(cfg.clt.tokens);
  const bufferBytes = 65_536 * L * d * 4 * 2;
  const traceFlops = (tokens: number) => forward(tokens) * 64 + 2 * cltParams * tokens * 8;
  const promptTokens = 16;
  const out: StageEstimate[] = [
    { stage: "corpus", seconds: cfg.corpus.train === "demo" ? cfg.corpus.demoTokens / 100_000 : 1, bytes: 0 },
    { stage: "clt", seconds: cltFlops / rate, bytes: 16 * cltParams + bufferBytes + 4 * m.nParams },
    {
      stage: "eval",
      seconds: (3 * forward(cfg.eval.tokens) + 2 * (encParams + activeDecoder) * cfg.eval.tokens) / rate,
      bytes: 4 * (cltParams + m.nParams),
    },
    {
      stage: "graphs",
      seconds: (cfg.prompts.length * traceFlops(promptTokens)) / rate,
      bytes: 4 * (cltParams + m.nParams),
    },
  ];
  if (cfg.study.enabled)
    out.push({
      stage: "study",
      seconds: (cfg.study.graphs * traceFlops(promptTokens) + 6 * forward(cfg.study.prompts * promptTokens)) / rate,
      bytes: 4 * (cltParams + m.nParams),
    });
  out.push(
    {
      stage: "features",
      seconds: (forward(cfg.features.tokens) + 2 * encParams * cfg.features.tokens) / rate,
      bytes: 4 * (cltParams + m.nParams) + 2765 * L * F,
    },
    { stage: "labels", seconds: (L * F) / 2000, bytes: 2765 * L * F },
  );
  if (cfg.ingest.enabled) out.push({ stage: "ingest", seconds: (L * F) / 2000 + cfg.prompts.length * 5, bytes: 0 });
  return out;
}

export function formatEstimate(est: StageEstimate[]): string {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 2 : 1)} GiB`;
  const dur = (s: number) =>
    s < 90
      ? `${Math.ceil(s)} s`
      : s < 5400
        ? `${Math.round(s / 60)} min`
        : s < 172_800
          ? `${(s / 3600).toFixed(1)} h`
          : `${Math.round(s / 86_400)} days`;
  const peak = Math.max(...est.map((e) => e.bytes));
  const total = est.reduce((a, e) => a + e.seconds, 0);
  const fits = peak < 0.8 * totalmem();
  return [
    ...est.map((e) => `  ${e.stage.padEnd(9)} ~${dur(e.seconds).padStart(7)}  ${gib(e.bytes).padStart(10)}`),
    `  total     ~${dur(total).padStart(7)}  peak ${gib(peak)} of ${gib(totalmem())} (${gib(freemem())} free)${fits ? "" : " — does NOT fit this machine's memory"}`,
  ].join("\n");
}
