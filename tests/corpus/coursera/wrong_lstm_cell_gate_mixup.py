"""Planted: the forget and input gates are mixed up in the weight gradients: dWf, dbf come from dit and dWi, dbi from dft.
"""
import numpy as np

import gradlab


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    Wf, bf, Wi, bi = parameters["Wf"], parameters["bf"], parameters["Wi"], parameters["bi"]
    Wc, bc, Wo, bo = parameters["Wc"], parameters["bc"], parameters["Wo"], parameters["bo"]
    Wy, by = parameters["Wy"], parameters["by"]
    concat = np.concatenate((a_prev, xt), axis=0)
    ft = sigmoid(np.dot(Wf, concat) + bf)
    it = sigmoid(np.dot(Wi, concat) + bi)
    cct = np.tanh(np.dot(Wc, concat) + bc)
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(Wo, concat) + bo)
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(np.dot(Wy, a_next) + by)
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def lstm_cell_backward(da_next, dc_next, cache):
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) = cache
    n_a = a_next.shape[0]
    dot = da_next * np.tanh(c_next) * ot * (1 - ot)
    dc = dc_next + da_next * ot * (1 - np.tanh(c_next) ** 2)
    dcct = dc * it * (1 - cct ** 2)
    dit = dc * cct * it * (1 - it)
    dft = dc * c_prev * ft * (1 - ft)
    concat = np.concatenate((a_prev, xt), axis=0)
    dWf, dWi, dWc, dWo = np.dot(dit, concat.T), np.dot(dft, concat.T), np.dot(dcct, concat.T), np.dot(dot, concat.T)
    dbf, dbi = np.sum(dit, axis=1, keepdims=True), np.sum(dft, axis=1, keepdims=True)
    dbc, dbo = np.sum(dcct, axis=1, keepdims=True), np.sum(dot, axis=1, keepdims=True)
    dconcat = (np.dot(parameters["Wf"].T, dft) + np.dot(parameters["Wi"].T, dit)
               + np.dot(parameters["Wc"].T, dcct) + np.dot(parameters["Wo"].T, dot))
    da_prev, dxt = dconcat[:n_a], dconcat[n_a:]
    dc_prev = dc * ft
    return {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev, "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
            "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}


EXPECT = "wrong"
WRONG = ("dWf", "dWi", "dbf", "dbi")

LAYER = gradlab.check.layer(
    lstm_cell_forward, lstm_cell_backward, style="coursera",
    inputs="xt: n_x,m; a_prev: n_a,m; c_prev: n_a,m; "
           "parameters: {Wf, Wi, Wc, Wo: n_a,n_a+n_x; bf, bi, bc, bo: n_a,1; Wy: n_y,n_a; by: n_y,1}")
