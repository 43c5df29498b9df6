"""Planted: dWh is formed with next_h (h_t) where prev_h (h_{t-1}) belongs.

The product prev_h.dot(Wh) puts h_{t-1} next to Wh, so dWh = prev_hᵀ·da; only dWh is wrong.
"""
import numpy as np

import gradlab


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    next_h = np.tanh(a)
    cache = (x, prev_h, Wx, Wh, next_h)
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    dx = da.dot(Wx.T)
    dprev_h = da.dot(Wh.T)
    dWx = x.T.dot(da)
    dWh = next_h.T.dot(da)
    db = np.sum(da, axis=0)
    return dx, dprev_h, dWx, dWh, db


EXPECT = "wrong"
WRONG = ("dWh",)

LAYER = gradlab.check.layer(rnn_step_forward, rnn_step_backward, style="cs231n",
                            inputs="x: N,D; prev_h: N,H; Wx: D,H; Wh: H,H; b: H")
