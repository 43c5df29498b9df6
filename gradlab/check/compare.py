r"""Comparing two gradients element by element: relative error, tolerances per dtype and method.

The relative error is |a − b| / max(|a| + |b|, floor): symmetric, defined when a ≈ −b, and bounded by 1
(1 means the two numbers have nothing in common, e.g. one is 0 or they have opposite signs). An
element fails only when *both* its absolute error exceeds ``atol`` and its relative error exceeds
``rtol``; ``atol`` is scaled by the size of the reference gradient, so it means "negligible next to
the largest entry".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Tolerance", "tolerance", "rel_error", "Comparison", "compare", "compare_scalars", "NEGLIGIBLE"]

#: an element below this fraction of the gradient's largest entry is too small for its relative error to matter
NEGLIGIBLE = 1e-6


@dataclass(frozen=True)
class Tolerance:
    """``rtol`` on the relative error and ``atol`` on the absolute error (scaled by the gradient's size)."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol {self.rtol:.0e}, atol {self.atol:.0e}"


# what a correct float64 candidate reaches against each kind of reference, with a wide margin
_TOL64 = {
    "exact": Tolerance(1e-7, 1e-10),       # engine, autograd, sympy: rounding only
    "complex": Tolerance(1e-7, 1e-10),     # complex step: rounding only
    "richardson": Tolerance(1e-6, 1e-8),   # O(h⁴) truncation
    "central": Tolerance(1e-5, 1e-7),      # O(h²) truncation + O(ε/h) rounding
}
# a float32 candidate carries ~1e-7 relative rounding per operation, amplified through T steps
_TOL32 = Tolerance(2e-3, 1e-4)


def tolerance(kind: str, dtype=np.float64, rtol: float | None = None, atol: float | None = None) -> Tolerance:
    """Return the tolerance for comparing a ``dtype`` candidate with a reference of ``kind``
    (``"exact"``, ``"complex"``, ``"richardson"``, ``"central"``); explicit ``rtol``/``atol`` win."""
    base = _TOL32 if np.dtype(dtype).itemsize < 8 else _TOL64.get(kind, _TOL64["exact"])
    return Tolerance(base.rtol if rtol is None else rtol, base.atol if atol is None else atol)


def rel_error(a, b, floor: float = 1e-300):
    r"""Return |a − b| / max(|a| + |b|, floor), element-wise."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


@dataclass
class Comparison:
    """Element-wise comparison of a candidate with one reference."""

    abs_err: np.ndarray
    rel_err: np.ndarray
    bad: np.ndarray
    tol: Tolerance
    atol_scaled: float
    magnitude: np.ndarray = None
    scale: float = 0.0

    @property
    def n_bad(self) -> int:
        """Number of failing elements."""
        return int(self.bad.sum())

    @property
    def significant_rel(self) -> np.ndarray:
        """Relative errors of the elements that are not negligible (0 for elements whose values and
        difference are both tiny next to the largest entry: their relative error means nothing)."""
        keep = (self.abs_err > self.atol_scaled) | (self.magnitude > NEGLIGIBLE * self.scale)
        return np.where(keep, self.rel_err, 0.0)

    @property
    def max_rel(self) -> float:
        """The largest significant relative error (NaN when an element is not finite)."""
        if self.rel_err.size == 0:
            return 0.0
        if np.isnan(self.rel_err).any():
            return float("nan")
        return float(np.max(self.significant_rel))

    def worst(self) -> tuple:
        """Return the index of the worst element: the largest relative error among the failing ones
        (else the largest significant one, else the largest absolute error)."""
        if self.rel_err.size == 0:
            return ()
        if self.bad.any():
            score = np.where(self.bad, self.rel_err + 2.0, -1.0)
        elif np.any(self.significant_rel > 0):
            score = self.significant_rel
        else:
            score = self.abs_err
        score = np.where(np.isnan(score), np.inf, score)
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(score)), self.rel_err.shape))


def compare(candidate, reference, tol: Tolerance, *, excused=None, scale: float | None = None) -> Comparison:
    """Compare arrays of the same shape; ``excused`` marks elements not to count (kinks)."""
    a = np.asarray(candidate, dtype=float)
    b = np.asarray(reference, dtype=float)
    if scale is None:
        scale = float(np.max(np.abs(b))) if b.size else 0.0
    atol = tol.atol * max(1.0, scale)
    abs_err = np.abs(a - b)
    rel = rel_error(a, b, floor=atol)
    bad = (abs_err > atol) & (rel > tol.rtol)
    bad |= ~np.isfinite(a)
    if excused is not None:
        bad &= ~excused
    return Comparison(abs_err, rel, bad, tol, atol, np.abs(a) + np.abs(b), max(scale, 1e-300))


def compare_scalars(a: float, b: float, tol: Tolerance, scale: float) -> tuple:
    """Return (ok, rel error) for two scalars (projections), with ``atol`` scaled by ``scale``."""
    atol = tol.atol * max(1.0, scale)
    err = abs(a - b)
    rel = err / max(abs(a) + abs(b), atol)
    return (not (err > atol and rel > tol.rtol)) and np.isfinite(a), float(rel)
