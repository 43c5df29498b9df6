r"""The Gauss–Newton product G v of an Elman network with a softmax output and cross-entropy.

    s_t = tanh(W_x x_t + W_s s_{t−1} + b_s),   y_t = W_y s_t + b_y,   p_t = softmax(y_t),
    E = Σ_t E_t,   E_t = −Σ_k d_{t,k} log p_{t,k}        (each d_t a probability vector)

G = Σ_t J_tᵀ H_t J_t with J_t = ∂y_t/∂θ, as for the squared error (elman_gauss_newton.py); what changes is
the loss's Hessian in the outputs y_t (the logits). The gradient of E_t is p_t − d_t (as Σ_k d_{t,k} = 1), and
differentiating p_t once more gives the Jacobian of the softmax:

    H_t = ∂²E_t/∂y_t² = diag(p_t) − p_t p_tᵀ

It does not depend on the targets, and it is positive semi-definite (uᵀ H_t u is the variance of u under
p_t), so G is too. Applied to the tangent ẏ_t = J_t v without forming it:

    H_t ẏ_t = p_t ⊙ ẏ_t − p_t (p_tᵀ ẏ_t)

The two passes are those of elman_gauss_newton.py: tangents ṡ_t, ẏ_t forward; then BPTT with the error
y_t − d_t replaced by H_t ẏ_t.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="softmax_cross_entropy", activation="tanh", mode="many_to_many")


def softmax(y):
    e = np.exp(y - y.max())
    return e / e.sum()


def gauss_newton(params, data, v):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    V_x, V_s, v_s, V_y, v_y = (v[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, s_0 = data["xs"], data["s_0"]
    T = len(xs)
    s, ds = [s_0], [np.zeros_like(s_0)]
    e = [None]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
        ds.append((1 - s[t] ** 2) * (V_x @ xs[t - 1] + V_s @ s[t - 1] + W_s @ ds[t - 1] + v_s))
        dy = V_y @ s[t] + W_y @ ds[t] + v_y          # J_t v
        p = softmax(W_y @ s[t] + b_y)
        e.append(p * dy - p * (p @ dy))              # H_t J_t v
    Gv = {k: np.zeros_like(a) for k, a in params.items()}
    local_next = np.zeros_like(s_0)
    for t in range(T, 0, -1):
        Gv["W_y"] += np.outer(e[t], s[t])
        Gv["b_y"] += e[t]
        local = (W_y.T @ e[t] + W_s.T @ local_next) * (1 - s[t] ** 2)
        Gv["W_s"] += np.outer(local, s[t - 1])
        Gv["W_x"] += np.outer(local, xs[t - 1])
        Gv["b_s"] += local
        local_next = local
    return Gv
