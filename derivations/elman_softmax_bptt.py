r"""BPTT for an Elman network with a softmax output and cross-entropy error (a char-RNN), E = Σ_t E_t.

    s_t = tanh(W_x x_t + W_s s_{t−1} + b_s),   y_t = W_y s_t + b_y        (y_t: the scores, O classes)
    p_t = softmax(y_t),   p_{t,k} = exp(y_{t,k}) / Σ_j exp(y_{t,j})
    E_t = −Σ_k d_{t,k} log p_{t,k}                                         (d_t a probability vector)

The one new derivative is that of the error with respect to the scores. With log p_{t,k} =
y_{t,k} − log Σ_j exp(y_{t,j}),

    ∂E_t/∂y_{t,j} = −d_{t,j} + (Σ_k d_{t,k}) p_{t,j} = p_{t,j} − d_{t,j}      because Σ_k d_{t,k} = 1,

so ∂E_t/∂y_t = p_t − d_t: the same "prediction minus target" as for ½‖y_t − d_t‖², but with the
probabilities in place of the raw outputs. Everything behind the output layer is the Elman recursion of
elman_bptt_sequence.py with e_t = p_t − d_t:

    δ_t = W_yᵀ e_t + W_sᵀ (δ_{t+1} ⊙ (1 − s_{t+1}²))
    ∂E/∂W_y = Σ_t e_t s_tᵀ,  ∂E/∂b_y = Σ_t e_t,  ∂E/∂W_s = Σ_t (δ_t ⊙ (1 − s_t²)) s_{t−1}ᵀ,  …
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="softmax_cross_entropy", activation="tanh", mode="many_to_many")


def softmax(y):
    z = np.exp(y - y.max())               # subtracting the max changes nothing and avoids overflow
    return z / z.sum()


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T = len(xs)
    s = [s_0]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    delta_s = np.zeros((T, len(s_0)))
    local_next = np.zeros(len(s_0))
    for t in range(T, 0, -1):
        e_t = softmax(W_y @ s[t] + b_y) - ds[t - 1]          # ∂E_t/∂y_t = p_t − d_t
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        delta_s[t - 1] = W_y.T @ e_t + W_s.T @ local_next
        local = delta_s[t - 1] * (1 - s[t] ** 2)
        grads["W_s"] += np.outer(local, s[t - 1])
        grads["W_x"] += np.outer(local, xs[t - 1])
        grads["b_s"] += local
        local_next = local
    grads["delta_s"] = delta_s
    return grads
