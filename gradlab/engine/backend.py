r"""Array namespaces: which module (``numpy``, ``cupy``, ``autograd.numpy``, ...) an op computes with, and
the one place where broadcasting is undone.

Nothing is chosen at import. The namespace is taken from the arrays themselves: NumPy by default,
CuPy when any argument is a CuPy array. CuPy is imported only when a CuPy array is already in hand,
so a CPU-only install never touches it.

>>> import numpy as np
>>> unbroadcast(np, np.ones((4, 3)), (3,))      # the bias of 4 rows gets the sum over the rows
array([4., 4., 4.])
"""
from __future__ import annotations

import numpy as np

__all__ = ["get_xp", "is_cupy", "to_numpy", "unbroadcast", "check_finite"]


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


def to_numpy(a):
    """Return the array ``a`` as a NumPy array (copied from the GPU when it is a CuPy array)."""
    return a.get() if is_cupy(a) else np.asarray(a)


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


def check_finite(a, what: str, shapes=()) -> None:
    """Raise ``FloatingPointError`` naming ``what`` when the array ``a`` holds a NaN or an Inf (anomaly mode)."""
    if getattr(a, "dtype", None) is None or a.dtype.kind not in "fc":
        return
    xp = get_xp(a)
    if not bool(xp.all(xp.isfinite(a))):
        bad = "NaN" if bool(xp.any(xp.isnan(a))) else "Inf"
        raise FloatingPointError(f"anomaly: {what} produced {bad} (input shapes {', '.join(map(repr, shapes))})")
