"""Deprecated, use gradlab.engine.backend (arrays), gradlab.devices (``as_numpy``, ``to_device``) and
gradlab.symbolic.namespace (``sympy_namespace``): this module re-exports them (kept so that existing imports
work)."""
from .engine.backend import check_finite, get_xp, is_cupy, to_numpy, unbroadcast
from .devices import as_numpy, to_device

__all__ = ["get_xp", "is_cupy", "as_numpy", "to_device", "unbroadcast", "sympy_namespace", "to_numpy", "check_finite"]


def sympy_namespace():
    """Deprecated, use gradlab.symbolic.namespace.sympy_namespace (SymPy is imported when this is called)."""
    from .symbolic.namespace import sympy_namespace as make

    return make()
