r"""BPTT as backpropagation with weight constraints: unfold, treat each copy as its own weight, add.

The lecture's rule for constrained weights: to keep w_1 = w_2, compute ∂E/∂w_1 and ∂E/∂w_2 as if
they were different weights, and use ∂E/∂w_1 + ∂E/∂w_2 for both. An unfolded RNN is a feedforward
net with T layers whose weights are constrained to be equal, W_s^{(1)} = W_s^{(2)} = … = W_s^{(T)}:

    layer t:   s_t = tanh(W_x^{(t)} x_t + W_s^{(t)} s_{t−1} + b_s^{(t)}),    y_t = W_y^{(t)} s_t + b_y^{(t)}
    E = Σ_t ½‖y_t − d_t‖²

Step 1 — ordinary backprop through the T-layer feedforward net, one layer at a time from the top.
Layer t receives ∂E/∂s_t from its own output y_t and from the layer above (t + 1):

    ∂E/∂s_t = W_y^{(t)ᵀ}(y_t − d_t) + W_s^{(t+1)ᵀ} ∂E/∂a_{t+1},      ∂E/∂a_t = ∂E/∂s_t ⊙ (1 − s_t²)

and each copy's own gradient is the usual outer product of the layer's error term and its input:

    ∂E/∂W_s^{(t)} = ∂E/∂a_t s_{t−1}ᵀ,   ∂E/∂W_x^{(t)} = ∂E/∂a_t x_tᵀ,   ∂E/∂b_s^{(t)} = ∂E/∂a_t,
    ∂E/∂W_y^{(t)} = (y_t − d_t) s_tᵀ,   ∂E/∂b_y^{(t)} = y_t − d_t.

Step 2 — the constraint: the shared weight's gradient is the sum of its copies' gradients,

    ∂E/∂W_s = Σ_{t=1}^{T} ∂E/∂W_s^{(t)}      (and the same for W_x, b_s, W_y, b_y).

The code keeps the per-copy gradients in lists before adding them, to make the rule visible;
``gradlab.contributions(E, W_s, by="t")`` shows the same per-copy terms from the engine.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half", activation="tanh", mode="many_to_many")


def gradient(params, data):
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T = len(xs)
    # unfold: one copy of every weight per layer (all equal, as the constraint demands)
    copies = {k: [params[k].copy() for _ in range(T + 1)] for k in params}   # index t = 1 … T
    s = [s_0]
    for t in range(1, T + 1):
        a_t = copies["W_x"][t] @ xs[t - 1] + copies["W_s"][t] @ s[t - 1] + copies["b_s"][t]
        s.append(np.tanh(a_t))
    per_copy = {k: [None] * (T + 1) for k in params}
    dE_da_above = np.zeros(len(s_0))
    for t in range(T, 0, -1):                          # layer T first: backprop through the layers
        e_t = copies["W_y"][t] @ s[t] + copies["b_y"][t] - ds[t - 1]
        W_s_above = copies["W_s"][t + 1] if t < T else np.zeros_like(params["W_s"])
        dE_ds = copies["W_y"][t].T @ e_t + W_s_above.T @ dE_da_above
        dE_da = dE_ds * (1 - s[t] ** 2)
        per_copy["W_s"][t] = np.outer(dE_da, s[t - 1])
        per_copy["W_x"][t] = np.outer(dE_da, xs[t - 1])
        per_copy["b_s"][t] = dE_da
        per_copy["W_y"][t] = np.outer(e_t, s[t])
        per_copy["b_y"][t] = e_t
        dE_da_above = dE_da
    # the weight-constraint rule: each shared weight gets the sum over its copies
    return {k: sum(per_copy[k][1:]) for k in params}
