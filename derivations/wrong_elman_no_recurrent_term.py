r"""A deliberately wrong derivation: BPTT that forgets the recurrent term.

For E = Σ_t E_t the adjoint of the state has two parts (see elman_bptt_sequence.py):

    δ_t = ∂E/∂s_t = W_yᵀ (y_t − d_t) + W_sᵀ (δ_{t+1} ⊙ (1 − s_{t+1}²)).

This student keeps only the first: δ_t = W_yᵀ (y_t − d_t), as if s_t influenced nothing but y_t.
That is backpropagation *in* time (each step on its own), not *through* time. The output layer's
gradients (W_y, b_y) do not use δ and stay right; W_s, W_x and b_s miss every term that travels back
one step or more. With T = 1 there is nothing to travel back, so the error appears from T = 2 on.
The derivation returns its δ_t as ``delta_s``, so the checker can name the step where it diverges.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half", activation="tanh", mode="many_to_many")
EXPECT = "wrong"
WRONG = ("W_x", "W_s", "b_s")


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T = len(xs)
    s = [s_0]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    delta_s = np.zeros((T, len(s_0)))
    for t in range(T, 0, -1):
        e_t = W_y @ s[t] + b_y - ds[t - 1]
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        delta = W_y.T @ e_t                        # the recurrent term W_sᵀ(δ_{t+1} ⊙ f') is missing
        local = delta * (1 - s[t] ** 2)
        grads["W_s"] += np.outer(local, s[t - 1])
        grads["W_x"] += np.outer(local, xs[t - 1])
        grads["b_s"] += local
        delta_s[t - 1] = delta
    grads["delta_s"] = delta_s
    return grads
