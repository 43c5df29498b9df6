r"""A deliberately wrong Gauss–Newton product: the tangent does not travel through time.

The right forward pass of tangents (elman_gauss_newton.py) differentiates a_t = W_x x_t + W_s s_{t−1} + b_s
along v, *including* the change of s_{t−1}:

    ȧ_t = V_x x_t + V_s s_{t−1} + W_s ṡ_{t−1} + v_s

This student differentiates each step with its input state held fixed, ȧ_t = V_x x_t + V_s s_{t−1} + v_s,
as if a change of the weights moved each step's state only through that step's own weights. Then ẏ_t
is not J_t v from t = 2 on, and since every block of G v = Σ_t J_tᵀ ẏ_t is built from the ẏ_t, every
parameter's block is wrong (at T = 1 there is no earlier step, and the product is right).
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half", activation="tanh", mode="many_to_many")
EXPECT = "wrong"
WRONG = "all"


def gauss_newton(params, data, v):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    V_x, V_s, v_s, V_y, v_y = (v[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, s_0 = data["xs"], data["s_0"]
    T = len(xs)
    s, ds = [s_0], [np.zeros_like(s_0)]
    dy = [None]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
        da = V_x @ xs[t - 1] + V_s @ s[t - 1] + v_s          # W_s ṡ_{t−1} forgotten
        ds.append((1 - s[t] ** 2) * da)
        dy.append(V_y @ s[t] + W_y @ ds[t] + v_y)
    Gv = {k: np.zeros_like(p) for k, p in params.items()}
    local_next = np.zeros_like(s_0)
    for t in range(T, 0, -1):
        e_t = dy[t]
        Gv["W_y"] += np.outer(e_t, s[t])
        Gv["b_y"] += e_t
        delta = W_y.T @ e_t + W_s.T @ local_next
        local = delta * (1 - s[t] ** 2)
        Gv["W_s"] += np.outer(local, s[t - 1])
        Gv["W_x"] += np.outer(local, xs[t - 1])
        Gv["b_s"] += local
        local_next = local
    return Gv
