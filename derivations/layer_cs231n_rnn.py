"""Layer mode, CS231n convention: a vanilla RNN's rnn_forward / rnn_backward, checked as written.

The course code works on rows (one example per row) with a batch axis:

    next_h = tanh(x_t·Wx + prev_h·Wh + b),   x (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,), h (N, T, H)

and rnn_backward(dh, cache) returns (dx, dh0, dWx, dWh, db), the gradients in input order. Nothing is
adapted: the declaration at the end says which functions to check, the shapes in the course's own
letters and which letter is time; gradlab compares every one of the five gradients with the
vector–Jacobian product of rnn_forward itself.
"""
import numpy as np

import gradlab


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)
    cache = (x, prev_h, Wx, Wh, next_h)
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    return da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    prev_h, cache = h0, []
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        h[:, t, :] = prev_h
        cache.append(step_cache)
    return h, cache


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dprev_h = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


LAYER = gradlab.check.layer(rnn_forward, rnn_backward, style="cs231n", time="T",
                            inputs="x: N,T,D; h0: N,H; Wx: D,H; Wh: H,H; b: H")
