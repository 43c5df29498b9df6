"""Planted: the RNN step's backward forgets tanh's derivative, da = dnext_h instead of dnext_h * (1 - next_h²).

Every gradient of the step goes through the activation, so all five are wrong.
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
    da = dnext_h
    dx = da.dot(Wx.T)
    dprev_h = da.dot(Wh.T)
    dWx = x.T.dot(da)
    dWh = prev_h.T.dot(da)
    db = np.sum(da, axis=0)
    return dx, dprev_h, dWx, dWh, db


EXPECT = "wrong"
WRONG = ("dx", "dprev_h", "dWx", "dWh", "db")

LAYER = gradlab.check.layer(rnn_step_forward, rnn_step_backward, style="cs231n",
                            inputs="x: N,D; prev_h: N,H; Wx: D,H; Wh: H,H; b: H")
