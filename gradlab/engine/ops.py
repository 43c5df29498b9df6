r"""The op table: every primitive is its forward and its vector-Jacobian products, side by side.

A forward is ``forward(*inputs, xp, **attrs)``: raw arrays in, raw array out, computed with the
array namespace ``xp`` (NumPy, CuPy, ``autograd.numpy``, the SymPy namespace, ...), so that the same
entry serves every interpreter. Its VJPs follow the signature ``(g, out, *inputs, xp, **attrs)``:
``g`` is the upstream gradient, ``out`` the forward result. ``vjp`` is a tuple with one function per
input (``None`` for an input that gets no gradient), or, for the ops that join any number of inputs,
one function that returns the gradients of all inputs at once (so N inputs cost O(N), not O(N²)).

The forward-mode rule goes beside the VJP as ``jvp=``: a tuple with one function per input,
``(dx, out, *inputs, xp, **attrs)``, each returning that input's contribution J_i ẋ_i to the tangent
of the output (``None`` for an input that gets none, a mask); forward mode adds them up
(:mod:`gradlab.engine.forward`). Ops that are linear in all their inputs say ``jvp=LINEAR``: the
derivative of a linear map is the map itself, so their tangent is the op applied to the tangents
(f(u), zeros for an input without one). A JVP rule computes with the operators and ``xp.sum``,
``xp.exp``, ``xp.where``, ``xp.heaviside`` only, so that the same rule can also run on recorded
Tensors (``jvp(..., create_graph=True)``, which the Hessian products of :mod:`gradlab.curvature` use).

Broadcasting is undone in one place, the reverse-mode loop (:func:`gradlab.engine.backend.unbroadcast`),
so the VJPs below return gradients of the broadcast shape.

``analytic`` marks ops that are holomorphic, so complex-step differentiation is exact through them;
``kink`` gives, for non-smooth ops, the distance of the inputs to the nearest kink (ReLU at 0, a
tie of ``maximum``), which the checker uses to avoid blaming a candidate for a finite difference
taken across a kink; ``diagnose`` turns the shapes of a failed call into a message.
"""
from __future__ import annotations

import builtins
import functools
import inspect
import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .backend import get_xp
from .tensor import Tensor, apply, as_tensor

__all__ = [
    "Op", "OPS", "defop", "LINEAR", "install",
    "add", "sub", "mul", "div", "neg", "power", "matmul", "linear", "transpose", "reshape", "getitem", "setitem",
    "sum", "mean", "tanh", "sigmoid", "relu", "exp", "log", "softmax", "log_softmax",
    "concat", "stack", "split", "chunk", "maximum", "where", "clip",
]


@dataclass(frozen=True, eq=False, slots=True)  # ops compare and hash by identity
class Op:
    """One primitive: its name, forward, VJPs and the facts the interpreters need about it."""

    name: str
    forward: Callable
    vjp: tuple | Callable
    analytic: bool = True
    kink: Callable | None = None
    diagnose: Callable | None = None
    jvp: tuple | object | None = None       # forward mode: each input's part of the output's tangent, or LINEAR

    def vjps(self, g, out, inputs, xp, attrs, wanted) -> list:
        """Return the gradient of each input (None where ``wanted`` is False or the input gets none)."""
        if type(self.vjp) is tuple:
            return [f(g, out, *inputs, xp=xp, **attrs) if w and f is not None else None
                    for f, w in zip(self.vjp, wanted)]
        return list(self.vjp(g, out, *inputs, xp=xp, **attrs))

    def jvps(self, tangents, out, inputs, xp, attrs) -> list:
        """Return each input's contribution to the output's tangent (None where the input has no tangent or
        gets none); for an op with ``jvp=LINEAR`` the caller applies the op to the tangents instead."""
        if self.jvp is None:
            raise ValueError(f"{self.name}: this op has no forward-mode (JVP) rule")
        if self.jvp is LINEAR:
            raise ValueError(f"{self.name} is linear in its inputs (jvp=LINEAR): its tangent is the op applied to "
                             f"the tangents, not a sum of per-input terms")
        return [f(t, out, *inputs, xp=xp, **attrs) if t is not None and f is not None else None
                for f, t in zip(self.jvp, tangents)]

    def input_vjp(self, argnum: int, g, out, inputs, xp, attrs):
        """Return the gradient for input ``argnum`` alone (or None when that input gets none)."""
        return self.vjps(g, out, inputs, xp, attrs, [i == argnum for i in range(len(inputs))])[argnum]

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


OPS: dict[str, Op] = {}
#: every op function :func:`defop` made, and what they call (``apply`` unless :func:`install` changed it)
_APPLIED: list = []
_entry = apply


class _Linear:
    """The JVP rule of an op that is linear in all its inputs, f(a u + b w) = a f(u) + b f(w): its
    derivative is f itself, so the tangent of the output is f applied to the tangents."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LINEAR"


LINEAR = _Linear()


def defop(name: str, vjp, *, analytic: bool = True, kink=None, diagnose=None, jvp=None, **_old):
    """Decorator: register the decorated forward as op ``name`` and return a function that applies it.

    (Deprecated forms still work: a single VJP taking ``argnum`` is called once per input, and the
    fast-path hints ``batch_vjp``, ``into``, ``symmetric`` are ignored; gradlab.fast keeps its own.)"""
    if callable(vjp) and "argnum" in inspect.signature(vjp).parameters:
        vjp = _per_argnum(vjp)

    def register(forward):
        if name in OPS:
            raise ValueError(f"defop: an op named {name!r} is already registered")
        op = OPS[name] = Op(name, forward, vjp, analytic, kink, diagnose, jvp)
        applied = functools.partial(_entry, op)
        _APPLIED.append(applied)
        applied.op = op
        applied.__name__ = applied.__qualname__ = name
        applied.__doc__ = forward.__doc__
        return applied

    return register


def install(entry) -> None:
    """Make every op function (``add``, ``tanh``, ... and those ``defop`` makes later) call
    ``entry(op, *inputs, **attrs)`` instead of :func:`~gradlab.engine.tensor.apply`. A faster implementation
    installs its recording step once, saving a call per node; ``entry`` must hand over to ``apply`` whenever
    another engine is in force (``with gradlab.reference():``)."""
    global _entry
    _entry = entry
    for applied in _APPLIED:         # rebind in place: Tensor's operators and every import see the change
        applied.__setstate__((entry, applied.args, applied.keywords, applied.__dict__))


def _per_argnum(vjp):
    def every(g, out, *xs, xp, **attrs):
        return [vjp(g, out, *xs, xp=xp, argnum=i, **attrs) for i in range(len(xs))]
    return every


def _broadcast_diagnose(a, b):
    return f"cannot broadcast shapes {a!r} and {b!r}"


# ---------------------------------------------------------------------------------- arithmetic
@defop("add", (lambda g, out, x, y, xp: g, lambda g, out, x, y, xp: g), jvp=LINEAR, diagnose=_broadcast_diagnose)
def add(x, y, xp):
    """Return x + y (broadcasting)."""
    return x + y


@defop("sub", (lambda g, out, x, y, xp: g, lambda g, out, x, y, xp: -g), jvp=LINEAR, diagnose=_broadcast_diagnose)
def sub(x, y, xp):
    """Return x - y (broadcasting)."""
    return x - y


# d(xy) = dx y + x dy (the product rule, forward; the same two factors as the VJPs)
@defop("mul", (lambda g, out, x, y, xp: g * y, lambda g, out, x, y, xp: g * x),
       jvp=(lambda dx, out, x, y, xp: dx * y, lambda dy, out, x, y, xp: x * dy), diagnose=_broadcast_diagnose)
def mul(x, y, xp):
    """Return the element-wise product x * y (broadcasting)."""
    return x * y


# d(x/y)/dy = -x/y² = -out/y
@defop("div", (lambda g, out, x, y, xp: g / y, lambda g, out, x, y, xp: -g * out / y),
       jvp=(lambda dx, out, x, y, xp: dx / y, lambda dy, out, x, y, xp: -dy * out / y), diagnose=_broadcast_diagnose)
def div(x, y, xp):
    """Return x / y (broadcasting)."""
    return x / y


@defop("neg", (lambda g, out, x, xp: -g,), jvp=LINEAR)
def neg(x, xp):
    """Return -x."""
    return -x


# d(x^p)/dx = p x^(p-1); the exponent is a constant attribute
@defop("power", (lambda g, out, x, xp, p: g * p * x ** (p - 1),), jvp=(lambda dx, out, x, xp, p: dx * p * x ** (p - 1),))
def _power(x, xp, p):
    """Return x ** p for a constant exponent p."""
    return x ** p


def power(x, p):
    """Return x ** p; ``p`` is a number (constant exponent) or a Tensor (then exp(p log x), x > 0)."""
    if isinstance(p, Tensor):
        return exp(mul(p, log(x)))
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        raise TypeError(f"power: the exponent must be a number or a Tensor, got {p!r}")
    return _power(x, p=p)


# ------------------------------------------------------------------------------ linear algebra
def _swap(a, xp):
    return xp.swapaxes(a, -1, -2)


def _promoted_g(g, x, w, xp):
    # NumPy matmul treats a 1-D x as a row (1, k) and a 1-D w as a column (k, 1), then drops that
    # axis from the result; put the dropped axes back into g so both VJPs are plain matrix products.
    if w.ndim == 1:
        g = xp.expand_dims(g, -1)
    if x.ndim == 1:
        g = xp.expand_dims(g, -2)
    return g


def _matmul_vjp_x(g, out, x, w, xp):
    w2 = w[:, None] if w.ndim == 1 else w
    gx = _promoted_g(g, x, w, xp) @ _swap(w2, xp)          # ∂(x W)/∂x contracted with g: g Wᵀ
    return gx[..., 0, :] if x.ndim == 1 else gx


def _matmul_vjp_w(g, out, x, w, xp):
    x2 = x[None, :] if x.ndim == 1 else x
    gw = _swap(x2, xp) @ _promoted_g(g, x, w, xp)          # xᵀ g
    return gw[..., :, 0] if w.ndim == 1 else gw


def _matmul_diagnose(a, b):
    if len(a) == 0 or len(b) == 0:
        return f"matmul needs arrays with at least one axis, got shapes {a!r} @ {b!r}"
    inner_b = b[0] if len(b) == 1 else b[-2]
    if a[-1] != inner_b:
        return f"inner dimensions differ: {a!r} @ {b!r}"
    return f"batch dimensions do not broadcast: {a!r} @ {b!r}"


# d(x W) = dx W + x dW: matmul is linear in each factor, so each tangent goes through the product itself
@defop("matmul", (_matmul_vjp_x, _matmul_vjp_w), jvp=(lambda dx, out, x, w, xp: dx @ w, lambda dw, out, x, w, xp: x @ dw),
       diagnose=_matmul_diagnose)
def matmul(x, w, xp):
    """Return the matrix product x @ w (NumPy ``matmul`` semantics)."""
    return x @ w


# linear(x, W[, b]) = x Wᵀ + b: the feedforward layer "W x + b" on row inputs, as one node.
# Jᵀg: for x, g W; for W, Σ_batch gᵀ x (the sum over rows is the sharing of W across the batch);
# for b, g itself (it broadcasts over the rows; the loop's unbroadcast sums them).
_LINEAR_VJP = (lambda g, out, x, W, b=None, *, xp: g @ W,
               lambda g, out, x, W, b=None, *, xp: g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1]),
               lambda g, out, x, W, b=None, *, xp: g)


def _linear_diagnose(x, W, b=None):
    if len(W) != 2:
        return f"the weight must be a matrix (out, in), got shape {W!r}"
    if not x or x[-1] != W[1]:
        return f"inputs have {x[-1] if x else 0} features but the weight {W!r} expects {W[1]}: x {x!r} @ W.T"
    rows = tuple(x[:-1]) + (W[0],)
    return f"the bias {b!r} must be ({W[0]},) or the result's shape {rows!r}: it may not broadcast the result up"


# J u: dx Wᵀ + x dWᵀ + db (db broadcasts over the rows like b)
_LINEAR_JVP = (lambda dx, out, x, W, b=None, *, xp: dx @ W.T,
               lambda dW, out, x, W, b=None, *, xp: x @ dW.T,
               lambda db, out, x, W, b=None, *, xp: db)


@defop("linear", _LINEAR_VJP, jvp=_LINEAR_JVP, diagnose=_linear_diagnose)
def _linear(x, W, b=None, *, xp):
    """Return x @ W.T (+ b): a feedforward layer on row inputs."""
    y = x @ W.T
    if b is None:
        return y
    out = y + b
    if out.shape != y.shape:     # a (4, 1) "column" bias would turn each output row into a matrix
        raise ValueError("bias broadcasts the result")
    return out


def linear(x, W, b=None):
    r"""Return ``x @ W.T + b``: the layer :math:`W x + b` applied to the rows of ``x`` (W has shape (out, in)).

    ``b`` is a bias vector, or any additive term of the result's shape or one that broadcasts to it
    (e.g. the projected input :math:`W_x x_t + b_s` of an Elman step, so :math:`W_s s_{t-1} + W_x x_t + b_s`
    is one node); a ``b`` that would broadcast the result up to a larger shape is an error.
    """
    return _linear(x, W) if b is None else _linear(x, W, b)


def _inverse_axes(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


@defop("transpose", (lambda g, out, x, xp, axes: xp.transpose(g, None if axes is None else _inverse_axes(axes)),),
       jvp=LINEAR)
def _transpose(x, xp, axes):
    """Return x with its axes permuted (reversed by default)."""
    return xp.transpose(x, axes)


def transpose(x, axes=None):
    """Return x with its axes permuted by ``axes`` (reversed when None)."""
    return _transpose(x, axes=None if axes is None else tuple(axes))


@defop("reshape", (lambda g, out, x, xp, shape: xp.reshape(g, x.shape),), jvp=LINEAR)
def _reshape(x, xp, shape):
    """Return x with a new shape."""
    return xp.reshape(x, shape)


def reshape(x, shape):
    """Return x with shape ``shape`` (one -1 allowed)."""
    return _reshape(x, shape=tuple(shape) if isinstance(shape, (tuple, list)) else (shape,))


def _is_basic(key) -> bool:
    for k in (key if type(key) is tuple else (key,)):
        if not (k is None or k is Ellipsis or type(k) is slice or isinstance(k, int)):
            return False
    return True


def scatter_add(buf, g, key) -> None:
    """Add ``g`` into ``buf[key]`` in place: the adjoint of gathering ``x[key]`` (indices may repeat)."""
    if _is_basic(key):
        view = buf[key]
        if isinstance(view, np.generic):  # one element of a NumPy array comes back as a scalar
            buf[key] = view + g
        else:
            view += g                     # a view: added in place (``buf[key] += g`` copies it back too)
    elif isinstance(buf, np.ndarray):
        np.add.at(buf, key, g)            # repeated indices add up (``buf[key] += g`` would keep one)
    else:  # pragma: no cover - needs a GPU
        import cupyx

        cupyx.scatter_add(buf, key, g)


def _getitem_vjp(g, out, x, xp, key):
    z = xp.zeros_like(x)
    scatter_add(z, g, key)
    return z


@defop("getitem", (_getitem_vjp,), jvp=LINEAR, diagnose=lambda a, key: f"index {key!r} does not fit shape {a!r}")
def _getitem(x, xp, key):
    """Return x[key] (basic slicing or integer-array indexing)."""
    return x[key]


def getitem(x, key):
    """Return ``x[key]``; the key holds ints, slices, None, Ellipsis or integer arrays (not Tensors)."""
    for k in (key if type(key) is tuple else (key,)):
        if isinstance(k, Tensor):
            raise TypeError("getitem: index with ints, slices or integer arrays, not with a Tensor "
                            "(use .data to take its values as indices)")
    return _getitem(x, key=key)


# --------------------------------------------------------------------- functional slice assignment
# setitem(x, key, v) is a copy of x with x[key] replaced by v: the value a NumPy buffer holds after
# ``x[key] = v``, recorded without mutating anything (a traced course-style forward fills its np.zeros
# buffers this way, h[:, t, :] = next_h). Its VJPs: the overwritten positions of x get no gradient
# (g with x[key] set to 0); v gets g[key], summed back over whatever v was broadcast along.
def _setitem_positions(shape, key):
    """The flat positions ``x[key]`` covers, in the order (and shape) of ``x[key]``."""
    return np.arange(int(np.prod(shape, dtype=int))).reshape(shape)[key]


def _plain(a) -> bool:
    return isinstance(a, (np.ndarray, np.generic, int, float, complex)) or type(a).__module__.startswith("cupy")


def _setitem_vjp_x(g, out, x, v, xp, key):
    gx = g.copy()
    gx[key] = 0
    return gx


@defop("setitem", (_setitem_vjp_x, lambda g, out, x, v, xp, key: g[key]), jvp=LINEAR,
       diagnose=lambda x, v, key: f"a value of shape {v!r} cannot be written into index {key!r} of shape {x!r}")
def _setitem(x, v, xp, key):
    """Return a copy of x with x[key] replaced by v (v broadcasts to the shape of x[key])."""
    if _plain(x) and _plain(v):
        out = x.astype(np.result_type(x, v), copy=True)
        out[key] = v
        return out
    # boxed values of a tracer (HIPS autograd replays): the same result composed of differentiable parts
    pos = _setitem_positions(x.shape, key)
    mask = np.zeros(x.shape, dtype=bool)
    mask[key] = True
    scatter = np.zeros((mask.size, pos.size))
    scatter[pos.ravel(), np.arange(pos.size)] = 1.0
    spread = v * np.ones(pos.shape)                    # v broadcast to the shape of x[key]
    written = xp.reshape(xp.dot(scatter, xp.reshape(spread, (-1,))), x.shape)
    return xp.where(mask, written, x)


def setitem(x, key, value):
    r"""Return a new tensor equal to ``x`` with ``x[key]`` replaced by ``value`` (which broadcasts to the
    shape of ``x[key]``); ``x`` is not changed. The key holds ints, slices, None, Ellipsis or integer
    arrays that name each position at most once (with repeats the last write would win, and its
    gradient would be ambiguous). Boolean masks are turned into integer positions first."""
    if isinstance(key, Tensor) or (isinstance(key, tuple) and builtins.any(isinstance(k, Tensor) for k in key)):
        raise TypeError("setitem: index with ints, slices or integer arrays, not with a Tensor")
    x = as_tensor(x)
    if isinstance(key, np.ndarray) and key.dtype == bool:
        key = np.nonzero(key)
    if not _is_basic(key):
        pos = _setitem_positions(x.shape, key)
        if np.unique(pos).size != pos.size:
            raise ValueError(f"setitem: the index {key!r} names some positions of shape {x.shape} more than "
                             f"once; only the last write would count")
    return _setitem(x, value, key=key)


# ---------------------------------------------------------------------------------- reductions
def _norm_axis(axis):
    if axis is None or isinstance(axis, int):
        return axis
    return tuple(axis)


def _sum_vjp(g, out, x, xp, axis, keepdims):
    if axis is not None and not keepdims:
        axes = (axis,) if isinstance(axis, int) else axis
        for a in sorted(a % x.ndim for a in axes):
            g = xp.expand_dims(g, a)
    return xp.broadcast_to(g, x.shape)


@defop("sum", (_sum_vjp,), jvp=LINEAR, diagnose=lambda a, axis, keepdims: f"axis {axis!r} is out of range for shape {a!r}")
def _sum(x, xp, axis, keepdims):
    """Return the sum of x over ``axis``."""
    return xp.sum(x, axis=axis, keepdims=keepdims)


def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - the op's name
    """Return the sum of ``x`` over ``axis`` (all axes when None)."""
    return _sum(x, axis=_norm_axis(axis), keepdims=bool(keepdims))


def mean(x, axis=None, keepdims: bool = False):
    """Return the mean of ``x`` over ``axis``: a sum times 1/count (a derived op)."""
    x = as_tensor(x, what="mean")
    axis = _norm_axis(axis)
    axes = range(x.ndim) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    count = 1
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"mean: axis {axis!r} is out of range for shape {x.shape!r}")
        count *= x.shape[a]
    if count == 0:
        raise ValueError(f"mean: there are no elements to average over axis {axis!r} of the shape {x.shape!r} "
                         f"(the mean of nothing is undefined)")
    return mul(_sum(x, axis=axis, keepdims=bool(keepdims)), 1.0 / count)


# ---------------------------------------------------------------------------- element-wise maps
@defop("tanh", (lambda g, out, x, xp: g * (1 - out * out),),       # tanh' = 1 - tanh²
       jvp=(lambda dx, out, x, xp: dx * (1 - out * out),))
def tanh(x, xp):
    """Return tanh(x)."""
    return xp.tanh(x)


# σ' = σ(1 - σ). exp(-x) overflows to inf for x < -709, where 1/(1 + inf) = 0 is σ's correct limit,
# and underflows to 0 for x > 745, where σ = 1: both are silenced rather than avoided.
@defop("sigmoid", (lambda g, out, x, xp: g * out * (1 - out),), jvp=(lambda dx, out, x, xp: dx * out * (1 - out),))
def sigmoid(x, xp):
    """Return the logistic sigmoid 1 / (1 + exp(-x))."""
    with np.errstate(over="ignore", under="ignore"):
        return 1.0 / (1.0 + xp.exp(-x))


# relu' is the Heaviside step (taken as 0 at the kink x = 0)
@defop("relu", (lambda g, out, x, xp: g * xp.heaviside(x, 0.0),), analytic=False,
       jvp=(lambda dx, out, x, xp: dx * xp.heaviside(x, 0.0),), kink=lambda x, xp: xp.abs(x))
def relu(x, xp):
    """Return max(x, 0)."""
    return xp.maximum(x, 0)


@defop("exp", (lambda g, out, x, xp: g * out,), jvp=(lambda dx, out, x, xp: dx * out,))    # exp' = exp
def exp(x, xp):
    """Return exp(x)."""
    return xp.exp(x)


@defop("log", (lambda g, out, x, xp: g / x,), jvp=(lambda dx, out, x, xp: dx / x,))
def log(x, xp):
    """Return the natural logarithm of x (x > 0)."""
    return xp.log(x)


def _shift(x, xp, axis):
    """A constant to subtract before exponentiating (the max); softmax does not depend on it."""
    shift = getattr(xp, "stable_shift", None)
    if shift is not None:
        return shift(x, axis)
    return xp.max(x.real if x.dtype.kind == "c" else x, axis=axis, keepdims=True)


# softmax: J = diag(out) - out outᵀ is symmetric, so Jᵀg = out ⊙ (g - Σ g ⊙ out) and J u is the same formula in u
@defop("softmax", (lambda g, out, x, xp, axis: out * (g - xp.sum(g * out, axis=axis, keepdims=True)),),
       jvp=(lambda dx, out, x, xp, axis: out * (dx - xp.sum(dx * out, axis=axis, keepdims=True)),))
def _softmax(x, xp, axis):
    """Return exp(x) / Σ exp(x) along ``axis`` (shifted by the max: no overflow)."""
    e = xp.exp(x - _shift(x, xp, axis))
    return e / xp.sum(e, axis=axis, keepdims=True)


def softmax(x, axis: int = -1):
    """Return the softmax of ``x`` along ``axis``, computed without overflow."""
    return _softmax(x, axis=axis)


# log_softmax = x - logΣexp(x); J = I - 1 softmax(x)ᵀ, so Jᵀg = g - softmax(x) Σ g and J u = u - Σ softmax(x) ⊙ u
@defop("log_softmax", (lambda g, out, x, xp, axis: g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True),),
       jvp=(lambda dx, out, x, xp, axis: dx - xp.sum(xp.exp(out) * dx, axis=axis, keepdims=True),))
def _log_softmax(x, xp, axis):
    """Return log(softmax(x)) along ``axis``, computed without overflow or log(0)."""
    z = x - _shift(x, xp, axis)
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


def log_softmax(x, axis: int = -1):
    """Return the log-softmax of ``x`` along ``axis``, computed stably."""
    return _log_softmax(x, axis=axis)


# ------------------------------------------------------------------------ joining and splitting
# concat: each input's gradient is its own block of g along the axis (all cut in one pass)
def _concat_vjp(g, out, *xs, xp, axis):
    ends = list(itertools.accumulate(x.shape[axis] for x in xs))
    return xp.split(g, ends[:-1], axis=axis)


@defop("concat", _concat_vjp, jvp=LINEAR, diagnose=lambda *shapes, axis: f"shapes {list(shapes)!r} differ off axis {axis}")
def _concat(*xs, xp, axis):
    """Return the inputs joined along an existing axis."""
    return xp.concatenate(xs, axis=axis)


def concat(xs, axis: int = 0):
    """Return the tensors in ``xs`` joined along the existing axis ``axis``."""
    xs = list(xs)
    if not xs:
        raise ValueError("concat: needs at least one tensor")
    return _concat(*xs, axis=axis)


# stack: input k's gradient is the slice g[..., k, ...] it became (views, all in one pass)
@defop("stack", lambda g, out, *xs, xp, axis: tuple(xp.moveaxis(g, axis, 0)), jvp=LINEAR,
       diagnose=lambda *shapes, axis: f"all shapes must be equal, got {list(shapes)!r}")
def _stack(*xs, xp, axis):
    """Return the inputs stacked along a new axis."""
    return xp.stack(xs, axis=axis)


def stack(xs, axis: int = 0):
    """Return the equally-shaped tensors in ``xs`` stacked along a new axis ``axis``."""
    xs = list(xs)
    if not xs:
        raise ValueError("stack: needs at least one tensor")
    return _stack(*xs, axis=axis)


def split(x, sizes, axis: int = 0):
    """Return ``x`` cut along ``axis`` into pieces of the given ``sizes`` (a list of slices of x)."""
    x = as_tensor(x, what="split")
    sizes = list(sizes)
    if builtins.sum(sizes) != x.shape[axis] or builtins.any(s <= 0 for s in sizes):
        raise ValueError(f"split: sizes {sizes!r} do not add up to {x.shape[axis]} along axis {axis} "
                         f"of shape {x.shape!r}")
    pieces, start = [], 0
    for s in sizes:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, start + s)
        pieces.append(_getitem(x, key=tuple(index)))
        start += s
    return pieces


def chunk(x, n: int, axis: int = 0):
    """Return ``x`` cut along ``axis`` into ``n`` equal pieces."""
    x = as_tensor(x, what="chunk")
    if n <= 0 or x.shape[axis] % n:
        raise ValueError(f"chunk: axis {axis} of shape {x.shape!r} cannot be cut into {n} equal pieces")
    return split(x, [x.shape[axis] // n] * n, axis=axis)


# ------------------------------------------------------------------------------- non-smooth ops
# The gradient of a tie goes to x (the first argument).
@defop("maximum", (lambda g, out, x, y, xp: g * (x >= y), lambda g, out, x, y, xp: g * (x < y)),
       jvp=(lambda dx, out, x, y, xp: dx * (x >= y), lambda dy, out, x, y, xp: dy * (x < y)),
       analytic=False, kink=lambda x, y, xp: xp.abs(x - y), diagnose=_broadcast_diagnose)
def maximum(x, y, xp):
    """Return the element-wise maximum of x and y."""
    return xp.maximum(x, y)


@defop("where", (None, lambda g, out, c, x, y, xp: xp.where(c, g, 0), lambda g, out, c, x, y, xp: xp.where(c, 0, g)),
       jvp=(None, lambda dx, out, c, x, y, xp: xp.where(c, dx, 0), lambda dy, out, c, x, y, xp: xp.where(c, 0, dy)),
       analytic=False, diagnose=lambda c, a, b: f"cannot broadcast shapes {c!r}, {a!r} and {b!r}")
def _where(cond, x, y, xp):
    """Return x where cond is true, else y."""
    return xp.where(cond, x, y)


def where(cond, x, y):
    """Return ``x`` where the boolean mask ``cond`` is true, else ``y`` (the mask gets no gradient)."""
    return _where(mask(cond), x, y)


def mask(cond) -> Tensor:
    """Return the boolean mask ``cond`` (an array or a Tensor) as a constant leaf."""
    cond = cond.data if isinstance(cond, Tensor) else cond
    t = Tensor(0.0)
    t.data = get_xp(cond).asarray(cond, dtype=bool)
    return t


@defop("clip", (lambda g, out, x, xp, lo, hi: g * ((x >= lo) & (x <= hi)),), analytic=False,
       jvp=(lambda dx, out, x, xp, lo, hi: dx * ((x >= lo) & (x <= hi)),),
       kink=lambda x, xp, lo, hi: xp.minimum(xp.abs(x - lo), xp.abs(x - hi)))
def _clip(x, xp, lo, hi):
    """Return x limited to [lo, hi]."""
    return xp.clip(x, lo, hi)


def clip(x, lo: float, hi: float):
    """Return ``x`` limited to ``[lo, hi]`` (gradient 1 inside, 0 outside)."""
    if not lo <= hi:
        raise ValueError(f"clip: lower bound {lo!r} is above upper bound {hi!r}")
    return _clip(x, lo=float(lo), hi=float(hi))


# ------------------------------------------------------------------ Tensor's operators and methods
def _pow(self, p):
    return power(self, p)


def _rpow(self, base):
    return exp(mul(log(as_tensor(base, like=self)), self))


def _reshape_method(self, *shape):
    """Return the same elements with a new shape (one ``-1`` allowed)."""
    return reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)


def _sum_method(self, axis=None, keepdims: bool = False):
    """Sum over ``axis`` (all axes by default)."""
    return sum(self, axis=axis, keepdims=keepdims)


def _mean_method(self, axis=None, keepdims: bool = False):
    """Mean over ``axis`` (all axes by default)."""
    return mean(self, axis=axis, keepdims=keepdims)


Tensor.__add__ = lambda self, other: add(self, other)
Tensor.__radd__ = lambda self, other: add(other, self)
Tensor.__sub__ = lambda self, other: sub(self, other)
Tensor.__rsub__ = lambda self, other: sub(other, self)
Tensor.__mul__ = lambda self, other: mul(self, other)
Tensor.__rmul__ = lambda self, other: mul(other, self)
Tensor.__truediv__ = lambda self, other: div(self, other)
Tensor.__rtruediv__ = lambda self, other: div(other, self)
Tensor.__matmul__ = lambda self, other: matmul(self, other)
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
Tensor.__pow__, Tensor.__rpow__ = _pow, _rpow
Tensor.__neg__ = lambda self: neg(self)
Tensor.__pos__ = lambda self: self
Tensor.__getitem__ = lambda self, key: getitem(self, key)
Tensor.T = property(lambda self: transpose(self), doc="The transpose (axes reversed).")
Tensor.reshape, Tensor.sum, Tensor.mean = _reshape_method, _sum_method, _mean_method
