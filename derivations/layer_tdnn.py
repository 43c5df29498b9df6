r"""A time-delay layer, forward and backward written by hand in the CS231n style.

Layout (batch first, row vectors, as in CS231n's ``temporal_affine_forward``):

    x   (N, T, D)    N sequences of T inputs
    W   (k, D, H)    one tap per delay: W[j] multiplies x_{t−j} (W[0] the newest input)
    b   (H,)
    h   (N, T − k + 1, H),   h_t = tanh(b + Σ_{j=0}^{k−1} x_{t−j} W[j])   for t = k … T

Backward. With dout = ∂E/∂h and a_t the pre-activation, the tanh gives

    da_t = dout_t ⊙ (1 − h_t²)

and every tap is used at *every* shift t (the weights are shared across shifts, as an unfolded RNN
shares W_s across time steps), so its gradient is the sum of one term per shift:

    dW[j] = Σ_n Σ_{t=k}^{T} x_{n,t−j}ᵀ da_{n,t}          (D, H)
    db    = Σ_n Σ_t da_{n,t}                              (H,)
    dx_{n,s} = Σ_j da_{n,s+j} W[j]ᵀ    (every shift whose window contains step s)

In array form, x[:, k−1−j : T−j] holds x_{t−j} for all shifts t at once.
"""
import numpy as np

import gradlab


def tdnn_forward(x, W, b):
    """Return (h, cache): h (N, T − k + 1, H) = tanh(b + Σ_j x_{t−j} W[j])."""
    N, T, D = x.shape
    k = W.shape[0]
    a = b + sum(x[:, k - 1 - j: T - j, :] @ W[j] for j in range(k))
    h = np.tanh(a)
    return h, (x, W, h)


def tdnn_backward(dout, cache):
    """Return (dx, dW, db) for upstream gradient dout of shape (N, T − k + 1, H)."""
    x, W, h = cache
    N, T, D = x.shape
    k = W.shape[0]
    da = dout * (1.0 - h ** 2)
    dx = np.zeros_like(x)
    dW = np.zeros_like(W)
    for j in range(k):
        window = x[:, k - 1 - j: T - j, :]                  # x_{t−j} for every shift t
        dW[j] = np.einsum("ntd,nth->dh", window, da)       # summed over the batch and over the shifts
        dx[:, k - 1 - j: T - j, :] += da @ W[j].T
    db = da.sum(axis=(0, 1))
    return dx, dW, db


LAYER = gradlab.check.layer(tdnn_forward, tdnn_backward, style="cs231n", time="T",
                            inputs="x: N,T,D; W: k,D,H; b: H")
