r"""The BPTT derivation in lecture notation: :func:`derive` and the :class:`Derivation` it returns.

Three forms, each printed as LaTeX (``align*`` blocks to paste into slides) or Markdown (``$$`` blocks):

* ``"recursion"`` — the backward recursion δ_t = ∂E/∂s_t = ∂E_t/∂s_t + (∂s_{t+1}/∂s_t)ᵀ δ_{t+1} and
  ∂E/∂W = Σ_t (∂⁺s_t/∂W)ᵀ δ_t, then the element form derived through the op table at a generic step;
* ``"sum-of-paths"`` — the accumulative form Σ_N Σ_i ∂E_N/∂y_N · ∂y_N/∂s_N · (Π ∂s_k/∂s_{k−1}) · ∂⁺s_i/∂W,
  chain order kept (the factors are non-commutative symbols, so SymPy's printer cannot reorder them),
  written out for the given T, with the local Jacobians in element form from SymPy ``diff``;
* ``"expanded"`` — every symbol substituted away (tiny T only).

Every form also evaluates to numbers (:meth:`Derivation.numeric`), checked against the engine by
:meth:`Derivation.check`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..nn.registry import KINDS
from .model import SymbolicModel, symbolic_model
from .names import SymInfo, latex_base

__all__ = ["derive", "Derivation", "FORMS"]

FORMS = ("recursion", "sum-of-paths", "expanded")
_ERROR_TERM = re.compile(r"- d_\{([^{}]*)\} \+ y_\{\1\}")


def _title(kind: str) -> str:
    return KINDS[kind].title if kind in KINDS else kind


def _offset_label(offset: int, letter: str = "t") -> str:
    return letter if offset == 0 else f"{letter}{offset:+d}"


def _pd(num: str, den: str, plus: bool = False) -> str:
    d = r"\partial^{+}" if plus else r"\partial"
    return rf"\frac{{{d} {num}}}{{\partial {den}}}"


def _tname(base: str, t: str) -> str:
    """LaTeX of a whole time-indexed vector: s_t, c_{t-1}, \\delta^{c}_{t+1}."""
    letter, label = latex_base(base)
    if len(letter) > 1 and not letter.startswith("\\"):
        letter = rf"\mathrm{{{letter}}}"
    sup = f"^{{{label}}}" if label else ""
    return f"{letter}{sup}_{{{t}}}"


@dataclass
class Derivation:
    r"""A symbolic BPTT derivation of one cell for concrete sizes: ``model`` (the
    :class:`~gradlab.symbolic.model.SymbolicModel`), ``form`` (the default printed form)."""

    model: SymbolicModel
    form: str = "recursion"
    _numeric: dict = field(default_factory=dict)

    # ------------------------------------------------------------------------------- names
    def _names(self, k: int | None = None, letter: str = "t") -> dict:
        """symbol_names for sp.latex: concrete (k None) or relabelled around step k (t, t-1, t+1)."""
        out = {}
        for s, si in self.model.info.items():
            if k is None or si.t is None:
                out[s] = _latex_name(si)
            else:
                out[s] = _latex_name(si, _offset_label(si.t - k, letter))
        return out

    def _tex(self, expr, names) -> str:
        tex = sp.latex(expr, symbol_names=names, mul_symbol=None)
        # SymPy sorts -d + y; the lecture writes the error as y - d
        return _ERROR_TERM.sub(r"y_{\1} - d_{\1}", tex)

    @property
    def title(self) -> str:
        """A one-line description: cell, sizes and loss."""
        m = self.model
        sz = m.sizes
        total = r"E = \sum_{t=1}^{T} E_t" if m.spec.mode == "many_to_many" else "E = E_T"
        return (f"{_title(m.kind)}, T = {sz['T']}, D = {sz['D']}, H = {sz['H']}, O = {sz['O']}; "
                f"${total}$, $E_t = \\tfrac12 \\lVert y_t - d_t \\rVert^2$")

    def _state_names(self):
        return list(self.model.states)

    def _z(self, t: str) -> str:
        names = self._state_names()
        if len(names) == 1:
            return _tname(names[0], t)
        return f"z_{{{t}}}"

    # ---------------------------------------------------------------------------- sections
    def forward_rows(self) -> list:
        r"""Return the forward equations at a generic step t as LaTeX rows ``lhs & = rhs``."""
        m = self.model
        k = max(1, m.T - 1)       # a step whose every definition is in the graph (the last may be cut short)
        names = self._names(k)
        rows = []
        if len(self._state_names()) > 1:
            parts = ", ".join(_tname(n, "t") for n in self._state_names())
            rows.append(rf"z_{{t}} &= ({parts}) \quad\text{{(the whole state)}}")
        for d in m.trace.forward.definitions:
            if d.t != k:
                continue
            rhs = d.display if d.display is not None else d.expr
            for s, e in zip(d.symbols.flat, rhs.flat):
                rows.append(f"{names[s]} &= {self._tex(e, names)}")
        return rows

    def recursion_rows(self) -> list:
        r"""Return the backward recursion: the matrix form, then the element form from the op table."""
        m = self.model
        names_s = self._state_names()
        rows = []
        multi = len(names_s) > 1
        dl = (lambda t: rf"\delta^{{z}}_{{{t}}}") if multi else (lambda t: rf"\delta_{{{t}}}")
        z = self._z
        rows.append(rf"{dl('t')} &:= {_pd('E', z('t'))} \quad\text{{(total derivative: through every later step)}}")
        rows.append(rf"{dl('T')} &= {_pd('E_T', z('T'))}")
        rows.append(rf"{dl('t')} &= {_pd('E_t', z('t'))} + \left({_pd(z('t+1'), z('t'))}\right)^{{\top}} {dl('t+1')}")
        rows.append(rf"{_pd('E', 'W')} &= \sum_{{t=1}}^{{T}} \left({_pd(z('t'), 'W', True)}\right)^{{\top}} {dl('t')}")
        if multi:
            parts = ", ".join(_tname(_adj(n), "t") for n in names_s)
            rows.append(rf"{dl('t')} &= ({parts})")
        prog = m.recursion()
        adj = [d for d in prog.definitions if d.kind == "adjoint"]
        T = m.T
        term = self._names(T, "T")
        for d in adj:
            if d.t == T:
                for s, e in d.pairs():
                    rows.append(f"{term[s]} &= {self._tex(e, term)}")
        if T >= 2:
            k = 1
            names = self._names(k)
            for d in adj:
                if d.t == k:
                    for s, e in d.pairs():
                        rows.append(f"{names[s]} &= {self._tex(e, names)}")
        contrib = m.contributions()
        names = self._names(1)
        for pname, leaf in m.params.items():
            parts = contrib.get(pname, {})
            arr = m.trace.leaf_arrays[leaf]
            for idx in np.ndindex(*arr.shape):
                lhs = _pd("E", names[arr[idx]])
                pieces = []
                if 1 in parts:
                    pieces.append(rf"\sum_{{t=1}}^{{T}} \left({self._tex(parts[1][idx], names)}\right)")
                elif any(t is not None for t in parts):
                    k = min(t for t in parts if t is not None)
                    nk = self._names(k)
                    pieces.append(rf"\sum_{{t={k}}}^{{T}} \left({self._tex(parts[k][idx], nk)}\right)")
                if None in parts:
                    pieces.append(self._tex(parts[None][idx], self._names()))
                rows.append(f"{lhs} &= {' + '.join(pieces) if pieces else '0'}")
        return rows

    def path_terms(self, param: str = "W", T: int | None = None) -> list:
        r"""Return the sum-of-paths terms for the concrete T as lists of factor names, in chain order:
        [∂E_N/∂y_N, ∂y_N/∂s_N, ∂s_N/∂s_{N−1}, …, ∂s_{i+1}/∂s_i, ∂⁺s_i/∂W] for every N and i ≤ N."""
        T = self.model.T if T is None else T
        z = self._z
        out = []
        for N in range(1, T + 1):
            for i in range(N, 0, -1):
                f = [_pd(f"E_{{{N}}}", f"y_{{{N}}}"), _pd(f"y_{{{N}}}", z(str(N)))]
                f += [_pd(z(str(k)), z(str(k - 1))) for k in range(N, i, -1)]
                f.append(_pd(z(str(i)), param, True))
                out.append(f)
        if self.model.spec.mode != "many_to_many":
            out = [f for f in out if f[0].startswith(rf"\frac{{\partial E_{{{T}}}")]
        return out

    def path_expression(self, param: str = "W"):
        r"""Return the sum of paths as a SymPy expression of non-commutative factor symbols (the chain
        order is part of the expression), with its ``symbol_names`` for printing."""
        names, terms = {}, []
        for factors in self.path_terms(param):
            syms = []
            for f in factors:
                s = sp.Symbol(f"F{len(names)}_{abs(hash(f)) % 10**8}", commutative=False)
                key = next((k for k, v in names.items() if v == f), None)
                if key is None:
                    names[s] = f
                    key = s
                syms.append(key)
            terms.append(sp.Mul(*syms))
        return terms, names

    def paths_rows(self) -> list:
        r"""Return the sum-of-paths form: the general formula, the terms for this T in chain order, and
        the local Jacobians in element form (from SymPy ``diff``)."""
        m = self.model
        z = self._z
        rows = []
        prod = rf"\left(\prod_{{k=i+1}}^{{N}} {_pd(z('k'), z('k-1'))}\right)"
        outer = r"\sum_{N=1}^{T} " if m.spec.mode == "many_to_many" else ""
        Nn = "N" if m.spec.mode == "many_to_many" else "T"
        rows.append(rf"{_pd('E', 'W')} &= {outer}\left[{_pd(f'E_{Nn}', 'W', True)} + \sum_{{i=1}}^{{{Nn}}} "
                    rf"{_pd(f'E_{Nn}', f'y_{Nn}')}\, {_pd(f'y_{Nn}', z(Nn))}\, {prod.replace('{N}', '{' + Nn + '}')}\, "
                    rf"{_pd(z('i'), 'W', True)}\right]")
        rows.append(r"&\quad\text{(the product runs from } k = N \text{ down to } k = i+1\text{: Jacobians do not commute)}")
        if m.T <= 5:
            terms, names = self.path_expression("W")
            tex = [sp.latex(t, symbol_names=names) for t in terms]
            direct = rf"\sum_{{N=1}}^{{{m.T}}} {_pd('E_N', 'W', True)}" if m.spec.mode == "many_to_many" \
                else _pd(f"E_{{{m.T}}}", "W", True)
            rows.append(rf"\text{{for }} T = {m.T}:\quad {_pd('E', 'W')} &= {direct} + " + tex[0])
            for t in tex[1:]:
                rows.append(f"&\\quad + {t}")
        jac = m.local_jacobians()
        k = max(1, m.T - 1)
        J, wplus, g, eplus, z_now, z_prev = jac[k]
        names = self._names(k, "k")
        for a, za in enumerate(z_now):
            for b, zb in enumerate(z_prev):
                if J[a, b] != 0:
                    rows.append(rf"\left({_pd(names[za], names[zb])}\right) &= {self._tex(J[a, b], names)}")
        if g is not None:
            nN = self._names(k, "N")
            for a, za in enumerate(z_now):
                if g[a] != 0:
                    rows.append(rf"{_pd('E_N', nN[za])} &= {self._tex(g[a], nN)}")
        shown = 0
        for p, col in sorted(wplus.items(), key=lambda kv: str(kv[0])):
            for a, za in enumerate(z_now):
                if col[a] != 0 and shown < 12:
                    rows.append(rf"{_pd(names[za], names[p], True)} &= {self._tex(col[a], names)}")
                    shown += 1
        if shown >= 12:
            rows.append(r"&\quad\text{(the other entries of } \partial^{+} z_k / \partial W \text{ follow the same pattern)}")
        return rows

    def expanded_rows(self, max_steps: int = 3) -> list:
        """Return ∂E/∂W element by element with every symbol substituted away (tiny T only)."""
        m = self.model
        ex = m.expanded(max_steps=max_steps)
        names = self._names()
        rows = []
        for pname, leaf in m.params.items():
            arr = m.trace.leaf_arrays[leaf]
            for idx in np.ndindex(*arr.shape):
                rows.append(f"{_pd('E', names[arr[idx]])} &= {self._tex(ex[pname][idx], names)}")
        return rows

    # ---------------------------------------------------------------------------- output
    def _sections(self, form: str) -> list:
        form = _form(form)
        secs = [("Forward pass at step t (element form)", self.forward_rows(),
                 "Each state and gate is a named symbol; its defining equation is recorded once per step.")]
        if form == "recursion":
            secs.append(("Backward recursion", self.recursion_rows(),
                         "Derived by reverse mode through gradlab's op table on the symbols; "
                         "δ at the last step, then δ at a generic step t in terms of δ at t+1."))
        elif form == "sum-of-paths":
            secs.append(("Sum over paths (accumulative gradient)", self.paths_rows(),
                         "Every path from E_N back to the use of W at step i; the local Jacobians are "
                         "SymPy derivatives of the forward equations at a generic step k."))
        else:
            secs.append(("Fully expanded element form", self.expanded_rows(),
                         "Every state, gate and adjoint substituted: this is the expression swell that the "
                         "recursion avoids."))
        return secs

    def latex(self, form: str | None = None) -> str:
        r"""Return the derivation as LaTeX (``align*`` blocks, amsmath) for ``form``."""
        form = _form(form or self.form)
        out = [f"% gradlab derive: {self.title}", f"% form: {form}"]
        for head, rows, note in self._sections(form):
            out.append(f"% {head}. {note}")
            out.append(r"\begin{align*}")
            out.append(" \\\\\n".join(rows))
            out.append(r"\end{align*}")
        return "\n".join(out) + "\n"

    def markdown(self, form: str | None = None) -> str:
        """Return the derivation as Markdown with ``$$`` display maths for ``form``."""
        form = _form(form or self.form)
        out = [f"# BPTT derivation: {_title(self.model.kind)} ({form})", "",
               self.title.replace("; ", ". Loss: ", 1), "",
               f"Generated by `gradlab derive {self.model.kind} --T {self.model.T} --hidden {self.model.sizes['H']} "
               f"--form {form} --markdown`; checked numerically against the engine's reverse mode.", ""]
        for head, rows, note in self._sections(form):
            out += [f"## {head}", "", note, "", "$$", r"\begin{aligned}", " \\\\\n".join(rows), r"\end{aligned}", "$$", ""]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.markdown()

    # ---------------------------------------------------------------------------- Jupyter
    def _repr_markdown_(self) -> str:
        """Jupyter: the derivation as Markdown with display maths (:meth:`markdown`)."""
        return self.markdown()

    def _repr_latex_(self) -> str:
        r"""Jupyter (and nbconvert to LaTeX): the equations of :meth:`latex` as ``$$\begin{aligned}`` blocks,
        one per section, without the comment lines."""
        out = [rf"$\textbf{{{head}}}$" + "\n" + "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"
               for head, rows, _ in self._sections(self.form)]
        return "\n\n".join(out)

    # --------------------------------------------------------------------------- numbers
    def program(self, form: str | None = None):
        """Return the :class:`~gradlab.symbolic.program.Program` of ``form`` (or ``"diff"`` for route (a))."""
        form = form or self.form
        m = self.model
        if form == "diff":
            return m.diff_route()
        form = _form(form)
        return {"recursion": m.recursion, "sum-of-paths": m.sum_of_paths, "expanded": m.expanded_program}[form]()

    def numeric(self, form: str | None = None):
        """Return ``f(values) -> {parameter name: ndarray}`` for ``form`` (lambdify after CSE)."""
        form = form or self.form
        if form not in self._numeric:
            self._numeric[form] = self.program(form).lambdify()
        return self._numeric[form]

    def check(self, forms=("recursion", "diff", "sum-of-paths"), seeds=(0, 1), rtol: float = 1e-9,
              atol: float = 1e-12) -> dict:
        r"""Return {form: max |symbolic − engine|} over random points (seeds) and every parameter;
        raises ``ValueError`` naming the form, parameter and element when a difference exceeds the
        tolerance ``atol + rtol·|engine|``."""
        worst = {}
        for seed in seeds:
            vals = self.model.random_values(seed)
            eng = self.model.engine_gradient(vals)
            for form in forms:
                got = self.numeric(form)(vals)
                for name, ref in eng.items():
                    diff = np.abs(got[name] - ref)
                    bad = diff > atol + rtol * np.abs(ref)
                    if bad.any():
                        idx = tuple(int(i) for i in np.argwhere(bad)[0])
                        raise ValueError(f"symbolic {form} form of {self.model.kind}: dE/d{name}{list(idx)} = "
                                         f"{got[name][idx]!r} but the engine gives {ref[idx]!r} (seed {seed})")
                    worst[form] = max(worst.get(form, 0.0), float(diff.max()) if diff.size else 0.0)
        return worst

    def size(self, form: str | None = None) -> int:
        """Return the number of operations of ``form`` after CSE (definitions plus outputs)."""
        return self.program(form).size()


def _adj(state_name: str) -> str:
    return "delta" if state_name == "s" else f"delta_{state_name}"


def _latex_name(si: SymInfo, t_label=None) -> str:
    name = si.latex(t_label)
    letter, _ = latex_base(si.base)
    if len(letter) > 1 and not letter.startswith("\\"):
        name = rf"\mathrm{{{letter}}}" + name[len(letter):]
    return name


def _form(form: str) -> str:
    f = str(form).lower().replace("_", "-")
    f = {"sum-of-paths": "sum-of-paths", "paths": "sum-of-paths", "sum": "sum-of-paths", "recursion": "recursion",
         "expanded": "expanded", "expand": "expanded"}.get(f)
    if f is None:
        raise ValueError(f"derive: unknown form {form!r}; choose one of {FORMS}")
    return f


def derive(cell: str = "elman", T: int = 3, *, hidden: int = 1, inputs: int = 1, outputs: int = 1,
           form: str = "recursion", mode: str = "many_to_many", seed: int = 0) -> Derivation:
    r"""Return the :class:`Derivation` of BPTT for ``cell`` (``"elman"``, ``"jordan"``, ``"lstm"``,
    ``"peephole_lstm"``, ``"four_gate_lstm"``, ``"gru"``) unrolled for ``T`` steps with D = ``inputs``,
    H = ``hidden``, O = ``outputs`` and E = Σ_t ½‖y_t − d_t‖²; print it with ``.latex()`` / ``.markdown()``.

    >>> d = derive("elman", T=2)                      # doctest: +SKIP
    >>> d.check()["recursion"] < 1e-12                # doctest: +SKIP
    True
    """
    form = _form(form)
    return Derivation(symbolic_model(cell, T, hidden=hidden, inputs=inputs, outputs=outputs, mode=mode, seed=seed),
                      form)
