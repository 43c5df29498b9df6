r"""The readout of an echo-state network, forward and backward written by hand in the CS231n style.

The reservoir's states s_t are computed with fixed weights and are *inputs* to the readout; the readout
is a linear layer applied at every time step with the same weights (CS231n's temporal affine layer):

    s   (N, T, H)    reservoir states
    W   (H, O)       readout weights (the lecture's W_yᵀ)
    b   (O,)
    y   (N, T, O),   y_t = s_t W + b

Backward. W and b are used at every step, so their gradients sum over the batch *and* the steps:

    dW = Σ_n Σ_t s_{n,t}ᵀ dout_{n,t}      (H, O)
    db = Σ_n Σ_t dout_{n,t}               (O,)
    ds = dout Wᵀ                          (N, T, H)

ds is what BPTT would send back into the reservoir; an echo-state network never uses it (its reservoir
is not trained). For the ridge loss E = ½Σ‖y_t − d_t‖² + ½λ‖W‖², dout = y − d and the penalty adds
λW to dW (see ``gradlab.nn.reservoir.train_readout``).
"""
import numpy as np

import gradlab


def readout_forward(s, W, b):
    """Return (y, cache): y (N, T, O) = s W + b at every step."""
    return s @ W + b, (s, W)


def readout_backward(dout, cache):
    """Return (ds, dW, db) for upstream gradient dout of shape (N, T, O)."""
    s, W = cache
    ds = dout @ W.T
    dW = np.einsum("nth,nto->ho", s, dout)
    db = dout.sum(axis=(0, 1))
    return ds, dW, db


LAYER = gradlab.check.layer(readout_forward, readout_backward, style="cs231n", time="T",
                            inputs="s: N,T,H; W: H,O; b: O")
