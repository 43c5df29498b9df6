"""Attention figures: the heat map shows α (decoder step × encoder step), and the unfolded encoder-decoder
draws each step's context with one edge per encoder state, as wide as its weight, with the wiring (who asks,
where the context goes) read off the recorded graph."""
import re

import numpy as np
import pytest

import gradlab
from gradlab import nn
from gradlab.render.attention import attention_graph, attention_heatmap


def _decoding(query="previous", kind="additive", lengths=None, seed=0):
    rng = np.random.default_rng(seed)
    H = 4
    model = nn.EncoderDecoder(nn.ElmanCell(3, H, rng=seed), nn.ElmanCell(2 + (H if query == "previous" else 0), H, 2,
                                                                         rng=seed + 1),
                              attention=kind, query=query, rng=seed + 2)
    for p in model.parameters():
        p.data = rng.normal(0.0, 1.5, p.shape)
    for p in model.attention.parameters():
        p.data = 4.0 * p.data                           # sharp weights: some fall below min_weight
    xs = rng.normal(size=(4, 2, 3))
    mask = None if lengths is None else (np.arange(4)[:, None] < np.asarray(lengths)[None, :]).astype(float)
    return model, model(xs, rng.normal(size=(3, 2, 2)), mask=mask)


def _alpha_edges(src: str) -> dict:
    """{(j, t): penwidth} of the drawn edges h_j -> c_t."""
    found = {}
    for j, t, width in re.findall(r"h_(\d+) -> c_t(\d+) \[[^\]]*penwidth=([\d.]+)", src):
        found[int(j), int(t)] = float(width)
    return found


def test_heatmap_draws_the_weights_with_the_tokens_as_labels():
    w = np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]])
    fig = attention_heatmap(w, source="ab", output=["x", "y", "z"], title="α")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), w)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    assert ax.images[0].get_clim() == (0.0, 1.0)


@pytest.mark.parametrize("weights,labels,match", [
    (np.ones(3) / 3, {}, "non-empty .T_out, T_in. matrix"),
    (np.array([[1.5, -0.5]]), {}, "lie in \\[0, 1\\]"),
    (np.array([[0.5, 0.5]]), {"source": "abc"}, "3 source labels for 2"),
])
def test_heatmap_refuses_what_is_not_an_attention_matrix(weights, labels, match):
    with pytest.raises(ValueError, match=match):
        attention_heatmap(weights, **labels)


@pytest.mark.parametrize("index", [0, 1])
def test_each_context_has_one_edge_per_encoder_state_as_wide_as_its_weight(index):
    model, out = _decoding()
    w = model.attention_weights(out)[index]                     # (T_out, T_in)
    cut = float(np.median(w))                                   # about half the edges are left out
    src = attention_graph(out, index=index, min_weight=cut).source
    edges = _alpha_edges(src)
    expected = {(j + 1, t): w[k, j] for k, t in enumerate(out.times) for j in range(4) if w[k, j] >= cut}
    assert set(edges) == set(expected) and len(expected) < w.size    # small weights are left out
    pairs = sorted(expected, key=expected.get)
    widths = [edges[p] for p in pairs]
    assert widths == sorted(widths) and widths[-1] > widths[0]
    for t in out.times:
        assert f"c_t{t} " in src and f"s_t{t} " in src and f"y_t{t} " in src


def test_bahdanau_wiring_is_read_off_the_graph_previous_state_asks_and_the_context_enters_the_step():
    _, out = _decoding("previous")
    src = attention_graph(out).source
    t0, t1 = out.times[:2]
    assert re.search(rf"c_t{t1} -> s_t{t0} \[[^\]]*dir=back", src)           # s_(t-1) asks
    assert re.search(rf"c_t{t0} -> s_init \[[^\]]*dir=back", src)            # at the first step: the initial state
    assert re.search(rf"c_t{t1} -> s_t{t1} \[", src)                         # c_t enters the step
    assert "st_t" not in src


def test_luong_wiring_is_read_off_the_graph_current_state_asks_and_the_context_enters_the_output():
    _, out = _decoding("current", "dot")
    src = attention_graph(out).source
    t0 = out.times[0]
    assert re.search(rf"c_t{t0} -> s_t{t0} \[[^\]]*dir=back", src)           # s_t asks
    assert re.search(rf"c_t{t0} -> st_t{t0} \[", src) and re.search(rf"st_t{t0} -> y_t{t0} \[", src)
    assert "s_init" in src and not re.search(r"c_t\d+ -> s_init", src)


def test_a_padded_sequence_is_drawn_with_its_real_steps_only():
    _, out = _decoding(lengths=[4, 2])
    src = attention_graph(out, index=1, decoder_steps=2).source
    assert "h_2 " in src and "h_3" not in src
    assert {j for j, _ in _alpha_edges(src)} <= {1, 2}
    assert f"y_t{out.times[1]} " in src and f"y_t{out.times[2]}" not in src


def test_bad_requests_for_the_graph_are_refused_by_name():
    model, out = _decoding()
    with pytest.raises(ValueError, match="index 5 is outside the batch of 2"):
        attention_graph(out, index=5)
    with pytest.raises(ValueError, match="decoder_steps must be an int in 1..3"):
        attention_graph(out, decoder_steps=4)
    with pytest.raises(ValueError, match="3 source labels for 4 steps"):
        attention_graph(out, source="abc")
    with gradlab.no_grad():
        quiet = model(np.zeros((4, 2, 3)), np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="without a graph"):
        attention_graph(quiet)
    plain = nn.EncoderDecoder(nn.ElmanCell(3, 4), nn.ElmanCell(2, 4, 2))
    with pytest.raises(ValueError, match="with attention"):
        attention_graph(plain(np.zeros((4, 2, 3)), np.zeros((3, 2, 2))))


@pytest.mark.graphviz_exe
def test_the_figures_are_written_as_png(tmp_path):
    from gradlab.render import plots, write

    model, out = _decoding()
    path = write(attention_graph(out, source="abcd", title="attention"), tmp_path / "graph.png")
    assert path.stat().st_size > 5000 and path.read_bytes()[:4] == b"\x89PNG"
    heat = plots.save(attention_heatmap(model.attention_weights(out)[0]), tmp_path / "heat.png")
    assert heat.stat().st_size > 5000


def test_the_lecture_figures_of_attention_show_a_trained_reversal(tmp_path):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "lecture_figures.py"
    spec = importlib.util.spec_from_file_location("gradlab_example_lecture_figures", path)
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    graph, heat = figures.attention_figures(str(tmp_path), "dot")     # DOT source: no `dot` program needed
    src = pathlib.Path(graph).read_text()
    widths = {(int(j), int(t)): float(w) for (j, t), w in _alpha_edges(src).items()}
    # reversal of 4 digits: decoder step k (t = 5 + k) reads encoder step 4 - k hardest
    for k in range(4):
        row = {j: w for (j, t), w in widths.items() if t == 5 + k}
        assert max(row, key=row.get) == 4 - k, (k, row)
    assert pathlib.Path(heat).suffix == ".png" and pathlib.Path(heat).stat().st_size > 5000
