r"""The op table: every primitive is its forward and its vector-Jacobian products, side by side.

A forward is ``forward(*inputs, xp, **attrs)``: raw arrays in, raw array out, computed with the
array namespace ``xp`` (NumPy, CuPy, ``autograd.numpy``, the SymPy namespace, ...), so that the same
entry serves every interpreter. Its VJPs follow the signature ``(g, out, *inputs, xp, **attrs)``:
``g`` is the upstream gradient, ``out`` the forward result. ``vjp`` is a tuple with one function per
input (``None`` for an input that gets no gradient), or, for ops with any number of inputs, one
function that also takes ``argnum``.

Broadcasting is undone in one place, the reverse-mode loop (:func:`gradlab.backend.unbroadcast`),
so the VJPs below return gradients of the broadcast shape.

``analytic`` marks ops that are holomorphic, so complex-step differentiation is exact through them;
``kink`` gives, for non-smooth ops, the distance of the inputs to the nearest kink (ReLU at 0, a
tie of ``maximum``), which the checker uses to avoid blaming a candidate for a finite difference
taken across a kink.
"""
from __future__ import annotations

import builtins
import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .backend import unbroadcast
from .memory import MIN_BYTES, is_pooled, pooled_empty, pooled_like, pooled_zeros
from .tensor import Tensor, apply, as_tensor

__all__ = [
    "Op", "OPS", "defop",
    "add", "sub", "mul", "div", "neg", "power", "matmul", "linear", "transpose", "reshape", "getitem",
    "sum", "mean", "tanh", "sigmoid", "relu", "exp", "log", "softmax", "log_softmax",
    "concat", "stack", "split", "chunk", "maximum", "where", "clip",
]


# A buffer that lives only while the weight gradients are summed (stacked rows, a sequence's gradient)
# comes from the pool only from this size on: below it `malloc` reuses the same memory without page
# faults and is cheaper to ask (measured: 25 rows of (1, 100) stacked in 4.8 µs by NumPy, 12.3 µs pooled).
_TRANSIENT_POOL_MIN = 1 << 20


@dataclass(frozen=True, eq=False, slots=True)  # ops compare and hash by identity
class Op:
    """One primitive: its name, forward, VJPs and the facts the interpreters need about it."""

    name: str
    forward: Callable
    vjp: tuple | Callable
    analytic: bool = True
    kink: Callable | None = None
    diagnose: Callable | None = None
    # engine fast path for an input used by many nodes of this op (a shared weight used at every
    # time step, a sequence sliced once per step): {argnum: f(gs, inputs_list, attrs_list, xp, shared)}
    # returning Σ_k VJP(g_k, inputs_k, attrs_k) in one go. ``shared`` is a dict that lives for one
    # reverse pass, where one sum leaves work another can reuse (rows it has already joined).
    batch_vjp: dict | None = None
    # engine fast path: into(alloc, *inputs, **attrs) computes the forward (NumPy) into an array from
    # ``alloc(shape, dtype)`` (the buffer pool) and returns it, or returns None to leave it to ``forward``
    into: Callable | None = None
    # f(x, y) = f(y, x): when both inputs are one node (r * r) its two VJPs are equal, computed once
    symmetric: bool = False

    def input_vjp(self, argnum: int, g, out, inputs, xp, attrs):
        """Return the gradient for input ``argnum`` (or None when that input gets none)."""
        if isinstance(self.vjp, tuple):
            f = self.vjp[argnum]
            return None if f is None else f(g, out, *inputs, xp=xp, **attrs)
        return self.vjp(g, out, *inputs, xp=xp, argnum=argnum, **attrs)

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


OPS: dict[str, Op] = {}


def defop(name: str, vjp, *, analytic: bool = True, kink=None, diagnose=None, batch_vjp=None, into=None,
          symmetric=False):
    """Decorator: register the decorated forward as op ``name`` and return a function that applies it."""

    def register(forward):
        if name in OPS:
            raise ValueError(f"defop: an op named {name!r} is already registered")
        op = Op(name, forward, vjp, analytic, kink, diagnose, batch_vjp, into, symmetric)
        OPS[name] = op

        applied = functools.partial(apply, op)   # C-level: no extra Python frame per recorded node
        applied.op = op
        applied.__name__ = applied.__qualname__ = name
        applied.__doc__ = forward.__doc__
        return applied

    return register


def _broadcast_diagnose(a, b):
    return f"cannot broadcast shapes {a!r} and {b!r}"


# Forwards straight into a pooled buffer (see Op.into), for the ops an unrolled RNN makes T of. They
# compute exactly what the forwards below compute, and decline (None) anything but float arrays of one
# dtype, and, for binary ops, of one shape (broadcasting goes through the plain forward).
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


# ---------------------------------------------------------------------------------- arithmetic
@defop("add", (lambda g, out, x, y, xp: g, lambda g, out, x, y, xp: g), diagnose=_broadcast_diagnose,
       into=_binary_into(np.add), symmetric=True)
def add(x, y, xp):
    """Return x + y (broadcasting)."""
    return x + y


@defop("sub", (lambda g, out, x, y, xp: g, lambda g, out, x, y, xp: -g), diagnose=_broadcast_diagnose,
       into=_binary_into(np.subtract))
def sub(x, y, xp):
    """Return x - y (broadcasting)."""
    return x - y


# VJPs of the per-step element-wise ops write large NumPy results into the pool (memory.pooled_like):
# the same operations in the same order as the plain expressions, so the values are bit for bit equal.
def _times(g, a, xp):
    r = pooled_like(g, a) if a.nbytes >= MIN_BYTES else None   # the size test first: this is per node
    return g * a if r is None else np.multiply(g, a, out=r)


@defop("mul", (lambda g, out, x, y, xp: _times(g, y, xp), lambda g, out, x, y, xp: _times(g, x, xp)),
       diagnose=_broadcast_diagnose,
       into=_binary_into(np.multiply), symmetric=True)
def mul(x, y, xp):
    """Return the element-wise product x * y (broadcasting)."""
    return x * y


# d(x/y)/dy = -x/y² = -out/y
@defop("div", (lambda g, out, x, y, xp: g / y, lambda g, out, x, y, xp: -g * out / y), diagnose=_broadcast_diagnose)
def div(x, y, xp):
    """Return x / y (broadcasting)."""
    return x / y


@defop("neg", (lambda g, out, x, xp: -g,))
def neg(x, xp):
    """Return -x."""
    return -x


# d(x^p)/dx = p x^(p-1); the exponent is a constant attribute
@defop("power", (lambda g, out, x, xp, p: g * p * x ** (p - 1),))
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


@defop("matmul", (_matmul_vjp_x, _matmul_vjp_w), diagnose=_matmul_diagnose)
def matmul(x, w, xp):
    """Return the matrix product x @ w (NumPy ``matmul`` semantics)."""
    return x @ w


# linear(x, W[, b]) = x Wᵀ + b: the feedforward layer "W x + b" on row inputs, as one node.
# Jᵀg: for x, g W; for W, Σ_batch gᵀ x (the sum over rows is the sharing of W across the batch);
# for b, Σ_batch g.
def _linear_vjp(g, out, x, W, b=None, *, xp, argnum):
    if argnum == 0:
        return g @ W
    if argnum == 1:
        return g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1])
    return g      # b broadcasts over the rows (a bias) or has the output's shape; unbroadcast sums


def _rows(arrays, xp, shared=None):
    if len(arrays) == 1:                         # one use: a view, no copy
        return arrays[0].reshape(-1, arrays[0].shape[-1])
    if shared:                                   # already joined, in this order, by a batched sum
        known = shared.get(tuple(map(id, arrays)))
        if known is not None:
            return known[0]
    if not all(a.ndim == 2 for a in arrays):     # the usual case is (batch, features) per use
        arrays = [a.reshape(-1, a.shape[-1]) for a in arrays]
    first = arrays[0]
    if xp is not np or first.nbytes * len(arrays) < _TRANSIENT_POOL_MIN:
        return xp.concatenate(arrays, axis=0)
    rows = builtins.sum(a.shape[0] for a in arrays)
    out = pooled_empty((rows, first.shape[1]), np.result_type(*arrays))
    return np.concatenate(arrays, axis=0, out=out)  # a transient buffer: reused from the pool


def _address(a) -> int:
    return a.__array_interface__["data"][0]


def _runs(arrays):
    """Split the 2-D NumPy ``arrays`` into runs of consecutive row blocks of one C-contiguous array
    (the rows s_0 … s_{T-1} of a stacked sequence): return ``[(first row, rows, view)]``, each view
    spanning its run without a copy. Arrays that own their memory are runs of their own."""
    runs = []
    row = 0
    end = None                       # where the last array of the current run ends
    for a in arrays:
        base = a.base
        here = _address(a) if type(base) is np.ndarray and a.flags.c_contiguous else None
        if here is not None and here == end and base is runs[-1][2].base and a.dtype == runs[-1][2].dtype \
                and a.shape[1] == runs[-1][2].shape[1]:
            runs[-1][1] += a.shape[0]
        else:
            runs.append([row, a.shape[0], a])
        end = None if here is None else here + a.nbytes
        row += a.shape[0]
    out = []
    for first, n, a in runs:
        if n != a.shape[0]:          # a view of n rows starting at the run's first array
            base = a.base
            if not base.flags.c_contiguous:
                return None
            a = np.ndarray((n, a.shape[1]), a.dtype, base, _address(a) - _address(base))
        out.append((first, n, a))
    return out


def _weight_sum(gs, inputs_list, attrs_list, xp, shared):
    # Σ_k g_kᵀ x_k = Gᵀ X with the g's and x's of all uses stacked as rows, in the order the uses were
    # made (the order a tiled slice gradient already holds them in: see _getitem_batch)
    gs = gs[::-1]
    xs = [ins[0] for ins in reversed(inputs_list)]
    G = _rows(gs, xp, shared)
    if xp is np and len(xs) > 1 and G.nbytes >= _TRANSIENT_POOL_MIN:
        xs = [x if x.ndim == 2 else x.reshape(-1, x.shape[-1]) for x in xs]
        runs = _runs(xs)
        if runs is not None and len(runs) <= 4:  # the inputs are (mostly) one array already: no copy
            total = None
            for first, n, X in runs:
                part = G[first:first + n].T @ X
                total = part if total is None else total + part
            return total
    return G.T @ _rows(xs, xp)


def _bias_sum(gs, inputs_list, attrs_list, xp, shared):
    shape = inputs_list[0][2].shape              # a bias vector, or an additive term of any shape
    if len(shape) == 1 and len(gs) > 1 and all(g.shape[-1] == shape[0] for g in gs):
        return _rows(gs, xp, shared).sum(axis=0)  # a bias vector: one sum over the rows of all uses
    total = None
    for g in gs:                                 # Σ_k (g_k summed over what b was broadcast along)
        part = unbroadcast(xp, g, shape)
        total = part if total is None else total + part
    return total


# BPTT's ∂E/∂W = Σ_t δ_t x_tᵀ as one matrix product instead of T outer products.
_LINEAR_BATCH = {1: _weight_sum, 2: _bias_sum}


def _linear_diagnose(x, W, b=None):
    if len(W) != 2:
        return f"the weight must be a matrix (out, in), got shape {W!r}"
    if not x or x[-1] != W[1]:
        return f"inputs have {x[-1] if x else 0} features but the weight {W!r} expects {W[1]}: x {x!r} @ W.T"
    return f"the bias {b!r} does not match the weight's {W[0]} outputs"


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


@defop("linear", _linear_vjp, diagnose=_linear_diagnose, batch_vjp=_LINEAR_BATCH, into=_linear_into)
def _linear(x, W, b=None, *, xp):
    """Return x @ W.T (+ b): a feedforward layer on row inputs."""
    y = x @ W.T
    return y if b is None else y + b


def linear(x, W, b=None):
    r"""Return ``x @ W.T + b``: the layer :math:`W x + b` applied to the rows of ``x`` (W has shape (out, in)).

    ``b`` is a bias vector, or any additive term that broadcasts to the output (e.g. the projected
    input :math:`W_x x_t + b_s` of an Elman step, so :math:`W_s s_{t-1} + W_x x_t + b_s` is one node).
    """
    return _linear(x, W) if b is None else _linear(x, W, b)


def _inverse_axes(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


@defop("transpose", (lambda g, out, x, xp, axes: xp.transpose(g, None if axes is None else _inverse_axes(axes)),))
def _transpose(x, xp, axes):
    """Return x with its axes permuted (reversed by default)."""
    return xp.transpose(x, axes)


def transpose(x, axes=None):
    """Return x with its axes permuted by ``axes`` (reversed when None)."""
    return _transpose(x, axes=None if axes is None else tuple(axes))


@defop("reshape", (lambda g, out, x, xp, shape: xp.reshape(g, x.shape),))
def _reshape(x, xp, shape):
    """Return x with a new shape."""
    return xp.reshape(x, shape)


def reshape(x, shape):
    """Return x with shape ``shape`` (one -1 allowed)."""
    return _reshape(x, shape=tuple(shape) if isinstance(shape, (tuple, list)) else (shape,))


def _is_basic(key) -> bool:
    if type(key) is int or type(key) is slice:   # the per-time-step x[t] of an unrolled sequence
        return True
    for k in (key if type(key) is tuple else (key,)):   # a loop, not all(genexpr): this runs per node
        if not (k is None or k is Ellipsis or type(k) is slice or isinstance(k, int)):
            return False
    return True


def _getitem_vjp(g, out, x, xp, key):
    # adjoint of gathering: scatter-add (indices may repeat, so add.at rather than assignment)
    z = xp.zeros_like(x)
    _getitem_scatter(z, g, key=key)
    return z


def _getitem_scatter(buf, g, key):
    if _is_basic(key):
        view = buf[key]
        if isinstance(view, np.generic):  # one element of a NumPy array comes back as a scalar
            buf[key] = view + g
        else:
            view += g                     # a view: added in place (``buf[key] += g`` copies it back too)
    else:
        (np.add.at if isinstance(buf, np.ndarray) else _cupy_add_at)(buf, key, g)


def _cupy_add_at(buf, key, g):  # pragma: no cover - needs a GPU
    import cupyx

    cupyx.scatter_add(buf, key, g)


def _span(key, ndim):
    """``(axis, item)`` when the basic ``key`` takes one int or one slice along a single axis and all of
    every other axis (``x[t]``, ``x[..., a:b]``, ``x[:, a:b]``); None for any other key."""
    items = key if type(key) is tuple else (key,)
    ellipses = [i for i, it in enumerate(items) if it is Ellipsis]
    if len(ellipses) > 1:
        return None
    if ellipses:
        i = ellipses[0]
        items = items[:i] + (slice(None),) * (ndim - len(items) + 1) + items[i + 1:]
    if len(items) > ndim:
        return None
    found = None
    for axis, it in enumerate(items):
        if type(it) is slice and it.start is None and it.stop is None and it.step is None:
            continue
        if found is not None or not (type(it) is int or type(it) is slice):
            return None
        found = (axis, it)
    return (0, slice(None)) if found is None else found


def _tiling(keys, shape):
    """When the keys pick disjoint parts of an array of ``shape`` that together cover all of it (the
    steps x[0], …, x[T-1] of a sequence, or the gate columns x[..., a:b] of a stacked projection), return
    ``(axis, order)``: the axis they cut and the key indices in the order of their parts; else None."""
    if not shape or not keys:
        return None
    n = shape[0]
    if len(keys) == n and all(type(k) is int for k in keys):      # x[t] for every step t, in any order
        order = sorted(range(n), key=lambda k: keys[k] % n)
        return (0, order) if all(-n <= keys[k] < n and keys[k] % n == t for t, k in enumerate(order)) else None
    spans = []
    axis = None
    for k, key in enumerate(keys):
        span = _span(key, len(shape))
        if span is None or (axis is not None and span[0] != axis):
            return None
        axis, item = span
        n = shape[axis]
        if type(item) is int:
            if not -n <= item < n:
                return None
            spans.append((item % n, item % n + 1, k))
            continue
        lo, hi, step = item.indices(n)
        if step != 1:
            return None
        spans.append((lo, max(lo, hi), k))
    spans.sort()
    end = 0
    for lo, hi, _ in spans:
        if hi > lo:                              # an empty part covers nothing and may sit anywhere
            if lo != end:
                return None
            end = hi
    return (axis, [k for _, _, k in spans]) if end == shape[axis] else None


def _getitem_batch(gs, inputs_list, attrs_list, xp, shared):
    # Σ_k scatter(g_k at key_k) for every slice taken of one array. When the slices tile the array
    # (each element picked exactly once) the g's are copied into place: no zero fill, no additions.
    x = inputs_list[0][0]
    keys = [a["key"] for a in attrs_list]
    tiling = _tiling(keys, x.shape)
    if tiling is not None:
        # often kept until the end (a step's gate gradients wait for W_s's sum): pool memory, which
        # malloc would hand back and page-fault in again every iteration (4 300 faults per LSTM call)
        buf = pooled_empty(x.shape, x.dtype) if xp is np else xp.empty(x.shape, x.dtype)
        for g, key in zip(gs, keys):
            buf[key] = g
        axis, order = tiling
        if axis == 0 and buf.ndim > 1:
            # row blocks: buf's rows are the g's rows joined in the order of their keys. A weight's
            # batched sum over the same g's (the δ_t of every step) takes them from here, not a copy.
            ordered = [gs[k] for k in order]
            shared[tuple(map(id, ordered))] = (buf.reshape(-1, buf.shape[-1]), ordered)
        return buf
    buf = pooled_zeros(x) if xp is np else xp.zeros_like(x)
    for g, key in zip(gs, keys):
        _getitem_scatter(buf, g, key)
    return buf


@defop("getitem", (_getitem_vjp,), batch_vjp={0: _getitem_batch},
       diagnose=lambda a, key: f"index {key!r} does not fit shape {a!r}")
def _getitem(x, xp, key):
    """Return x[key] (basic slicing or integer-array indexing)."""
    return x[key]


def _holds_tensor(items) -> bool:
    for k in items:
        if isinstance(k, Tensor):
            return True
    return False


def getitem(x, key):
    """Return ``x[key]``; the key holds ints, slices, None, Ellipsis or integer arrays (not Tensors)."""
    if isinstance(key, Tensor) or (isinstance(key, tuple) and _holds_tensor(key)):
        raise TypeError("getitem: index with ints, slices or integer arrays, not with a Tensor "
                        "(use .data to take its values as indices)")
    return _getitem(x, key=key)


# ---------------------------------------------------------------------------------- reductions
def _norm_axis(axis):
    if axis is None or isinstance(axis, int):
        return axis
    return tuple(axis)


def _sum_vjp(g, out, x, xp, axis, keepdims):
    if axis is not None and not keepdims:
        axes = (axis,) if isinstance(axis, int) else axis
        axes = sorted(a % x.ndim for a in axes)
        for a in axes:
            g = xp.expand_dims(g, a)
    return xp.broadcast_to(g, x.shape)


@defop("sum", (_sum_vjp,), diagnose=lambda a, axis, keepdims: f"axis {axis!r} is out of range for shape {a!r}")
def _sum(x, xp, axis, keepdims):
    """Return the sum of x over ``axis``."""
    return xp.sum(x, axis=axis, keepdims=keepdims)


def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - the op's name
    """Return the sum of ``x`` over ``axis`` (all axes when None)."""
    return _sum(x, axis=_norm_axis(axis), keepdims=bool(keepdims))


def mean(x, axis=None, keepdims: bool = False):
    """Return the mean of ``x`` over ``axis``: a sum times 1/count (a derived op)."""
    x = as_tensor(x)
    axis = _norm_axis(axis)
    if axis is None:
        count = x.size
    else:
        axes = (axis,) if isinstance(axis, int) else axis
        count = 1
        for a in axes:
            if not -x.ndim <= a < x.ndim:
                raise ValueError(f"mean: axis {axis!r} is out of range for shape {x.shape!r}")
            count *= x.shape[a]
    return mul(_sum(x, axis=axis, keepdims=bool(keepdims)), 1.0 / count)


# ---------------------------------------------------------------------------- element-wise maps
def _tanh_vjp(g, out, x, xp):          # tanh' = 1 - tanh²
    r = pooled_like(g, out) if out.nbytes >= MIN_BYTES else None
    if r is None:
        return g * (1 - out * out)
    np.multiply(out, out, out=r)
    np.subtract(1, r, out=r)
    return np.multiply(g, r, out=r)


@defop("tanh", (_tanh_vjp,), into=_unary_into(np.tanh))
def tanh(x, xp):
    """Return tanh(x)."""
    return xp.tanh(x)


# σ' = σ(1 - σ). exp(-x) overflows to inf for x < -709, where 1/(1 + inf) = 0 is σ's correct limit,
# and underflows to 0 for x > 745, where σ = 1: both are silenced rather than avoided (exp is about
# 3x cheaper than tanh in NumPy, so this beats the overflow-free form ½(1 + tanh(x/2))).
def _sigmoid_into(alloc, x):
    if x.dtype.kind != "f":
        return None
    out = np.negative(x, out=alloc(x.shape, x.dtype))
    with np.errstate(over="ignore", under="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)      # the same IEEE operations as the forward: identical bits


def _sigmoid_vjp(g, out, x, xp):
    r = pooled_like(g, out) if out.nbytes >= MIN_BYTES else None
    if r is None:
        return g * out * (1 - out)
    np.multiply(g, out, out=r)
    return np.multiply(r, 1 - out, out=r)


@defop("sigmoid", (_sigmoid_vjp,), into=_sigmoid_into)
def sigmoid(x, xp):
    """Return the logistic sigmoid 1 / (1 + exp(-x))."""
    with np.errstate(over="ignore", under="ignore"):
        return 1.0 / (1.0 + xp.exp(-x))


# relu' is the Heaviside step (taken as 0 at the kink x = 0)
@defop("relu", (lambda g, out, x, xp: g * xp.heaviside(x, 0.0),), analytic=False,
       kink=lambda x, xp: xp.abs(x))
def relu(x, xp):
    """Return max(x, 0)."""
    return xp.maximum(x, 0)


@defop("exp", (lambda g, out, x, xp: _times(g, out, xp),), into=_unary_into(np.exp))
def exp(x, xp):
    """Return exp(x)."""
    return xp.exp(x)


@defop("log", (lambda g, out, x, xp: g / x,))
def log(x, xp):
    """Return the natural logarithm of x (x > 0)."""
    return xp.log(x)


def _shift(x, xp, axis):
    """A constant to subtract before exponentiating (the max); softmax does not depend on it."""
    shift = getattr(xp, "stable_shift", None)
    if shift is not None:
        return shift(x, axis)
    m = xp.max(x.real if x.dtype.kind == "c" else x, axis=axis, keepdims=True)
    return m


# softmax: J = diag(out) - out outᵀ, so Jᵀg = out ⊙ (g - Σ g ⊙ out)
@defop("softmax", (lambda g, out, x, xp, axis: out * (g - xp.sum(g * out, axis=axis, keepdims=True)),))
def _softmax(x, xp, axis):
    """Return exp(x) / Σ exp(x) along ``axis`` (shifted by the max: no overflow)."""
    e = xp.exp(x - _shift(x, xp, axis))
    return e / xp.sum(e, axis=axis, keepdims=True)


def softmax(x, axis: int = -1):
    """Return the softmax of ``x`` along ``axis``, computed without overflow."""
    return _softmax(x, axis=axis)


# log_softmax = x - logΣexp(x); Jᵀg = g - softmax(x) Σ g
@defop("log_softmax", (lambda g, out, x, xp, axis: g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True),))
def _log_softmax(x, xp, axis):
    """Return log(softmax(x)) along ``axis``, computed without overflow or log(0)."""
    z = x - _shift(x, xp, axis)
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


def log_softmax(x, axis: int = -1):
    """Return the log-softmax of ``x`` along ``axis``, computed stably."""
    return _log_softmax(x, axis=axis)


# ------------------------------------------------------------------------ joining and splitting
def _concat_vjp(g, out, *xs, xp, argnum, axis):
    start = builtins.sum(x.shape[axis] for x in xs[:argnum])
    index = [slice(None)] * g.ndim
    index[axis] = slice(start, start + xs[argnum].shape[axis])
    return g[tuple(index)]


@defop("concat", _concat_vjp, diagnose=lambda *shapes, axis: f"shapes {list(shapes)!r} differ off axis {axis}")
def _concat(*xs, xp, axis):
    """Return the inputs joined along an existing axis."""
    return xp.concatenate(xs, axis=axis)


def concat(xs, axis: int = 0):
    """Return the tensors in ``xs`` joined along the existing axis ``axis``."""
    xs = list(xs)
    if not xs:
        raise ValueError("concat: needs at least one tensor")
    return _concat(*xs, axis=axis)


def _stack_vjp(g, out, *xs, xp, argnum, axis):
    return g[(slice(None),) * (axis % g.ndim) + (argnum,)]   # a view: the slice of g this input became


def _stack_into(alloc, *xs, axis):
    first = xs[0]
    for x in xs:
        if x.shape != first.shape or x.dtype != first.dtype or x.dtype.kind != "f":
            return None
    if not -first.ndim - 1 <= axis <= first.ndim:
        return None
    at = axis % (first.ndim + 1)
    if at == 0:
        runs = _runs([x.reshape(1, -1) for x in xs])
        if runs is not None and len(runs) == 1:   # already the consecutive rows of one array (unroll
            return runs[0][2].reshape((len(xs),) + first.shape)   # computed s_t into it): no copy
    out = alloc(first.shape[:at] + (len(xs),) + first.shape[at:], first.dtype)
    return np.stack(xs, axis=axis, out=out)


@defop("stack", _stack_vjp, diagnose=lambda *shapes, axis: f"all shapes must be equal, got {list(shapes)!r}",
       into=_stack_into)
def _stack(*xs, xp, axis):
    """Return the inputs stacked along a new axis."""
    return xp.stack(xs, axis=axis)


def stack(xs, axis: int = 0):
    """Return the equally-shaped tensors in ``xs`` stacked along a new axis ``axis``."""
    xs = list(xs)
    if not xs:
        raise ValueError("stack: needs at least one tensor")
    out = _stack(*xs, axis=axis)
    data = out.data
    if axis == 0 and is_pooled(data) and _address(data) != _address(out.parents[0].data):   # not made of them
        _adopt(xs, data)
    return out


def _adopt(xs, stacked) -> None:
    # The values of computed inputs become views of their rows in the stacked result (equal values,
    # stored once): what later reads them all, e.g. a weight's batched sum over s_0 … s_{T-1}, then
    # finds them as one array and needs no copy.
    for k, x in enumerate(xs):
        if type(x) is Tensor and x.op is not None and is_pooled(x.data):
            x.data = stacked[k]


def split(x, sizes, axis: int = 0):
    """Return ``x`` cut along ``axis`` into pieces of the given ``sizes`` (a list of slices of x)."""
    x = as_tensor(x)
    sizes = list(sizes)
    if builtins.sum(sizes) != x.shape[axis] or builtins.any(s <= 0 for s in sizes):
        raise ValueError(f"split: sizes {sizes!r} do not add up to {x.shape[axis]} along axis {axis} "
                         f"of shape {x.shape!r}")
    pieces, start = [], 0
    for s in sizes:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, start + s)
        pieces.append(getitem(x, tuple(index)))
        start += s
    return pieces


def chunk(x, n: int, axis: int = 0):
    """Return ``x`` cut along ``axis`` into ``n`` equal pieces."""
    x = as_tensor(x)
    if n <= 0 or x.shape[axis] % n:
        raise ValueError(f"chunk: axis {axis} of shape {x.shape!r} cannot be cut into {n} equal pieces")
    return split(x, [x.shape[axis] // n] * n, axis=axis)


# ------------------------------------------------------------------------------- non-smooth ops
# The gradient of a tie goes to x (the first argument).
@defop("maximum", (lambda g, out, x, y, xp: g * (x >= y), lambda g, out, x, y, xp: g * (x < y)),
       analytic=False, kink=lambda x, y, xp: xp.abs(x - y), diagnose=_broadcast_diagnose)
def maximum(x, y, xp):
    """Return the element-wise maximum of x and y."""
    return xp.maximum(x, y)


@defop("where", (None, lambda g, out, c, x, y, xp: xp.where(c, g, 0), lambda g, out, c, x, y, xp: xp.where(c, 0, g)),
       analytic=False, diagnose=lambda c, a, b: f"cannot broadcast shapes {c!r}, {a!r} and {b!r}")
def _where(cond, x, y, xp):
    """Return x where cond is true, else y."""
    return xp.where(cond, x, y)


def where(cond, x, y):
    """Return ``x`` where the boolean mask ``cond`` is true, else ``y`` (the mask gets no gradient)."""
    if isinstance(cond, Tensor):
        cond = cond.data
    return _where(_mask(cond), x, y)


def _mask(cond):
    from .backend import get_xp

    xp = get_xp(cond)
    t = Tensor(xp.zeros(()))
    t.data = xp.asarray(cond, dtype=bool)
    return t


@defop("clip", (lambda g, out, x, xp, lo, hi: g * ((x >= lo) & (x <= hi)),), analytic=False,
       kink=lambda x, xp, lo, hi: xp.minimum(xp.abs(x - lo), xp.abs(x - hi)))
def _clip(x, xp, lo, hi):
    """Return x limited to [lo, hi]."""
    return xp.clip(x, lo, hi)


def clip(x, lo: float, hi: float):
    """Return ``x`` limited to ``[lo, hi]`` (gradient 1 inside, 0 outside)."""
    if not lo <= hi:
        raise ValueError(f"clip: lower bound {lo!r} is above upper bound {hi!r}")
    return _clip(x, lo=float(lo), hi=float(hi))


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


@defop("setitem", (_setitem_vjp_x, lambda g, out, x, v, xp, key: g[key]),
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
    if isinstance(key, Tensor) or (isinstance(key, tuple) and _holds_tensor(key)):
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


__all__ += ["setitem"]
