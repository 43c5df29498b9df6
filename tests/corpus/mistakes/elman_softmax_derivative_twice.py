r"""Elman with softmax outputs and cross-entropy, the softmax derivative applied twice.

∂E_t/∂y_t = p_t − d_t already contains the softmax's Jacobian; multiplying by p_t ⊙ (1 − p_t)
(the derivative of a sigmoid, or the diagonal of the softmax Jacobian) applies it a second time:

    e_t = (p_t − d_t) ⊙ p_t ⊙ (1 − p_t)        (wrong: e_t = p_t − d_t)
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.elman(loss="softmax_cross_entropy")
EXPECT = "wrong"
WRONG = "all"


def softmax(y):
    z = np.exp(y - y.max())
    return z / z.sum()


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s_0 = data["xs"], data["ds"], data["s_0"]
    T = len(xs)
    s = [s_0]
    for t in range(1, T + 1):
        s.append(np.tanh(W_x @ xs[t - 1] + W_s @ s[t - 1] + b_s))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    local_next = np.zeros(len(s_0))
    for t in range(T, 0, -1):
        p = softmax(W_y @ s[t] + b_y)
        e_t = (p - ds[t - 1]) * p * (1 - p)
        grads["W_y"] += np.outer(e_t, s[t])
        grads["b_y"] += e_t
        delta = W_y.T @ e_t + W_s.T @ local_next
        local = delta * (1 - s[t] ** 2)
        grads["W_s"] += np.outer(local, s[t - 1])
        grads["W_x"] += np.outer(local, xs[t - 1])
        grads["b_s"] += local
        local_next = local
    return grads
