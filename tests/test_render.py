"""Lecture figures: the DOT source says what a teacher would check on the slide (one column per time
step, the shared weights on every copy, one recurrent edge through the delay, the failing parameter in
red), the numbers drawn equal the engine's, and a missing `dot` program is a message, not a traceback.
Tests that run `dot` carry the graphviz_exe marker."""
import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab.nn.losses import mse_half
from gradlab.nn.unroll import unroll
from gradlab.render import check_figure, failure_figure, render, state_gradients, to_dot, unfolding_of, write
from gradlab.render.cli import add_arguments, run
from gradlab.render.source import make_cell
from strategies import budget

CELLS = ["elman", "jordan", "lstm", "gru", "peephole", "fourgate"]
HIGHLIGHT = "#d62728"


# ----------------------------------------------------------------------------------- helpers
def plain(markup: str) -> str:
    """Text of an HTML-like label: <I>W</I><SUB>s</SUB> -> W_s."""
    text = re.sub(r"<SUB>", "_", markup)
    text = re.sub(r"<BR[^>]*>", " ", text)
    return re.sub(r"<[^>]+>", "", text)


def clusters(src: str) -> list:
    return [int(t) for t in re.findall(r"subgraph cluster_t(\d+) \{", src)]


def edges(src: str) -> list:
    """(tail, head, attribute text) of every edge statement."""
    return re.findall(r"^\s*(\S+) -> (\S+)(?: \[(.*)\])?$", src, re.M)


def edge_labels(src: str) -> list:
    out = []
    for tail, head, attrs in edges(src):
        m = re.search(r"label=<(.*)>", attrs or "")
        out.append((tail, head, plain(m.group(1)) if m else ""))
    return out


def positions(fig) -> dict:
    js = json.loads(fig.pipe(format="json"))
    return {o["name"]: tuple(float(v) for v in o["pos"].split(",")) for o in js["objects"] if "pos" in o}


# ------------------------------------------------------------------------- unfolded structure
@settings(max_examples=budget(12))
@given(cell=st.sampled_from(CELLS), T=st.integers(1, 9))
def test_unfolded_view_has_one_cluster_per_time_step(cell, T):
    src = to_dot(cell, T=T).source
    assert sorted(t for t in clusters(src) if t > 0) == list(range(1, T + 1))


@pytest.mark.parametrize("T", [1, 3, 6])
def test_elman_shared_weights_carry_their_label_on_every_copy(T):
    labels = edge_labels(to_dot("elman", T=T).source)
    for name, head in (("W_x", "s_t"), ("W_s", "s_t"), ("W_y", "y_t")):
        carrying = [(tail, h) for tail, h, text in labels if text == name]
        assert len(carrying) == T, (name, carrying)
        assert sorted(h for _, h in carrying) == sorted(f"{head}{t}" for t in range(1, T + 1))


@pytest.mark.parametrize("cell", ["lstm", "gru", "fourgate"])
def test_gated_cell_box_lists_its_shared_parameters_on_every_copy(cell):
    T = 4
    src = to_dot(cell, T=T).source
    boxes = {n: plain(lbl) for n, lbl in re.findall(r"(cell_t\d+) \[label=<(.*?)> ", src)}
    assert sorted(boxes) == sorted(f"cell_t{t}" for t in range(1, T + 1))
    names = set(make_cell(cell).parameters_by_name()) - {"W_y", "b_y"}
    for box, label in boxes.items():
        shown = set(re.findall(r"[A-Za-z]+_[A-Za-z]+", label))
        if box == f"cell_t{T}":
            assert shown <= names     # the last step's unread state parts (LTM_T) record no ops
        else:
            assert shown == names, (label, names)


@pytest.mark.parametrize("cell", ["elman", "lstm"])
def test_shared_once_lists_each_parameter_once_and_colours_one_edge_per_step_with_it(cell):
    T = 5
    src = to_dot(cell, T=T, shared="once").source
    params = make_cell(cell).parameters_by_name()
    legend = re.search(r"legend_shared \[label=<(.*)> ", src).group(1)
    entries = re.findall(r'<TR><TD ALIGN="LEFT"><FONT COLOR="(#\w+)">━+</FONT>(.*?)</TD></TR>', legend)
    for name in params:
        holders = [colour for colour, text in entries if name in plain(text).replace(" ", "").split(",")]
        assert len(holders) == 1, (name, entries)        # drawn once (with the parameters it travels with)
        used = [(t, h) for t, h, a in edges(src) if f'color="{holders[0]}"' in (a or "")]
        assert len(used) == T, (name, used)              # one coloured edge per step
    assert not [lbl for _, _, lbl in edge_labels(src) if lbl in params]  # no per-copy labels in this mode
    assert "constraint=false" not in src                 # no edge routed freely across the steps


def test_source_is_deterministic_for_the_same_model_and_seed():
    a = to_dot(make_cell("lstm", rng=3), T=4).source
    b = to_dot(make_cell("lstm", rng=3), T=4).source
    assert a == b
    assert to_dot("gru", "ops", T=3).source == to_dot("gru", "ops", T=3).source


def test_elide_keeps_the_first_and_last_steps_and_one_gap():
    src = to_dot("elman", T=20, elide=2).source
    assert sorted(t for t in clusters(src) if t > 0) == [1, 2, 19, 20]
    assert src.count("subgraph cluster_gap") == 1
    assert ("s_t2", "gap") in [(t, h) for t, h, _ in edges(src)]
    assert ("gap", "s_t19") in [(t, h) for t, h, _ in edges(src)]


def test_raw_loss_graph_without_hints_is_read_off_the_scopes():
    cell = make_cell("elman")
    rng = np.random.default_rng(1)
    net = unroll(cell, rng.normal(size=(4, 3)))
    loss = mse_half(net.outputs[0], rng.normal(size=2))
    for y in net.outputs[1:]:
        loss = loss + mse_half(y, rng.normal(size=2))
    u = unfolding_of(loss)
    assert [len(u.steps[t].states) for t in u.times] == [1, 1, 1, 1]
    assert len(u.initial) == 1
    labels = edge_labels(to_dot(loss).source)
    assert sum(text == "W_s" for _, _, text in labels) == 4


# ------------------------------------------------------------------------------------ folded
def test_folded_elman_has_exactly_one_recurrent_edge_through_the_delay():
    src = to_dot("elman", "folded", T=3).source
    delays = re.findall(r"^\s*(delay_\S+) \[", src, re.M)
    assert delays == ["delay_s"]
    es = [(t, h) for t, h, _ in edges(src)]
    assert [e for e in es if "delay_s" in e] == [("s", "delay_s"), ("delay_s", "s")]
    assert [lbl for t, h, lbl in edge_labels(src) if t == "delay_s"] == ["W_s"]


@pytest.mark.parametrize("cell,carried", [("lstm", {"s", "c"}), ("gru", {"s"}), ("jordan", {"y"})])
def test_folded_view_has_one_delay_per_carried_state_each_one_edge_in_one_out(cell, carried):
    src = to_dot(cell, "folded", T=3).source
    delays = set(re.findall(r"^\s*delay_(\S+) \[", src, re.M))
    assert delays == carried
    for d in delays:
        ins = [t for t, h, _ in edges(src) if h == f"delay_{d}"]
        outs = [h for t, h, _ in edges(src) if t == f"delay_{d}"]
        assert ins == [d] and len(outs) == 1


# ---------------------------------------------------------------------------- check view
def test_check_view_highlights_exactly_the_failing_parameter():
    findings = {"W_s": {"steps": [2, 3], "index": (0, 1), "candidate": 0.12, "reference": 0.23, "rel_err": 0.47},
                "W_x": {"ok": True}, "W_y": {"ok": True}}
    src = check_figure(findings, "elman", T=4).source
    red = re.findall(rf'<FONT COLOR="{HIGHLIGHT}"><B>(.*?)</B></FONT>', src)
    assert {plain(r) for r in red} == {"W_s"}
    red_edges = [(t, h) for t, h, a in edges(src) if f'color="{HIGHLIGHT}"' in (a or "") and "label=" in a]
    assert sorted(red_edges) == [("s_t1", "s_t2"), ("s_t2", "s_t3")]
    framed = re.findall(rf"subgraph cluster_t(\d+) \{{\n\t\tcolor=\"{HIGHLIGHT}\"", src)
    assert sorted(map(int, framed)) == [2, 3]
    assert "0.47" in src and "[0, 1]" in src


def test_check_view_on_a_gated_cell_marks_the_parameter_in_the_failing_boxes_only():
    src = check_figure({"W_x": {"steps": [3]}}, "lstm", T=4).source
    boxes = dict(re.findall(r"(cell_t\d+) \[label=<(.*?)> ", src))
    hot = [b for b, lbl in boxes.items() if HIGHLIGHT in lbl]
    assert hot == ["cell_t3"]
    assert plain(re.search(rf'<FONT COLOR="{HIGHLIGHT}"><B>(.*?)</B>', boxes["cell_t3"]).group(1)) == "W_x"


def test_check_view_rejects_an_unknown_parameter():
    with pytest.raises(ValueError, match="no parameter 'W_q'"):
        check_figure({"W_q": {"steps": [1]}}, "elman", T=2)


def test_failure_figure_reads_a_checker_report(tmp_path):
    class Worst:
        index, candidate, reference, rel_err = (1, 0), 0.5, 0.25, 1.0

    class Param:
        def __init__(self, name, verdict):
            self.name, self.verdict, self.worst = name, verdict, Worst()

    class Report:
        name, model, sizes = "wrong_ws", "Elman RNN (tanh), E = Σ_t E_t, E_t = ½‖y_t − d_t‖²", {"T": 3, "D": 2, "H": 3, "O": 2}
        params = [Param("W_x", "ok"), Param("W_s", "wrong")]

    out = failure_figure(Report(), tmp_path / "wrong_ws", fmt="dot")
    src = out.read_text()
    assert out.name == "wrong_ws.dot"
    assert {plain(r) for r in re.findall(rf'<FONT COLOR="{HIGHLIGHT}"><B>(.*?)</B></FONT>', src)} == {"W_s"}


# ------------------------------------------------------------------------------- gradients
def test_gradient_norms_drawn_equal_the_engine_adjoints():
    cell = make_cell("elman", rng=2)
    rng = np.random.default_rng(5)
    net = unroll(cell, rng.normal(size=(5, 3)))
    for s in net.states:
        s.retain_grad()
    loss = mse_half(net.outputs[-1], rng.normal(size=2))
    loss.backward()
    norms = state_gradients(unfolding_of(loss))
    for s in net.states:
        assert norms[s] == pytest.approx(float(np.linalg.norm(s.grad)), rel=1e-12)


def test_truncation_every_step_leaves_only_the_local_gradient():
    cell = make_cell("elman", rng=4)
    rng = np.random.default_rng(6)
    net = unroll(cell, rng.normal(size=(4, 3)))
    targets = rng.normal(size=(4, 2))
    terms = [mse_half(y, d) for y, d in zip(net.outputs, targets)]
    total = terms[0]
    for e in terms[1:]:
        total = total + e
    norms = state_gradients(unfolding_of(total), truncate=1)
    for s, e in zip(net.states, terms):
        s.grad = None
        s.retain_grad()
        e.backward()
        assert norms[s] == pytest.approx(float(np.linalg.norm(s.grad)), rel=1e-12)
        s.retains_grad = False


def test_gradient_view_marks_each_truncation_boundary_and_points_back_in_time():
    src = to_dot("elman", "gradients", T=7, truncate=3, fit=None).source
    assert src.count(">stop<") == 2            # after steps 3 and 6
    recurrent = [a for t, h, a in edges(src) if re.fullmatch(r"s_t\d", t) and re.fullmatch(r"s_t\d", h)]
    assert recurrent and all("dir=back" in a for a in recurrent)


# ---------------------------------------------------------------------------- other views
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_op_view_draws_every_recorded_op_of_the_steps(cell):
    u = unfolding_of(cell, T=3)
    src = to_dot(cell, "ops", T=3).source
    for t in u.times:
        for n in u.steps[t].nodes:
            assert re.search(rf"^\s*n{u.index[n]} \[", src, re.M), (t, n)


def test_cell_interior_keeps_the_lstm_cell_state_line_on_one_rank():
    src = to_dot("lstm", "cell", T=3).source
    rows = re.findall(r"\{\n\t\trank=same\n((?:\t\t[^\n]*\n)+)\t\}", src)
    assert len(rows) == 1
    belt = rows[0].split()
    assert belt[0].startswith("in_") and belt[-1] == "out_c" and len(belt) == 4   # c_{t-1} -> × -> + -> c_t


def test_unknown_view_and_graph_without_time_steps_are_clear_errors():
    with pytest.raises(ValueError, match="unknown view 'sideways'"):
        to_dot("elman", "sideways")
    w = gradlab.Parameter(np.ones(2), name="w")
    with pytest.raises(ValueError, match="no time steps"):
        to_dot((w * w).sum())
    with pytest.raises(ValueError, match="unknown cell 'tree'"):
        to_dot("tree")


# ---------------------------------------------------------------------------- without dot
def test_without_dot_rendering_says_what_to_install_and_writes_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    fig = to_dot("gru", T=2)                       # building needs no dot
    with pytest.warns(RuntimeWarning, match="apt-get install graphviz"):
        out = write(fig, tmp_path / "gru.png")
    assert out == tmp_path / "gru.png.dot" and out.read_text().startswith(fig.source)   # then gradlab's mark
    bundle = fig._repr_mimebundle_()
    assert list(bundle) == ["text/plain"] and "not installed" in bundle["text/plain"]


def test_cli_without_dot_exits_cleanly_with_the_install_hint(tmp_path, monkeypatch, capsys):
    import argparse

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    status = run(parser.parse_args(["lstm", "--T", "2", "-o", str(tmp_path / "f.svg")]))
    err = capsys.readouterr().err
    assert status == 4 and "Traceback" not in err and "install graphviz" in err   # no SVG: not a success
    assert "no SVG could be drawn" in err and "f.svg.dot" in err
    assert (tmp_path / "f.svg.dot").exists() and not (tmp_path / "f.svg").exists()
    assert run(parser.parse_args(["lstm", "-o", str(tmp_path / "f.bmp2")])) == 2
    assert "cannot tell the format" in capsys.readouterr().err


def test_cli_writes_dot_source_for_every_view(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for view in ("unfolded", "folded", "cell", "ops", "gradients"):
        out = tmp_path / f"{view}.dot"
        assert run(parser.parse_args(["gru", "--T", "3", "--view", view, "-o", str(out)])) == 0
        assert out.read_text().startswith("digraph")


# ------------------------------------------------------------------------------ with dot
def x_order(fig, names):
    pos = positions(fig)
    return [n for n in sorted(names, key=lambda n: pos[n][0])]


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("cell", ["elman", "jordan", "lstm", "gru"])
@pytest.mark.parametrize("kwargs", [{}, {"shared": "once"}, {"view": "gradients", "truncate": 2, "fit": None},
                                    {"elide": 3}, {"view": "gradients", "elide": 2, "truncate": 4}])
def test_time_runs_left_to_right_in_the_rendered_layout(cell, kwargs):
    for T in ((8, 15) if "elide" in kwargs else (2, 5, 9)):
        fig = to_dot(cell, T=T, **kwargs)
        k = kwargs.get("elide")
        steps = list(range(1, T + 1)) if k is None else list(range(1, k + 1)) + list(range(T - k + 1, T + 1))
        xs = [f"x_t{t}" for t in steps]
        assert x_order(fig, xs) == xs, (cell, T, kwargs)


@pytest.mark.graphviz_exe
def test_time_runs_left_to_right_in_the_op_level_and_gate_level_layouts():
    u = unfolding_of("lstm", T=5)
    fig = to_dot(u, "ops")
    xs = [f"n{u.index[u.steps[t].inputs[0]]}" for t in u.times]
    assert x_order(fig, xs) == xs
    gates = to_dot(u, "unfolded", detail="gates")
    pos = positions(gates)
    belt = [f"t{t}_out_c" for t in u.times[:-1]]
    assert x_order(gates, belt) == belt
    assert len({round(pos[n][1]) for n in belt}) == 1        # the cell-state line is straight
    for view, kw, first, last in (("ops", {}, "n", "n"), ("unfolded", {"detail": "gates"}, "t1_", "t12_")):
        u12 = unfolding_of("lstm", T=12)
        fig = to_dot(u12, view, elide=1, **kw)
        pos = positions(fig)
        left = max(x for name, (x, y) in pos.items() if name.startswith(first) and
                   (view != "ops" or name == f"n{u12.index[u12.steps[1].inputs[0]]}"))
        right = min(x for name, (x, y) in pos.items() if name.startswith(last) and
                    (view != "ops" or name == f"n{u12.index[u12.steps[12].inputs[0]]}"))
        assert left < pos["gap"][0] < right, view


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_rows_inputs_bottom_states_middle_losses_top(cell):
    fig = to_dot(cell, T=3)
    pos = positions(fig)
    for t in (1, 2, 3):
        assert pos[f"x_t{t}"][1] < pos[f"s_t{t}"][1] < pos[f"y_t{t}"][1] < pos[f"E_t{t}"][1]


@pytest.mark.graphviz_exe
def test_no_edge_is_drawn_twice():
    # dot 2.4x doubles a flat edge between clusters when its tail has a flat edge inside its own cluster
    for cell in ("lstm", "gru"):
        for view in ("unfolded", "folded", "cell", "gradients"):
            svg = to_dot(cell, view, T=3).pipe(format="svg").decode()
            groups = re.findall(r'<g id="edge\d+" class="edge">(.*?)</g>', svg, re.S)
            assert groups and all(g.count("<path") == 1 for g in groups), (cell, view)


@pytest.mark.graphviz_exe
def test_render_writes_svg_png_pdf_by_suffix(tmp_path):
    magic = {".svg": b"<?xml", ".png": b"\x89PNG", ".pdf": b"%PDF"}
    for suffix, head in magic.items():
        out = tmp_path / f"lstm{suffix}"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            render("lstm", out, view="folded", T=2)
        assert out.read_bytes().startswith(head)


@pytest.mark.graphviz_exe
def test_render_cli_end_to_end(tmp_path):
    out = tmp_path / "gru.svg"
    proc = subprocess.run([sys.executable, "-m", "gradlab.cli", "render", "gru", "--T", "3", "--view", "gradients",
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "<svg" in out.read_text()


def test_gradlab_render_stays_callable_after_the_package_is_imported():
    import gradlab.render.cli  # noqa: F401  (sets the attribute gradlab.render to the package)

    first = gradlab.render("elman", T=2)
    second = gradlab.render("elman", T=2)
    assert first.source == second.source == gradlab.to_dot("elman", T=2).source


@pytest.mark.graphviz_exe
def test_figure_displays_inline_as_svg_in_jupyter():
    bundle = to_dot("lstm", "folded", T=2)._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]


def test_feedforward_check_figure_highlights_exactly_the_failing_parameters():
    from gradlab.render import style
    from gradlab.render.checkview import feedforward_check_figure

    src = feedforward_check_figure({"W_2": {"index": (0, 0), "candidate": 2.0, "reference": 1.0, "rel_err": 0.33},
                                    "W_1": {"ok": True}, "b_2": {"ok": True}}).source
    red_edges = [line for line in src.splitlines() if "->" in line and style.HIGHLIGHT in line and "note_" not in line]
    assert len(red_edges) == 1 and red_edges[0].strip().startswith("h -> y")
    assert "note_W_2" in src and "note_W_1" not in src


@pytest.mark.parametrize("cell, gates", [("gru", "rzn"), ("lstm", "ifgo")])
def test_cell_view_labels_gate_slices_with_the_gate_names_in_docstring_order(cell, gates):
    src = gradlab.to_dot(cell, view="cell", T=3).source
    labels = [line for line in src.splitlines() if "shape=box" in line]   # named in the gate's box
    for g in gates:
        assert any(f"<I>{g}</I><SUB>t</SUB>" in line for line in labels), (g, labels)
    assert "[..." not in src  # no raw slice notation left on the figure


# ------------------------------------------------------------------ slides: sizes, looks, the command
def cli(*argv) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([str(a) for a in argv]))


def test_cli_names_a_missing_folder_and_creates_it_only_with_mkdir(tmp_path, capsys):
    target = tmp_path / "slides" / "elman.dot"
    assert cli("elman", "-o", target) == 3
    err = capsys.readouterr().err
    assert "slides: no such folder" in err and "--mkdir" in err and not target.parent.exists()
    assert cli("elman", "-o", target, "--mkdir") == 0 and target.read_text().startswith("digraph")


def test_sequences_above_the_limit_are_elided_unless_all_steps_are_asked_for():
    from gradlab.render import AUTO_KEEP, MAX_STEPS

    fig = to_dot("gru", T=MAX_STEPS + 1)
    kept = sorted(t for t in clusters(fig.source) if t > 0)
    assert fig.kept == AUTO_KEEP and kept == [1, 2, 3, MAX_STEPS - 1, MAX_STEPS, MAX_STEPS + 1]
    assert sorted(t for t in clusters(to_dot("gru", T=MAX_STEPS).source) if t > 0) == list(range(1, MAX_STEPS + 1))
    every = to_dot("gru", T=MAX_STEPS + 1, all_steps=True)
    assert every.kept is None and len([t for t in clusters(every.source) if t > 0]) == MAX_STEPS + 1


def test_twenty_thousand_steps_draw_an_elided_figure_of_six_steps(tmp_path, capsys):
    # gradlab render elman --T 20000 once grew to 9 GiB in dot; now the middle is elided (measured: 3.1 s and
    # 280 MB for the whole command at load average 2.5; the test asserts what is drawn, not the time)
    assert cli("elman", "--T", 20000, "-o", tmp_path / "long.dot") == 0
    err = capsys.readouterr().err
    assert "20000 steps: the first and last 3 are drawn" in err
    src = (tmp_path / "long.dot").read_text()
    assert sorted(t for t in clusters(src) if t > 0) == [1, 2, 3, 19998, 19999, 20000]
    assert "t = 4 … 19997" in src and len(src) < 20000


def test_gradient_view_fits_a_slide_by_default_and_elides_only_when_asked_to_fit():
    fig = to_dot("lstm", "gradients", T=40)
    assert fig.kept is not None and fig.graph_attr["ratio"] == f"{9 / 16:.4f}"
    assert to_dot("lstm", "gradients", T=40, fit=None).kept is None
    assert to_dot("elman", "unfolded", T=40).kept is None          # the other views keep every step by default
    four_three = to_dot("elman", "gradients", T=40, fit="4:3")
    assert four_three.kept < to_dot("elman", "gradients", T=40).kept
    with pytest.raises(ValueError, match="aspect ratio such as '16:9'"):
        to_dot("elman", "gradients", fit="wide")


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_gradient_view_at_forty_steps_is_no_wider_than_sixteen_by_nine(cell):
    plain_layout = to_dot(cell, "gradients", T=40, truncate=5).pipe(format="plain").decode()
    _, _, width, height = plain_layout.splitlines()[0].split()
    assert float(width) / float(height) <= 16 / 9 + 1e-3, (width, height)
    rendered = to_dot(cell, "gradients", T=40, fit=None).pipe(format="plain").decode().splitlines()[0].split()
    assert float(rendered[2]) / float(rendered[3]) > 16 / 9            # without fitting it would not be


def test_gradient_numbers_legend_and_faintest_arrow_are_readable_on_a_slide():
    from gradlab.render import style

    src = to_dot("elman", "gradients", T=12, loss_at="last", weight_scale=0.8).source
    sizes = [float(v) for v in re.findall(r'POINT-SIZE="([0-9.]+)"', src)]
    assert sizes and min(sizes) >= 12
    widths = [float(w) for t, h, a in edges(src) for w in re.findall(r"penwidth=([0-9.]+)", a or "")]
    assert widths and min(widths) >= style.EDGE_MIN_WIDTH
    colours = [c for t, h, a in edges(src) for c in re.findall(r'color="(#\w+)"', a or "") if "penwidth" in (a or "")]
    assert "#ffffcc" not in colours                                   # the palest end of the scale is never an arrow
    assert "legend -> start" in src                                   # the legend stands under the figure


def test_loss_at_last_and_weight_scale_make_the_readme_vanishing_gradient():
    from gradlab.render import unfolding_of

    u = unfolding_of("elman", T=6, loss_at="last")
    assert [len(u.steps[t].losses) for t in u.times] == [0, 0, 0, 0, 0, 1]
    first = []
    for scale in (None, 0.5):                                     # smaller weights: a fainter signal at t = 1
        u = unfolding_of("elman", T=6, loss_at="last", weight_scale=scale)
        first.append(state_gradients(u)[u.steps[1].states[0]])
    assert first[1] < first[0]
    cell = make_cell("elman")
    before = cell.W_s.data.copy()
    to_dot(cell, "gradients", T=3, weight_scale=0.5)
    assert np.array_equal(cell.W_s.data, before)                    # the caller's cell is not scaled
    with pytest.raises(ValueError, match="loss_at"):
        to_dot("elman", loss_at="first")


def test_titles_are_drawn_in_lecture_notation_without_raw_underscores():
    from gradlab.render.style import title_markup

    for title in ("Elman RNN (tanh), E = Σ_t E_t, E_t = ½‖y_t − d_t‖²", "δ_t and s_{t−1} and W_s"):
        src = to_dot("elman", T=2, title=title).source
        label = re.search(r"label=<<B>(.*)</B>> labelloc=b", src).group(1)
        assert "_" not in label and "<SUB>t</SUB>" in label
    assert title_markup("s_{t−1}") == "s<SUB>t−1</SUB>"
    code = title_markup("wrong_elman.py: W_s")                     # a file name keeps its underscore, in code type
    assert code == '<FONT FACE="Courier">wrong_elman.py</FONT>: W<SUB>s</SUB>'


def test_folded_delay_square_is_labelled_with_the_state_one_step_back():
    for cell, states in (("elman", ["s"]), ("lstm", ["s", "c"])):
        src = to_dot(cell, "folded", T=3).source
        for s in states:
            line = re.search(rf"^\s*delay_{s} \[label=<(.*)> ", src, re.M).group(1)
            assert "delay" in plain(line) and f"{s}_t−1" in plain(line)


def test_dark_theme_font_size_and_fewer_labels_apply_to_every_view():
    for view in ("unfolded", "folded", "cell", "ops", "gradients"):
        light, dark = to_dot("gru", view, T=3), to_dot("gru", view, T=3, theme="dark")
        assert "bgcolor" not in light.source and 'bgcolor="#1e1e1e"' in dark.source, view
        for line in dark.source.splitlines():       # light fills turn dark (a fill chosen with its text colour stays)
            for fill in re.findall(r'fillcolor="#(\w{6})"', line if "fontcolor=" not in line else ""):
                r, g, b = (int(fill[i:i + 2], 16) for i in (0, 2, 4))
                assert 0.299 * r + 0.587 * g + 0.114 * b < 110, (view, line)
        big = to_dot("gru", view, T=3, fontsize=21).source
        assert "fontsize=21" in big, view
    few = edge_labels(to_dot("elman", T=4, labels="few").source)
    assert sorted(lbl for _, _, lbl in few if lbl) == ["W_s", "W_x", "W_y"]     # each weight named once
    assert not [lbl for _, _, lbl in edge_labels(to_dot("elman", T=4, labels="none").source) if lbl]
    fig = to_dot("elman", T=4, size="1280x720", dpi=144)
    assert fig.graph_attr["size"] == f"{1280 / 144:.4g},{720 / 144:.4g}" and fig.graph_attr["dpi"] == "144"
    with pytest.raises(ValueError, match="theme"):
        to_dot("elman", theme="blue")


@pytest.mark.graphviz_exe
def test_size_option_gives_a_png_no_larger_than_the_slide(tmp_path):
    import struct

    out = tmp_path / "lstm.png"
    assert cli("lstm", "--T", 8, "-o", out, "--size", "1280x720") == 0
    width, height = struct.unpack(">II", out.read_bytes()[16:24])
    assert width <= 1280 and height <= 720 and max(width / 1280, height / 720) > 0.95


def test_wrap_draws_every_step_in_bands_and_carries_the_state_across_through_a_dashed_copy():
    src = to_dot("elman", "gradients", T=12, loss_at="last", wrap=6).source
    assert sorted(t for t in clusters(src) if t > 0) == list(range(1, 13))
    es = [(t, h) for t, h, _ in edges(src)]
    assert ("s_t6", "to_s_t6") in es and ("from_s_t6", "s_t7") in es     # continued below, picked up there
    assert ("s_t6", "s_t7") not in es and ("s_t7", "s_t6") not in es    # no edge runs back across the figure
    with pytest.raises(ValueError, match="wrap must be a positive int"):
        to_dot("elman", wrap=0)


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("cell", ["elman", "lstm"])
def test_wrapped_bands_stand_one_under_the_other_with_time_left_to_right_in_each(cell):
    fig = to_dot(cell, "gradients", T=8, wrap=4)
    pos = positions(fig)
    first, second = [f"x_t{t}" for t in range(1, 5)], [f"x_t{t}" for t in range(5, 9)]
    assert x_order(fig, first) == first and x_order(fig, second) == second
    assert max(pos[n][1] for n in second) < min(pos[n][1] for n in first)   # the second band is lower


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("kwargs", [{"shared": "once"}, {}, {"view": "gradients", "fit": None}])
def test_step_labels_sit_under_the_inputs_where_no_edge_runs(kwargs):
    # the edges E_t -> E once ran through the labels "t = k" at the top of each step
    js = json.loads(to_dot("elman", T=4, **kwargs).pipe(format="json"))
    objects = js["objects"]
    y = {o["_gvid"]: float(o["pos"].split(",")[1]) for o in objects if "pos" in o}
    for o in objects:
        if re.fullmatch(r"cluster_t[1-9]\d*", o["name"]):
            label_y = float(o["lp"].split(",")[1])
            assert all(label_y < y[n] for n in o["nodes"] if n in y), o["name"]


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_slide_fitted_gradient_view_keeps_time_left_to_right_around_the_gap(cell):
    # with one step kept at each end an edge from the hidden state (drawn above an LSTM's box) into the gap
    # once pulled that state under the box and turned the first step round
    for kwargs in ({}, {"elide": 1, "fit": None}):
        fig = to_dot(cell, "gradients", T=40, **kwargs)
        pos = positions(fig)
        order = ["s_t0", "x_t1", "gap", "x_t40"]
        assert x_order(fig, order) == order, (cell, kwargs)
        first = [n for n in pos if n.endswith("_t1") and n[0] in "sc"]
        assert all(pos[n][1] > pos["x_t1"][1] for n in first), (cell, kwargs)   # states above their input


def test_slide_default_draws_a_short_sequence_whole_in_bands_and_a_long_one_elided():
    wrapped = to_dot("elman", "gradients", T=12)
    assert wrapped.kept is None and sorted(t for t in clusters(wrapped.source) if t > 0) == list(range(1, 13))
    assert "start_b1" in wrapped.source and "start_b2" not in wrapped.source      # two bands of six
    assert to_dot("elman", "gradients", T=40).kept is not None                   # three bands would be too small
    assert to_dot("lstm", "gradients", T=12).kept is not None                    # an LSTM step is wide
    assert "start_b1" not in to_dot("elman", "gradients", T=5).source            # one band fits already


@pytest.mark.graphviz_exe
def test_bands_chosen_for_a_slide_fit_it_at_a_readable_size_before_any_stretching():
    from gradlab.render.unfolded import READABLE

    fig = to_dot("elman", "gradients", T=12)
    del fig.graph_attr["ratio"]                                                 # dot's own layout, unstretched
    _, _, width, height = fig.pipe(format="plain").decode().splitlines()[0].split()
    w, h = float(width), float(height)
    assert w / h <= 16 / 9 and w <= READABLE[0] and h <= READABLE[1], (w, h)


def test_folded_loop_weights_are_written_at_their_own_delay_square():
    # with two loops (an ESN with output feedback) a mid-edge label drifted onto the other loop's edge:
    # each loop's weights are a tail label, next to the delay square the loop leaves
    import re

    from gradlab.nn.reservoir import ReservoirCell

    src = gradlab.to_dot(ReservoirCell(1, 4, 1, connectivity=0.5, feedback=True, rng=0), view="folded").source
    loops = {m.group(1): m.group(2) for m in re.finditer(r"(delay_\w+) -> s \[(.*)\]", src)}
    assert set(loops) == {"delay_s", "delay_y"}
    assert "taillabel=" in loops["delay_s"] and "<SUB>s</SUB>" in loops["delay_s"]
    assert "taillabel=" in loops["delay_y"] and "<SUB>fb</SUB>" in loops["delay_y"]
    assert all(" label=" not in attrs and not attrs.startswith("label=") for attrs in loops.values())
