r"""BPTT for the GRU (gates r, z, n; reset applied after the recurrent product), E = Σ_t ½‖y_t − d_t‖².

Forward, one step (rows of W_x (3H, D), b_x, W_s (3H, H), b_s (3H,) stacked r, z, n):

    [a_r; a_z; a_n] = W_x x_t + b_x,       [h_r; h_z; h_n] = W_s s_{t−1} + b_s
    r_t = σ(a_r + h_r)                          reset gate
    z_t = σ(a_z + h_z)                          update gate
    n_t = tanh(a_n + r_t ⊙ h_n)                 candidate state
    s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_{t−1}        a gated average of the new and the old state
    y_t = W_y s_t + b_y

Backward. δs_t = ∂E/∂s_t collects the output term and everything step t + 1 sends back: the direct
path z_{t+1} ⊙ δs_{t+1} (the GRU's "highway") and the path through the recurrent product W_s s_t:

    δs_t = W_yᵀ (y_t − d_t) + z_{t+1} ⊙ δs_{t+1} + W_sᵀ δh_{t+1}
    δn   = δs_t ⊙ (1 − z_t) ⊙ (1 − n_t²)                 (through tanh)
    δz   = δs_t ⊙ (s_{t−1} − n_t) ⊙ z_t (1 − z_t)
    δr   = δn ⊙ h_n ⊙ r_t (1 − r_t)
    δa_t = [δr; δz; δn]       the input side  (a_n enters n_t directly)
    δh_t = [δr; δz; δn ⊙ r_t] the recurrent side (h_n enters n_t scaled by r_t)

    ∂E/∂W_x = Σ_t δa_t x_tᵀ,   ∂E/∂b_x = Σ_t δa_t,   ∂E/∂W_s = Σ_t δh_t s_{t−1}ᵀ,   ∂E/∂b_s = Σ_t δh_t
    ∂E/∂W_y = Σ_t (y_t − d_t) s_tᵀ,   ∂E/∂b_y = Σ_t (y_t − d_t)
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.gru(loss="mse_half", mode="many_to_many")


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
        dh = np.concatenate([dr, dz, dn * r])
        grads["W_x"] += np.outer(da, xs[t - 1])
        grads["b_x"] += da
        grads["W_s"] += np.outer(dh, s[t - 1])
        grads["b_s"] += dh
        delta_s[t - 1] = ds_t
        dh_next, ds_next, z_next = dh, ds_t, z
    grads["delta_s"] = delta_s
    return grads
