r"""The Gauss–Newton product G v of an Elman network: a forward pass of tangents, then BPTT.

    s_t = tanh(a_t),   a_t = W_x x_t + W_s s_{t−1} + b_s,   y_t = W_y s_t + b_y,   E = Σ_t ½‖y_t − d_t‖²

Hessian-free optimisation needs the curvature of E only through products with a vector
v = (V_x, V_s, v_s, V_y, v_y), one block per parameter, shaped like the parameters. With
J_t = ∂y_t/∂θ, the Gauss–Newton matrix keeps the part of the Hessian that is a product of first
derivatives:

    G = Σ_t J_tᵀ H_t J_t,      H_t = ∂²E_t/∂y_t² = I      (for ½‖y_t − d_t‖²)

so G v = Σ_t J_tᵀ (J_t v) takes two passes.

1. Forward, the tangents ẋ = (∂x/∂θ) v (the "R-operator"): differentiate each forward line along v.
   s_0 is data, so ṡ_0 = 0, and

       ȧ_t = V_x x_t + V_s s_{t−1} + W_s ṡ_{t−1} + v_s
       ṡ_t = (1 − s_t²) ⊙ ȧ_t
       ẏ_t = V_y s_t + W_y ṡ_t + v_y                       = J_t v

   The tangent travels through time like the state does: W_s ṡ_{t−1} carries step t−1's change on.

2. Backward, J_tᵀ (H_t ẏ_t) summed over t: this is BPTT exactly as for the gradient
   (elman_bptt_sequence.py) with the error y_t − d_t replaced by ẏ_t:

       δ_t = W_yᵀ ẏ_t + W_sᵀ (δ_{t+1} ⊙ (1 − s_{t+1}²)),     δ_{T+1} = 0
       (G v)_{W_y} = Σ_t ẏ_t s_tᵀ,    (G v)_{b_y} = Σ_t ẏ_t
       (G v)_{W_s} = Σ_t (δ_t ⊙ (1 − s_t²)) s_{t−1}ᵀ,   (G v)_{W_x} = Σ_t (δ_t ⊙ (1 − s_t²)) x_tᵀ,
       (G v)_{b_s} = Σ_t δ_t ⊙ (1 − s_t²)

No second derivative of tanh appears: that is what G drops from the Hessian (the term weighted by the
residuals y_t − d_t), and why G is positive semi-definite: vᵀ G v = Σ_t ‖J_t v‖² ≥ 0.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="mse_half", activation="tanh", mode="many_to_many")


def gauss_newton(params, data, v):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    V_x, V_s, v_s, V_y, v_y = (v[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, s_0 = data["xs"], data["s_0"]
    T = len(xs)
    s, ds = [s_0], [np.zeros_like(s_0)]           # s_t and its tangent ṡ_t
    dy = [None]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
        da = V_x @ xs[t - 1] + V_s @ s[t - 1] + W_s @ ds[t - 1] + v_s
        ds.append((1 - s[t] ** 2) * da)
        dy.append(V_y @ s[t] + W_y @ ds[t] + v_y)  # J_t v; H_t = I, so this is also H_t J_t v
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
