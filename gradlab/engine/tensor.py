r"""The recorded node: :class:`Tensor`, its leaf kind :class:`Parameter`, and :func:`apply`, which runs
one op of the table and records the result.

Every tensor made by an op remembers the op, its inputs (``parents``), the op's static arguments
(``attrs``, e.g. a sum's axis), its value (``data``) and its :class:`~gradlab.engine.context.Scope`.
That record is all any interpreter needs: reverse mode, replay, the checker, the symbolic layer and
the renderer read it; none of them re-runs model code.

A recorded value is read only: reverse mode and every replay use the value the op computed, so a
NumPy value is flagged read-only and ``node.data = …`` is refused for op nodes. Leaves that require
a gradient (:class:`Parameter`) hold a copy of the caller's array; constant leaves hold the caller's
array itself.
"""
from __future__ import annotations

from operator import attrgetter

import numpy as np

from .backend import check_finite, get_xp, is_cupy, to_numpy
from .context import STATE, ENGINES, Scope

__all__ = ["Tensor", "Parameter", "tensor", "apply", "as_tensor", "record", "explain_failure", "unwrap"]

_TOP = Scope()


class Tensor:
    """An array with a place in the recorded graph.

    ``data`` is an array of the active namespace (NumPy, or CuPy); ``grad`` is filled by
    :meth:`backward` for leaves (and for nodes that called :meth:`retain_grad`). ``op`` is ``None``
    for leaves. ``scope`` tells the layer path and time step the node was made in. The operators
    (``+ * @ [] …``, ``.sum()``, ``.T``) are bound at the end of ``ops.py`` and :meth:`backward` at the
    end of ``autodiff.py``: the record is defined first, what reads it after.
    """

    __slots__ = ("_data", "grad", "op", "parents", "attrs", "scope", "name", "requires_grad", "retains_grad",
                 "__weakref__")
    __array_ufunc__ = None  # make ``ndarray * Tensor`` defer to Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        arr = _as_array(data, f"tensor {name!r}" if name else "tensor")
        if requires_grad and arr is data:
            arr = arr.copy()   # a leaf that is trained must not change when the caller's array does
        self._data, self.grad, self.op, self.parents, self.attrs = arr, None, None, (), {}
        self.scope, self.name, self.retains_grad = STATE.get().scope, name, False
        self.requires_grad = bool(requires_grad)

    def _set_data(self, value) -> None:
        if self.op is not None:
            raise ValueError(f"{self!r}: the value of a recorded node cannot be replaced: reverse mode and every "
                             f"replay use the value {self.op.name} computed. Record the graph again with the new "
                             f"inputs, or make a new leaf with gradlab.tensor(value)")
        self._data = value

    data = property(attrgetter("_data"), _set_data,
                    doc="The value: the array the op computed (read-only for op nodes), or the leaf's array.")

    # --- introspection -------------------------------------------------------------------------
    shape = property(lambda self: self._data.shape, doc="Shape of ``data``.")
    ndim = property(lambda self: self._data.ndim, doc="Number of axes of ``data``.")
    dtype = property(lambda self: self._data.dtype, doc="dtype of ``data``.")
    size = property(lambda self: self._data.size, doc="Number of elements of ``data``.")
    is_leaf = property(lambda self: self.op is None, doc="True for tensors not produced by an op.")
    __hash__ = object.__hash__

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        what = f"op={self.op.name}" if self.op is not None else ("leaf" if self.requires_grad else "constant")
        label = f" name={self.name!r}" if self.name else ""
        where = "" if self.scope == _TOP else f" scope='{self.scope}'"
        return f"{type(self).__name__}(shape={self.shape}, {what}{label}{where})"

    def numpy(self):
        """Return ``data`` as a NumPy array (copied from the GPU when on CuPy)."""
        return to_numpy(self._data)

    def item(self) -> float:
        """Return the single element of a one-element tensor as a Python number."""
        return self._data.item()

    def detach(self) -> "Tensor":
        """Return a constant leaf holding the same data (no graph, no gradient)."""
        return Tensor(self._data)

    def retain_grad(self) -> "Tensor":
        """Keep this intermediate node's gradient in ``.grad`` after backward (e.g. to show dE/ds_t)."""
        self.retains_grad = True
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    # Comparisons give plain boolean arrays (masks for ``where``); they are not differentiable.
    def __lt__(self, other): return self._data < unwrap(other)
    def __le__(self, other): return self._data <= unwrap(other)
    def __gt__(self, other): return self._data > unwrap(other)
    def __ge__(self, other): return self._data >= unwrap(other)


class Parameter(Tensor):
    """A trainable leaf: ``requires_grad`` is always True, and it holds its own copy of the data. Using
    one Parameter object at several places of a graph *shares* it, and its gradient is the sum over
    those places."""

    __slots__ = ()

    def __init__(self, data, name: str | None = None):
        super().__init__(data, requires_grad=True, name=name)


def unwrap(x):
    """Return a Tensor's array, anything else as it is (a NumPy array's own ``.data`` is a memoryview)."""
    return x.data if isinstance(x, Tensor) else x


def _holds_tensor(data) -> bool:
    stack = [data]
    while stack:
        items = stack.pop()
        for x in items:
            if isinstance(x, Tensor):
                return True
            if isinstance(x, (list, tuple)):
                stack.append(x)
    return False


def _as_array(data, what: str):
    """Coerce user data to an array; ints and bools become float64 (documented conversion)."""
    if type(data) is np.ndarray or is_cupy(data):
        arr = data
    else:
        if isinstance(data, (list, tuple)) and _holds_tensor(data):
            raise TypeError(f"{what}: got a {type(data).__name__} holding Tensors, which is not an array; join "
                            f"them with gradlab.stack(xs) (a new axis) or gradlab.concat(xs) (an existing one)")
        try:
            arr = np.asarray(data)
        except ValueError:
            rows = [len(r) if isinstance(r, (list, tuple)) else "a number" for r in data] \
                if isinstance(data, (list, tuple)) else []
            raise ValueError(f"{what}: the nested lists do not form an array: they are ragged (entries of lengths "
                             f"{', '.join(map(str, rows[:8]))}{', ...' if len(rows) > 8 else ''}); give rows of one "
                             f"length") from None
    kind = arr.dtype.kind
    if kind in "biu":
        arr = arr.astype(np.float64)
    elif kind not in "fc":
        shown = f" ({data!r})" if isinstance(data, (str, bytes)) or len(repr(data)) < 40 else ""
        raise TypeError(f"{what}: data of dtype {arr.dtype}{shown} is not numbers and cannot be differentiated; "
                        f"pass numbers (float64 recommended), e.g. numpy.asarray(data, dtype=float)")
    return arr


def tensor(data, requires_grad: bool = False, name: str | None = None, dtype=None) -> Tensor:
    """Return a leaf Tensor holding ``data`` (ints and bools are converted to float64).

    >>> import gradlab
    >>> x = gradlab.tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> (x * x).sum().backward(); x.grad
    array([2., 4.])
    """
    if dtype is not None:
        data = get_xp(data).asarray(data, dtype=dtype)
    return Tensor(data, requires_grad=requires_grad, name=name)


def as_tensor(x, like: Tensor | None = None, what: str = "tensor") -> Tensor:
    """Return ``x`` if it is a Tensor, else a constant leaf; Python numbers take ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and not isinstance(x, bool):
        ld = like.data
        if ld.dtype.kind in "fc":
            return Tensor(get_xp(ld).asarray(x, dtype=ld.dtype))
        if ld.dtype == object:  # replayed or symbolic graphs keep exact Python numbers
            t = Tensor(0.0)
            t.data = np.asarray(x, dtype=object)
            return t
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{what}: got the text {x!r}; an op takes Tensors, arrays or numbers")
    try:
        return Tensor(x)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what}: {str(e).removeprefix('tensor: ')}") from None


def apply(op, *inputs, **attrs) -> Tensor:
    """Run ``op`` forward on the inputs' data and record the result as a new node.

    Non-Tensor inputs become constant leaves. Inside ``no_grad`` nothing is recorded. Shape errors
    raised by the array library are replaced by a ``ValueError`` naming the op, its scope and the shapes.
    """
    state = STATE.get()
    impl = ENGINES.get(state.engine)
    if impl is not None:                      # a faster implementation of this same step (gradlab.fast)
        return impl.apply(op, inputs, attrs, state)
    like = next((x for x in inputs if isinstance(x, Tensor)), None)
    ts = tuple(as_tensor(x, like, f"{op.name}: input {i}") for i, x in enumerate(inputs))
    xs = [t.data for t in ts]
    try:
        out = op.forward(*xs, xp=get_xp(*xs), **attrs)
    except (ValueError, TypeError, IndexError) as e:
        raise ValueError(explain_failure(op, ts, attrs, state.scope, e)) from None
    if state.anomaly:
        check_finite(out, f"forward of {op.name} at {state.scope}", [t.shape for t in ts])
    return record(out, op, ts, attrs, any(t.requires_grad for t in ts), state)


def record(value, op, parents: tuple, attrs: dict, requires_grad: bool, state) -> Tensor:
    """Return the node holding ``value``, computed by ``op`` from ``parents`` with ``attrs`` (the node's own
    dict; a constant leaf when ``state`` records no graph). A NumPy value is made read-only: the graph keeps it."""
    node = Tensor.__new__(Tensor)                     # the fields of Tensor.__init__, for an op's result
    node._data, node.grad, node.name, node.scope, node.retains_grad = value, None, None, state.scope, False
    if state.grad_enabled:
        node.op, node.parents, node.attrs, node.requires_grad = op, parents, attrs, requires_grad
        if type(value) is np.ndarray:
            value.setflags(False)                      # write=False: the graph keeps this value
    else:
        node.op, node.parents, node.attrs, node.requires_grad = None, (), {}, False
    return node


def explain_failure(op, inputs, attrs, where, err) -> str:
    """Return the message for ``op`` failing on ``inputs``: the op, its scope, why, and the shapes."""
    shapes = " , ".join(repr(t.shape) for t in inputs)
    at = "" if where == _TOP else f" at {where}"
    reason = op.diagnose(*(t.shape for t in inputs), **attrs) if op.diagnose else None
    extra = "".join(f", {k}={v!r}" for k, v in attrs.items())
    return f"{op.name}{at}: {reason or str(err)}; input shapes {shapes}{extra}"
