"""The CS231n captioning layers around the RNN: word embedding, temporal affine, temporal softmax loss.

The embedding takes word indices (no gradient for them), and the loss returns its own gradient: it is
checked as "a function that returns (loss, dx)", with no separate backward.
"""
import numpy as np

import gradlab


def word_embedding_forward(x, W):
    out = W[x, :]
    return out, (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


def temporal_affine_forward(x, w, b):
    N, T, D = x.shape
    M = b.shape[0]
    out = x.reshape(N * T, D).dot(w).reshape(N, T, M) + b
    return out, (x, w, b, out)


def temporal_affine_backward(dout, cache):
    x, w, b, out = cache
    N, T, D = x.shape
    M = b.shape[0]
    dx = dout.reshape(N * T, M).dot(w.T).reshape(N, T, D)
    dw = dout.reshape(N * T, M).T.dot(x.reshape(N * T, D)).T
    db = dout.sum(axis=(0, 1))
    return dx, dw, db


def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    x_flat = x.reshape(N * T, V)
    y_flat = y.reshape(N * T)
    mask_flat = mask.reshape(N * T)
    probs = np.exp(x_flat - np.max(x_flat, axis=1, keepdims=True))
    probs /= np.sum(probs, axis=1, keepdims=True)
    loss = -np.sum(mask_flat * np.log(probs[np.arange(N * T), y_flat])) / N
    dx_flat = probs.copy()
    dx_flat[np.arange(N * T), y_flat] -= 1
    dx_flat /= N
    dx_flat *= mask_flat[:, None]
    return loss, dx_flat.reshape(N, T, V)


LAYERS = [
    gradlab.check.layer(word_embedding_forward, word_embedding_backward, inputs="x: N,T < V; W: V,D", time="T"),
    gradlab.check.layer(temporal_affine_forward, temporal_affine_backward, inputs="x: N,T,D; w: D,M; b: M", time="T"),
    gradlab.check.layer(temporal_softmax_loss, inputs="x: N,T,V; y: N,T < V; mask: N,T bool", time="T"),
]
