"""The recorded node: :class:`Tensor`, its leaf kind :class:`Parameter`, and :func:`apply`, which runs
one op of the table and records the result.

Every tensor made by an op remembers the op, its inputs (``parents``), the op's static arguments
(``attrs``, e.g. a sum's axis), its value (``data``) and its :class:`~gradlab.context.Scope`. That
record is all any interpreter needs: reverse mode, replay, the checker, the symbolic layer and the
renderer read it; none of them re-runs model code.
"""
from __future__ import annotations

import itertools

import numpy as np

from .backend import get_xp, is_cupy
from .context import _STATE, Scope
from .memory import MIN_BYTES as _POOL_MIN, pooled_copy, pooled_empty

__all__ = ["Tensor", "Parameter", "tensor", "apply", "as_tensor"]

_NO_ATTRS: dict = {}
_TOP = Scope()
# every Tensor takes the next number when it is made; a node is always made after its inputs, so
# sorting by it is a topological order (reverse mode sorts instead of counting consumers)
_SEQ = itertools.count()


def _as_array(data, what: str):
    """Coerce user data to an array; ints and bools become float64 (documented conversion)."""
    if is_cupy(data):
        arr = data
    else:
        arr = np.asarray(data)
    kind = arr.dtype.kind
    if kind in "biu":
        arr = arr.astype(np.float64)
    elif kind not in "fc":
        raise TypeError(
            f"{what}: data of dtype {arr.dtype} cannot be differentiated; pass numbers "
            f"(float64 recommended), e.g. numpy.asarray(data, dtype=float)"
        )
    return arr


class Tensor:
    """An array with a place in the recorded graph.

    ``data`` is an array of the active namespace (NumPy, or CuPy); ``grad`` is filled by
    :meth:`backward` for leaves (and for nodes that called :meth:`retain_grad`). ``op`` is ``None``
    for leaves. ``scope`` tells the layer path and time step the node was made in.
    """

    __slots__ = ("data", "grad", "op", "parents", "attrs", "scope", "name", "requires_grad", "retains_grad",
                 "seq", "__weakref__")
    __array_ufunc__ = None  # make ``ndarray * Tensor`` defer to Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        self.data = _as_array(data, f"tensor {name!r}" if name else "tensor")
        self.grad = None
        self.op = None
        self.parents = ()
        self.attrs = _NO_ATTRS
        self.scope = _STATE.get().scope
        self.name = name
        self.requires_grad = bool(requires_grad)
        self.retains_grad = False
        self.seq = next(_SEQ)

    # --- introspection -------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="Shape of ``data``.")
    ndim = property(lambda self: self.data.ndim, doc="Number of axes of ``data``.")
    dtype = property(lambda self: self.data.dtype, doc="dtype of ``data``.")
    size = property(lambda self: self.data.size, doc="Number of elements of ``data``.")
    is_leaf = property(lambda self: self.op is None, doc="True for tensors not produced by an op.")

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        what = f"op={self.op.name}" if self.op is not None else ("leaf" if self.requires_grad else "constant")
        label = f" name={self.name!r}" if self.name else ""
        where = "" if self.scope == _TOP else f" scope='{self.scope}'"
        return f"{type(self).__name__}(shape={self.shape}, {what}{label}{where})"

    def numpy(self):
        """Return ``data`` as a NumPy array (copied from the GPU when on CuPy)."""
        return self.data.get() if is_cupy(self.data) else np.asarray(self.data)

    def item(self) -> float:
        """Return the single element of a one-element tensor as a Python number."""
        return self.data.item()

    def detach(self) -> "Tensor":
        """Return a constant leaf holding the same data (no graph, no gradient)."""
        return Tensor(self.data)

    # --- reverse mode --------------------------------------------------------------------------
    def backward(self, g=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires a gradient.

        ``g`` is the upstream gradient (``ones`` for a one-element tensor). Calling backward twice adds
        the gradients twice, as in the common frameworks; :meth:`zero_grad` or ``Module.zero_grad``
        resets them.
        """
        from .autodiff import backward

        backward(self, g)

    def retain_grad(self) -> "Tensor":
        """Keep this intermediate node's gradient in ``.grad`` after backward (e.g. to show dE/ds_t)."""
        self.retains_grad = True
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    # --- operators (defined in ops.py; bound here) ----------------------------------------------
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)
    def __pow__(self, p): return _ops.power(self, p)
    def __rpow__(self, base): return _ops.exp(_ops.mul(_ops.log(as_tensor(base, like=self)), self))
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __getitem__(self, key): return _ops.getitem(self, key)

    # Comparisons give plain boolean arrays (masks for ``where``); they are not differentiable.
    def __lt__(self, other): return self.data < _data(other)
    def __le__(self, other): return self.data <= _data(other)
    def __gt__(self, other): return self.data > _data(other)
    def __ge__(self, other): return self.data >= _data(other)
    __hash__ = object.__hash__

    @property
    def T(self) -> "Tensor":
        """The transpose (axes reversed)."""
        return _ops.transpose(self)

    def reshape(self, *shape) -> "Tensor":
        """Return the same elements with a new shape (one ``-1`` allowed)."""
        return _ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def sum(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Sum over ``axis`` (all axes by default)."""
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Mean over ``axis`` (all axes by default)."""
        return _ops.mean(self, axis=axis, keepdims=keepdims)


class Parameter(Tensor):
    """A trainable leaf: ``requires_grad`` is always True. Using one Parameter object at several places
    of a graph *shares* it, and its gradient is the sum over those places."""

    __slots__ = ()

    def __init__(self, data, name: str | None = None):
        super().__init__(data, requires_grad=True, name=name)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def tensor(data, requires_grad: bool = False, name: str | None = None, dtype=None) -> Tensor:
    """Return a leaf Tensor holding ``data`` (ints and bools are converted to float64).

    >>> import gradlab
    >>> x = gradlab.tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> (x * x).sum().backward(); x.grad
    array([2., 4.])
    """
    if dtype is not None:
        xp = get_xp(data)
        data = xp.asarray(data, dtype=dtype)
    return Tensor(data, requires_grad=requires_grad, name=name)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """Return ``x`` if it is a Tensor, else a constant leaf; Python numbers take ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and not isinstance(x, bool):
        ld = like.data
        if ld.dtype.kind in "fc":
            return Tensor(get_xp(ld).asarray(x, dtype=ld.dtype))
        if ld.dtype == object:  # replayed or symbolic graphs keep exact Python numbers
            t = Tensor(np.asarray(0.0))
            t.data = np.asarray(x, dtype=object)
            return t
    return Tensor(x)


_CONSTANTS: dict = {}    # (number, dtype) -> read-only 0-d array: 1 - z at every step makes one, not T


def _with_constants(inputs) -> tuple:
    """``inputs`` with every non-Tensor made a constant leaf (see :func:`as_tensor`); a Python number
    next to a NumPy float Tensor, as in ``1 - z`` or ``0.5 * E``, takes a short path (it is per node)."""
    like = None
    for y in inputs:
        if isinstance(y, Tensor):
            like = y
            break
    ld = None if like is None else like.data
    if type(ld) is np.ndarray and ld.dtype.kind == "f":
        out = []
        for y in inputs:
            if type(y) is float or type(y) is int:
                c = Tensor.__new__(Tensor)
                key = (y, ld.dtype)
                arr = _CONSTANTS.get(key)
                if arr is None:
                    if len(_CONSTANTS) > 256:
                        _CONSTANTS.clear()
                    arr = _CONSTANTS[key] = np.asarray(y, dtype=ld.dtype)
                    arr.flags.writeable = False          # shared by every node that uses this number
                c.data = arr
                c.grad, c.op, c.parents, c.attrs = None, None, (), _NO_ATTRS
                c.scope, c.name, c.requires_grad, c.retains_grad = _STATE.get().scope, None, False, False
                c.seq = next(_SEQ)
                out.append(c)
            else:
                out.append(as_tensor(y, like))
        return tuple(out)
    return tuple(as_tensor(y, like) for y in inputs)


def apply(op, *inputs, _out=None, **attrs) -> Tensor:
    """Run ``op`` forward on the inputs' data and record the result as a new node.

    Non-Tensor inputs become constant leaves. Inside ``no_grad`` nothing is recorded. Shape errors
    raised by the array library are replaced by a ``ValueError`` naming the op, its scope and the shapes.
    ``_out`` (engine use) is a pooled NumPy array the value may be computed into when the op's ``into``
    forward runs and the shape and dtype match (e.g. row t of an unrolled network's state sequence);
    otherwise it is ignored.
    """
    ts = inputs
    datas = []
    xp = np
    grad = False
    for x in inputs:                  # one pass: the arrays, their namespace, whether a gradient flows
        if type(x) is not Tensor and not isinstance(x, Tensor):
            ts = _with_constants(inputs)
            datas = [t.data for t in ts]
            xp = get_xp(*datas)
            grad = any(t.requires_grad for t in ts)
            break
        d = x.data
        if type(d) is not np.ndarray:
            xp = None
        if x.requires_grad:
            grad = True
        datas.append(d)
    if xp is None:
        xp = get_xp(*datas)
    state = _STATE.get()
    # a large NumPy value that the graph keeps until backward lives in the buffer pool (memory.py):
    # computed straight into it when the op can (Op.into), else moved there
    pool = xp is np and datas and datas[0].nbytes >= _POOL_MIN and state.grad_enabled
    try:
        if pool and op.into is not None:
            out = op.into(pooled_empty if _out is None else _allocator(_out), *datas, **attrs)
        else:
            out = None
        if out is None:
            out = op.forward(*datas, xp=xp, **attrs)
            if pool and type(out) is np.ndarray and out.base is None:
                out = pooled_copy(out)
    except (ValueError, TypeError, IndexError) as e:
        raise ValueError(_describe_failure(op, ts, attrs, state.scope, e)) from None
    if state.anomaly:
        _check_finite(out, f"forward of {op.name} at {state.scope}", ts)
    node = Tensor.__new__(Tensor)
    node.data = out
    node.grad = None
    node.op = op
    node.attrs = attrs or _NO_ATTRS
    node.scope = state.scope
    node.name = None
    node.retains_grad = False
    node.seq = next(_SEQ)
    if state.grad_enabled:
        node.parents = ts
        node.requires_grad = grad
    else:
        node.op, node.attrs, node.parents, node.requires_grad = None, _NO_ATTRS, (), False
    return node


def _allocator(dest):
    """An ``alloc(shape, dtype)`` for ``Op.into`` that hands out ``dest`` when it fits, else pool memory."""
    def alloc(shape, dtype):
        if type(dest) is np.ndarray and tuple(shape) == dest.shape and np.dtype(dtype) == dest.dtype \
                and dest.flags.writeable:
            return dest
        return pooled_empty(shape, dtype)
    return alloc


def _describe_failure(op, ts, attrs, where, err) -> str:
    shapes = " , ".join(repr(t.shape) for t in ts)
    at = "" if where == _TOP else f" at {where}"
    reason = op.diagnose(*(t.shape for t in ts), **attrs) if op.diagnose else None
    extra = "".join(f", {k}={v!r}" for k, v in attrs.items())
    return f"{op.name}{at}: {reason or str(err)}; input shapes {shapes}{extra}"


def _check_finite(arr, what: str, inputs=()) -> None:
    xp = get_xp(arr)
    if arr.dtype.kind in "fc" and not bool(xp.all(xp.isfinite(arr))):
        bad = "NaN" if bool(xp.any(xp.isnan(arr))) else "Inf"
        shapes = ", ".join(repr(t.shape) for t in inputs)
        raise FloatingPointError(f"anomaly: {what} produced {bad} (input shapes {shapes})")


from . import ops as _ops  # noqa: E402  (ops imports Tensor and apply from this module)
