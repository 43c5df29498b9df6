"""Symbolic candidates and the safe formula parser: a correct candidate passes, a planted error is
caught with a counterexample, and malicious text is rejected without being executed."""
from __future__ import annotations

import builtins
import functools

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from gradlab.symbolic import (Vocabulary, candidate_symbols, check_symbolic_candidate, parse, parse_latex,
                              parse_text, symbolic_model, to_numeric)
from strategies import budget

GOOD = {
    "W_s": "delta_1*s_0*(1 - s_1^2) + delta_2*s_1*(1 - s_2^2)",
    "W_x": r"\delta_{1} \left(1 - s_{1}^{2}\right) x_{1} + \delta_{2} \left(1 - s_{2}^{2}\right) x_{2}",
    "b_y": "(y_1 - d_1) + (y_2 - d_2)",
}


@functools.lru_cache(maxsize=None)
def _model(kind="elman", T=2, hidden=1):
    return symbolic_model(kind, T, hidden=hidden)


@functools.lru_cache(maxsize=None)
def _vocab():
    m = _model()
    m.recursion()
    return Vocabulary(m.info)


def test_correct_text_and_latex_candidate_passes_symbolically_and_numerically():
    r = check_symbolic_candidate(GOOD, _model())
    assert r.ok, str(r)
    assert all(v.symbolic == "zero" for v in r.params.values())


def test_candidate_with_a_planted_error_is_caught_with_a_counterexample():
    wrong = dict(GOOD, W_s="delta_1*s_0 + delta_2*s_1*(1 - s_2^2)")   # forgot tanh' at t = 1
    r = check_symbolic_candidate(wrong, _model())
    assert not r.ok
    v = r.params["W_s"]
    assert not v.ok and v.symbolic == "nonzero" and v.counterexample is not None
    assert v.counterexample["element"] == [1, 1] and "W_s" in str(r)
    assert r.params["b_y"].ok and r.params["W_x"].ok


def test_vector_candidate_given_as_sympy_expressions_is_checked_per_element():
    m = _model("elman", 2, 2)
    S = candidate_symbols(m)
    good = [[S[f"delta_{t}[{i}]"] * (1 - S[f"s_{t}[{i}]"] ** 2) * S[f"s_{t - 1}[{j}]"] for t in (1, 2)]
            for i in (1, 2) for j in (1, 2)]
    good = np.array([sp.Add(*terms) for terms in good], dtype=object).reshape(2, 2)
    assert check_symbolic_candidate({"W_s": good}, m).ok
    wrong = good.copy()
    wrong[0, 1] = wrong[1, 0]                       # a transposed element
    r = check_symbolic_candidate({"W_s": wrong}, m)
    assert not r.ok and r.params["W_s"].counterexample["element"] in ([1, 2], [2, 1])


def test_candidate_written_with_inlined_states_passes_numerically():
    inlined = {"b_y": "(W_y*tanh(W_x*x_1 + W_s*s_0 + b_s) + b_y - d_1) + (y_2 - d_2)"}
    r = check_symbolic_candidate(inlined, _model())
    assert r.ok and r.params["b_y"].symbolic in ("zero", "inconclusive")


def test_to_numeric_gives_the_checker_contract_gradient_params_data():
    m = _model()
    grad = to_numeric(GOOD, m)
    params = {n: m.values[n] for n in m.params}
    data = {k: v for k, v in m.values.items() if k not in params}
    got = grad(params, data)
    ref = m.engine_gradient()
    for n in GOOD:
        assert np.allclose(got[n], ref[n], rtol=1e-10, atol=1e-12)
    assert grad.sizes == {"T": 2, "D": 1, "H": 1, "O": 1}


MALICIOUS = [
    "__import__('os').system('echo pwned')",
    "b_y.__class__.__mro__",
    "exec('x=1')",
    "eval('1')",
    "lambda: 0",
    "getattr(b_y, '__globals__')",
    "open('/etc/passwd')",
    r"\input{/etc/passwd}",
    r"\write18{rm -rf /}",
    r"\def\x{1}",
    "b_y; import os",
    "Symbol('x')",
    "2^999^999",
    "(" * 500 + "b_y" + ")" * 500,
]


@pytest.mark.parametrize("text", MALICIOUS)
def test_malicious_input_is_rejected_without_execution(text, monkeypatch):
    calls = []

    def forbidden(*a, **k):
        calls.append(a)
        raise AssertionError("the parser must never evaluate")

    for name in ("eval", "exec"):
        monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(sp, "sympify", forbidden)
    monkeypatch.setattr(sp, "parse_expr", forbidden, raising=False)
    with pytest.raises(ValueError):
        parse(text, _vocab())
    assert calls == []


def test_sympy_candidate_with_foreign_functions_is_rejected():
    S = candidate_symbols(_model())
    with pytest.raises(ValueError, match="not allowed"):
        check_symbolic_candidate({"b_y": sp.Function("evil")(S["y_1"])}, _model())
    with pytest.raises(ValueError, match="unknown symbol"):
        check_symbolic_candidate({"b_y": sp.Symbol("os")}, _model())


@settings(max_examples=budget(200))
@given(st.lists(st.sampled_from(list("_()[]{}\\^*+-/.,;'\" abcdeswxyWTS0123tanhfrac$") +
                                ["__import__", "s_1", "W_s", r"\frac", "tanh(", r"\left(", "sigma", "delta_2"]),
                max_size=20).map("".join))
def test_parser_only_ever_returns_an_expression_or_raises_valueerror(text):
    for syntax in ("text", "latex"):
        try:
            e = parse(text, _vocab(), syntax)
        except ValueError:
            continue
        assert isinstance(e, sp.Expr)
        assert e.free_symbols <= set(_vocab().text.values())


_ATOMS = ["W_s", "W_x", "b_s", "s_1", "s_2", "x_1", "delta_2", "y_2", "d_1", "2", "0.5"]


@st.composite
def formulas(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        return draw(st.sampled_from(_ATOMS))
    op = draw(st.sampled_from(["+", "-", "*", "/", "^2", "tanh", "sigma", "neg"]))
    a = draw(formulas(depth=depth + 1))
    if op in ("tanh", "sigma"):
        return f"{op}({a})"
    if op == "neg":
        return f"-({a})"
    if op == "^2":
        return f"({a})^2"
    b = draw(formulas(depth=depth + 1))
    return f"({a}) {op} ({b})"


@settings(max_examples=budget(60))
@given(formulas())
def test_text_formula_printed_as_latex_parses_back_to_the_same_expression(src):
    v = _vocab()
    try:
        e = parse_text(src, v)
    except ValueError as exc:        # e.g. (W_s) / ((W_s) - (W_s)): refused, and said why
        assert "divides by zero" in str(exc)
        reject()
    names = {s: si.latex() for s, si in _model().info.items()}
    back = parse_latex(sp.latex(e, symbol_names=names), v)
    assert sp.simplify(back - e) == 0


FULL = dict(GOOD, b_s="delta_1*(1 - s_1^2) + delta_2*(1 - s_2^2)", W_y="(y_1 - d_1)*s_1 + (y_2 - d_2)*s_2")


def test_symbolic_candidate_runs_through_the_gradient_checker():
    check = pytest.importorskip("gradlab.check")
    grad = to_numeric(FULL, _model())
    assert check.check_gradient(grad, grad.spec, sizes=grad.sizes, references=("engine",)).ok
    wrong = to_numeric(dict(FULL, W_y="(y_1 - d_1)*s_1 + (y_2 - d_2)*s_1"), _model())
    report = check.check_gradient(wrong, wrong.spec, sizes=wrong.sizes, references=("engine",))
    assert not report.ok


def test_numeric_candidate_names_its_sizes_when_given_other_shapes():
    grad = to_numeric(GOOD, _model())
    m = _model()
    params = {n: m.values[n] for n in m.params}
    data = {k: v for k, v in m.values.items() if k not in params}
    data["xs"] = np.zeros((3, 1))
    with pytest.raises(ValueError, match="T=2"):
        grad(params, data)


def test_a_formula_that_divides_by_zero_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="divides by zero"):
        parse_text("W_s / (s_1 - s_1)", _vocab())
