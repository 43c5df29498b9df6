"""Rich display in Jupyter: every object a lecturer shows has a rich representation with the right content,
every name that reaches HTML is escaped, and the lazily loaded entry points are offered by tab completion."""
import html
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradlab
from gradlab.check.report import CheckReport, Element, Finding, ParamResult, VerifyReport
from gradlab.nn.optim import SGD
from gradlab.nn.train import fit

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "<script>alert('x')</script>"


def _module(name):
    spec = importlib.util.spec_from_file_location(f"display_{name}", ROOT / "derivations" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(text):
    """The table rows of an HTML report: {first cell: [cells]} (cells as shown, tags removed)."""
    import re

    body = text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        rows[cells[0]] = cells
    return rows


# ------------------------------------------------------------------------------------ check reports
def test_check_report_html_has_a_verdict_per_parameter_the_worst_elements_and_their_time_steps():
    wrong = _module("wrong_elman_no_recurrent_term")
    report = gradlab.check_gradient(wrong.gradient, wrong.MODEL)
    text = report._repr_html_()
    rows = _rows(text)
    assert {name: cells[2] for name, cells in rows.items()} == {p.name: {"ok": "ok", "wrong": "WRONG"}[p.verdict]
                                                               for p in report.params}
    for name in report.wrong:
        p = report.param(name)
        cells = rows[name]
        assert report.element(p) in cells and gradlab.check.report.fmt(p.worst.candidate) in cells
        assert cells[-1] == "t = " + ", ".join(map(str, report.steps[name]))     # e.g. "t = 2, 3"
    assert rows["W_y"][-4:] == ["", "", "", ""]                                   # nothing to show for a right one
    assert html.escape(report.localisation[0]) in text and "recurrent term" in text
    from gradlab.render import dot_available

    if dot_available():                     # the unfolded network with the wrong steps marked, inline
        assert text.count("<svg") == 1 and "t = 2" in text.split("<svg", 1)[1]


def test_a_passing_report_says_pass_and_lists_no_wrong_elements():
    right = _module("elman_bptt_sequence")
    text = gradlab.check_gradient(right.gradient, right.MODEL)._repr_html_()
    assert "PASS" in text and "WRONG" not in text
    assert all(cells[2] == "ok" for cells in _rows(text).values())


def test_report_html_escapes_student_controlled_names_and_messages():
    p = ParamResult(HOSTILE, (2,), verdict="wrong", worst=Element((0,), 1.0, 2.0, 1.0, 0.5, "engine"), n_checked=2,
                    n_bad=1, per_reference={"engine": 0.5},
                    findings=[Finding("x", f"your {HOSTILE} & more", "error")])
    report = CheckReport(HOSTILE, f"<img src=x onerror=alert(1)> {HOSTILE}", {"T": 2}, 0, "full", "fd",
                         ("engine",), params=[p], verdict="fail", localisation=[HOSTILE],
                         values={HOSTILE: np.zeros(2)}, steps={HOSTILE: [1]})
    for text in (report._repr_html_(), VerifyReport(HOSTILE, HOSTILE, 0, 5, False, counterexample=report)._repr_html_()):
        assert "<script>" not in text and "<img" not in text
        assert html.escape(HOSTILE) in text and "&amp; more" in text


def test_layer_report_html_escapes_the_authors_names_in_the_table_and_the_figure():
    from gradlab.check.layer import LayerReport

    p = ParamResult(f"d{HOSTILE}", (2,), verdict="wrong", worst=Element((1,), 1.0, 2.0, 1.0, 0.5, "traced"),
                    n_checked=2, n_bad=1, per_reference={"traced": 0.5})
    report = LayerReport(HOSTILE, HOSTILE, {"T": 2}, 0, "full", "fd", ("traced",), params=[p], verdict="fail",
                         routes={"traced": HOSTILE}, notes=[f"--> {HOSTILE}"], gate_of={p.name: HOSTILE},
                         layer=f"--> {HOSTILE}")
    text = report._repr_html_()
    assert "<svg" in text                                       # the bar chart, its labels the hostile names
    assert "<script>" not in text and "--> <" not in text and html.escape(f"d{HOSTILE}[1] ({HOSTILE})") in text


def test_a_check_named_by_the_student_is_escaped_in_a_real_report():
    wrong = _module("wrong_elman_no_recurrent_term")
    report = gradlab.check_gradient(wrong.gradient, wrong.MODEL, name=HOSTILE)
    text = report._repr_html_()
    assert "<script>" not in text and html.escape(HOSTILE) in text


def test_verify_report_html_shows_the_smallest_counterexample_with_its_values():
    wrong = _module("wrong_elman_no_recurrent_term")
    found = gradlab.verify(wrong.gradient, wrong.MODEL, max_examples=10, seed=0)
    text = found._repr_html_()
    sizes = ", ".join(f"{k} = {v}" for k, v in found.counterexample.sizes.items())
    assert "smallest failing case" in text and html.escape(sizes) in text
    assert "<details>" in text and "W_s" in _rows(text) and _rows(text)["W_s"][2] == "WRONG"
    right = _module("elman_bptt_sequence")
    passed = gradlab.verify(right.gradient, right.MODEL, max_examples=3, seed=0)._repr_html_()
    assert "no counterexample" in passed and "<table" not in passed


def test_layer_report_html_names_the_authors_gradients_and_embeds_its_figure():
    layer = _module("wrong_layer_coursera_no_recurrent_term").LAYER
    report = gradlab.check.check_layer(layer)
    text = report._repr_html_()
    rows = _rows(text)
    assert set(rows) == {p.name for p in report.params} and rows["dWaa"][2] == "WRONG"
    assert rows["dx"][-1] == "t = " + ", ".join(map(str, report.steps["dx"]))
    assert "<svg" in text and "<?xml" not in text                                  # the heat map, inline
    assert "diagnosis" in text and "a_prev" in text


def test_reports_pretty_print_as_their_text_format():
    pretty = pytest.importorskip("IPython.lib.pretty")
    wrong = _module("wrong_elman_no_recurrent_term")
    report = gradlab.check_gradient(wrong.gradient, wrong.MODEL)
    assert pretty.pretty(report) == report.format()


# ------------------------------------------------------------------------------------ derivations
def test_derivation_displays_as_markdown_and_as_latex_equations():
    d = gradlab.derive("elman", T=2)
    assert d._repr_markdown_() == d.markdown()
    tex = d._repr_latex_()
    blocks = tex.count(r"\begin{aligned}")
    assert blocks == len(d._sections(d.form)) == tex.count(r"\end{aligned}") and tex.count("$$") == 2 * blocks
    assert not any(line.startswith("%") for line in tex.splitlines())              # no comment lines for MathJax
    assert r"\delta_{t}" in tex and r"\tanh" in tex


# ------------------------------------------------------------------------------------ training
def _run(steps=12, **options):
    w = gradlab.Parameter(np.array([1.0, -2.0]), name="w")
    return fit(lambda _: (w * w).sum() * 0.5, range(steps), SGD([w], lr=0.1), progress=False, **options)


def test_history_plots_the_loss_and_the_gradient_norm_of_every_step():
    h = _run()
    fig = h.figure()
    loss_ax, norm_ax = fig.axes
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), h.losses)
    np.testing.assert_allclose(norm_ax.lines[0].get_ydata(), h.grad_norms)
    assert norm_ax.get_ylabel() == "gradient norm" and loss_ax.get_xlabel() == "step"
    svg = h._repr_svg_()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "12 steps" in repr(h) and len(repr(h)) < 200                           # not every loss in the repr


def test_a_history_without_steps_displays_no_plot():
    from gradlab.nn.train import History

    assert History()._repr_svg_() is None and "no steps" in repr(History())


class _Handle:
    def __init__(self, log):
        self.log = log

    def update(self, obj):
        self.log.append(("update", obj))


def test_fit_redraws_one_live_plot_in_a_notebook_and_none_elsewhere(monkeypatch):
    ipd = pytest.importorskip("IPython.display")
    log = []

    def display(obj, display_id=None):
        log.append(("display", obj))
        return _Handle(log)

    monkeypatch.setattr(ipd, "display", display)
    _run(live=True)
    assert log == []                                            # not in a notebook: the text bar alone
    monkeypatch.setattr("gradlab.progress.in_notebook", lambda: True)
    h = _run(live=True)
    kinds = [k for k, _ in log]
    assert kinds[0] == "display" and kinds.count("display") == 1 and kinds[-1] == "update"
    assert all(isinstance(obj, ipd.SVG) and "<svg" in obj.data for _, obj in log) and h.steps == 12
    log.clear()
    _run(live=False)
    _run()                                                      # auto: a run shorter than a second draws nothing
    assert log == []


# ------------------------------------------------------------------------------------ graphs
def test_a_graph_figure_displays_as_svg_and_falls_back_to_its_dot_source_without_dot(monkeypatch):
    from gradlab.render import output

    fig = gradlab.render("elman", T=2)
    if output.dot_available():
        assert fig._repr_mimebundle_()["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    monkeypatch.setattr(output.shutil, "which", lambda name: None)
    bundle = fig._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert "not installed" in bundle["text/plain"] and fig.source in bundle["text/plain"]


# ------------------------------------------------------------------------------------ tab completion
def test_dir_gradlab_offers_the_lazy_entry_points_without_importing_them():
    code = ("import sys, gradlab; d = dir(gradlab); "
            "print(all(n in d for n in ('derive', 'check_gradient', 'verify', 'render', 'nn')), "
            "'gradlab.symbolic' in sys.modules, 'gradlab.check' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == ["True", "False", "False"]
    assert {"derive", "check_gradient", "verify"} <= set(dir(gradlab)) and "Tensor" in dir(gradlab)


# ------------------------------------------------------------------------------------ progress
class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_verify_shows_a_tqdm_bar_of_the_examples_on_a_terminal_and_is_silent_otherwise(monkeypatch, capsys):
    right = _module("elman_bptt_sequence")
    gradlab.verify(right.gradient, right.MODEL, max_examples=3, seed=0)
    assert capsys.readouterr().err == ""                        # stderr is not a terminal under pytest
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    gradlab.verify(right.gradient, right.MODEL, max_examples=3, seed=0, progress=True)
    final = tty.getvalue().split("\r")[-1]
    assert final.startswith("searching") and "3/3" in final and "example" in final
    assert capsys.readouterr().out == ""


def test_progress_bars_show_only_where_someone_watches_unless_asked(monkeypatch):
    from tqdm.std import tqdm

    from gradlab import progress

    monkeypatch.setattr(sys, "stderr", io.StringIO())          # a log file or a pipe
    assert progress.progress_bar(10).disable and not progress.in_notebook()
    assert not progress.progress_bar(10, enabled=True).disable
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    shown = progress.progress_bar(10)
    assert not shown.disable and shown.delay == 1.0                                 # a terminal, after 1 s
    shown.close()
    with progress.progress_bar(10, delay=0) as now:
        now.update(10)
    assert "10/10" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    assert not progress.progress_bar(10).disable                                    # a notebook
    given = io.StringIO()
    with progress.progress_bar(10, enabled=True, stream=given) as bar:
        bar.update(3)
    assert type(bar) is tqdm and "3/10" in given.getvalue()
    with pytest.raises(TypeError, match="enabled"):
        progress.progress_bar(10, enabled="yes")


def test_no_module_of_gradlab_draws_a_progress_bar_by_hand():
    import ast

    from tqdm.std import tqdm

    offenders = []
    for path in (ROOT / "gradlab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\r" in node.value:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")      # a carriage return: a redraw
    assert offenders == []
    with pytest.warns(DeprecationWarning):
        bar = gradlab.nn.ProgressBar(3, enabled=False)
    assert isinstance(bar._bar, tqdm)
