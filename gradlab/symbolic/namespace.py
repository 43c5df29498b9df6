r"""Array namespaces whose arrays are NumPy object arrays of symbolic expressions: a graph replayed with
one of them (``Graph.replay(values, xp=sympy_namespace())``) computes exact expressions instead of numbers.

Arithmetic and shape functions are NumPy's own (they work element by element on objects); the
transcendental functions map SymPy's (or SymEngine's) over the elements. ``wrap`` turns the bare
scalars NumPy returns for 0-d object results back into 0-d arrays, so every value keeps a ``shape``.
SymPy is imported when a namespace is made, not when this module is.
"""
from __future__ import annotations

import numpy as np

__all__ = ["sympy_namespace", "symengine_namespace", "SympyNamespace", "SymEngineNamespace"]


def _wrap(a):
    return a if isinstance(a, np.ndarray) and a.dtype == object else np.asarray(a, dtype=object)


class SympyNamespace:
    r"""NumPy object arrays of SymPy expressions (see the module docstring)."""

    def __init__(self):
        import sympy

        self._sp = sympy
        # evaluate=False: SymPy's automatic evaluation of tanh/exp/log runs its assumption system on
        # every element, which dominated replays of long sequences (LSTM, T = 50: 29 s against 3 s).
        vec = lambda f: np.frompyfunc(lambda x: f(x, evaluate=False), 1, 1)  # noqa: E731
        self._tanh, self._exp, self._log, self._abs = vec(sympy.tanh), vec(sympy.exp), vec(sympy.log), vec(sympy.Abs)
        self._heaviside = np.frompyfunc(lambda x, h0: sympy.Heaviside(x, h0), 2, 1)
        self._max = np.frompyfunc(sympy.Max, 2, 1)

    def __getattr__(self, name):  # shape and reduction functions: NumPy's, on object arrays
        return getattr(np, name)

    def wrap(self, a):
        """Return ``a`` as an object array (0-d for a scalar)."""
        return _wrap(a)

    def tanh(self, x):
        return _wrap(self._tanh(x))

    def exp(self, x):
        return _wrap(self._exp(x))

    def log(self, x):
        return _wrap(self._log(x))

    def abs(self, x):
        return _wrap(self._abs(x))

    def heaviside(self, x, h0):
        return _wrap(self._heaviside(x, h0))

    def maximum(self, x, y):
        return _wrap(self._max(x, y))

    def stable_shift(self, x, axis):
        """Softmax is shift-invariant; exact arithmetic needs no shift."""
        return 0

    def where(self, cond, x, y):
        return _wrap(np.where(np.asarray(cond, dtype=bool), x, y))

    def clip(self, x, lo, hi):
        s = self._sp
        return _wrap(np.frompyfunc(lambda v: s.Min(s.Max(v, lo), hi), 1, 1)(x))


class SymEngineNamespace:
    """NumPy object arrays of SymEngine expressions (the optional fast symbolic backend)."""

    def __init__(self):
        import symengine as se

        for name in ("tanh", "exp", "log"):
            vec = np.frompyfunc(getattr(se, name), 1, 1)
            setattr(self, name, lambda x, vec=vec: _wrap(vec(x)))

    def __getattr__(self, name):
        return getattr(np, name)

    def wrap(self, a):
        """Return ``a`` as an object array (0-d for a scalar)."""
        return _wrap(a)

    def stable_shift(self, x, axis):
        """Softmax is shift-invariant; exact arithmetic needs no shift."""
        return 0


def sympy_namespace() -> SympyNamespace:
    """Return the namespace for replaying a graph on SymPy expressions (object arrays).

    >>> import numpy as np, sympy, gradlab
    >>> w = gradlab.Parameter(np.array([0.5]), name="w")
    >>> y = gradlab.tanh(w * 2.0).sum()
    >>> sym = np.array([sympy.Symbol("w")], dtype=object)
    >>> gradlab.Graph(y).replay({w: sym}, xp=sympy_namespace())
    array(tanh(2.0*w), dtype=object)
    """
    return SympyNamespace()


def symengine_namespace() -> SymEngineNamespace:
    """Return the namespace for replaying a graph on SymEngine expressions (needs ``pip install symengine``)."""
    return SymEngineNamespace()
