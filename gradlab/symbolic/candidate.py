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
           "SymbolicCheck", "ParamVerdict"]

_ALLOWED = (sp.Add, sp.Mul, sp.Pow, sp.Symbol, sp.Number, sp.tanh, sigma, sp.exp, sp.log)


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
    ``"nonzero"`` or ``"inconclusive"``; ``max_error`` the largest numeric difference from the engine;
    ``counterexample`` (when wrong) {``"element"``, ``"candidate"``, ``"engine"``, ``"point"``}."""

    name: str
    ok: bool
    symbolic: str
    max_error: float
    difference: str = ""
    counterexample: dict | None = None


@dataclass
class SymbolicCheck:
    """The result of :func:`check_symbolic_candidate`: ``ok`` and one :class:`ParamVerdict` per parameter."""

    ok: bool
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"symbolic candidate: {'OK' if self.ok else 'WRONG'}"]
        for v in self.params.values():
            lines.append(f"  {v.name}: {'ok' if v.ok else 'WRONG'} (symbolic difference: {v.symbolic}; "
                         f"max |candidate - engine| = {v.max_error:.3g})")
            if v.counterexample:
                c = v.counterexample
                lines.append(f"    counterexample at {v.name}{c['element']}: candidate {c['candidate']:.6g}, "
                             f"engine {c['engine']:.6g} (seed {c['seed']})")
            if v.difference and not v.ok:
                lines.append(f"    candidate - derived = {v.difference}")
        return "\n".join(lines)


def _symbolic_difference(m: SymbolicModel, cand, ref) -> tuple:
    adj = [d for d in m.recursion().definitions if d.kind == "adjoint"]
    diff = cand - ref
    for d in reversed(adj):
        diff = diff.xreplace(dict(d.pairs()))
    diff = sp.expand(diff)
    return diff == 0, diff


def check_symbolic_candidate(formulas: dict, model="elman", *, seeds=(0, 1, 2), rtol: float = 1e-8,
                             atol: float = 1e-10, syntax: str = "auto", **kw) -> SymbolicCheck:
    r"""Check a symbolic candidate {parameter name: formula} for ``model`` (a cell name with ``T``,
    ``hidden``, ``inputs``, ``outputs``, or a :class:`SymbolicModel`): symbolically (candidate − derived,
    with the adjoints substituted, expands to 0) and numerically (against the engine at random points,
    float64). Returns a :class:`SymbolicCheck`; a wrong element comes with its counterexample point."""
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
            bad = err > atol + rtol * np.abs(eng[n])
            if bad.any() and worst[n][1] is None:
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                point = {k: np.asarray(v).tolist() for k, v in vals.items()}
                worst[n] = (max(worst[n][0], float(err.max())),
                            {"element": [i + 1 for i in idx], "candidate": float(got[n][idx]),
                             "engine": float(eng[n][idx]), "seed": seed, "point": point})
            else:
                worst[n] = (max(worst[n][0], float(err.max())), worst[n][1])
    for n, arr in exprs.items():
        zero, texts = True, []
        for idx in np.ndindex(*arr.shape):
            z, d = _symbolic_difference(m, arr[idx], ref[n][idx])
            if not z:
                zero = False
                if len(texts) < 2 and sp.count_ops(d) < 200:
                    named = sp.factor(d).xreplace({s: sp.Symbol(m.info[s].text) for s in d.free_symbols if s in m.info})
                    texts.append(f"[{','.join(str(i + 1) for i in idx)}]: {named}")
        err, cex = worst[n]
        ok = cex is None
        symbolic = "zero" if zero else ("inconclusive" if ok else "nonzero")
        result.params[n] = ParamVerdict(n, ok, symbolic, err, "; ".join(texts), cex)
        result.ok = result.ok and ok
    return result
