r"""Recording an author's NumPy forward through gradlab's engine: a NumPy-compatible namespace.

The forward is run once with its module-global ``np`` bound to a :class:`TracingNumpy` (see
:mod:`.rebind`) and its float inputs wrapped as :class:`TracedArray`. A traced array holds a gradlab
:class:`~gradlab.tensor.Tensor` and answers what course code asks of an array: operators, ``@``,
``.dot``, ``.T``, ``.reshape``, ``.sum(axis=…)``, indexing, ``len`` and iteration; the namespace gives
``np.tanh``, ``exp``, ``log``, ``maximum``, ``dot``, ``outer``, ``sum``, ``concatenate``, ``vstack``,
``hstack``, ``split`` and the rest listed in :data:`SUPPORTED`. Buffers from ``np.zeros`` are traced
constants, and slice assignment ``h[:, t, :] = next_h`` rebinds the buffer's tensor to the functional
``setitem(h, key, next_h)`` (gradlab's op), so the graph stays a pure function of the inputs. Caches
may hold traced arrays freely: they are only passed back to the author's backward in the *untraced*
run, never here.

Every recorded node also gets a :class:`Site`: the author's frames (file, line, function, the exact
source span of the expression) that made it. That is what lets a report say "the product
``prev_h.dot(Wh)`` at rnn_layers.py:14" and tell one call of a step function from the next.

Anything the namespace does not support (``np.einsum``, ``np.add.at`` on a traced array, ``float()`` of
a traced value, a plain NumPy array receiving a traced value) raises :class:`Untraceable`; the caller
reports it with the author's file and line and falls back to the black-box reference. NumPy
functions reached without the namespace (NumPy imported inside the function) are routed to it through
``__array_ufunc__`` / ``__array_function__`` when supported.
"""
from __future__ import annotations

import linecache
import sys
from dataclasses import dataclass

import numpy as np

from ...engine import ops
from ...engine.tensor import Parameter, Tensor, as_tensor
from .rebind import is_library_file

__all__ = ["Untraceable", "TracedArray", "TracingNumpy", "Tracer", "Site", "SUPPORTED"]


class Untraceable(Exception):
    """The forward did something the tracing namespace cannot record (``what`` says what)."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class Site:
    r"""Where a node was made: ``stack`` is ((frame serial, code, bytecode offset, line), …) of the
    author's frames, outermost first (the forward itself, then e.g. its step function, then a helper)."""

    stack: tuple
    event: int = 0          # which recording call made it (the nodes of one composite op share it)

    @property
    def code(self):
        """The innermost author code object."""
        return self.stack[-1][1]

    @property
    def key(self) -> tuple:
        """(code, bytecode offset) of the innermost author frame: one expression of the source."""
        return self.stack[-1][1], self.stack[-1][2]

    @property
    def file(self) -> str:
        """The author's file."""
        return self.code.co_filename

    @property
    def line(self) -> int:
        """The line in the author's file."""
        return self.stack[-1][3]

    @property
    def func(self) -> str:
        """The author's function."""
        return self.code.co_name

    @property
    def frame(self) -> int:
        """The serial of the innermost author frame (one call of a function)."""
        return self.stack[-1][0]

    def text(self) -> str:
        """The source of the expression that made the node (its span on the line, else the whole line)."""
        code, lasti, line = self.stack[-1][1], self.stack[-1][2], self.stack[-1][3]
        src = linecache.getline(code.co_filename, line)
        positions = getattr(code, "co_positions", None)
        if positions is not None and lasti >= 0:
            try:
                pos = list(positions())[lasti // 2]
            except (IndexError, ValueError):
                pos = None
            if pos and pos[0] == pos[1] == line and pos[2] is not None and pos[3] is not None:
                return src[pos[2]:pos[3]].strip() or src.strip()
        return src.strip()

    def line_text(self) -> str:
        """The whole source line."""
        return linecache.getline(self.file, self.line).strip()


class Tracer:
    """Collects the :class:`Site` of every node recorded while tracing one forward."""

    def __init__(self):
        self.sites: dict = {}
        self._serial: dict = {}
        self._frames: list = []     # keeps the frames alive, so that their ids stay unique
        self._events = 0
        self.ns = TracingNumpy(self)

    def close(self) -> None:
        """Forget the frames (their locals) once the trace is complete."""
        self._frames.clear()
        self._serial.clear()

    def _site(self) -> Site:
        f = sys._getframe(2)
        frames = []
        while f is not None:
            if is_library_file(f.f_code.co_filename):
                if frames:
                    break
            else:
                frames.append(f)
            f = f.f_back
        stack = []
        for fr in reversed(frames):
            serial = self._serial.get(id(fr))
            if serial is None:
                self._frames.append(fr)
                serial = self._serial[id(fr)] = len(self._serial)
            stack.append((serial, fr.f_code, fr.f_lasti, fr.f_lineno))
        self._events += 1
        return Site(tuple(stack), self._events)

    def register(self, t) -> None:
        """Give every new op node under ``t`` the site of the author's code running now."""
        if not isinstance(t, Tensor) or t.op is None or t in self.sites:
            return
        site = self._site()
        todo = [t]
        while todo:
            n = todo.pop()
            if n.op is None or n in self.sites:
                continue
            self.sites[n] = site
            todo.extend(n.parents)

    def wrap(self, t) -> "TracedArray":
        """Return ``t`` as a traced array, its new nodes registered."""
        self.register(t)
        return TracedArray(t, self)

    def leaf(self, value, name: str) -> "TracedArray":
        """Return a traced input: a :class:`~gradlab.tensor.Parameter` holding a float64 copy of ``value``."""
        return TracedArray(Parameter(np.array(value, dtype=np.float64), name=name), self)


# ------------------------------------------------------------------------------ helpers
def _is_traced(x) -> bool:
    return isinstance(x, TracedArray)


def _any_traced(args) -> bool:
    for a in args:
        if isinstance(a, TracedArray):
            return True
        if isinstance(a, (list, tuple)) and any(_any_traced([b]) for b in a):
            return True
    return False


def _raw(x):
    """The Tensor of a traced array; a list holding traced arrays becomes their stack."""
    if isinstance(x, TracedArray):
        return x.t
    if isinstance(x, (list, tuple)) and _any_traced(x):
        return ops.stack([_raw(v) if _any_traced([v]) else Tensor(np.asarray(v, dtype=float)) for v in x])
    return x


def _val(x):
    """The plain value (for comparisons and masks)."""
    return x.t.data if isinstance(x, TracedArray) else x


def _key(key):
    """An index as gradlab's getitem takes it: lists and boolean masks become integer positions."""
    items = key if isinstance(key, tuple) else (key,)
    out = []
    for k in items:
        if isinstance(k, TracedArray):
            raise Untraceable("indexing with a traced float array")
        if isinstance(k, list):
            k = np.asarray(k)
        if isinstance(k, np.ndarray) and k.dtype == bool:
            out.extend(np.nonzero(k))
            continue
        out.append(k)
    return tuple(out) if isinstance(key, tuple) or len(out) != 1 else out[0]


def _norm_shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _reduce_extreme(t, axis, keepdims, sign):
    r"""max (sign 1) or min (sign −1) over ``axis`` as Σ x ⊙ w with w = 1/(number of ties) at the extreme
    elements and 0 elsewhere: the derivative sends the gradient to the winners (shared between ties)."""
    data = t.data * sign
    axis_ = tuple(axis) if isinstance(axis, list) else axis
    m = np.max(data, axis=axis_, keepdims=True)
    mask = data == m
    w = mask / np.sum(mask, axis=axis_, keepdims=True)
    return ops.sum(ops.mul(t, w), axis=axis_, keepdims=bool(keepdims))


# ------------------------------------------------------------------------------ the array
class TracedArray:
    """An array of the author's forward whose operations are recorded in gradlab's graph."""

    __slots__ = ("t", "_tr")
    __array_priority__ = 1000

    def __init__(self, t, tracer):
        self.t = t
        self._tr = tracer

    def _new(self, t):
        return self._tr.wrap(t)

    def _inplace(self, t):
        self._tr.register(t)
        self.t = t
        return self

    # facts
    shape = property(lambda self: self.t.shape, doc="The shape.")
    ndim = property(lambda self: self.t.ndim, doc="The number of axes.")
    size = property(lambda self: self.t.size, doc="The number of elements.")
    dtype = property(lambda self: self.t.data.dtype, doc="The dtype (float64).")

    def __len__(self):
        return len(self.t.data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        return f"traced({np.array2string(self.t.data, precision=4)})"

    # arithmetic
    def __add__(self, o): return self._new(ops.add(self.t, _raw(o)))
    def __radd__(self, o): return self._new(ops.add(_raw(o), self.t))
    def __sub__(self, o): return self._new(ops.sub(self.t, _raw(o)))
    def __rsub__(self, o): return self._new(ops.sub(_raw(o), self.t))
    def __mul__(self, o): return self._new(ops.mul(self.t, _raw(o)))
    def __rmul__(self, o): return self._new(ops.mul(_raw(o), self.t))
    def __truediv__(self, o): return self._new(ops.div(self.t, _raw(o)))
    def __rtruediv__(self, o): return self._new(ops.div(_raw(o), self.t))
    def __matmul__(self, o): return self._new(ops.matmul(self.t, _raw(o)))
    def __rmatmul__(self, o): return self._new(ops.matmul(_raw(o), self.t))
    def __neg__(self): return self._new(ops.neg(self.t))
    def __pos__(self): return self
    def __abs__(self): return self._tr.ns.abs(self)

    def __pow__(self, p):
        if isinstance(p, TracedArray):
            return self._new(ops.power(self.t, p.t))
        return self._new(ops.power(self.t, float(p) if not isinstance(p, int) else p))

    def __rpow__(self, base):
        return self._new(ops.exp(ops.mul(ops.log(Tensor(np.asarray(base, dtype=float))), self.t)))

    def __iadd__(self, o): return self._inplace(ops.add(self.t, _raw(o)))
    def __isub__(self, o): return self._inplace(ops.sub(self.t, _raw(o)))
    def __imul__(self, o): return self._inplace(ops.mul(self.t, _raw(o)))
    def __itruediv__(self, o): return self._inplace(ops.div(self.t, _raw(o)))

    def __ipow__(self, p):
        return self._inplace(self.__pow__(p).t)

    # comparisons: plain boolean arrays (masks), not differentiable
    def __lt__(self, o): return self.t.data < _val(o)
    def __le__(self, o): return self.t.data <= _val(o)
    def __gt__(self, o): return self.t.data > _val(o)
    def __ge__(self, o): return self.t.data >= _val(o)
    def __eq__(self, o): return self.t.data == _val(o)
    def __ne__(self, o): return self.t.data != _val(o)
    __hash__ = object.__hash__

    def __bool__(self):
        return bool(self.t.data)

    def __float__(self):
        raise Untraceable("float() of a traced value (the gradient cannot pass through a Python number)")

    def __int__(self):
        raise Untraceable("int() of a traced value")

    def item(self, *args):
        """Not traceable: a Python number carries no gradient."""
        raise Untraceable(".item() of a traced value (the gradient cannot pass through a Python number)")

    def tolist(self):
        """Not traceable: Python numbers carry no gradient."""
        raise Untraceable(".tolist() of a traced value")

    # indexing
    def __getitem__(self, key):
        return self._new(ops.getitem(self.t, _key(key)))

    def __setitem__(self, key, value):
        self._inplace(ops.setitem(self.t, _key(key), _raw(value)))

    # methods
    def dot(self, o):
        """``self.dot(o)``: as ``np.dot``."""
        return self._tr.ns.dot(self, o)

    @property
    def T(self):
        """The transpose."""
        return self._new(ops.transpose(self.t))

    def transpose(self, *axes):
        """The axes permuted (reversed by default)."""
        axes = _norm_shape(axes) if axes else None
        return self._new(ops.transpose(self.t, axes or None))

    def swapaxes(self, a, b):
        """Two axes exchanged."""
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self._new(ops.transpose(self.t, axes))

    def reshape(self, *shape, order="C"):
        """The same elements in a new shape."""
        if order != "C":
            raise Untraceable(f"reshape with order={order!r}")
        return self._new(ops.reshape(self.t, _norm_shape(shape)))

    def flatten(self):
        """A flat copy."""
        return self.reshape(-1)

    ravel = flatten

    def squeeze(self, axis=None):
        """Axes of length one removed."""
        return self._tr.ns.squeeze(self, axis)

    def sum(self, axis=None, keepdims=False, **kw):
        """The sum over ``axis``."""
        return self._tr.ns.sum(self, axis=axis, keepdims=keepdims, **kw)

    def mean(self, axis=None, keepdims=False, **kw):
        """The mean over ``axis``."""
        return self._tr.ns.mean(self, axis=axis, keepdims=keepdims, **kw)

    def max(self, axis=None, keepdims=False, **kw):
        """The maximum over ``axis`` (its gradient goes to the largest elements)."""
        return self._tr.ns.max(self, axis=axis, keepdims=keepdims, **kw)

    def min(self, axis=None, keepdims=False, **kw):
        """The minimum over ``axis``."""
        return self._tr.ns.min(self, axis=axis, keepdims=keepdims, **kw)

    def clip(self, lo=None, hi=None):
        """Values limited to [lo, hi]."""
        return self._tr.ns.clip(self, lo, hi)

    def copy(self, order="C"):
        """A copy: the same recorded value (recording is functional, so later writes do not alias)."""
        return TracedArray(self.t, self._tr)

    def astype(self, dtype, copy=True, **kw):
        """A float copy; an integer or boolean cast gives a plain array (no gradient goes through it)."""
        if np.dtype(dtype).kind == "f":
            return TracedArray(self.t, self._tr)
        return self.t.data.astype(dtype)

    # NumPy's protocols: route what we support, refuse the rest
    def __array__(self, dtype=None, copy=None):
        raise Untraceable("a traced array turned into a plain NumPy array (np.asarray outside gradlab's namespace, "
                          "or a traced value written into an array made by plain NumPy)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__
        if method != "__call__" or kwargs.get("out") is not None:
            raise Untraceable(f"numpy.{name}.{method}" if method != "__call__" else f"numpy.{name}(…, out=…)")
        if name in _COMPARISONS:
            return ufunc(*[_val(i) for i in inputs], **kwargs)
        impl = _UFUNCS.get(name)
        if impl is None:
            raise Untraceable(f"numpy.{name}")
        return getattr(self._tr.ns, impl)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        name = func.__name__
        if name not in SUPPORTED:
            raise Untraceable(f"numpy.{name}")
        return getattr(self._tr.ns, name)(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise Untraceable(f"the array method .{name}")


_COMPARISONS = {"greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "isnan", "isfinite",
                "isinf", "sign"}
_UFUNCS = {"add": "add", "subtract": "subtract", "multiply": "multiply", "true_divide": "divide",
           "divide": "divide", "negative": "negative", "power": "power", "matmul": "matmul", "tanh": "tanh",
           "exp": "exp", "log": "log", "sqrt": "sqrt", "square": "square", "absolute": "abs",
           "maximum": "maximum", "minimum": "minimum", "log1p": "log1p", "expm1": "expm1", "positive": "positive"}


# ------------------------------------------------------------------------------ the namespace
def _float_dtype(dtype) -> bool:
    return dtype is None or dtype is float or np.dtype(dtype).kind == "f"


class TracingNumpy:
    r"""The ``np`` a traced forward sees: the functions in :data:`SUPPORTED` record traced arrays; with no
    traced argument every function (and every other attribute) is plain NumPy's."""

    def __init__(self, tracer: Tracer):
        self._tr = tracer

    def __getattr__(self, name):
        value = getattr(np, name)
        if not callable(value) or isinstance(value, type):
            return value

        def guarded(*args, **kwargs):
            if _any_traced(args) or _any_traced(list(kwargs.values())):
                raise Untraceable(f"np.{name}")
            return value(*args, **kwargs)

        guarded.__name__ = name
        return guarded

    def _w(self, t):
        return self._tr.wrap(t)

    # ---- making arrays
    def _const(self, arr):
        return TracedArray(Tensor(np.asarray(arr, dtype=np.float64)), self._tr)

    def zeros(self, shape, dtype=float, order="C", **kw):
        """A traced constant buffer of zeros (an int or bool dtype gives a plain array)."""
        return self._const(np.zeros(shape)) if _float_dtype(dtype) else np.zeros(shape, dtype=dtype)

    def ones(self, shape, dtype=float, order="C", **kw):
        """A traced constant buffer of ones."""
        return self._const(np.ones(shape)) if _float_dtype(dtype) else np.ones(shape, dtype=dtype)

    def empty(self, shape, dtype=float, order="C", **kw):
        """A traced constant buffer (of zeros: its values are meant to be overwritten)."""
        return self._const(np.zeros(shape)) if _float_dtype(dtype) else np.zeros(shape, dtype=dtype)

    def full(self, shape, fill_value, dtype=None, **kw):
        """A traced constant buffer filled with ``fill_value``."""
        if _is_traced(fill_value):
            return self._w(ops.add(Tensor(np.zeros(shape)), fill_value.t))
        return self._const(np.full(shape, fill_value)) if _float_dtype(dtype) else np.full(shape, fill_value, dtype)

    def zeros_like(self, a, dtype=None, **kw):
        """Zeros of ``a``'s shape (traced constant)."""
        return self.zeros(np.shape(_val(a)), dtype=dtype if dtype is not None else float)

    def ones_like(self, a, dtype=None, **kw):
        """Ones of ``a``'s shape (traced constant)."""
        return self.ones(np.shape(_val(a)), dtype=dtype if dtype is not None else float)

    def empty_like(self, a, dtype=None, **kw):
        """A buffer of ``a``'s shape (traced constant zeros)."""
        return self.zeros(np.shape(_val(a)), dtype=dtype if dtype is not None else float)

    def full_like(self, a, fill_value, dtype=None, **kw):
        """A buffer of ``a``'s shape filled with ``fill_value``."""
        return self.full(np.shape(_val(a)), fill_value, dtype)

    def array(self, a, dtype=None, copy=True, **kw):
        """``np.array``: a traced array stays traced (copied); a list of traced arrays is stacked."""
        if _is_traced(a):
            return a.copy() if _float_dtype(dtype) else a.t.data.astype(dtype)
        if isinstance(a, (list, tuple)) and _any_traced(a):
            return self._w(_raw(list(a)))
        return np.array(a, dtype=dtype, **kw)

    def asarray(self, a, dtype=None, **kw):
        """``np.asarray``: a traced array is returned as it is."""
        if _is_traced(a) and _float_dtype(dtype):
            return a
        return self.array(a, dtype=dtype)

    asanyarray = asarray
    ascontiguousarray = asarray

    def copy(self, a, **kw):
        """A copy."""
        return a.copy() if _is_traced(a) else np.copy(a, **kw)

    # ---- element-wise
    def _unary(self, name, x, f):
        if not _is_traced(x):
            return getattr(np, name)(x)
        return self._w(f(x.t))

    def tanh(self, x, **kw):
        """tanh."""
        return self._unary("tanh", x, ops.tanh)

    def exp(self, x, **kw):
        """exp."""
        return self._unary("exp", x, ops.exp)

    def log(self, x, **kw):
        """The natural logarithm."""
        return self._unary("log", x, ops.log)

    def log1p(self, x, **kw):
        """log(1 + x)."""
        return self._unary("log1p", x, lambda t: ops.log(ops.add(1.0, t)))

    def expm1(self, x, **kw):
        """exp(x) − 1."""
        return self._unary("expm1", x, lambda t: ops.sub(ops.exp(t), 1.0))

    def sqrt(self, x, **kw):
        """The square root."""
        return self._unary("sqrt", x, lambda t: ops.power(t, 0.5))

    def square(self, x, **kw):
        """x²."""
        return self._unary("square", x, lambda t: ops.mul(t, t))

    def negative(self, x, **kw):
        """−x."""
        return self._unary("negative", x, ops.neg)

    def positive(self, x, **kw):
        """+x."""
        return x

    def abs(self, x, **kw):
        """|x| (its derivative is the sign; at 0 it takes +1)."""
        if not _is_traced(x):
            return np.abs(x)
        return self._w(ops.where(x.t.data >= 0, x.t, ops.neg(x.t)))

    absolute = abs

    def _binary(self, name, a, b, f):
        if not (_is_traced(a) or _is_traced(b)):
            return getattr(np, name)(a, b)
        return self._w(f(_raw(a), _raw(b)))

    def add(self, a, b, **kw):
        """a + b."""
        return self._binary("add", a, b, ops.add)

    def subtract(self, a, b, **kw):
        """a − b."""
        return self._binary("subtract", a, b, ops.sub)

    def multiply(self, a, b, **kw):
        """a ⊙ b."""
        return self._binary("multiply", a, b, ops.mul)

    def divide(self, a, b, **kw):
        """a / b."""
        return self._binary("divide", a, b, ops.div)

    true_divide = divide

    def power(self, a, b, **kw):
        """a ** b."""
        if _is_traced(a):
            return a ** b
        if _is_traced(b):
            return b.__rpow__(a)
        return np.power(a, b)

    def maximum(self, a, b, **kw):
        """The element-wise maximum (its derivative goes to the larger argument)."""
        return self._binary("maximum", a, b, ops.maximum)

    def minimum(self, a, b, **kw):
        """The element-wise minimum."""
        return self._binary("minimum", a, b, lambda x, y: ops.neg(ops.maximum(ops.neg(x), ops.neg(y))))

    def clip(self, a, a_min=None, a_max=None, **kw):
        """Values limited to [a_min, a_max] (derivative 1 inside, 0 outside)."""
        if not _is_traced(a):
            return np.clip(a, a_min, a_max)
        if _is_traced(a_min) or _is_traced(a_max) or np.ndim(a_min) or np.ndim(a_max):
            out = a
            if a_min is not None:
                out = self.maximum(out, a_min)
            if a_max is not None:
                out = self.minimum(out, a_max)
            return out
        lo = -np.inf if a_min is None else float(a_min)
        hi = np.inf if a_max is None else float(a_max)
        return self._w(ops.clip(a.t, lo, hi))

    def where(self, cond, a=None, b=None):
        """``a`` where ``cond`` holds, else ``b`` (the condition gets no gradient)."""
        if a is None and b is None:
            return np.where(_val(cond))
        if not (_is_traced(a) or _is_traced(b)):
            return np.where(_val(cond), a, b)
        return self._w(ops.where(np.asarray(_val(cond), dtype=bool), _raw(a), _raw(b)))

    # ---- facts
    def shape(self, a):
        """The shape."""
        return np.shape(_val(a))

    def ndim(self, a):
        """The number of axes."""
        return np.ndim(_val(a))

    def size(self, a, axis=None):
        """The number of elements (along ``axis``)."""
        return np.size(_val(a), axis)

    # ---- linear algebra and shapes
    def dot(self, a, b, out=None):
        """``np.dot``: a product with a scalar, or the matrix product of arrays with at most two axes."""
        if out is not None:
            raise Untraceable("np.dot(…, out=…)")
        if not (_is_traced(a) or _is_traced(b)):
            return np.dot(a, b)
        if np.ndim(_val(a)) == 0 or np.ndim(_val(b)) == 0:
            return self.multiply(a, b)
        if np.ndim(_val(a)) > 2 or np.ndim(_val(b)) > 2:
            raise Untraceable("np.dot of an array with more than two axes (use np.matmul / @, or reshape first)")
        return self._w(ops.matmul(_raw(a), _raw(b)))

    def matmul(self, a, b, **kw):
        """a @ b."""
        return self._binary("matmul", a, b, ops.matmul)

    def outer(self, a, b, out=None):
        """The outer product of the flattened a and b."""
        if out is not None:
            raise Untraceable("np.outer(…, out=…)")
        if not (_is_traced(a) or _is_traced(b)):
            return np.outer(a, b)
        return self._w(ops.mul(ops.reshape(as_tensor(_raw(a)), (-1, 1)),
                               ops.reshape(as_tensor(_raw(b)), (1, -1))))

    def transpose(self, a, axes=None):
        """The axes permuted."""
        if not _is_traced(a):
            return np.transpose(a, axes)
        return a.transpose(*(axes or ()))

    def reshape(self, a, newshape=None, order="C", **kw):
        """The same elements in a new shape."""
        shape = newshape if newshape is not None else kw.get("shape")
        if not _is_traced(a):
            return np.reshape(a, shape, order=order)
        return a.reshape(shape if isinstance(shape, (tuple, list)) else (shape,), order=order)

    def expand_dims(self, a, axis):
        """A new axis of length one at ``axis``."""
        if not _is_traced(a):
            return np.expand_dims(a, axis)
        return a.reshape(np.expand_dims(np.empty(a.shape, dtype=bool), axis).shape)

    def squeeze(self, a, axis=None):
        """Axes of length one removed."""
        if not _is_traced(a):
            return np.squeeze(a, axis)
        return a.reshape(np.squeeze(np.empty(a.shape, dtype=bool), axis).shape)

    def swapaxes(self, a, axis1, axis2):
        """Two axes exchanged."""
        return a.swapaxes(axis1, axis2) if _is_traced(a) else np.swapaxes(a, axis1, axis2)

    # ---- reductions
    def sum(self, a, axis=None, dtype=None, out=None, keepdims=False, **kw):
        """The sum over ``axis``."""
        if out is not None:
            raise Untraceable("np.sum(…, out=…)")
        if not _any_traced([a]):
            return np.sum(a, axis=axis, dtype=dtype, keepdims=keepdims)
        if isinstance(a, (list, tuple)):
            a = self.array(a)
        axis = tuple(axis) if isinstance(axis, list) else axis
        return self._w(ops.sum(a.t, axis=axis, keepdims=bool(keepdims)))

    def mean(self, a, axis=None, dtype=None, out=None, keepdims=False, **kw):
        """The mean over ``axis``."""
        if out is not None:
            raise Untraceable("np.mean(…, out=…)")
        if not _any_traced([a]):
            return np.mean(a, axis=axis, dtype=dtype, keepdims=keepdims)
        if isinstance(a, (list, tuple)):
            a = self.array(a)
        axis = tuple(axis) if isinstance(axis, list) else axis
        return self._w(ops.mean(a.t, axis=axis, keepdims=bool(keepdims)))

    def max(self, a, axis=None, out=None, keepdims=False, **kw):
        """The maximum over ``axis`` (its gradient goes to the largest elements, shared between ties)."""
        if out is not None:
            raise Untraceable("np.max(…, out=…)")
        if not _is_traced(a):
            return np.max(a, axis=axis, keepdims=keepdims)
        return self._w(_reduce_extreme(a.t, axis, keepdims, 1.0))

    amax = max

    def min(self, a, axis=None, out=None, keepdims=False, **kw):
        """The minimum over ``axis``."""
        if out is not None:
            raise Untraceable("np.min(…, out=…)")
        if not _is_traced(a):
            return np.min(a, axis=axis, keepdims=keepdims)
        return self._w(_reduce_extreme(a.t, axis, keepdims, -1.0))

    amin = min

    # ---- joining and splitting
    def concatenate(self, arrays, axis=0, out=None, **kw):
        """The arrays joined along an existing axis."""
        if out is not None:
            raise Untraceable("np.concatenate(…, out=…)")
        arrays = list(arrays)
        if not _any_traced(arrays):
            return np.concatenate(arrays, axis=axis)
        if axis is None:
            arrays = [self.reshape(a, (-1,)) if _is_traced(a) else np.ravel(a) for a in arrays]
            axis = 0
        return self._w(ops.concat([_raw(a) for a in arrays], axis=axis))

    def stack(self, arrays, axis=0, out=None, **kw):
        """The arrays stacked along a new axis."""
        if out is not None:
            raise Untraceable("np.stack(…, out=…)")
        arrays = list(arrays)
        if not _any_traced(arrays):
            return np.stack(arrays, axis=axis)
        return self._w(ops.stack([as_tensor(_raw(a)) for a in arrays], axis=axis))

    def vstack(self, arrays, **kw):
        """The arrays (1-D ones as rows) joined along axis 0."""
        arrays = list(arrays)
        if not _any_traced(arrays):
            return np.vstack(arrays)
        rows = [(a.reshape(1, -1) if _is_traced(a) else np.reshape(a, (1, -1))) if np.ndim(_val(a)) == 1 else a
                for a in arrays]
        return self.concatenate(rows, axis=0)

    def hstack(self, arrays, **kw):
        """The arrays joined along axis 1 (axis 0 for 1-D arrays)."""
        arrays = list(arrays)
        if not _any_traced(arrays):
            return np.hstack(arrays)
        return self.concatenate(arrays, axis=0 if np.ndim(_val(arrays[0])) == 1 else 1)

    def split(self, a, indices_or_sections, axis=0):
        """The array cut along ``axis`` (into equal sections, or at the given indices)."""
        if not _is_traced(a):
            return np.split(a, indices_or_sections, axis=axis)
        n = a.shape[axis]
        if isinstance(indices_or_sections, int):
            if n % indices_or_sections:
                raise ValueError(f"array split does not result in an equal division: {n} into {indices_or_sections}")
            step = n // indices_or_sections
            cuts = list(range(step, n, step))
        else:
            cuts = list(indices_or_sections)
        bounds = [0] + cuts + [n]
        out = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            index = [slice(None)] * a.ndim
            index[axis] = slice(lo, hi)
            out.append(a[tuple(index)])
        return out


#: the NumPy functions a traced forward may call on traced arrays
SUPPORTED = tuple(sorted(n for n in vars(TracingNumpy) if not n.startswith("_")))
