"""Deprecated, use gradlab.engine.ops: this module re-exports it (kept so that existing imports work)."""
from .engine.ops import (OPS, Op, add, chunk, clip, concat, defop, div, exp, getitem, linear, log, log_softmax, mask,
                         matmul, maximum, mean, mul, neg, power, relu, reshape, scatter_add, setitem, sigmoid, softmax, split,
                         stack, sub, sum, tanh, transpose, where)

_mask = mask   # the old private name

__all__ = [
    "Op", "OPS", "defop", "mask", "scatter_add", "setitem",
    "add", "sub", "mul", "div", "neg", "power", "matmul", "linear", "transpose", "reshape", "getitem",
    "sum", "mean", "tanh", "sigmoid", "relu", "exp", "log", "softmax", "log_softmax",
    "concat", "stack", "split", "chunk", "maximum", "where", "clip",
]
