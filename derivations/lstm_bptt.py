r"""BPTT for the standard LSTM (gates i, f, g, o), E = Σ_t ½‖y_t − d_t‖².

Forward, one step (rows of W_x (4H, D), W_s (4H, H) and b_s (4H,) are stacked i, f, g, o):

    [a_i; a_f; a_g; a_o] = W_x x_t + W_s s_{t−1} + b_s
    i_t = σ(a_i),  f_t = σ(a_f),  g_t = tanh(a_g),  o_t = σ(a_o)
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t                 the cell state (long-term memory)
    s_t = o_t ⊙ tanh(c_t)                           the hidden state (short-term memory)
    y_t = W_y s_t + b_y

Backward. Two adjoints travel back in time, δs_t = ∂E/∂s_t and δc_t = ∂E/∂c_t. s_t reaches E
through y_t and through the next step's gates; c_t through s_t and through c_{t+1} = f_{t+1} ⊙ c_t + …:

    δs_t = W_yᵀ (y_t − d_t) + W_sᵀ δa_{t+1}
    δc_t = δs_t ⊙ o_t ⊙ (1 − tanh² c_t) + δc_{t+1} ⊙ f_{t+1}

(with δa_{T+1} = 0 and δc_{T+1} = 0). The gates' pre-activations, using σ' = σ(1 − σ) and tanh' = 1 − tanh²:

    δa_o = δs_t ⊙ tanh(c_t) ⊙ o_t (1 − o_t)
    δa_i = δc_t ⊙ g_t ⊙ i_t (1 − i_t)
    δa_f = δc_t ⊙ c_{t−1} ⊙ f_t (1 − f_t)
    δa_g = δc_t ⊙ i_t ⊙ (1 − g_t²)
    δa_t = [δa_i; δa_f; δa_g; δa_o]                 (4H,)

and the shared weights add one outer product per step:

    ∂E/∂W_x = Σ_t δa_t x_tᵀ,   ∂E/∂W_s = Σ_t δa_t s_{t−1}ᵀ,   ∂E/∂b_s = Σ_t δa_t,
    ∂E/∂W_y = Σ_t (y_t − d_t) s_tᵀ,   ∂E/∂b_y = Σ_t (y_t − d_t).

The additive path δc_t ← δc_{t+1} ⊙ f_{t+1} is the LSTM's answer to vanishing gradients: no squashing
derivative and no weight matrix on the way back, only the forget gate.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.lstm(loss="mse_half", mode="many_to_many")


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
