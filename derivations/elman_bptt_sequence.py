r"""BPTT for an Elman network with an error at every step, E = Σ_t E_t, in the recursive form.

    s_t = tanh(a_t),   a_t = W_x x_t + W_s s_{t−1} + b_s,   y_t = W_y s_t + b_y,   E_t = ½‖y_t − d_t‖²

With an error at every step, s_t influences E through y_t *and* through s_{t+1}. Its total
derivative (the adjoint δ_t = ∂E/∂s_t) therefore has two terms, and is computed backwards from t = T:

    δ_T = W_yᵀ (y_T − d_T)
    δ_t = W_yᵀ (y_t − d_t) + W_sᵀ (δ_{t+1} ⊙ (1 − s_{t+1}²))          t = T−1, …, 1
          └─ from E_t ──┘   └─ the recurrent term: from E_{t+1}, E_{t+2}, … ─┘

Each step then adds its immediate contribution to the shared weights (the accumulative sum over
i of the lecture, here summed over all errors E_N at once):

    ∂E/∂W_y = Σ_t (y_t − d_t) s_tᵀ          ∂E/∂b_y = Σ_t (y_t − d_t)
    ∂E/∂W_s = Σ_t (δ_t ⊙ (1 − s_t²)) s_{t−1}ᵀ
    ∂E/∂W_x = Σ_t (δ_t ⊙ (1 − s_t²)) x_tᵀ
    ∂E/∂b_s = Σ_t  δ_t ⊙ (1 − s_t²)

Unrolling the recursion gives back Σ_N Σ_{i ≤ N} ∂E_N/∂y_N · ∂y_N/∂s_i · ∂s_i/∂W: the same sum,
computed in O(T) instead of O(T²).
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half", activation="tanh", mode="many_to_many")


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T = len(xs)
    s = [s_0]
    ys = [None]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
        ys.append(W_y @ s[t] + b_y)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    delta = np.zeros((T + 2, len(s_0)))            # delta[t] = ∂E/∂s_t; delta[T + 1] = 0
    local_next = np.zeros(len(s_0))
    for t in range(T, 0, -1):
        e_t = ys[t] - ds[t - 1]                     # ∂E_t/∂y_t
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        delta[t] = W_y.T @ e_t + W_s.T @ local_next  # output term + recurrent term
        local = delta[t] * (1 - s[t] ** 2)          # ∂E/∂a_t
        grads["W_s"] += np.outer(local, s[t - 1])
        grads["W_x"] += np.outer(local, xs[t - 1])
        grads["b_s"] += local
        local_next = local
    grads["delta_s"] = delta[1:T + 1]
    return grads
