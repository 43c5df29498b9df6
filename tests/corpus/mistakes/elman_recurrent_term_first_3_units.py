r"""Elman BPTT with the recurrent term written for three hidden units (copied from a worked example
with H = 3):

    δ_t = W_yᵀ (y_t − d_t) + [W_sᵀ (δ_{t+1} ⊙ (1 − s_{t+1}²))]_{1..3}

Right for H ≤ 3, wrong from H = 4: the 4th unit never receives the gradient from the next step.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half")
EXPECT = "wrong"
WRONG = ("W_x", "W_s", "b_s")


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T, H = len(xs), len(s_0)
    s = [s_0]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    local_next = np.zeros(H)
    for t in range(T, 0, -1):
        e_t = W_y @ s[t] + b_y - ds[t - 1]
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        recurrent = np.zeros(H)
        recurrent[:3] = (W_s.T @ local_next)[:3]
        delta = W_y.T @ e_t + recurrent
        local = delta * (1 - s[t] ** 2)
        grads["W_s"] += np.outer(local, s[t - 1])
        grads["W_x"] += np.outer(local, xs[t - 1])
        grads["b_s"] += local
        local_next = local
    return grads
