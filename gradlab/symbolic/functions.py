r"""The logistic sigmoid as a SymPy function, so that gates print as ``\sigma(z)`` and differentiate
as ``σ(z)(1 − σ(z))``; and the numeric modules ``lambdify`` needs to evaluate it."""
from __future__ import annotations

import numpy as np
import sympy as sp

__all__ = ["sigma", "NUMERIC_MODULES", "numeric_sigma"]


class sigma(sp.Function):  # noqa: N801 - the lecture's name
    r"""σ(z) = 1 / (1 + e^{−z}); σ'(z) = σ(z)(1 − σ(z))."""

    nargs = 1

    def fdiff(self, argindex=1):
        s = sigma(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_tanh(self, z, **kwargs):
        return sp.tanh(z / 2) / 2 + sp.Rational(1, 2)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_evalf(self, prec):
        z = self.args[0]._eval_evalf(prec)
        return None if z is None else (sp.tanh(z / 2) / 2 + sp.Rational(1, 2))._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real


def numeric_sigma(z):
    """Return σ(z) for NumPy arrays, computed without overflow."""
    return 0.5 * np.tanh(0.5 * np.asarray(z)) + 0.5


NUMERIC_MODULES = [{"sigma": numeric_sigma}, "numpy"]
