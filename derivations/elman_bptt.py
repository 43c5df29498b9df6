r"""BPTT for an Elman network in the lecture's accumulative form, for the error at the last step E_N.

The network (sizes: input D, state H, output O; N = T steps; s_0 given):

    s_t = tanh(W_x x_t + W_s s_{t−1} + b_s)      (H,)
    y_t = W_y s_t + b_y                          (O,)
    E_N = ½ ‖y_N − d‖²                            the error at the last step only

Output layer. y_N depends on W_y and b_y directly:

    ∂E_N/∂y_N = y_N − d
    ∂E_N/∂W_y = (y_N − d) s_Nᵀ,      ∂E_N/∂b_y = y_N − d

Shared weights, the accumulative gradient. W_s is used at every step i = 1 … N, and each use
contributes; "we consider all paths":

    ∂E_N/∂W_s = Σ_{i=1}^{N} ∂E_N/∂y_N · ∂y_N/∂s_i · ∂s_i/∂W_s
    ∂E_N/∂W_x = Σ_{i=1}^{N} ∂E_N/∂y_N · ∂y_N/∂s_i · ∂s_i/∂W_x

Here ∂s_i/∂W_s is the *immediate* derivative of step i, with s_{i−1} held fixed, and ∂y_N/∂s_i
carries step i's influence forward to the output through every later step:

    ∂y_N/∂s_i = W_y · ∂s_N/∂s_i,    ∂s_N/∂s_i = J_N J_{N−1} ⋯ J_{i+1},    J_k = ∂s_k/∂s_{k−1} = diag(1 − s_k²) W_s

(an empty product, i = N, is the identity). Writing g_i = (∂y_N/∂s_i)ᵀ (y_N − d) (H,), the immediate
derivative of s_i = tanh(a_i) gives, element by element,

    ∂E_N/∂W_s = Σ_i (g_i ⊙ (1 − s_i²)) s_{i−1}ᵀ      (H, H)
    ∂E_N/∂W_x = Σ_i (g_i ⊙ (1 − s_i²)) x_iᵀ          (H, D)
    ∂E_N/∂b_s = Σ_i  g_i ⊙ (1 − s_i²)                 (H,)

The code below follows the formula literally: for each i it multiplies out the Jacobian product
∂s_N/∂s_i (this costs O(N²) matrix products; the recursive form in elman_bptt_sequence.py costs O(N)).
g_i is ∂E_N/∂s_i, returned as ``delta_s`` so the checker can compare it step by step.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half", activation="tanh", mode="many_to_one")


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, d, s_0 = data["xs"], data["d"], data["s_0"]
    N = len(xs)
    # forward pass: s[0] = s_0, s[t] = s_t
    s = [s_0]
    for t in range(1, N + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
    y_N = W_y @ s[N] + b_y
    dE_dy = y_N - d
    H = len(s_0)
    grads = {"W_y": np.outer(dE_dy, s[N]), "b_y": dE_dy,
             "W_s": np.zeros_like(W_s), "W_x": np.zeros_like(W_x), "b_s": np.zeros_like(b_s)}
    delta_s = np.zeros((N, H))
    for i in range(1, N + 1):
        ds_N_ds_i = np.eye(H)                       # ∂s_N/∂s_i = J_N ⋯ J_{i+1}
        for k in range(N, i, -1):
            J_k = (1 - s[k] ** 2)[:, None] * W_s
            ds_N_ds_i = ds_N_ds_i @ J_k
        dy_N_ds_i = W_y @ ds_N_ds_i                 # (O, H)
        g_i = dy_N_ds_i.T @ dE_dy                   # ∂E_N/∂s_i
        local = g_i * (1 - s[i] ** 2)               # through the immediate derivative of s_i
        grads["W_s"] += np.outer(local, s[i - 1])
        grads["W_x"] += np.outer(local, xs[i - 1])
        grads["b_s"] += local
        delta_s[i - 1] = g_i
    grads["delta_s"] = delta_s
    return grads
