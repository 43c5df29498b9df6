r"""Lecture names for the symbols of a derivation: one :class:`SymInfo` per scalar symbol.

Every scalar the symbolic interpreter introduces is an element of a named array: a parameter
(``W_s``), an input ``x_t``, a target ``d_t``, an initial state ``s_0``, a per-step state ``s_t`` or
``c_t``, a gate ``f_t``, an output ``y_t``, a step loss ``E_t`` or an adjoint ``δ_t = ∂E/∂s_t``.
Each is spelled three ways:

* ``ident``: a Python identifier (what ``lambdify`` sees), e.g. ``W_s__1_2``;
* ``text``: what a learner types, e.g. ``W_s[1,2]``, ``s_2[1]``, ``delta_3[2]`` (indices from 1);
* ``latex``: the lecture notation, e.g. ``W^{s}_{12}``, ``s_{2,1}``, ``\delta_{3,2}``.

A scalar model (every size 1) drops the element index: ``W_s``, ``s_2``.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["SymInfo", "GREEK", "latex_base", "latex_matrix_name"]

# bases spelled with a Greek letter in LaTeX
GREEK = {"delta": r"\delta", "sigma": r"\sigma", "gamma": r"\gamma", "epsilon": r"\varepsilon"}


def latex_base(base: str) -> tuple[str, str]:
    r"""Return (letter, label) of a base name: ``"W_s"`` -> ``("W", "s")``, ``"delta_c"`` -> ``(r"\delta", "c")``."""
    head, _, label = base.partition("_")
    return GREEK.get(head, head), label


def latex_matrix_name(base: str) -> str:
    """Return the LaTeX name of a whole array: ``W_s`` -> ``W_{s}``, ``delta_c`` -> ``\\delta^{c}``."""
    letter, label = latex_base(base)
    if not label:
        return letter
    return f"{letter}^{{{label}}}" if letter.startswith("\\") else f"{letter}_{{{label}}}"


def _time_label(t) -> str:
    return str(t)


@dataclass(frozen=True)
class SymInfo:
    """What one scalar symbol stands for: array ``base`` (lecture name), ``kind``, time step ``t``
    (None for parameters), element ``index`` (0-based) of an array of shape ``shape``."""

    base: str
    kind: str          # param | input | target | initial | state | gate | output | loss | adjoint | aux
    t: int | None
    index: tuple
    shape: tuple

    @property
    def scalar(self) -> bool:
        """True when the array has one element (the index is not written)."""
        n = 1
        for s in self.shape:
            n *= s
        return n == 1

    def _idx(self, sep: str) -> str:
        return sep.join(str(i + 1) for i in self.index)

    @property
    def ident(self) -> str:
        """A Python identifier for this symbol."""
        parts = [self.base.replace("^", "")]
        if self.t is not None:
            parts.append(f"t{self.t}")
        if self.index:
            parts.append("_".join(str(i + 1) for i in self.index))
        return "__".join(parts)

    @property
    def text(self) -> str:
        """The plain-text spelling: ``W_s[1,2]``, ``s_2[1]``, ``E_3`` (indices count from 1)."""
        name = self.base if self.t is None else f"{self.base}_{self.t}"
        if self.scalar or not self.index:
            return name
        return f"{name}[{self._idx(',')}]"

    def latex(self, t_label=None) -> str:
        r"""The lecture spelling: ``W^{s}_{12}``, ``s_{2,1}``, ``\delta^{c}_{t+1,2}``; ``t_label`` replaces
        the time step (e.g. ``"t-1"`` for a generic step)."""
        letter, label = latex_base(self.base)
        big = any(s >= 10 for s in self.shape)
        idx = "" if (self.scalar or not self.index) else self._idx("," if big else "")
        if self.t is None:                       # parameter: label up, element down (W^{s}_{ij})
            if not label:
                return f"{letter}_{{{idx}}}" if idx else letter
            if not idx:
                return f"{letter}_{{{label}}}"
            return f"{letter}^{{{label}}}_{{{idx}}}"
        t = _time_label(self.t if t_label is None else t_label)
        sub = t if not idx else f"{t},{self._idx(',')}"
        sup = f"^{{{label}}}" if label else ""
        return f"{letter}{sup}_{{{sub}}}"

    def symbol(self) -> sp.Symbol:
        """The SymPy symbol named by :attr:`ident` (no assumptions: SymPy's assumption queries on sums of
        real symbols dominate the replay time otherwise)."""
        return sp.Symbol(self.ident)
