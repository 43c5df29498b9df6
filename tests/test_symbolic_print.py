"""Lecture-notation output: every cell prints every form as LaTeX and Markdown, the LaTeX is well
formed and its element formulas parse back to the same expressions, the sum of paths keeps the
chain-rule order, and the command line writes the same text."""
from __future__ import annotations

import functools
import re

import numpy as np
import pytest
import sympy as sp

from gradlab.cli import main
from gradlab.symbolic import Vocabulary, derive, parse_latex

CELLS = ["elman", "jordan", "lstm", "peephole_lstm", "four_gate_lstm", "gru"]
_ALLOWED_COMMANDS = {r"\frac", r"\partial", r"\left", r"\right", r"\tanh", r"\sigma", r"\delta", r"\sum",
                     r"\prod", r"\top", r"\quad", r"\text", r"\mathrm", r"\begin", r"\end", r"\lVert", r"\rVert",
                     r"\tfrac", r"\exp", r"\log", r"\,", r"\odot", r"\le", r"\operatorname", r"\bigl", r"\bigr",
                     r"\cdot", r"\in"}


@functools.lru_cache(maxsize=None)
def _derivation(kind, T, hidden=1):
    return derive(kind, T, hidden=hidden)


def latex_problems(text: str) -> list:
    """A simple compile check: balanced braces and environments, only known commands."""
    problems = []
    depth = 0
    for i, c in enumerate(text):
        depth += (c == "{") - (c == "}")
        if depth < 0:
            problems.append(f"unbalanced }} at {i}")
            depth = 0
    if depth:
        problems.append("unbalanced {")
    envs = re.findall(r"\\(begin|end)\{(\w+\*?)\}", text)
    stack = []
    for kind, name in envs:
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            problems.append(f"\\end{{{name}}} without its \\begin")
    if stack:
        problems.append(f"unclosed environments {stack}")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
    for cmd in set(re.findall(r"\\[A-Za-z]+|\\,", body)):
        if cmd not in _ALLOWED_COMMANDS:
            problems.append(f"unexpected command {cmd}")
    return problems


@pytest.mark.parametrize("kind", CELLS)
def test_every_cell_prints_recursion_and_sum_of_paths_as_wellformed_latex_and_markdown(kind):
    d = _derivation(kind, 2)
    for form, blocks in (("recursion", 4), ("matrix", 2), ("sum-of-paths", 2)):
        tex = d.latex(form)
        assert latex_problems(tex) == []
        assert tex.count(r"\begin{align*}") == blocks       # recursion: matrix form, then element form
        md = d.markdown(form)
        assert md.startswith("# BPTT derivation") and md.count("$$") == 2 * blocks
        assert latex_problems(md.replace("$$", "")) == []


@pytest.mark.parametrize("kind", ["elman", "jordan"])
def test_expanded_form_prints_wellformed_latex(kind):
    assert latex_problems(_derivation(kind, 2).latex("expanded")) == []


def test_expanded_latex_parses_back_to_the_same_expressions():
    d = _derivation("elman", 2, 2)
    m = d.model
    vocab = Vocabulary(m.info)
    rows = d.expanded_rows()
    exprs = [e for name in m.params for e in m.expanded()[name].flat]
    assert len(rows) == len(exprs)
    rng = np.random.default_rng(0)
    for row, expr in zip(rows, exprs):
        rhs = row.split("&=", 1)[1]
        back = parse_latex(rhs, vocab)
        point = {s: sp.Float(rng.uniform(-0.9, 0.9)) for s in expr.free_symbols | back.free_symbols}
        assert abs(float((back - expr).xreplace(point).evalf())) < 1e-12


def test_forward_and_recursion_rows_parse_back_with_concrete_steps():
    d = _derivation("gru", 2)
    m = d.model
    vocab = Vocabulary(m.info)
    names = d._names()
    for dd in m.trace.forward.definitions + [x for x in m.recursion().definitions if x.kind == "adjoint"]:
        rhs = dd.display if dd.display is not None else dd.expr
        for e in rhs.flat:
            back = parse_latex(sp.latex(e, symbol_names=names), vocab)
            assert sp.expand(back - e) == 0 or sp.simplify(back - e) == 0


def test_sum_of_paths_keeps_the_chain_rule_order():
    d = _derivation("elman", 3)
    terms, names = d.path_expression("W")
    longest = max(terms, key=lambda t: len(t.args))
    assert not longest.is_commutative
    printed = [names[s] for s in longest.args]
    assert printed == [r"\frac{\partial E_{3}}{\partial y_{3}}", r"\frac{\partial y_{3}}{\partial s_{3}}",
                       r"\frac{\partial s_{3}}{\partial s_{2}}", r"\frac{\partial s_{2}}{\partial s_{1}}",
                       r"\frac{\partial^{+} s_{1}}{\partial W}"]
    tex = d.latex("sum-of-paths")
    assert " ".join(printed) in tex      # the printer did not reorder the factors
    assert len(terms) == 6               # Σ_{N=1}^{3} N paths


def test_output_uses_the_lecture_symbols():
    md = _derivation("elman", 2).markdown("recursion")
    for sym in (r"W_{s}", r"s_{t-1}", r"\delta_{t+1}", r"y_{t}", r"E_{t}", r"x_{t}", r"d_{t}"):
        assert sym in md, sym
    lstm = _derivation("lstm", 2).markdown("recursion")
    for sym in ("i_{t}", "f_{t}", "g_{t}", "o_{t}", "c_{t-1}", r"\delta^{c}_{t+1}", r"\sigma"):
        assert sym in lstm, sym
    gru = _derivation("gru", 2).markdown("recursion")
    for sym in ("r_{t}", "z_{t}", "n_{t}"):
        assert sym in gru, sym


def test_cli_prints_latex_and_writes_markdown_files(tmp_path, capsys):
    assert main(["derive", "elman", "--T", "2", "--latex"]) == 0
    out = capsys.readouterr().out
    assert r"\begin{align*}" in out and latex_problems(out) == []
    target = tmp_path / "d.md"
    assert main(["derive", "jordan", "--T", "2", "--form", "sum-of-paths", "-o", str(target)]) == 0
    assert target.read_text().startswith("# BPTT derivation")
    assert main(["derive", "elman", "--T", "2", "--write-md", str(tmp_path / "md")]) == 0
    assert sorted(p.name for p in (tmp_path / "md").iterdir()) == [
        "elman_expanded.md", "elman_matrix.md", "elman_recursion.md", "elman_sum_of_paths.md"]


def test_cli_rejects_unknown_cells_and_long_expanded_forms(capsys):
    assert main(["derive", "hopfield", "--T", "2"]) == 2
    assert "unknown cell" in capsys.readouterr().err
    assert main(["derive", "elman", "--T", "6", "--form", "expanded"]) == 2
    assert "too long" in capsys.readouterr().err
