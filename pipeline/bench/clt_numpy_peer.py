"""The peer for `npm run bench:clt`: a plain dense numpy/OpenBLAS CLT training step (forward,
JumpReLU, MSE + tanh sparsity + pre-activation loss, backward with the same pseudo-gradients,
Adam on every parameter), timed on random data with the bench's shapes and firing rate.

    python3 bench/clt_numpy_peer.py --layers 12 --d 768 --features 1024 --batch 1024 --l0 30 --reps 1

Prints one JSON line: {"seconds_per_step": s, "l0": measured active features per token and layer}.
Exit status 3 (and a message on stderr) when numpy is not installed.
"""

import argparse
import json
import sys
import time

try:
    import numpy as np
except ImportError:
    sys.stderr.write("numpy is not installed\n")
    sys.exit(3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--features", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--l0", type=float, required=True)
    ap.add_argument("--reps", type=int, default=1)
    a = ap.parse_args()
    L, d, F, B = a.layers, a.d, a.features, a.batch
    rng = np.random.default_rng(1)
    f32 = np.float32
    x = rng.standard_normal((B, L, d), dtype=f32)
    y = rng.standard_normal((B, L, d), dtype=f32)
    lam, c, lam_pre, eps = 0.1, 4.0, 3e-6, 0.5
    # unit-std pre-activations, b_enc set so each feature fires on l0/F of the batch at θ = 1
    w_enc = [rng.standard_normal((d, F), dtype=f32) / f32(np.sqrt(d)) for _ in range(L)]
    log_th = [np.zeros(F, f32) for _ in range(L)]
    b_enc = [(1.0 - np.quantile(x[:, l] @ w_enc[l], 1.0 - a.l0 / F, axis=0)).astype(f32) for l in range(L)]
    w_dec = [rng.standard_normal((F, L - l, d), dtype=f32) * f32(0.1 / np.sqrt((L - l) * d)) for l in range(L)]
    b_dec = y.mean(axis=0)
    params = w_enc + b_enc + log_th + w_dec + [b_dec]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    state = {"t": 0, "l0": 0.0}

    def step() -> None:
        th = [np.exp(lt) for lt in log_th]
        z = [x[:, l] @ w_enc[l] + b_enc[l] for l in range(L)]
        act = [zl > th[l] for l, zl in enumerate(z)]
        acts = [np.where(act[l], z[l], f32(0)) for l in range(L)]
        norms = [np.sqrt((w_dec[l] ** 2).sum(axis=(1, 2))) for l in range(L)]
        yhat = np.broadcast_to(b_dec, (B, L, d)).copy()
        for l in range(L):
            yhat[:, l:] += (acts[l] @ w_dec[l].reshape(F, -1)).reshape(B, L - l, d)
        r = yhat - y
        tanh = [np.tanh(c * norms[l] * acts[l]) for l in range(L)]
        _loss = (r**2).sum() / B + lam / B * sum(t.sum() for t in tanh) + lam_pre / B * sum(
            (np.maximum(th[l] - z[l], 0) * norms[l]).sum() for l in range(L)
        )
        g = 2 * r / B
        grads = []
        gw_enc, gb_enc, glt, gw_dec = [], [], [], []
        for l in range(L):
            gflat = g[:, l:].reshape(B, -1)
            wd = w_dec[l].reshape(F, -1)
            ga = gflat @ wd.T + lam / B * c * norms[l] * (1 - tanh[l] ** 2)
            below = z[l] < th[l]
            gz = np.where(act[l], ga, f32(0)) - np.where(below, lam_pre / B * norms[l], f32(0))
            win = np.abs(z[l] - th[l]) < eps / 2
            gth = (-(th[l] / eps) * np.where(win, ga, f32(0))).sum(axis=0) + lam_pre / B * norms[l] * below.sum(axis=0)
            gn = lam / B * c * (acts[l] * (1 - tanh[l] ** 2)).sum(axis=0) + lam_pre / B * (
                np.maximum(th[l] - z[l], 0)
            ).sum(axis=0)
            gwd = acts[l].T @ gflat + (gn / np.maximum(norms[l], 1e-30))[:, None] * wd
            gw_enc.append(x[:, l].T @ gz)
            gb_enc.append(gz.sum(axis=0))
            glt.append(gth * th[l])
            gw_dec.append(gwd.reshape(F, L - l, d))
        grads = gw_enc + gb_enc + glt + gw_dec + [g.sum(axis=0)]
        gnorm = np.sqrt(sum(float((q.astype(np.float64) ** 2).sum()) for q in grads))
        scale = f32(1 / gnorm if gnorm > 1 else 1)
        state["t"] += 1
        t = state["t"]
        b1, b2, lr = 0.9, 0.999, 0.0  # lr 0, as the bench: all the work, fixed weights
        for k, p in enumerate(params):
            gk = grads[k] * scale
            m[k] *= b1
            m[k] += (1 - b1) * gk
            v[k] *= b2
            v[k] += (1 - b2) * gk * gk
            p -= f32(lr / (1 - b1**t)) * m[k] / (np.sqrt(v[k] / f32(1 - b2**t)) + f32(1e-8))
        state["l0"] = float(sum(ac.sum() for ac in act)) / (B * L)

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(a.reps):
        step()
    s = (time.perf_counter() - t0) / a.reps
    print(json.dumps({"seconds_per_step": s, "l0": state["l0"]}))


if __name__ == "__main__":
    main()
