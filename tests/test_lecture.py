"""``gradlab lecture``: the pack for one cell is written (figures, Beamer source, Markdown, the checker's
report on a planted mistake), compiles where TeX is present, and is written through gradlab.files."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from gradlab.cli import main
from gradlab.lecture import ascii_text, lecture_pack, wrong_derivation
from gradlab.symbolic import derive

_TEX = shutil.which("pdflatex") is not None and len(subprocess.run(
    ["kpsewhich", "beamer.cls", "pgfcore.sty"], capture_output=True, text=True).stdout.split()) == 2 \
    if shutil.which("kpsewhich") else False


@pytest.fixture(scope="module")
def elman_pack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lecture") / "elman"
    return lecture_pack("elman", 4, folder)


def test_the_elman_pack_holds_the_figures_the_slides_and_the_report(elman_pack):
    names = {p.name for p in elman_pack.files}
    assert {"lecture.tex", "lecture.md", "wrong_report.txt"} <= names
    if shutil.which("dot"):
        assert {"folded.png", "unfolded.png", "cell.png", "gradients.png"} <= names
    md = (elman_pack.folder / "lecture.md").read_text()
    for fig in ("folded.png", "unfolded.png", "cell.png", "gradients.png"):
        assert (f"]({fig})" in md) == (fig in names)
    # the matrix form of the recursion, and the wrong line with (1 − s²) gone
    assert r"W_{s}^{\top} \left(\delta_{t+1} \odot \left(1 - s_{t+1}^{2}\right)\right)" in md
    assert r"\delta_{t} &= W_{s}^{\top} \delta_{t+1} + W_{y}^{\top} \left(y_{t} - d_{t}\right)" in md
    tex = (elman_pack.folder / "lecture.tex").read_text()
    assert tex.startswith(r"\documentclass[10pt]{beamer}")
    # the report's verdicts as a table on a slide, the parameters in lecture notation
    assert r"\begin{tabular}" in tex and r"$W_{s}$ & WRONG" in tex and r"$W_{y}$ & ok" in tex


def test_the_planted_mistake_is_caught_where_tanh_is_and_only_there(elman_pack):
    report = elman_pack.report
    assert sorted(report.wrong) == ["W_s", "W_x", "b_s"]       # W_y, b_y never pass back through tanh
    text = (elman_pack.folder / "wrong_report.txt").read_text()
    assert re.search(r"W_s\s+\(\d, \d\)\s+WRONG", text) and re.search(r"W_y\s+\(\d, \d\)\s+ok", text)
    assert "$W_{y}$, $b_{y}$" in (elman_pack.folder / "lecture.md").read_text()


def test_the_wrong_derivation_differs_from_the_right_one_only_by_the_tanh_derivative():
    d = derive("gru", 3, hidden=2)
    wrong, gradient = wrong_derivation(d)
    vals = d.model.random_values(0)
    params = {k: v for k, v in vals.items() if k in d.model.params}
    data = {k: v for k, v in vals.items() if k not in d.model.params}
    got = gradient(params, data)
    ref = d.model.engine_gradient(vals)
    assert any(abs(got[k] - ref[k]).max() > 1e-6 for k in ref)
    assert abs(got["b_y"] - ref["b_y"]).max() < 1e-12          # the output bias never meets a tanh
    # and the checker's shorter sequences get a derivation of their own length
    short = {k: (v[:2] if k in ("xs", "ds") else v) for k, v in data.items()}
    assert gradient(params, short)["W_s"].shape == params["W_s"].shape


@pytest.mark.skipif(not _TEX, reason="pdflatex with beamer is not installed: run `make system-deps` (.ci/install-tex)")
def test_the_elman_deck_compiles_without_errors_or_overfull_boxes(elman_pack, tmp_path):
    assert elman_pack.pdf is not None and elman_pack.pdf.read_bytes().startswith(b"%PDF")
    for p in elman_pack.folder.iterdir():
        shutil.copy(p, tmp_path / p.name)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "lecture.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=180)
    log = (tmp_path / "lecture.log").read_text(errors="replace")
    assert r.returncode == 0, [ln for ln in log.splitlines() if ln.startswith("!")]
    assert not re.findall(r"Overfull \\[hv]box", log)
    pages = int(re.search(r"Output written on lecture.pdf \((\d+) pages", log).group(1))
    assert pages >= 9       # title, four figures, forward, backward, the wrong lines, the report, the lesson


def test_cli_writes_the_pack_and_keeps_files_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "pack"
    assert main(["lecture", "elman", "--T", "3", "--no-pdf", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["lecture", "elman", "--T", "3", "--no-pdf", "-o", str(out)]) == 0      # its own files: replaced
    (out / "lecture.md").write_text("my notes\n")
    assert main(["lecture", "elman", "--T", "3", "--no-pdf", "-o", str(out)]) == 3
    assert "--force" in capsys.readouterr().err and (out / "lecture.md").read_text() == "my notes\n"
    assert main(["lecture", "elman", "--T", "3", "--no-pdf", "-o", str(out), "--force"]) == 0
    assert main(["lecture", "hopfield", "-o", str(out)]) == 2
    assert main(["lecture", "elman", "--T", "40", "-o", str(out)]) == 2
    assert "T <= 12" in capsys.readouterr().err


def test_report_text_is_made_ascii_for_the_verbatim_slide():
    assert ascii_text("δ ⊙ (1 − s²)ᵀ ‖y‖ ½") == "delta * (1 - s^2)^T ||y|| 1/2"
