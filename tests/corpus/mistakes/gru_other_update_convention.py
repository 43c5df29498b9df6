r"""A correct GRU derivation in the other published convention for the update gate.

    s_t = z_t ⊙ n_t + (1 − z_t) ⊙ s_{t−1}       (Chung et al. 2014; z_t lets the candidate in)

gradlab's GRU, like PyTorch, Keras and Cho et al. 2014, writes s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_{t−1}
(z_t keeps the old state). Against that reference every gradient differs, from T = 1 on: the forward
model is not the same. The derivation itself is right for its own forward:

    δs_t = W_yᵀ (y_t − d_t) + (1 − z_{t+1}) ⊙ δs_{t+1} + W_sᵀ δh_{t+1}
    δn   = δs_t ⊙ z_t ⊙ (1 − n_t²),      δz = δs_t ⊙ (n_t − s_{t−1}) ⊙ z_t (1 − z_t)
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.gru(loss="mse_half", mode="many_to_many")
EXPECT = "wrong"
WRONG = "all"


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
        s.append(z * n + (1 - z) * s[t - 1])
        cache.append((r, z, n, h[2 * H:]))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    delta_s = np.zeros((T, H))
    dh_next, ds_next, z_next = np.zeros(3 * H), np.zeros(H), np.zeros(H)
    for t in range(T, 0, -1):
        r, z, n, h_n = cache[t]
        e_t = W_y @ s[t] + b_y - ds[t - 1]
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        ds_t = W_y.T @ e_t + (1 - z_next) * ds_next + W_s.T @ dh_next
        dn = ds_t * z * (1 - n ** 2)
        dz = ds_t * (n - s[t - 1]) * z * (1 - z)
        dr = dn * h_n * r * (1 - r)
        da = np.concatenate([dr, dz, dn])
        dh = np.concatenate([dr, dz, dn * r])
        grads["W_x"] += np.outer(da, xs[t - 1])
        grads["b_x"] += da
        grads["W_s"] += np.outer(dh, s[t - 1])
        grads["b_s"] += dh
        delta_s[t - 1] = ds_t
        dh_next, ds_next, z_next = dh, ds_t, z
    grads["delta_s"] = delta_s
    return grads
