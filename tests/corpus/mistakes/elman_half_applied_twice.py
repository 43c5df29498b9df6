r"""Elman BPTT with the ½ of the loss applied twice: e_t = ½ (y_t − d_t).

The ½ in E_t = ½‖y_t − d_t‖² is there to cancel the 2 from differentiating the square; keeping it in
the error term as well halves every gradient.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half")
EXPECT = "wrong"
WRONG = "all"


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T = len(xs)
    s = [s_0]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    local_next = np.zeros(len(s_0))
    for t in range(T, 0, -1):
        e_t = 0.5 * (W_y @ s[t] + b_y - ds[t - 1])
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        delta = W_y.T @ e_t + W_s.T @ local_next
        local = delta * (1 - s[t] ** 2)
        grads["W_s"] += np.outer(local, s[t - 1])
        grads["W_x"] += np.outer(local, xs[t - 1])
        grads["b_s"] += local
        local_next = local
    return grads
