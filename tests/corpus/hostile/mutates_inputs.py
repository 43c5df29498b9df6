r"""Elman BPTT, right, that takes a gradient step on its own weights and clears the data when done.

    δ_t = W_yᵀ(y_t − d_t) + W_sᵀ(δ_{t+1} ⊙ (1 − s_{t+1}²)),  ∂E/∂W_s = Σ_t (δ_t ⊙ (1 − s_t²)) s_{t−1}ᵀ
"""
import numpy as np
import gradlab

MODEL = gradlab.specs.elman()


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds = data["xs"], data["ds"]
    states = [data["s_0"]]
    for x in xs:
        states.append(np.tanh(W_x @ x + W_s @ states[-1] + b_s))
    g = {k: np.zeros_like(v) for k, v in params.items()}
    carry = np.zeros_like(b_s)
    for t in range(len(xs), 0, -1):
        e = W_y @ states[t] + b_y - ds[t - 1]
        g["W_y"] += np.outer(e, states[t])
        g["b_y"] += e
        a = (W_y.T @ e + W_s.T @ carry) * (1 - states[t] ** 2)
        g["W_x"] += np.outer(a, xs[t - 1])
        g["W_s"] += np.outer(a, states[t - 1])
        g["b_s"] += a
        carry = a
    for k in params:                # "training": one step, in place on the caller's arrays
        params[k] -= 0.1 * g[k]
    xs[:] = 0                       # and the sequence is cleared
    return g
