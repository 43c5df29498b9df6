r"""Symbolic candidates: a hand derivation given as formulas (plain text, LaTeX, or SymPy expressions in
the lecture's symbols) instead of NumPy code, checked symbolically and numerically.

A candidate is a mapping {parameter name: formula} for one concrete size (the symbols are elements:
``W_s[1,2]``, ``s_2[1]``; a scalar model writes ``W_s``, ``s_2``). A formula may use the parameters,
inputs ``x_t``, targets ``d_t``, the initial state ``s_0``, and the per-step symbols the derivation
defines — states ``s_t``/``c_t``, gates, outputs ``y_t`` and the adjoints ``delta_t`` (δ_t = ∂E/∂s_t) —
whose definitions gradlab supplies. Strings are read by :mod:`gradlab.symbolic.parse` (never
evaluated); SymPy expressions are accepted only when built from those symbols with + − × ÷, powers and
tanh / σ / exp / log.

>>> from gradlab.symbolic.candidate import check_symbolic_candidate
>>> r = check_symbolic_candidate({"b_y": "(y_1 - d_1) + (y_2 - d_2)"}, "elman", T=2)   # doctest: +SKIP
>>> r.ok                                                                              # doctest: +SKIP
True
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .functions import sigma
from .model import SymbolicModel, symbolic_model
from .parse import Vocabulary, parse
from .program import Program

__all__ = ["vocabulary", "candidate_symbols", "parse_candidate", "to_numeric", "check_symbolic_candidate",
           "SymbolicCheck", "ParamVerdict", "expansion_size", "lecture_text", "MAX_EXPANSION"]

_ALLOWED = (sp.Add, sp.Mul, sp.Pow, sp.Symbol, sp.Number, sp.tanh, sigma, sp.exp, sp.log)

#: a difference whose expansion could have more terms than this is compared numerically only
MAX_EXPANSION = 20_000


def _model(model, **kw) -> SymbolicModel:
    if isinstance(model, SymbolicModel):
        return model
    T = kw.pop("T", 2)
    return symbolic_model(model, T, **kw)


def vocabulary(model: SymbolicModel) -> Vocabulary:
    """Return the symbols a candidate for ``model`` may use (forward symbols and adjoints δ)."""
    model.recursion()           # makes the adjoint symbols
    return Vocabulary(model.info)


def candidate_symbols(model, **kw) -> dict:
    """Return {text name: SymPy symbol} for building a candidate as SymPy expressions (``W_s[1,2]``, ``s_2``)."""
    m = _model(model, **kw)
    return dict(vocabulary(m).text)


def _validate_expr(e, vocab: Vocabulary, where: str):
    """Return ``e`` with its symbols mapped onto the model's, after checking every node is allowed."""
    known = set(vocab.text.values())
    by_name = {**{s.name: s for s in known}, **vocab.text}
    mapping = {}
    for node in sp.preorder_traversal(e):
        if isinstance(node, sp.Symbol):
            if node in known:
                continue
            target = by_name.get(node.name)
            if target is None:
                raise ValueError(f"{where}: unknown symbol {node.name!r}; use the derivation's symbols, e.g. "
                                 f"{vocab.examples()}")
            mapping[node] = target
        elif not isinstance(node, _ALLOWED) and not isinstance(node, (sp.core.numbers.NumberSymbol,)):
            raise ValueError(f"{where}: {type(node).__name__} is not allowed in a gradient formula "
                             f"(only + - * / ^, tanh, sigma, exp, log)")
    return e.xreplace(mapping) if mapping else e


def parse_candidate(formulas: dict, model, *, syntax: str = "auto", **kw) -> dict:
    r"""Return {parameter name: object array of SymPy expressions} from ``formulas``: each value a string
    (for a one-element parameter, or any parameter when written element-wise in a nested list), a
    nested list / array of strings or SymPy expressions, or a SymPy expression / Matrix."""
    m = _model(model, **kw)
    vocab = vocabulary(m)
    if not isinstance(formulas, dict):
        raise TypeError(f"symbolic candidate: expected a dict {{parameter name: formula}}, got {type(formulas).__name__}")
    out = {}
    for name, value in formulas.items():
        if name not in m.params:
            raise ValueError(f"symbolic candidate: {name!r} is not a parameter of {m.kind}; it has {sorted(m.params)}")
        shape = tuple(m.params[name].shape)
        if isinstance(value, sp.MatrixBase):
            value = np.array(value.tolist(), dtype=object)
        arr = np.empty((), dtype=object)
        if isinstance(value, (str, sp.Basic)):
            if int(np.prod(shape)) != 1:
                raise ValueError(f"symbolic candidate {name}: one formula given but {name} has shape {shape}; "
                                 f"give a nested list with one formula per element")
            arr = np.array([value], dtype=object).reshape(shape)
        else:
            arr = np.empty(shape, dtype=object)
            try:
                src = np.array(value, dtype=object)
                arr[...] = src.reshape(shape)
            except ValueError:
                raise ValueError(f"symbolic candidate {name}: formulas of shape {np.shape(value)} do not fit "
                                 f"the parameter's shape {shape}") from None
        exprs = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            v = arr[idx]
            where = f"symbolic candidate {name}{list(i + 1 for i in idx)}"
            if isinstance(v, str):
                try:
                    exprs[idx] = parse(v, vocab, syntax)
                except ValueError as e:
                    raise ValueError(f"{where}: {e}") from None
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                exprs[idx] = sp.Rational(v) if float(v).is_integer() else sp.Float(v)
            elif isinstance(v, sp.Basic):
                exprs[idx] = _validate_expr(v, vocab, where)
            else:
                raise TypeError(f"{where}: expected a string or a SymPy expression, got {type(v).__name__}")
        out[name] = exprs
    return out


def _evaluator(m: SymbolicModel, exprs: dict):
    """Program computing the candidate (and the derived reference) from the leaves."""
    ref = m.recursion()
    outs = {n: e for n, e in exprs.items()}
    outs.update({("ref", n): ref.outputs[n] for n in exprs})
    prog = Program(ref.leaves, ref.definitions, {str(k) if isinstance(k, tuple) else k: v for k, v in outs.items()},
                   ref.info)
    return prog.lambdify()


def to_numeric(formulas: dict, model, **kw):
    r"""Return ``gradient(params, data) -> {name: ndarray}`` computing the symbolic candidate with NumPy:
    the derivation contract of :mod:`gradlab.check`, for the candidate's own sizes (``.sizes``, ``.spec``
    are attached so the checker can draw problems of exactly those sizes)."""
    m = _model(model, **kw)
    exprs = parse_candidate(formulas, m)
    fn = Program(m.recursion().leaves, m.recursion().definitions, exprs, m.info).lambdify()
    leaf_names = list(m.trace.forward.leaves)

    shapes = {k: np.shape(v) for k, v in m.trace.forward.leaves.items()}
    sizes = ", ".join(f"{k}={v}" for k, v in m.sizes.items())

    def gradient(params, data):
        values = {}
        for k in leaf_names:
            src = params if k in params else data
            if k not in src:
                raise ValueError(f"symbolic candidate: no value for {k!r} in params or data")
            values[k] = src[k]
            if np.shape(src[k]) != shapes[k]:
                raise ValueError(f"symbolic candidate: its formulas are written for {sizes}, so {k} must have "
                                 f"shape {shapes[k]}, got {np.shape(src[k])}; check it with sizes={dict(m.sizes)}")
        return fn(values)

    gradient.sizes = dict(m.sizes)
    gradient.spec = m.spec
    gradient.expressions = exprs
    return gradient


@dataclass
class ParamVerdict:
    r"""The verdict for one parameter: ``symbolic`` is ``"zero"`` (candidate − derived simplifies to 0),
    ``"nonzero"``, ``"inconclusive"`` or ``"too_large"`` (not expanded: it would have more than
    :data:`MAX_EXPANSION` terms); ``max_error`` the largest numeric difference from the engine;
    ``difference`` yours − derived in lecture notation (the δ_t kept as symbols), ``words`` what differs,
    term by term; ``counterexample`` (when wrong) {``"element"`` (from 1), ``"candidate"``, ``"engine"``,
    ``"point"``}."""

    name: str
    ok: bool
    symbolic: str
    max_error: float
    difference: str = ""
    counterexample: dict | None = None
    words: str = ""
    size: int = 0

    def element(self, index=None) -> str:
        """The element as the report names it: ``W_s[1,2]`` (indices from 1)."""
        idx = index if index is not None else (self.counterexample or {}).get("element")
        return f"{self.name}[{','.join(str(i) for i in idx)}]" if idx else self.name


@dataclass
class SymbolicCheck:
    """The result of :func:`check_symbolic_candidate`: ``ok`` and one :class:`ParamVerdict` per parameter."""

    ok: bool
    params: dict = field(default_factory=dict)

    def lines(self, width: int = 100) -> list:
        """The symbolic verdict in words, each statement wrapped at ``width`` (what ``gradlab check`` prints)."""
        import textwrap

        return [w for line in self._statements()
                for w in textwrap.wrap(line, width=width, subsequent_indent=" " * (len(line) - len(line.lstrip()) + 2),
                                       break_long_words=False, break_on_hyphens=False)]

    def _statements(self) -> list:
        zero = [v.name for v in self.params.values() if v.symbolic == "zero"]
        out = [f"symbolically: yours − derived simplifies to 0 for {', '.join(zero)}"] if zero else []
        for v in self.params.values():
            if v.symbolic == "too_large":
                out.append(f"symbolically: {v.name} was not expanded (it would have up to {v.size:.1e} terms, more "
                           f"than {MAX_EXPANSION}); it is compared numerically only")
            if v.ok:
                continue
            text = f"symbolically: {v.name} differs from the derived gradient"
            if v.difference:
                text += f": yours − derived = {v.difference}"
            out.append(text + (f". {v.words}" if v.words else ""))
            c = v.counterexample
            if c:
                out.append(f"  counterexample: {v.element()} is {c['candidate']:.6g}, the engine gives "
                           f"{c['engine']:.6g} (random point, seed {c['seed']}; indices from 1)")
        return out

    def __str__(self) -> str:
        lines = [f"symbolic candidate: {'OK' if self.ok else 'WRONG'}"]
        for v in self.params.values():
            lines.append(f"  {v.name}: {'ok' if v.ok else 'WRONG'} (symbolic difference: {v.symbolic}; "
                         f"max |candidate - engine| = {v.max_error:.3g})")
            if v.counterexample:
                c = v.counterexample
                lines.append(f"    counterexample at {v.element()}: candidate {c['candidate']:.6g}, "
                             f"engine {c['engine']:.6g} (seed {c['seed']})")
            if v.difference and not v.ok:
                lines.append(f"    candidate - derived = {v.difference}")
            if v.words and not v.ok:
                lines.append(f"    {v.words}")
        return "\n".join(lines)


def expansion_size(e) -> int:
    r"""Return an upper bound on the number of terms ``sympy.expand(e)`` makes of ``e`` (also inside
    function arguments), without expanding: a sum adds its terms' counts, a product multiplies them,
    and (a₁ + … + a_k)ⁿ has at most C(n + k − 1, k − 1) monomials."""
    from math import comb

    def size(x) -> tuple:        # (terms of x expanded, the largest count met inside function arguments)
        if x.is_Atom:
            return 1, 0
        inner = [size(a) for a in x.args]
        worst = max((w for _, w in inner), default=0)
        if isinstance(x, sp.Add):
            return sum(n for n, _ in inner), worst
        if isinstance(x, sp.Mul):
            n = 1
            for k, _ in inner:
                n = min(n * k, 10 ** 30)
            return n, worst
        if isinstance(x, sp.Pow):
            (k, _), exp = inner[0], x.args[1]
            if exp.is_Integer and int(exp) > 1 and k > 1:
                return min(comb(int(exp) + k - 1, k - 1), 10 ** 30), worst
            return k, worst
        return 1, max([worst] + [n for n, _ in inner])     # a function: its argument is expanded on its own

    n, w = size(e)
    return max(n, w)


def lecture_text(e, m: SymbolicModel) -> str:
    """Return ``e`` in lecture notation: the derivation's names (δ_1, s_0, W_s[1,2]), · for products, ²."""
    import re

    names = {s: sp.Symbol(m.info[s].text.replace("delta", "δ")) for s in e.free_symbols if s in m.info}
    txt = sp.sstr(e.xreplace(names), order="none")
    txt = re.sub(r"\*\*(\d+)", lambda g: g.group(1).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")), txt)
    txt = txt.replace("**", "^").replace("*", "·").replace(" - ", " − ").replace("-", "−")
    return txt


def _adjoints(m: SymbolicModel) -> list:
    return [d for d in m.recursion().definitions if d.kind == "adjoint"]


def _symbolic_difference(m: SymbolicModel, cand, ref) -> tuple:
    """Return (zero?, yours − derived with the δ_t kept, size): zero? is None when the difference (with
    the δ_t substituted by their definitions) is too large to expand."""
    raw = cand - ref
    diff = raw
    for d in reversed(_adjoints(m)):
        diff = diff.xreplace(dict(d.pairs()))
    size = max(expansion_size(raw), expansion_size(diff))
    if size > MAX_EXPANSION:
        return None, raw, size
    return sp.expand(diff) == 0, raw, size


def _words(m: SymbolicModel, cand, ref) -> str:
    """What differs, term by term: the terms of each δ_t (one per time step) of yours and of the
    derivation, and the factor one lacks; empty when the formulas are not sums of δ-terms."""
    deltas = sorted({s for d in _adjoints(m) for s in d.symbols.flat}, key=lambda s: (m.info[s].t, str(s)))
    present = [dl for dl in deltas if cand.has(dl) or ref.has(dl)]
    if not present:
        return ""
    try:
        if any(sp.Poly(e, *present).total_degree() > 1 for e in (cand, ref)):
            return ""
    except sp.PolynomialError:
        return ""
    out = []
    for dl in present:
        yc, yr = sp.diff(cand, dl), sp.diff(ref, dl)
        if sp.expand(yc - yr) == 0:
            continue
        t = m.info[dl].t
        term = lambda c: "no such term" if c == 0 else lecture_text(c * dl, m)  # noqa: E731
        text = f"In the term of {lecture_text(dl, m)} (time step t = {t}) yours is {term(yc)}, the derivation's {term(yr)}"
        if yc != 0 and yr != 0:
            ratio = sp.cancel(yr / yc)
            num, den = (sp.factor_terms(x) for x in sp.fraction(ratio))
            if ratio.is_Number:
                text += f": yours is {lecture_text(1 / ratio, m)} × the derivation's"
            elif den == 1 and sp.count_ops(num) < 12:
                text += f": yours lacks the factor {lecture_text(num, m)}{_named_factor(m, num)}"
            elif num == 1 and sp.count_ops(den) < 12:
                text += f": yours has an extra factor {lecture_text(den, m)}"
        out.append(text + ".")
        if len(out) == 2:
            break
    return " ".join(out)


def _named_factor(m: SymbolicModel, f) -> str:
    """`` (tanh′ at step t)`` when ``f`` is 1 − s_t², else empty."""
    for s in f.free_symbols:
        info = m.info.get(s)
        if info is not None and info.kind == "state" and sp.expand(f - (1 - s ** 2)) == 0:
            return f", the derivative of tanh at step {info.t}"
    return ""


def check_symbolic_candidate(formulas: dict, model="elman", *, seeds=(0, 1, 2), rtol: float = 1e-8,
                             atol: float = 1e-10, syntax: str = "auto", **kw) -> SymbolicCheck:
    r"""Check a symbolic candidate {parameter name: formula} for ``model`` (a cell name with ``T``,
    ``hidden``, ``inputs``, ``outputs``, or a :class:`SymbolicModel`): symbolically (candidate − derived,
    with the adjoints substituted, expands to 0; a difference too large to expand is compared numerically
    only) and numerically (against the engine at random points, float64). Returns a
    :class:`SymbolicCheck`; a wrong element comes with its counterexample point and, term by term, what
    differs in words."""
    m = _model(model, **kw)
    exprs = parse_candidate(formulas, m, syntax=syntax)
    f = _evaluator(m, exprs)
    ref = m.recursion().outputs
    result = SymbolicCheck(True)
    worst = {n: (0.0, None) for n in exprs}
    for seed in seeds:
        vals = m.random_values(seed)
        eng = m.engine_gradient(vals)
        got = f(vals)
        for n in exprs:
            err = np.abs(got[n] - eng[n])
            bad = ~(err <= atol + rtol * np.abs(eng[n]))
            if bad.any() and worst[n][1] is None:
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                point = {k: np.asarray(v).tolist() for k, v in vals.items()}
                worst[n] = (max(worst[n][0], float(np.nanmax(err))),
                            {"element": [i + 1 for i in idx], "candidate": float(got[n][idx]),
                             "engine": float(eng[n][idx]), "seed": seed, "point": point})
            else:
                worst[n] = (max(worst[n][0], float(np.nanmax(err))), worst[n][1])
    for n, arr in exprs.items():
        result.params[n] = _param_verdict(m, n, arr, ref[n], worst[n])
        result.ok = result.ok and result.params[n].ok
    return result


def _param_verdict(m: SymbolicModel, n, arr, ref, worst) -> ParamVerdict:
    zero, texts, words, size, too_large = True, [], "", 0, False
    for idx in np.ndindex(*arr.shape):
        z, raw, sz = _symbolic_difference(m, arr[idx], ref[idx])
        size = max(size, sz)
        if z is None:
            too_large = True
            continue
        if not z:
            zero = False
            if not texts and sz < 2000 and sp.count_ops(raw) < 400:
                short = sp.factor(sp.expand(raw))
                where = "" if arr.size == 1 else f"[{','.join(str(i + 1) for i in idx)}]: "
                if sp.count_ops(short) <= 25:
                    texts.append(where + lecture_text(short, m))
                words = _words(m, arr[idx], ref[idx])
                if words and arr.size > 1:
                    words = f"At {n}[{','.join(str(i + 1) for i in idx)}]: " + words[0].lower() + words[1:]
    err, cex = worst
    ok = cex is None
    symbolic = "too_large" if too_large and zero else ("zero" if zero else ("inconclusive" if ok else "nonzero"))
    return ParamVerdict(n, ok, symbolic, err, "; ".join(texts), cex, words, size)
