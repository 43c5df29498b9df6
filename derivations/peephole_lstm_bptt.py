r"""BPTT for the LSTM with peephole connections (gates i, f, g, o), E = Σ_t ½‖y_t − d_t‖².

Peepholes let the gates look at the cell state: the input and forget gates see c_{t−1}, the output
gate sees the new c_t. The peephole weights p_i, p_f, p_o (H,) are diagonal matrices kept as vectors.

    [a_i; a_f; a_g; a_o] = W_x x_t + W_s s_{t−1} + b_s
    i_t = σ(a_i + p_i ⊙ c_{t−1}),   f_t = σ(a_f + p_f ⊙ c_{t−1}),   g_t = tanh(a_g)
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
    o_t = σ(a_o + p_o ⊙ c_t),       s_t = o_t ⊙ tanh(c_t),          y_t = W_y s_t + b_y

Backward. Write z_i, z_f, z_o for the gates' full pre-activations (with the peephole term). c_t now
reaches E along four paths: through s_t via tanh(c_t), through o_t's peephole, and at step t + 1
through c_{t+1} = f_{t+1} ⊙ c_t + … and through the peepholes of i_{t+1} and f_{t+1}:

    δs_t  = W_yᵀ (y_t − d_t) + W_sᵀ δa_{t+1}
    δz_o  = δs_t ⊙ tanh(c_t) ⊙ o_t (1 − o_t)
    δc_t  = δs_t ⊙ o_t ⊙ (1 − tanh² c_t) + p_o ⊙ δz_o
            + δc_{t+1} ⊙ f_{t+1} + p_i ⊙ δz_i,{t+1} + p_f ⊙ δz_f,{t+1}
    δz_i  = δc_t ⊙ g_t ⊙ i_t (1 − i_t),   δz_f = δc_t ⊙ c_{t−1} ⊙ f_t (1 − f_t),   δa_g = δc_t ⊙ i_t ⊙ (1 − g_t²)
    δa_t  = [δz_i; δz_f; δa_g; δz_o]

(the peephole term p_o ⊙ δz_o belongs to δc_t because o_t reads c_t itself). The weights:

    ∂E/∂W_x = Σ_t δa_t x_tᵀ,  ∂E/∂W_s = Σ_t δa_t s_{t−1}ᵀ,  ∂E/∂b_s = Σ_t δa_t
    ∂E/∂p_i = Σ_t δz_i,t ⊙ c_{t−1},  ∂E/∂p_f = Σ_t δz_f,t ⊙ c_{t−1},  ∂E/∂p_o = Σ_t δz_o,t ⊙ c_t
    ∂E/∂W_y = Σ_t (y_t − d_t) s_tᵀ,  ∂E/∂b_y = Σ_t (y_t − d_t)
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.peephole_lstm(loss="mse_half", mode="many_to_many")


def sigmoid(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    p_i, p_f, p_o = params["p_i"], params["p_f"], params["p_o"]
    xs, ds = data["xs"], data["ds"]
    T, H = len(xs), len(data["s_0"])
    s, c, gates = [data["s_0"]], [data["c_0"]], [None]
    for t in range(1, T + 1):
        a = W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s
        i = sigmoid(a[:H] + p_i * c[t - 1])
        f = sigmoid(a[H:2 * H] + p_f * c[t - 1])
        g = np.tanh(a[2 * H:3 * H])
        c.append(f * c[t - 1] + i * g)
        o = sigmoid(a[3 * H:] + p_o * c[t])
        s.append(o * np.tanh(c[t]))
        gates.append((i, f, g, o))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    delta_s, delta_c = np.zeros((T, H)), np.zeros((T, H))
    da_next = np.zeros(4 * H)
    from_next = np.zeros(H)                          # what c_t receives from step t + 1
    for t in range(T, 0, -1):
        i, f, g, o = gates[t]
        e_t = W_y @ s[t] + b_y - ds[t - 1]
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        ds_t = W_y.T @ e_t + W_s.T @ da_next
        tc = np.tanh(c[t])
        dz_o = ds_t * tc * o * (1 - o)
        dc_t = ds_t * o * (1 - tc ** 2) + p_o * dz_o + from_next
        dz_i = dc_t * g * i * (1 - i)
        dz_f = dc_t * c[t - 1] * f * (1 - f)
        da_g = dc_t * i * (1 - g ** 2)
        da = np.concatenate([dz_i, dz_f, da_g, dz_o])
        grads["W_x"] += np.outer(da, xs[t - 1])
        grads["W_s"] += np.outer(da, s[t - 1])
        grads["b_s"] += da
        grads["p_i"] += dz_i * c[t - 1]
        grads["p_f"] += dz_f * c[t - 1]
        grads["p_o"] += dz_o * c[t]
        delta_s[t - 1], delta_c[t - 1] = ds_t, dc_t
        da_next = da
        from_next = dc_t * f + p_i * dz_i + p_f * dz_f
    grads["delta_s"], grads["delta_c"] = delta_s, delta_c
    return grads
