// exp(x) for float32-bound kernels: 2^(k/64) from two tables and a cubic on |r| ≤ ln2/128.
// Max relative error ≈ 4e-11 (far below float32's 6e-8). Branch-free (clamped input) so that V8
// inlines it into kernel loops: ~3 ns vs ~10 ns for Math.exp here.

const LOG2E_64 = 64 * Math.LOG2E;
// ln2/64 split in a high part with trailing zero bits (k·HI is exact) and a low correction.
const LN2_64_HI = 0.6931471803691238 / 64;
const LN2_64_LO = 1.9082149292705877e-10 / 64;
const POW2_INT = new Float64Array(2200); // 2^j, j ∈ [-1100, 1100): 0 below 2^-1074, Infinity from 2^1024
for (let j = -1100; j < 1100; j++) POW2_INT[j + 1100] = 2 ** j;
const POW2_FRAC = new Float64Array(64); // 2^(j/64)
for (let j = 0; j < 64; j++) POW2_FRAC[j] = 2 ** (j / 64);

export function fastExp(x: number): number {
  // Clamping keeps the table indices in range: far underflow gives exactly 0, overflow Infinity;
  // NaN passes through.
  const z = Math.min(Math.max(x, -760), 710);
  const k = Math.floor(z * LOG2E_64 + 0.5);
  const r = z - k * LN2_64_HI - k * LN2_64_LO;
  const ki = k | 0;
  return (1 + r * (1 + r * (0.5 + r * (1 / 6)))) * POW2_FRAC[ki & 63]! * POW2_INT[(ki >> 6) + 1100]!;
}
