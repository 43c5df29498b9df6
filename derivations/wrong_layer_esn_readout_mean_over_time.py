r"""An echo-state readout whose hand-written backward averages the weight gradient over the steps.

The forward is the one of ``esn_readout.py``: y_t = s_t W + b at every step, s (N, T, H), W (H, O),
b (O,). The planted mistake: dW is divided by the number of steps T,

    dW = (1/T) Σ_n Σ_t s_{n,t}ᵀ dout_{n,t}          (wrong by the factor 1/T)

the slip of copying a gradient from a course whose loss is a mean over time into one whose loss is a
sum. db and ds are right, so a checker must name dW only (and at T = 1 the slip is invisible: a check
must use more than one step).
"""
import numpy as np

import gradlab

EXPECT = "wrong"
WRONG = ("dW",)


def readout_forward(s, W, b):
    """Return (y, cache): y (N, T, O) = s W + b at every step."""
    return s @ W + b, (s, W)


def readout_backward(dout, cache):
    """Return (ds, dW, db); dW is wrong (divided by T)."""
    s, W = cache
    T = s.shape[1]
    ds = dout @ W.T
    dW = np.einsum("nth,nto->ho", s, dout) / T              # planted: a mean over the steps
    db = dout.sum(axis=(0, 1))
    return ds, dW, db


LAYER = gradlab.check.layer(readout_forward, readout_backward, style="cs231n", time="T",
                            inputs="s: N,T,H; W: H,O; b: O")
