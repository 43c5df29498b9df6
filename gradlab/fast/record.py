r"""The fast path's recording step: :func:`apply` as the engine's, but large NumPy values live in the
buffer pool (computed straight into it where the op has an *into-forward*), and the Python numbers
of per-step expressions (``1 - z``, ``0.5 * E``) become cached read-only constants instead of new
arrays. The values are bit for bit those of the reference ``apply``.
"""
from __future__ import annotations

import numpy as np

from ..engine.backend import check_finite, get_xp
from ..engine.ops import OPS
from ..engine.context import STATE
from ..engine.tensor import Tensor, as_tensor, explain_failure
from ..engine.tensor import apply as engine_apply
from .memory import MIN_BYTES, pooled_copy, pooled_empty

__all__ = ["apply", "record_op", "INTO"]


# Forwards straight into a pooled buffer, for the ops an unrolled RNN makes T of. They compute exactly
# what the op table's forwards compute, and decline (None) anything but float arrays of one dtype and,
# for binary ops, of one shape (broadcasting goes through the plain forward).
def _unary_into(ufunc):
    def into(alloc, x):
        if x.dtype.kind != "f":
            return None
        return ufunc(x, out=alloc(x.shape, x.dtype))
    return into


def _binary_into(ufunc):
    def into(alloc, x, y):
        if x.shape != y.shape or x.dtype != y.dtype or x.dtype.kind != "f":
            return None
        return ufunc(x, y, out=alloc(x.shape, x.dtype))
    return into


def _sigmoid_into(alloc, x):
    if x.dtype.kind != "f":
        return None
    out = np.negative(x, out=alloc(x.shape, x.dtype))
    with np.errstate(over="ignore", under="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)      # the same IEEE operations as the forward: identical bits


def _linear_into(alloc, x, W, b=None):
    if x.ndim != 2 or W.ndim != 2 or x.dtype != W.dtype or x.dtype.kind != "f":
        return None
    shape = (x.shape[0], W.shape[0])
    if b is not None and (b.dtype != x.dtype or (b.shape != shape and b.shape != shape[1:])):
        return None
    out = alloc(shape, x.dtype)
    try:
        np.matmul(x, W.T, out=out)
    except ValueError:
        return None           # the plain forward raises it again, and apply names the shapes
    if b is not None:
        out += b
    return out


def _stack_into(alloc, *xs, axis):
    first = xs[0]
    for x in xs:
        if x.shape != first.shape or x.dtype != first.dtype or x.dtype.kind != "f":
            return None
    if not -first.ndim - 1 <= axis <= first.ndim:
        return None
    at = axis % (first.ndim + 1)
    out = alloc(first.shape[:at] + (len(xs),) + first.shape[at:], first.dtype)
    return np.stack(xs, axis=axis, out=out)


INTO = {OPS["add"]: _binary_into(np.add), OPS["sub"]: _binary_into(np.subtract),
        OPS["mul"]: _binary_into(np.multiply), OPS["tanh"]: _unary_into(np.tanh), OPS["exp"]: _unary_into(np.exp),
        OPS["sigmoid"]: _sigmoid_into, OPS["linear"]: _linear_into, OPS["stack"]: _stack_into}

_new = Tensor.__new__
_NO_ATTRS: dict = {}
_CONSTANTS: dict = {}    # (number, dtype) -> read-only 0-d array: 1 - z at every step makes one, not T


def _constant(y, dtype) -> Tensor:
    key = (y, dtype)
    arr = _CONSTANTS.get(key)
    if arr is None:
        if len(_CONSTANTS) > 256:
            _CONSTANTS.clear()
        arr = _CONSTANTS[key] = np.asarray(y, dtype=dtype)
        arr.setflags(write=False)          # shared by every node that uses this number
    return Tensor(arr)


def _with_constants(op, inputs) -> tuple:
    """``inputs`` with every non-Tensor made a constant leaf (Python numbers next to a NumPy float
    Tensor share a cached array)."""
    like = next((x for x in inputs if isinstance(x, Tensor)), None)
    ld = None if like is None else like.data
    fast = type(ld) is np.ndarray and ld.dtype.kind == "f"
    return tuple(_constant(x, ld.dtype) if fast and (type(x) is float or type(x) is int)
                 else as_tensor(x, like, f"{op.name}: input {i}") for i, x in enumerate(inputs))


def apply(op, inputs: tuple, attrs: dict, state) -> Tensor:
    """Record ``op(*inputs, **attrs)`` as the engine's ``apply`` does (the engine's interface)."""
    return record_op(op, *inputs, **attrs)


def record_op(op, *inputs, **attrs) -> Tensor:
    """Record ``op(*inputs, **attrs)`` as the engine's ``apply`` does, keeping large NumPy values in the pool.

    Every op function calls this directly (``engine.ops.install``): one call per node, not the engine's
    ``apply`` and then this; under another engine (``with gradlab.reference():``) it hands over to ``apply``."""
    state = STATE.get()
    if state.engine != "fast":
        return engine_apply(op, *inputs, **attrs)
    ts = inputs
    datas = []
    xp = np
    grad = False
    for x in inputs:                  # one pass: the arrays, their namespace, whether a gradient flows
        if type(x) is not Tensor and not isinstance(x, Tensor):
            ts = _with_constants(op, inputs)
            datas = [t.data for t in ts]
            xp, grad = get_xp(*datas), any(t.requires_grad for t in ts)
            break
        d = x._data
        if type(d) is not np.ndarray:
            xp = None
        grad = grad or x.requires_grad
        datas.append(d)
    if xp is None:
        xp = get_xp(*datas)
    pool = xp is np and datas and datas[0].nbytes >= MIN_BYTES and state.grad_enabled
    try:
        into = INTO.get(op) if pool else None
        out = None if into is None else into(pooled_empty, *datas, **attrs)
        if out is None:
            out = op.forward(*datas, xp=xp, **attrs)
            if pool and type(out) is np.ndarray and out.base is None:
                out = pooled_copy(out)
    except (ValueError, TypeError, IndexError) as e:
        raise ValueError(explain_failure(op, ts, attrs, state.scope, e)) from None
    if state.anomaly:
        check_finite(out, f"forward of {op.name} at {state.scope}", [t.shape for t in ts])
    # engine.tensor.record's fields, one statement each (a multiple assignment would build a tuple per node)
    node = _new(Tensor)
    node._data = out
    node.grad = None
    node.name = None
    node.scope = state.scope
    node.retains_grad = False
    if state.grad_enabled:
        node.op = op
        node.parents = ts
        node.attrs = attrs or _NO_ATTRS
        node.requires_grad = grad
        if type(out) is np.ndarray:
            out.setflags(False)        # write=False: the graph keeps this value
    else:
        node.op, node.parents, node.attrs, node.requires_grad = None, (), {}, False
    return node
