"""The matrix/vector form of the BPTT derivation: derived from the recorded graph for every cell, every
line evaluated and compared with the engine (a wrong vector rule is caught), per-gate blocks named,
the lecture's Elman lines printed as a lecture writes them, rows broken to the page, and every cell's
LaTeX compiled with pdflatex (article and beamer) without errors or overfull boxes."""
from __future__ import annotations

import functools
import re
import shutil
import subprocess

import numpy as np
import pytest

from gradlab.cli import main
from gradlab.nn.registry import KINDS, cell_names
from gradlab.symbolic import derive
from gradlab.symbolic.matrix import RULES, OneMinus, Sq, break_rows, had, matrix_form, tex_width
from gradlab.symbolic.model import symbolic_model

CELLS = cell_names()


@functools.lru_cache(maxsize=None)
def _model(kind, T, H=2, D=2, O=2, mode="many_to_many", loss="mse_half"):
    return symbolic_model(kind, T, hidden=H, inputs=D, outputs=O, mode=mode, loss=loss)


@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("kind", CELLS)
def test_matrix_form_gives_the_engine_gradient_for_every_cell(kind, T):
    mf = matrix_form(_model(kind, T))
    assert mf.check(seeds=(0, 1)) < 1e-10
    # every parameter of the cell has a gradient line, and the lines really carry numbers
    _, grads = mf.evaluate()
    assert set(grads) == set(mf.model.params)
    assert any(np.abs(g).max() > 1e-3 for g in grads.values())


@pytest.mark.parametrize("kind", ["elman", "lstm", "gru"])
@pytest.mark.parametrize("mode,loss", [("many_to_one", "mse_half"), ("many_to_many", "softmax_cross_entropy"),
                                       ("many_to_many", "mse")])
def test_matrix_form_follows_the_loss_and_the_mode(kind, mode, loss):
    mf = matrix_form(_model(kind, 3, O=3, mode=mode, loss=loss))
    assert mf.check(seeds=(0,)) < 1e-10


def _wrong(rule_name, rule):
    rules = dict(RULES)
    rules[rule_name] = rule
    return rules


@pytest.mark.parametrize("kind,rule_name,rule", [
    # the classic slip: tanh's derivative forgotten, δ_t = W_sᵀ δ_{t+1} + …
    ("elman", "tanh", lambda g, out, x: [g]),
    # σ'(a) written as σ(a) instead of σ(a)(1 − σ(a))
    ("lstm", "sigmoid", lambda g, out, x: [had(g, out)]),
    # (1 − s) instead of (1 − s²)
    ("gru", "tanh", lambda g, out, x: [had(g, OneMinus(out))]),
    # the product rule's two halves swapped
    ("four_gate_lstm", "mul", lambda g, out, a, b: [had(g, a), had(g, b)]),
])
def test_a_wrong_vector_rule_fails_the_check(kind, rule_name, rule):
    model = _model(kind, 3)
    with pytest.raises(ValueError, match="matrix form of"):
        matrix_form(model, _wrong(rule_name, rule)).check(seeds=(0,))
    assert matrix_form(model).check(seeds=(0,)) < 1e-10      # the right rules pass on the same model


def test_the_right_tanh_rule_is_the_one_printed():
    assert "1 - s_{t+1}^{2}" in "\n".join(matrix_form(_model("elman", 3)).backward_rows())
    wrong = matrix_form(_model("elman", 3), _wrong("tanh", lambda g, out, x: [had(g, OneMinus(Sq(Sq(out))))]))
    assert r"1 - \left(s_{t+1}^{2}\right)^{2}" in "\n".join(wrong.backward_rows())


def test_elman_prints_the_lecture_recursion_and_weight_gradient():
    mf = matrix_form(_model("elman", 4))
    rows = mf.backward_rows()
    assert (r"\delta_{t} &= W_{s}^{\top} \left(\delta_{t+1} \odot \left(1 - s_{t+1}^{2}\right)\right) + "
            r"W_{y}^{\top} \left(y_{t} - d_{t}\right),\quad 1 \le t \le T-1") in rows
    assert r"\delta_{T} &= W_{y}^{\top} \left(y_{T} - d_{T}\right)" in rows
    assert (r"\frac{\partial E}{\partial W_{s}} &= \sum_{t=1}^{T} \left(\delta_{t} \odot \left(1 - s_{t}^{2}\right)"
            r"\right)\, s_{t-1}^{\top}") in rows
    assert mf.forward_rows()[0] == r"s_{t} &= \tanh\left(W_{x} x_{t} + W_{s} s_{t-1} + b_{s}\right)"


@pytest.mark.parametrize("kind", [k for k in CELLS if KINDS[k].gates])
def test_gated_cells_get_one_gradient_line_per_gate_block(kind):
    mf = matrix_form(_model(kind, 3))
    text = "\n".join(mf.backward_rows())
    for gate in KINDS[kind].gates:
        if kind == "four_gate_lstm":          # separate per-gate weights W_n, W_i, W_f, W_v
            assert rf"\frac{{\partial E}}{{\partial W_{{{gate}}}}}" in text
        else:                                 # blocks of the stacked W_s, W_x
            assert rf"\frac{{\partial E}}{{\partial W_{{s{gate}}}}}" in text
            assert rf"\frac{{\partial E}}{{\partial W_{{x{gate}}}}}" in text
        assert rf"\delta^{{a_{gate}}}_{{t}}" in text
    # no stacked-row indices in the matrix form
    assert not re.search(r"W\^\{s\}_\{\d", text)


@pytest.mark.parametrize("kind", CELLS)
def test_every_middle_step_prints_the_same_line(kind):
    mf = matrix_form(_model(kind, 6))
    for base, first, last, var, e in mf.templates(mf.backward):
        # a run is a set of consecutive steps whose lines are equal after relabelling around t
        for t in range(first, last + 1):
            match = [e2 for v2, e2 in mf.backward if v2.base == base and v2.t == t]
            assert match and match[0].tex(t) == e.tex(first)
    runs = [r for r in mf.templates(mf.backward) if r[0] == mf.backward[0][0].base]
    assert len(runs) <= 3            # the last step, the middle steps (and, for the four-gate cell, T − 1)


def test_long_rows_are_broken_within_the_width():
    row = "x &= " + " + ".join(rf"W_{{{i}}} \left(a_{{{i}}} \odot b_{{{i}}}\right)" for i in range(12))
    out = break_rows([row], width=40)
    assert len(out) > 2
    for r in out:
        assert tex_width(r.split("&", 1)[1]) <= 40
    joined = " ".join(r.split("&", 1)[1].replace("= ", "", 1).replace(r"\quad", "") for r in out)
    assert joined.split() == row.split("&= ")[1].split()


def test_derive_accepts_the_loss_the_mode_and_every_cell_spelling(capsys):
    for spelling in ("peephole", "four-gate", "GRU", "Elman"):
        assert main(["derive", spelling, "--T", "2", "--form", "matrix"]) == 0
    assert main(["derive", "elman", "--T", "3", "--mode", "last", "--form", "matrix"]) == 0
    out = capsys.readouterr().out
    assert r"\frac{\partial E}{\partial W_{y}} &= \left(y_{T} - d_{T}\right)\, s_{T}^{\top}" in out
    assert "E = E_T" in out
    assert main(["derive", "gru", "--T", "2", "--loss", "softmax_cross_entropy", "--form", "matrix"]) == 0
    out = capsys.readouterr()
    assert r"\operatorname{softmax}\left(y_{t}\right) - d_{t}" in out.out and "O = 2" in out.err
    with pytest.raises(SystemExit):                                                 # argparse refuses it
        main(["derive", "elman", "--T", "2", "--loss", "hinge"])
    assert "invalid choice: 'hinge'" in capsys.readouterr().err


def test_derive_checks_the_small_diff_route_by_default_and_the_full_one_on_request():
    from gradlab.symbolic.cli import check_derivation

    d = derive("elman", 5, hidden=2)
    assert set(check_derivation(d)) == {"matrix", "recursion", "diff (T=3)"}
    assert set(check_derivation(d, full=True)) == {"matrix", "recursion", "diff"}


# ------------------------------------------------------------------------------------ pdflatex
def _compile(tmp_path, name, text):
    (tmp_path / f"{name}.tex").write_text(text)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    log = (tmp_path / f"{name}.log").read_text(errors="replace")
    return r.returncode, log


def _has_tex(cls="article"):
    if shutil.which("pdflatex") is None:
        return False
    if cls == "beamer":
        r = subprocess.run(["kpsewhich", "beamer.cls", "pgfcore.sty"], capture_output=True, text=True)
        return len(r.stdout.split()) == 2
    return True


_NO_TEX = "pdflatex (and for beamer, beamer.cls + PGF) is not installed: run `make system-deps` (.ci/install-tex)"


@pytest.mark.parametrize("cls", ["article", "beamer"])
@pytest.mark.parametrize("kind", CELLS)
def test_every_cells_latex_compiles_without_overfull_boxes(kind, cls, tmp_path):
    if not _has_tex(cls):
        pytest.skip(_NO_TEX)
    d = derive(kind, 3, hidden=2)
    rc, log = _compile(tmp_path, f"{kind}_{cls}", d.latex(document=cls))
    errors = [ln for ln in log.splitlines() if ln.startswith("!")]
    assert rc == 0 and not errors, errors
    overfull = re.findall(r"Overfull \\[hv]box \(([\d.]+)pt too (?:wide|high)\)", log)
    assert not overfull, f"{kind} ({cls}): overfull boxes of {overfull} pt"


@pytest.mark.parametrize("form", ["sum-of-paths", "matrix"])
def test_the_other_forms_compile_without_overfull_boxes(form, tmp_path):
    if not _has_tex():
        pytest.skip(_NO_TEX)
    rc, log = _compile(tmp_path, "lstm", derive("lstm", 3, hidden=2).latex(form, document="article"))
    assert rc == 0 and not re.findall(r"Overfull \\[hv]box", log)


def test_the_compile_check_fails_on_a_row_too_wide_for_the_page(tmp_path):
    if not _has_tex():
        pytest.skip(_NO_TEX)
    d = derive("lstm", 3, hidden=2)
    wide = d.latex(document="article").replace(r"\begin{align*}", r"\begin{align*}" + "\n" + "x &= " +
                                                 " + ".join(f"a_{{{i}}}" for i in range(60)) + r" \\", 1)
    rc, log = _compile(tmp_path, "wide", wide)
    assert re.search(r"Overfull \\hbox", log)


def test_compact_rows_merge_only_the_gate_rows_that_agree():
    lstm = "\n".join(matrix_form(_model("lstm", 3)).backward_rows(compact=True))
    assert (r"\frac{\partial E}{\partial W_{sk}} &= \sum_{t=1}^{T} \delta^{a_k}_{t}\, s_{t-1}^{\top},\quad "
            r"k \in \{i, f, g, o\}") in lstm
    gru = "\n".join(matrix_form(_model("gru", 3)).backward_rows(compact=True))
    assert r"k \in \{r, z, n\}" in gru                                  # W_x's blocks agree
    assert r"\frac{\partial E}{\partial W_{sn}} &= \sum_{t=1}^{T} \left(\delta^{a_n}_{t} \odot r_{t}\right)" in gru
    assert r"W_{sk}" not in gru                                        # W_sn differs: no merged W_s row
