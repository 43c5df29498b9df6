r"""Elman BPTT, truncated: each error E_t is sent back through at most 4 steps (k = 4).

A student who read about truncated BPTT applies it while deriving the exact gradient:

    for each t: δ ← W_yᵀ(y_t − d_t);  for τ = t, t−1, …, t−3:  ∂E/∂W_s += (δ ⊙ (1 − s_τ²)) s_{τ−1}ᵀ,
                                                              δ ← W_sᵀ (δ ⊙ (1 − s_τ²))

Right for T ≤ 4 (nothing to cut), wrong from T = 5: the terms of E_5 that reach s_1 are missing.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half")
EXPECT = "wrong"
WRONG = ("W_x", "W_s", "b_s")
K = 4


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T = len(xs)
    s = [s_0]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    for t in range(1, T + 1):
        e_t = W_y @ s[t] + b_y - ds[t - 1]
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        delta = W_y.T @ e_t
        for tau in range(t, max(0, t - K), -1):
            local = delta * (1 - s[tau] ** 2)
            grads["W_s"] += np.outer(local, s[tau - 1])
            grads["W_x"] += np.outer(local, xs[tau - 1])
            grads["b_s"] += local
            delta = W_s.T @ local
    return grads
