"""Array namespaces: which module (``numpy``, ``cupy``, ``autograd.numpy``, ...) an op computes with.

Nothing is chosen at import. The namespace is taken from the arrays themselves: NumPy by default,
CuPy when any argument is a CuPy array. CuPy is imported only when a CuPy array is already in hand,
so a CPU-only install never touches it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["get_xp", "is_cupy", "as_numpy", "to_device", "unbroadcast", "sympy_namespace"]


def is_cupy(a) -> bool:
    """Return True when ``a`` is a CuPy array (checked by type, without importing CuPy)."""
    return type(a).__module__.split(".", 1)[0] == "cupy"


def get_xp(*arrays):
    """Return the array module for ``arrays``: ``cupy`` when any of them is a CuPy array, else ``numpy``."""
    for a in arrays:
        if type(a) is np.ndarray:
            continue
        if is_cupy(a):
            import cupy  # only reachable when the caller already holds a CuPy array

            return cupy
    return np


def as_numpy(a):
    """Return ``a`` (an array, a Tensor, or anything array-like) as a NumPy array, copying from the GPU if needed."""
    from .tensor import Tensor

    if isinstance(a, Tensor):
        a = a.data
    if is_cupy(a):
        return a.get()
    return np.asarray(a)


def to_device(a, device: str):
    """Return ``a`` (array or Tensor) on ``device``: ``"cpu"`` (NumPy) or ``"cuda"``/``"gpu"`` (CuPy).

    A Tensor is converted in place (its ``.data`` and ``.grad``) and returned, so parameters keep their
    identity; a plain array is returned converted.
    """
    from .tensor import Tensor

    if device not in ("cpu", "cuda", "gpu"):
        raise ValueError(f"to_device: unknown device {device!r}; use 'cpu' or 'cuda'")

    def convert(x):
        if x is None:
            return None
        if device == "cpu":
            return as_numpy(x)
        try:
            import cupy
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise RuntimeError(
                "to_device('cuda'): CuPy is not installed; install it with  pip install 'gradlab[gpu]'"
            ) from e
        return cupy.asarray(x)

    if isinstance(a, Tensor):
        a.data = convert(a.data)
        a.grad = convert(a.grad)
        return a
    return convert(a)


def unbroadcast(xp, g, shape):
    r"""Sum ``g`` down to ``shape``: the adjoint of broadcasting ``shape`` up to ``g.shape`` is a sum.

    Leading axes that broadcasting added are summed away; axes that were 1 in ``shape`` are summed
    with ``keepdims``. Raises ``ValueError`` when ``shape`` does not broadcast to ``g.shape``.
    """
    gshape = g.shape
    if gshape == tuple(shape):
        return g
    extra = len(gshape) - len(shape)
    if extra < 0 or any(s != 1 and s != gs for s, gs in zip(shape, gshape[extra:])):
        raise ValueError(f"a gradient of shape {gshape} cannot flow into an input of shape {tuple(shape)}")
    if extra:
        g = xp.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    return g


class _SympyNamespace:
    r"""An array namespace whose arrays are NumPy object arrays of SymPy expressions.

    Arithmetic and shape functions are NumPy's own (they work element by element on objects); the
    transcendental functions map SymPy's over the elements. ``wrap`` turns the bare scalars NumPy
    returns for 0-d object results back into 0-d arrays, so every value keeps a ``shape``.
    """

    def __init__(self):
        import sympy

        self._sp = sympy
        # evaluate=False: SymPy's automatic evaluation of tanh/exp/log runs its assumption system on
        # every element, which dominated replays of long sequences (LSTM, T = 50: 29 s against 3 s).
        vec = lambda f: np.frompyfunc(lambda x: f(x, evaluate=False), 1, 1)  # noqa: E731
        self._tanh = vec(sympy.tanh)
        self._exp = vec(sympy.exp)
        self._log = vec(sympy.log)
        self._abs = vec(sympy.Abs)
        self._heaviside = np.frompyfunc(lambda x, h0: sympy.Heaviside(x, h0), 2, 1)
        self._max = np.frompyfunc(sympy.Max, 2, 1)

    def __getattr__(self, name):  # shape and reduction functions: NumPy's, on object arrays
        return getattr(np, name)

    def wrap(self, a):
        """Return ``a`` as an object array (0-d for a scalar)."""
        return a if isinstance(a, np.ndarray) and a.dtype == object else np.asarray(a, dtype=object)

    def tanh(self, x):
        return self.wrap(self._tanh(x))

    def exp(self, x):
        return self.wrap(self._exp(x))

    def log(self, x):
        return self.wrap(self._log(x))

    def abs(self, x):
        return self.wrap(self._abs(x))

    def heaviside(self, x, h0):
        return self.wrap(self._heaviside(x, h0))

    def maximum(self, x, y):
        return self.wrap(self._max(x, y))

    def stable_shift(self, x, axis):
        """Softmax is shift-invariant; exact arithmetic needs no shift."""
        return 0

    def where(self, cond, x, y):
        return self.wrap(np.where(np.asarray(cond, dtype=bool), x, y))

    def clip(self, x, lo, hi):
        s = self._sp
        return self.wrap(np.frompyfunc(lambda v: s.Min(s.Max(v, lo), hi), 1, 1)(x))


def sympy_namespace():
    """Return the namespace for replaying a graph on SymPy expressions (object arrays).

    >>> import numpy as np, sympy, gradlab
    >>> w = gradlab.Parameter(np.array([0.5]), name="w")
    >>> y = gradlab.tanh(w * 2.0).sum()
    >>> sym = np.array([sympy.Symbol("w")], dtype=object)
    >>> gradlab.Graph(y).replay({w: sym}, xp=gradlab.sympy_namespace())
    array(tanh(2.0*w), dtype=object)
    """
    return _SympyNamespace()
