r"""GRU BPTT with the reset gate forgotten on the recurrent side of the candidate.

n_t = tanh(a_n + r_t ⊙ h_n) with h_n = W_{s,n} s_{t−1} + b_{s,n}, so ∂n_t/∂h_n carries the factor r_t.
The student writes δh_t = [δr; δz; δn] instead of [δr; δz; δn ⊙ r_t]. The n-rows of W_s and b_s are
wrong already for T = 1; W_x and b_x only from T = 2, where the wrong δh_{t+1} flows back into δs_t.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.gru(loss="mse_half", mode="many_to_many")
EXPECT = "wrong"
WRONG = ("W_x", "b_x", "W_s", "b_s")


def sigmoid(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5


def gradient(params, data):
    W_x, b_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "b_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds = data["xs"], data["ds"]
    T, H = len(xs), len(data["s_0"])
    s, cache = [data["s_0"]], [None]
    for t in range(1, T + 1):
        a = W_x @ xs[t - 1] + b_x
        h = W_s @ s[t - 1] + b_s
        r = sigmoid(a[:H] + h[:H])
        z = sigmoid(a[H:2 * H] + h[H:2 * H])
        n = np.tanh(a[2 * H:] + r * h[2 * H:])
        s.append((1 - z) * n + z * s[t - 1])
        cache.append((r, z, n, h[2 * H:]))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    delta_s = np.zeros((T, H))
    dh_next, ds_next, z_next = np.zeros(3 * H), np.zeros(H), np.zeros(H)
    for t in range(T, 0, -1):
        r, z, n, h_n = cache[t]
        e_t = W_y @ s[t] + b_y - ds[t - 1]
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        ds_t = W_y.T @ e_t + z_next * ds_next + W_s.T @ dh_next
        dn = ds_t * (1 - z) * (1 - n ** 2)
        dz = ds_t * (s[t - 1] - n) * z * (1 - z)
        dr = dn * h_n * r * (1 - r)
        da = np.concatenate([dr, dz, dn])
        dh = np.concatenate([dr, dz, dn])
        grads["W_x"] += np.outer(da, xs[t - 1])
        grads["b_x"] += da
        grads["W_s"] += np.outer(dh, s[t - 1])
        grads["b_s"] += dh
        delta_s[t - 1] = ds_t
        dh_next, ds_next, z_next = dh, ds_t, z
    grads["delta_s"] = delta_s
    return grads
