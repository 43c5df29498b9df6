"""Layer mode, Coursera convention, a planted mistake: rnn_backward forgets the recurrent term.

The course code works on columns (one example per column): x (n_x, m, T_x), a0 (n_a, m) and the
weights in the dict `parameters`,

    a⟨t⟩ = tanh(Waa·a⟨t−1⟩ + Wax·x⟨t⟩ + ba),   ŷ⟨t⟩ = softmax(Wya·a⟨t⟩ + by),

and rnn_backward(da, caches) returns {"dx", "da0", "dWax", "dWaa", "dba"}. The mistake: each cell's
backward gets only its own upstream da[:, :, t], never da_prevt, the gradient that flows back from
step t + 1 through Waa. The last step is still right; every earlier one misses what comes back from
the later ones, so every gradient but the untouched dWya, dby (not returned, and 0 for an upstream
gradient into a alone) is wrong.
"""
import numpy as np

import gradlab


def softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def rnn_cell_forward(xt, a_prev, parameters):
    Wax, Waa, Wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    ba, by = parameters["ba"], parameters["by"]
    a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
    yt_pred = softmax(np.dot(Wya, a_next) + by)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_forward(x, a0, parameters):
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a, y_pred = np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x))
    a_next, caches = a0, []
    for t in range(T_x):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t], y_pred[:, :, t] = a_next, yt_pred
        caches.append(cache)
    return a, y_pred, (caches, x)


def rnn_cell_backward(da_next, cache):
    (a_next, a_prev, xt, parameters) = cache
    dtanh = (1 - a_next ** 2) * da_next
    return {"dxt": np.dot(parameters["Wax"].T, dtanh), "da_prev": np.dot(parameters["Waa"].T, dtanh),
            "dWax": np.dot(dtanh, xt.T), "dWaa": np.dot(dtanh, a_prev.T), "dba": np.sum(dtanh, 1, keepdims=True)}


def rnn_backward(da, caches):
    (caches, x) = caches
    n_a, m, T_x = da.shape
    n_x = x.shape[0]
    dx = np.zeros((n_x, m, T_x))
    dWax, dWaa, dba = np.zeros((n_a, n_x)), np.zeros((n_a, n_a)), np.zeros((n_a, 1))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        gradients = rnn_cell_backward(da[:, :, t], caches[t])      # + da_prevt is missing
        dx[:, :, t] = gradients["dxt"]
        da_prevt = gradients["da_prev"]
        dWax += gradients["dWax"]
        dWaa += gradients["dWaa"]
        dba += gradients["dba"]
    return {"dx": dx, "da0": da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}


EXPECT = "wrong"
WRONG = ("dx", "da0", "dWax", "dWaa", "dba")

LAYER = gradlab.check.layer(
    rnn_forward, rnn_backward, style="coursera", time="T_x",
    inputs="x: n_x,m,T_x; a0: n_a,m; parameters: {Wax: n_a,n_x; Waa: n_a,n_a; Wya: n_y,n_a; ba: n_a,1; by: n_y,1}")
