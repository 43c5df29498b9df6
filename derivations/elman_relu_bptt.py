r"""BPTT for an Elman network with ReLU units: the same recursion, with the ReLU's derivative.

    s_t = relu(a_t) = max(a_t, 0),   a_t = W_x x_t + W_s s_{t−1} + b_s,   y_t = W_y s_t + b_y
    E = Σ_t ½‖y_t − d_t‖²

The only change from tanh is the activation's derivative: relu'(a) = 1 where a > 0 and 0 where
a < 0 — a step function, so units that are off pass no gradient back at all:

    δ_t = ∂E/∂s_t = W_yᵀ (y_t − d_t) + W_sᵀ (δ_{t+1} ⊙ 1[a_{t+1} > 0])
    ∂E/∂W_s = Σ_t (δ_t ⊙ 1[a_t > 0]) s_{t−1}ᵀ,   ∂E/∂W_x = Σ_t (δ_t ⊙ 1[a_t > 0]) x_tᵀ,   ∂E/∂b_s = Σ_t δ_t ⊙ 1[a_t > 0]

At a = 0 exactly the derivative does not exist (the left slope is 0, the right slope 1); any value
in [0, 1] is a valid subgradient. ReLU is not analytic, so the checker cannot use complex-step
differences here: it uses central differences, refined by Richardson extrapolation, and does not
blame a derivation for a difference that steps across a kink.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half", activation="relu", mode="many_to_many")


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T = len(xs)
    s, on = [s_0], [None]
    for t in range(1, T + 1):
        a_t = W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s
        on.append((a_t > 0).astype(float))        # relu'(a_t)
        s.append(np.maximum(a_t, 0.0))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    local_next = np.zeros(len(s_0))
    delta_s = np.zeros((T, len(s_0)))
    for t in range(T, 0, -1):
        e_t = W_y @ s[t] + b_y - ds[t - 1]
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        delta = W_y.T @ e_t + W_s.T @ local_next
        local = delta * on[t]
        grads["W_s"] += np.outer(local, s[t - 1])
        grads["W_x"] += np.outer(local, xs[t - 1])
        grads["b_s"] += local
        delta_s[t - 1] = delta
        local_next = local
    grads["delta_s"] = delta_s
    return grads
