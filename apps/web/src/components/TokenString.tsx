// One example context with per-token activation shading; hovering a token shows its value.
import { fmt, showToken } from "../lib/format.ts";

export interface TokenStringProps {
  tokens: readonly string[];
  activations: readonly number[];
  /** Shading reference (the feature's max activation); defaults to this example's max. */
  max?: number;
}

export function TokenString({ tokens, activations, max }: TokenStringProps) {
  const ref = max ?? Math.max(0, ...activations);
  let argmax = 0;
  activations.forEach((a, i) => {
    if (a > (activations[argmax] ?? 0)) argmax = i;
  });
  return (
    <span className="tokens">
      {tokens.map((t, i) => {
        const a = activations[i] ?? 0;
        const alpha = ref > 0 ? Math.min(1, Math.max(0, a / ref)) : 0;
        const key = `${i}`;
        if (a === 0) return <span key={key}>{showToken(t)}</span>;
        return (
          <span
            key={key}
            className={`tok${i === argmax ? " max" : ""}`}
            data-value={fmt(a)}
            title={`${JSON.stringify(t)}: ${fmt(a)}`}
            style={{ background: `rgba(245, 158, 11, ${(0.12 + 0.88 * alpha).toFixed(3)})` }}
          >
            {showToken(t)}
          </span>
        );
      })}
    </span>
  );
}
