r"""The BPTT derivation in lecture notation: :func:`derive` and the :class:`Derivation` it returns.

Four forms, each printed as LaTeX (``align*`` blocks to paste into slides, or a whole ``article`` /
``beamer`` document that compiles) or Markdown (``$$`` blocks):

* ``"matrix"`` — the forward pass and the backward recursion in matrix/vector form, as a lecture writes
  them (δ_t = W_sᵀ(δ_{t+1} ⊙ (1 − s²_{t+1})) + W_yᵀ(y_t − d_t), ∂E/∂W_s = Σ_t (δ_t ⊙ (1 − s_t²)) s_{t−1}ᵀ),
  per-gate blocks named (W_{si}, W_{sf}, …); derived and checked by :mod:`gradlab.symbolic.matrix`;
* ``"recursion"`` (the default) — the matrix form, then the backward recursion δ_t = ∂E/∂s_t = ∂E_t/∂s_t + (∂s_{t+1}/∂s_t)ᵀ δ_{t+1} and
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

__all__ = ["derive", "Derivation", "FORMS", "WIDTHS", "beamer_frames"]

FORMS = ("recursion", "matrix", "sum-of-paths", "expanded")
#: the width budget of one printed row (in characters of body text) for each output
WIDTHS = {"article": 50.0, "beamer": 46.0, "markdown": 80.0, "latex": 50.0}
_LOSS_TEX = {
    "mse_half": r"E_t = \tfrac12 \lVert y_t - d_t \rVert^2",
    "mse": r"E_t = \tfrac{1}{O} \lVert y_t - d_t \rVert^2",
    "softmax_cross_entropy": r"E_t = -\sum_k d_{t,k} \log \operatorname{softmax}(y_t)_k",
}
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
        total = r"$E = \sum_{t=1}^{T} E_t$" if m.spec.mode == "many_to_many" else "$E = E_T$ (the last step only)"
        return (f"{_title(m.kind)}, T = {sz['T']}, D = {sz['D']}, H = {sz['H']}, O = {sz['O']}; "
                f"{total}, ${_LOSS_TEX[m.spec.loss]}$")

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
        rows.append(r"&\quad\text{(} k \text{ runs from } N \text{ down to } i+1\text{: the order matters)}")
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
    def matrix_form(self):
        """Return the :class:`~gradlab.symbolic.matrix.MatrixForm` (derived once, then cached)."""
        if "matrix" not in self.model._cache:
            from .matrix import matrix_form

            self.model._cache["matrix"] = matrix_form(self.model)
        return self.model._cache["matrix"]

    def _matrix_sections(self, compact: bool = False) -> list:
        mf = self.matrix_form()
        fwd = mf.forward_rows() + mf.blocks_rows()
        gates = KINDS[self.model.kind].gates
        note = "Vectors of one time step; ⊙ is the element-wise product"
        if mf.blocks:
            note += (f"; the stacked weights are cut into per-gate row blocks (gates in the order "
                     f"{', '.join(gates)})")
        back = mf.definitions_rows() + mf.backward_rows(compact=compact)
        loss = {"mse_half": r"y_t - d_t", "mse": r"\tfrac{2}{O}(y_t - d_t)",
                "softmax_cross_entropy": r"\operatorname{softmax}(y_t) - d_t"}[self.model.spec.loss]
        return [("Forward pass (matrix form)", fwd, note + "."),
                ("Backward recursion (matrix form)", back,
                 f"Derived by reverse mode through the recorded graph with one vector rule per operation "
                 f"($\\partial E_t / \\partial y_t = {loss}$); every line is evaluated at random points and checked against the "
                 f"engine's gradient.")]

    def _sections(self, form: str) -> list:
        form = _form(form)
        if form == "matrix":
            return self._matrix_sections()
        secs = self._matrix_sections() if form == "recursion" else []
        secs.append(("Forward pass at step t (element form)", self.forward_rows(),
                     "Each state and gate is a named symbol; its defining equation is recorded once per step."))
        if form == "recursion":
            secs.append(("Backward recursion (element form)", self.recursion_rows(),
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

    def latex(self, form: str | None = None, document: str | None = None) -> str:
        r"""Return the derivation as LaTeX for ``form``: ``align*`` blocks (amsmath) to paste, or, with
        ``document="article"`` or ``"beamer"``, a whole document that compiles with ``pdflatex``. Long
        rows are broken at their top-level + and − (:func:`gradlab.symbolic.matrix.break_rows`) to fit the
        page or the slide; displays may break across pages (``\allowdisplaybreaks``), and slides carry at
        most a screenful of rows each."""
        from .matrix import break_rows

        form = _form(form or self.form)
        if document not in (None, "article", "beamer"):
            raise ValueError(f"derive: document must be 'article' or 'beamer', got {document!r}")
        secs = [(h, break_rows(r, WIDTHS[document or "latex"]), n) for h, r, n in self._sections(form)]
        head = [f"% gradlab derive: {_tex_text(self.title)}", f"% form: {form}"]
        if document is None:
            out = list(head)
            for h, rows, note in secs:
                out.append(f"% {h}. {note}")
                out += [r"\begin{align*}", " \\\\\n".join(rows), r"\end{align*}"]
            return "\n".join(out) + "\n"
        title = f"BPTT: {_title(self.model.kind)} ({form})"
        if document == "article":
            out = head + [r"\documentclass[10pt]{article}", r"\usepackage{amsmath,amssymb}",
                          r"\usepackage[utf8]{inputenc}", r"\allowdisplaybreaks", r"\begin{document}",
                          rf"\section*{{{_tex_text(title)}}}", _tex_text(self.title) + r"\par"]
            for h, rows, note in secs:
                out += [rf"\subsection*{{{_tex_text(h)}}}", _tex_text(note),
                        r"\begin{align*}", " \\\\\n".join(rows), r"\end{align*}"]
            out.append(r"\end{document}")
            return "\n".join(out) + "\n"
        out = head + [r"\documentclass[10pt]{beamer}", r"\usepackage{amsmath,amssymb}", r"\usepackage[utf8]{inputenc}",
                      r"\setbeamertemplate{navigation symbols}{}", r"\begin{document}",
                      rf"\begin{{frame}}{{{_tex_text(title)}}}", _tex_text(self.title), r"\end{frame}"]
        out += beamer_frames(secs)
        out.append(r"\end{document}")
        return "\n".join(out) + "\n"

    def markdown(self, form: str | None = None) -> str:
        """Return the derivation as Markdown with ``$$`` display maths for ``form``."""
        from .matrix import break_rows

        form = _form(form or self.form)
        m = self.model
        flags = "".join(f" --{k} {m.sizes[v]}" for k, v in (("inputs", "D"), ("outputs", "O")) if m.sizes[v] != 1)
        flags += "" if m.spec.loss == "mse_half" else f" --loss {m.spec.loss}"
        flags += "" if m.spec.mode == "many_to_many" else f" --mode {m.spec.mode}"
        out = [f"# BPTT derivation: {_title(m.kind)} ({form})", "",
               self.title.replace("; ", ". Loss: ", 1), "",
               f"Generated by `gradlab derive {m.kind} --T {m.T} --hidden {m.sizes['H']}{flags} "
               f"--form {form} --markdown`; checked numerically against the engine's reverse mode.", ""]
        for head, rows, note in self._sections(form):
            rows = break_rows(rows, WIDTHS["markdown"])
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
        if form == "matrix":
            mf = self.matrix_form()
            return lambda values: mf.evaluate(values)[1]
        if form not in self._numeric:
            self._numeric[form] = self.program(form).lambdify()
        return self._numeric[form]

    def check(self, forms=("matrix", "recursion", "diff", "sum-of-paths"), seeds=(0, 1), rtol: float = 1e-9,
              atol: float = 1e-12) -> dict:
        r"""Return {form: max |symbolic − engine|} over random points (seeds) and every parameter;
        raises ``ValueError`` naming the form, parameter and element when a difference exceeds the
        tolerance ``atol + rtol·|engine|``. ``"matrix"`` also checks the matrix form's forward values
        (:meth:`gradlab.symbolic.matrix.MatrixForm.check`); ``"diff"`` is route (a), SymPy ``diff``."""
        from .matrix import compare_with_engine

        worst = {}
        if "matrix" in forms:
            worst["matrix"] = self.matrix_form().check(seeds=seeds, rtol=rtol, atol=atol)
            forms = tuple(f for f in forms if f != "matrix")
        for seed in seeds:
            vals = self.model.random_values(seed)
            eng = self.model.engine_gradient(vals)
            for form in forms:
                diff = compare_with_engine(self.numeric(form)(vals), eng, f"symbolic {form} form of {self.model.kind}",
                                           seed, rtol, atol)
                worst[form] = max(worst.get(form, 0.0), diff)
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
         "matrix": "matrix", "vector": "matrix",
         "expanded": "expanded", "expand": "expanded"}.get(f)
    if f is None:
        raise ValueError(f"derive: unknown form {form!r}; choose one of {FORMS}")
    return f


def _tex_text(s: str) -> str:
    """Prose for LaTeX: Unicode maths letters spelled as commands (δ, ⊙, ∂, Σ, ², …)."""
    table = {"δ": r"$\delta$", "⊙": r"$\odot$", "∂": r"$\partial$", "Σ": r"$\Sigma$", "²": r"$^2$",
             "−": "-", "ᵀ": r"$^\top$", "→": r"$\to$", "≤": r"$\le$", "…": r"\dots{}", "σ": r"$\sigma$",
             "–": "--", "₁": r"$_1$", "·": r"$\cdot$", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#"}
    out, math = [], False
    for ch in s:
        if ch == "$":
            math = not math
            out.append(ch)
        elif not math and ch in table:
            out.append(table[ch])
        else:
            out.append(ch)
    return "".join(out)


def _row_height(row: str) -> float:
    """A row's height in plain rows: a fraction or a sum with limits is about 1.8 plain rows."""
    return 1.8 if (r"\frac" in row or r"\sum" in row) else 1.0


def beamer_frames(secs, height: float = 11.5) -> list:
    r"""Return Beamer frames for sections ``[(title, rows, note)]``: one ``align*`` per frame holding
    rows up to ``height`` plain rows (a row with a fraction or a sum counts 1.8; continued frames say
    so), in ``\small`` type, so that no frame runs off the slide."""
    out = []
    for h, rows, note in secs:
        chunks, cur, used = [], [], 0.0
        budget = height - 2.0               # the first frame also carries the note
        for r in rows:
            if cur and used + _row_height(r) > budget:
                chunks.append(cur)
                cur, used, budget = [], 0.0, height
            cur.append(r)
            used += _row_height(r)
        chunks.append(cur)
        for j, chunk in enumerate(chunks):
            title = _tex_text(h) + (" (continued)" if j else "")
            out += [rf"\begin{{frame}}{{{title}}}", r"\small"]
            if j == 0:
                out.append(r"{\footnotesize " + _tex_text(note) + r"\par}")
            out += [r"\begin{align*}", " \\\\\n".join(chunk) if chunk else r"&\text{(none)}", r"\end{align*}",
                    r"\end{frame}"]
    return out


def derive(cell: str = "elman", T: int = 3, *, hidden: int = 1, inputs: int = 1, outputs: int = 1,
           form: str = "recursion", mode: str = "many_to_many", seed: int = 0,
           loss: str = "mse_half") -> Derivation:
    r"""Return the :class:`Derivation` of BPTT for ``cell`` (``"elman"``, ``"jordan"``, ``"lstm"``,
    ``"peephole_lstm"``, ``"four_gate_lstm"``, ``"gru"``) unrolled for ``T`` steps with D = ``inputs``,
    H = ``hidden``, O = ``outputs`` and E = Σ_t E_t with E_t = ½‖y_t − d_t‖² (``loss=`` any of
    ``gradlab.specs.LOSSES``; ``mode="many_to_one"``: E = E_T, the last step only); print it with
    ``.latex()`` / ``.latex(document="article")`` / ``.markdown()``. ``cell`` is any spelling the
    registry accepts (``"peephole"``, ``"four-gate"``, ``"GRU"``).

    >>> d = derive("elman", T=2)                      # doctest: +SKIP
    >>> d.check()["recursion"] < 1e-12                # doctest: +SKIP
    True
    """
    form = _form(form)
    return Derivation(symbolic_model(cell, T, hidden=hidden, inputs=inputs, outputs=outputs, mode=mode, seed=seed,
                                     loss=loss), form)
