r"""LSTM BPTT whose output-layer gradient sums over the last four steps only.

∂E/∂W_y = Σ_{t=1}^{T} (y_t − d_t) s_tᵀ; the student's loop adds only t = T−3 … T (a window copied from
a truncated-BPTT training loop). Right for T ≤ 4, wrong from T = 5, and only for W_y and b_y.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.lstm(loss="mse_half", mode="many_to_many")
EXPECT = "wrong"
WRONG = ("W_y", "b_y")


def sigmoid(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds = data["xs"], data["ds"]
    T, H = len(xs), len(data["s_0"])
    s, c = [data["s_0"]], [data["c_0"]]
    gates = [None]
    for t in range(1, T + 1):
        a = W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s
        i, f, g, o = sigmoid(a[:H]), sigmoid(a[H:2 * H]), np.tanh(a[2 * H:3 * H]), sigmoid(a[3 * H:])
        c.append(f * c[t - 1] + i * g)
        s.append(o * np.tanh(c[t]))
        gates.append((i, f, g, o))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    delta_s, delta_c = np.zeros((T, H)), np.zeros((T, H))
    da_next = np.zeros(4 * H)
    dc_next, f_next = np.zeros(H), np.zeros(H)
    for t in range(T, 0, -1):
        i, f, g, o = gates[t]
        e_t = W_y @ s[t] + b_y - ds[t - 1]
        if t > T - 4:                                   # the last four outputs only
            grads["W_y"] += np.outer(e_t, s[t])
            grads["b_y"] += e_t
        ds_t = W_y.T @ e_t + W_s.T @ da_next
        tc = np.tanh(c[t])
        dc_t = ds_t * o * (1 - tc ** 2) + dc_next * f_next
        da = np.concatenate([dc_t * g * i * (1 - i),
                             dc_t * c[t - 1] * f * (1 - f),
                             dc_t * i * (1 - g ** 2),
                             ds_t * tc * o * (1 - o)])
        grads["W_x"] += np.outer(da, xs[t - 1])
        grads["W_s"] += np.outer(da, s[t - 1])
        grads["b_s"] += da
        delta_s[t - 1], delta_c[t - 1] = ds_t, dc_t
        da_next, dc_next, f_next = da, dc_t, f
    grads["delta_s"], grads["delta_c"] = delta_s, delta_c
    return grads
