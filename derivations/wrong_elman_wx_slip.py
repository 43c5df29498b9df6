r"""A deliberately wrong derivation: ∂E_N/∂W_x written with ∂s_i/∂W_s — the slip in the lecture notes.

The notes give the accumulative gradient for W_s,

    ∂E_N/∂W_s = Σ_{i=1}^{N} ∂E_N/∂y_N · ∂y_N/∂s_i · ∂s_i/∂W_s,

and then, "similarly", one for W_x — but the formula printed for W_x still carries a W_s. A student
who copies the W_s line and only renames the left-hand side computes, for W_x,

    Σ_i ∂E_N/∂y_N · ∂y_N/∂s_i · ∂s_i/∂W_s = Σ_i (g_i ⊙ (1 − s_i²)) s_{i−1}ᵀ     (wrong)

instead of Σ_i (g_i ⊙ (1 − s_i²)) x_iᵀ. The immediate derivative of s_i = tanh(W_x x_i + W_s s_{i−1} + b_s)
with respect to W_x multiplies by what W_x multiplies, x_i — not s_{i−1}. When D ≠ H the result even
has the wrong shape (H, H) instead of (H, D). Everything else is right, so only W_x must be flagged.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half", activation="tanh", mode="many_to_one")
EXPECT = "wrong"
WRONG = ("W_x",)


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, d, s_0 = data["xs"], data["d"], data["s_0"]
    N = len(xs)
    s = [s_0]
    for t in range(1, N + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
    y_N = W_y @ s[N] + b_y
    dE_dy = y_N - d
    dW_s, dW_x, db_s = 0, 0, 0
    g = W_y.T @ dE_dy                              # ∂E_N/∂s_N, then ∂E_N/∂s_i going back
    for i in range(N, 0, -1):
        local = g * (1 - s[i] ** 2)
        dW_s = dW_s + np.outer(local, s[i - 1])
        dW_x = dW_x + np.outer(local, s[i - 1])    # the slip: ∂s_i/∂W_s where ∂s_i/∂W_x belongs
        db_s = db_s + local
        g = W_s.T @ local
    return {"W_x": dW_x, "W_s": dW_s, "b_s": db_s, "W_y": np.outer(dE_dy, s[N]), "b_y": dE_dy}
