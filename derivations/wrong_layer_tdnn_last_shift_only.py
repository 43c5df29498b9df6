r"""A time-delay layer whose hand-written backward forgets that the taps are shared across shifts.

The forward is the one of ``tdnn_layer.py``: h_t = tanh(b + Σ_j x_{t−j} W[j]) for t = k … T, with
x (N, T, D), W (k, D, H), b (H,). The planted mistake is in dW: it keeps the term of the *last* shift
only,

    dW[j] = Σ_n x_{n,T−j}ᵀ da_{n,T}          (wrong: one copy of the shared weight)

instead of summing over every shift t = k … T, the mistake of treating the tap as if it were used
once. db and dx are right (dx sums over the shifts whose window holds each input), so a checker must
name dW and only dW.
"""
import numpy as np

import gradlab

EXPECT = "wrong"
WRONG = ("dW",)


def tdnn_forward(x, W, b):
    """Return (h, cache): h (N, T − k + 1, H) = tanh(b + Σ_j x_{t−j} W[j])."""
    N, T, D = x.shape
    k = W.shape[0]
    a = b + sum(x[:, k - 1 - j: T - j, :] @ W[j] for j in range(k))
    h = np.tanh(a)
    return h, (x, W, h)


def tdnn_backward(dout, cache):
    """Return (dx, dW, db); dW is wrong (last shift only)."""
    x, W, h = cache
    N, T, D = x.shape
    k = W.shape[0]
    da = dout * (1.0 - h ** 2)
    dx = np.zeros_like(x)
    dW = np.zeros_like(W)
    for j in range(k):
        dW[j] = x[:, T - 1 - j, :].T @ da[:, -1, :]         # planted: the sum over shifts is missing
        dx[:, k - 1 - j: T - j, :] += da @ W[j].T
    db = da.sum(axis=(0, 1))
    return dx, dW, db


LAYER = gradlab.check.layer(tdnn_forward, tdnn_backward, style="cs231n", time="T",
                            inputs="x: N,T,D; W: k,D,H; b: H")
