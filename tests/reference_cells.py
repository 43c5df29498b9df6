r"""Reference implementations of every cell's documented equations, written out in plain array code.

They share nothing with gradlab but the parameter names: each takes ``P`` = {lecture name: array},
one input ``x`` (rows ``(..., D)``) and the previous state, and computes the next state with the
array namespace ``xp`` (``numpy``, or ``autograd.numpy`` so that HIPS autograd can differentiate it).
The tests compare gradlab's cells against these on the same weights.
"""
from __future__ import annotations

import numpy as np

__all__ = ["REFERENCE", "run", "run_from", "sigmoid"]


def sigmoid(z, xp=np):
    """The logistic function 1 / (1 + e^-z)."""
    return 1.0 / (1.0 + xp.exp(-z))


def _act(name, xp):
    return {"tanh": xp.tanh, "relu": lambda z: xp.maximum(z, 0.0), "identity": lambda z: z,
            "sigmoid": lambda z: sigmoid(z, xp)}[name]


def _lin(W, x, b=None):
    """W x (+ b) for row inputs x: x Wᵀ + b."""
    y = x @ W.T
    return y if b is None else y + b


def _out(P, s):
    return _lin(P["W_y"], s, P["b_y"]) if "W_y" in P else s


# Each entry: step(P, x, state, xp, **opts) -> state; hidden(state) -> s_t; output(P, state) -> y_t.
def elman_step(P, x, s, xp=np, activation="tanh"):
    """s_t = φ(W_x x_t + W_s s_{t-1} + b_s)."""
    return _act(activation, xp)(_lin(P["W_x"], x) + _lin(P["W_s"], s) + P["b_s"])


def jordan_step(P, x, state, xp=np, activation="tanh"):
    """s_t = φ(W_x x_t + W_s y_{t-1} + b_s), y_t = W_y s_t + b_y."""
    _, y = state
    s = _act(activation, xp)(_lin(P["W_x"], x) + _lin(P["W_s"], y) + P["b_s"])
    return (s, _lin(P["W_y"], s, P["b_y"]))


def _gate_rows(W, k, n):
    H = W.shape[0] // n
    return W[k * H:(k + 1) * H]


def lstm_step(P, x, state, xp=np, peephole=False):
    """Gates i, f, g, o from stacked rows; c_t = f c + i g; s_t = o tanh(c_t); optional peepholes."""
    s, c = state
    pre = [_lin(_gate_rows(P["W_x"], k, 4), x) + _lin(_gate_rows(P["W_s"], k, 4), s) + _gate_rows(P["b_s"], k, 4)
           for k in range(4)]
    if peephole:
        i = sigmoid(pre[0] + P["p_i"] * c, xp)
        f = sigmoid(pre[1] + P["p_f"] * c, xp)
    else:
        i, f = sigmoid(pre[0], xp), sigmoid(pre[1], xp)
    g = xp.tanh(pre[2])
    c_new = f * c + i * g
    o = sigmoid(pre[3] + P["p_o"] * c_new, xp) if peephole else sigmoid(pre[3], xp)
    return (o * xp.tanh(c_new), c_new)


def gru_step(P, x, s, xp=np, reset="after"):
    """Gates r, z, n; reset "after": n = tanh(a_n + r ⊙ (W_sn s + b_sn)); "before": W_sn (r ⊙ s)."""
    a = [_lin(_gate_rows(P["W_x"], k, 3), x, _gate_rows(P["b_x"], k, 3)) for k in range(3)]
    Ws = [_gate_rows(P["W_s"], k, 3) for k in range(3)]
    bs = [_gate_rows(P["b_s"], k, 3) for k in range(3)]
    r = sigmoid(a[0] + _lin(Ws[0], s, bs[0]), xp)
    z = sigmoid(a[1] + _lin(Ws[1], s, bs[1]), xp)
    if reset == "after":
        n = xp.tanh(a[2] + r * _lin(Ws[2], s, bs[2]))
    else:
        n = xp.tanh(a[2] + _lin(Ws[2], r * s, bs[2]))
    return (1.0 - z) * n + z * s


def fourgate_step(P, E, state, xp=np):
    """The learn / forget / remember / use gates of the notes, with [STM_{t-1}, E_t] concatenated."""
    stm, ltm = state
    stm = stm + xp.zeros(E.shape[:-1] + stm.shape[-1:])
    joined = xp.concatenate([stm, E], axis=-1)
    N = xp.tanh(_lin(P["W_n"], joined, P["b_n"]))
    i = sigmoid(_lin(P["W_i"], joined, P["b_i"]), xp)
    f = sigmoid(_lin(P["W_f"], joined, P["b_f"]), xp)
    ltm_new = ltm * f + N * i
    U = xp.tanh(_lin(P["W_u"], ltm * f, P["b_u"]))
    V = sigmoid(_lin(P["W_v"], joined, P["b_v"]), xp)
    return (U * V, ltm_new)


def _first(state):
    return state if not isinstance(state, tuple) else state[0]


REFERENCE = {
    "elman": dict(step=elman_step, hidden=_first, output=lambda P, st: _out(P, st)),
    "jordan": dict(step=jordan_step, hidden=_first, output=lambda P, st: st[1]),
    "lstm": dict(step=lstm_step, hidden=_first, output=lambda P, st: _out(P, st[0])),
    "peephole": dict(step=lambda P, x, st, xp=np: lstm_step(P, x, st, xp, peephole=True), hidden=_first,
                     output=lambda P, st: _out(P, st[0])),
    "gru": dict(step=gru_step, hidden=_first, output=lambda P, st: _out(P, st)),
    "fourgate": dict(step=fourgate_step, hidden=_first, output=lambda P, st: _out(P, st[0])),
}


def _equation_options(opts):
    # options that change the equations; others (forget_bias: an initial value) do not concern them
    return {k: v for k, v in opts.items() if k in ("activation", "reset")}


def run(kind, P, xs, state, xp=np, **opts):
    """Return (states, outputs) for the whole sequence ``xs`` from ``state`` (the reference unrolling)."""
    ref = REFERENCE[kind]
    opts = _equation_options(opts)
    states, ys = [], []
    for x in xs:
        state = ref["step"](P, x, state, xp, **opts)
        states.append(state)
        ys.append(ref["output"](P, state))
    return states, ys


def run_from(kind, P, xs, t, s_t, state_t, xp=np, **opts):
    """Return y_T when the hidden state after step ``t`` (1-based) is replaced by ``s_t`` (other state
    parts kept from ``state_t``; the Jordan output y_t is recomputed from s_t since it is a function of it)."""
    ref = REFERENCE[kind]
    opts = _equation_options(opts)
    if kind == "jordan":
        state = (s_t, _lin(P["W_y"], s_t, P["b_y"]))
    elif isinstance(state_t, tuple):
        state = (s_t,) + tuple(state_t[1:])
    else:
        state = s_t
    for x in xs[t:]:
        state = ref["step"](P, x, state, xp, **opts)
    return ref["output"](P, state)
