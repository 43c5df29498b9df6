r"""Figures of attention: the weights as a heat map (decoder step × encoder step), and the unfolded
encoder–decoder with the attention context drawn.

The unfolded figure follows the lecture style of :mod:`gradlab.render.unfolded` (time left to right,
inputs x at the bottom, outputs y on top, edges labelled with the shared weights, the lecture's colours)
and lays the two networks out as Bahdanau et al.'s figure does: the encoder's inputs and states
:math:`h_j` (its steps j = 1 … T_in) at the bottom left; above and to the right the decoder, whose steps
continue the time axis (t = T_in + 1, …): its inputs :math:`x_t` beside the contexts
:math:`c_t = \sum_j \alpha_{t,j} h_j`, its states :math:`s_t`, its outputs :math:`y_t`. Every encoder state
has an edge into :math:`c_t` whose width and colour grow with :math:`\alpha_{t,j}`: the heat map's rows,
drawn into the network.

What the figure shows is read off the recorded graph of the decoding: the state that asks (an ancestor
of :math:`\alpha_t`: :math:`s_{t-1}` in Bahdanau's wiring, :math:`s_t` in Luong's), where the context
goes (into the step, or into the output through :math:`\tilde s_t`), and the weights themselves.
"""
from __future__ import annotations

import numpy as np

from . import style
from .output import Figure

__all__ = ["attention_heatmap", "attention_graph", "ATTENTION_FILL", "ATTENTION_LINE"]

#: the colours of attention (context nodes and the α edges): purple, apart from the lecture's x/s/y/E colours
ATTENTION_FILL = "#efe6f6"
ATTENTION_LINE = "#6a3d9a"


def attention_heatmap(weights, *, source=None, output=None, title: str | None = None, size="square",
                      xlabel: str = "encoder step j (its input)", ylabel: str = "decoder step (what it writes)",
                      annotate: bool | None = None):
    r"""Return a Matplotlib figure of the attention weights ``weights`` ``(T_out, T_in)`` (row t: the
    decoder step's :math:`\alpha_t` over the encoder steps), drawn with :func:`gradlab.render.plots.heatmap`.

    ``source`` and ``output`` label the columns and rows (e.g. the input digits and the digits written);
    ``annotate`` writes each weight into its cell (default: for matrices up to 8 × 8)."""
    from . import plots

    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or not w.size:
        raise ValueError(f"attention_heatmap: weights must be a non-empty (T_out, T_in) matrix, got shape {w.shape}; "
                         f"for a batch, pick one sequence: EncoderDecoder.attention_weights(out)[b]")
    if np.any(w < -1e-12) or np.any(w > 1 + 1e-12):
        raise ValueError("attention_heatmap: attention weights lie in [0, 1]; these do not")
    for what, labels, n in (("source", source, w.shape[1]), ("output", output, w.shape[0])):
        if labels is not None and len(labels) != n:
            raise ValueError(f"attention_heatmap: {len(labels)} {what} labels for {n} "
                             f"{'columns (encoder steps)' if what == 'source' else 'rows (decoder steps)'}")
    if annotate is None:
        annotate = max(w.shape) <= 8
    fig, ax = plots.new(size=size, title=title)
    plots.heatmap(ax, w, xlabels=None if source is None else [str(s) for s in source],
                  ylabels=None if output is None else [str(s) for s in output], xlabel=xlabel, ylabel=ylabel,
                  cmap="Purples", vmin=0.0, vmax=1.0, colorbar="attention weight α", annotate=annotate)
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    return fig


# ------------------------------------------------------------------------------- the unfolded figure
def _depends(node, target, stop=frozenset()) -> bool:
    """Whether ``target`` is an ancestor of ``node`` in the recorded graph (not looking past ``stop``)."""
    seen, stack = set(), [node]
    while stack:
        n = stack.pop()
        for p in n.parents:
            if p is target:
                return True
            if id(p) not in seen and p not in stop:
                seen.add(id(p))
                stack.append(p)
    return False


def _node(g, nid: str, name: str, t, role: str, extra: str | None = None) -> None:
    label = style.math_label(name, t)
    if extra is not None:
        label += f'<BR/><FONT POINT-SIZE="11" COLOR="#555555">{extra}</FONT>'
    if role == "a":
        fill, line = ATTENTION_FILL, ATTENTION_LINE
    else:
        fill, line = style.ROLE_FILL[role], style.ROLE_LINE[role]
    g.node(nid, style.html_label(label), shape="circle" if extra is None else "ellipse", style="filled",
           fillcolor=fill, color=line, penwidth="1.3", margin="0.02", width="0.45")


def _edge_label(*names: str) -> dict:
    return {"label": style.html_label(style.param_text(names))} if names else {}


def attention_graph(out, *, index: int = 0, decoder_steps: int | None = None, source=None, output=None, inputs=None,
                    title: str | None = None,
                    min_weight: float = 0.02, name: str = "attention") -> Figure:
    r"""Return the unfolded encoder–decoder of the decoding ``out`` (what
    :class:`~gradlab.nn.EncoderDecoder` returned, recorded with a graph) with each step's attention drawn:
    an edge :math:`h_j \to c_t` for every encoder step with :math:`\alpha_{t,j} \ge` ``min_weight``, its
    width and colour growing with the weight. ``index`` picks the sequence of a batch (its padded steps
    are left out) and ``decoder_steps`` the number of decoder steps drawn (all by default); ``source``,
    ``inputs`` and ``output`` add the tokens under the encoder's x_j, the decoder's x_t and its y_t."""
    alphas = getattr(out, "attention", None)
    enc = getattr(out, "encoder", None)
    if enc is None or not alphas:
        raise ValueError("attention_graph: `out` must be the output of an EncoderDecoder with attention "
                         "(it has no .encoder / .attention)")
    if not out.hiddens[0].parents and out.hiddens[0].op is None:
        raise ValueError("attention_graph: the decoding was recorded without a graph (under no_grad); run the "
                         "model with gradients enabled to draw it")
    w = np.stack([np.asarray(a.data) for a in alphas], axis=0)            # (T_out, T_in, ...)
    batch = w.shape[2:]
    if batch:
        flat = w.reshape(w.shape[0], w.shape[1], -1)
        if not 0 <= index < flat.shape[2]:
            raise ValueError(f"attention_graph: index {index} is outside the batch of {flat.shape[2]} sequences")
        w = flat[:, :, index]
    elif index != 0:
        raise ValueError("attention_graph: the decoding has one (unbatched) sequence; index must be 0")
    memory = getattr(out, "memory", None)
    T_in = w.shape[1]
    if memory is not None and memory.mask is not None:
        m = memory.mask.reshape(T_in, -1)[:, index] if batch else memory.mask
        T_in = int(m.sum())
    times_in = enc.times[:T_in]
    n_out = len(out.times) if decoder_steps is None else decoder_steps
    if isinstance(n_out, bool) or not isinstance(n_out, (int, np.integer)) or not 1 <= n_out <= len(out.times):
        raise ValueError(f"attention_graph: decoder_steps must be an int in 1..{len(out.times)}, got {decoder_steps!r}")
    ss, cs, times = out.hiddens[:n_out], out.contexts[:n_out], out.times[:n_out]
    w = w[:n_out]
    for what, labels, n in (("source", source, T_in), ("output", output, len(times)), ("inputs", inputs, len(times))):
        if labels is not None and len(labels) != n:
            raise ValueError(f"attention_graph: {len(labels)} {what} labels for {n} steps")

    # the wiring, read off the graph: who asks, and where the context goes
    asks_previous = not _depends(alphas[0], ss[0])     # Luong's α_t reads s_t; Bahdanau's is made before it
    into_step = _depends(ss[0], cs[0])

    g = Figure(name, graph_attr={"rankdir": "BT", "newrank": "true", "nodesep": "0.3", "ranksep": "0.5",
                                 "fontname": style.FONT, "fontsize": "14"},
               node_attr={"fontname": style.FONT, "fontsize": "14"},
               edge_attr={"fontname": style.FONT, "fontsize": "12", "arrowsize": "0.7"})
    # rows, bottom to top: the encoder's inputs and states, then the decoder's inputs with the contexts
    # beside them, its states, (Luong: the attentional states) and its outputs. The encoder lies under
    # the decoder as in Bahdanau et al.'s figure, so every attention edge h_j -> c_t points upwards.
    rows = {"x": [], "h": [], "c": [], "s": [], "a": [], "y": []}
    # No step clusters: dot 2.43 does not keep the flat edges' left-to-right order across clusters once
    # the α edges join them; the two parts are named by plain labels at the left of their rows instead.
    g.node("label_encoder", f"<<I>encoder</I><BR/>t = {times_in[0]} … {times_in[-1]}>", shape="plaintext",
           fontcolor="#555555", fontsize="12")
    rows["x"].append("label_encoder")
    for j, t in enumerate(times_in):
        _node(g, f"x_t{t}", "x", t, "x", None if source is None else str(source[j]))
        _node(g, f"h_{j + 1}", "h", j + 1, "s")
        rows["x"].append(f"x_t{t}")
        rows["h"].append(f"h_{j + 1}")
    g.node("label_decoder", f"<<I>decoder</I><BR/>t = {times[0]} … {times[-1]}>", shape="plaintext",
           fontcolor="#555555", fontsize="12")
    rows["y"].append("label_decoder")
    # the decoder's initial state is the encoder's final state (grey, as s_0 in the unfolded figures)
    _node(g, "s_init", "s", times[0] - 1, "s0")
    rows["s"].append("s_init")
    g.node("under_init", "", shape="point", style="invis", width="0")   # holds s_init left of the decoder
    rows["c"].append("under_init")
    for k, t in enumerate(times):
        _node(g, f"x_t{t}", "x", t, "x", None if inputs is None else str(inputs[k]))
        _node(g, f"c_t{t}", "c", t, "a")
        _node(g, f"s_t{t}", "s", t, "s")
        if not into_step:
            _node(g, f"st_t{t}", "s̃", t, "s")
        _node(g, f"y_t{t}", "y", t, "y", None if output is None else str(output[k]))
        rows["c"] += [f"c_t{t}", f"x_t{t}"]
        rows["s"].append(f"s_t{t}")
        if not into_step:
            rows["a"].append(f"st_t{t}")
        rows["y"].append(f"y_t{t}")

    # invisible flat spines, first among the edges (dot's initial order follows the edge list): time runs
    # left to right along the inputs, and the decoder's row of inputs and contexts keeps its order
    # left to right along the inputs, and the decoder's row of inputs and contexts keeps its order; the
    # state rows are ordered by their own W_s edges, written next (an invisible edge beside a visible one
    # between the same nodes makes dot 2.43 lose both)
    for r in ("x", "c", "a", "y"):
        for a, b in zip(rows[r], rows[r][1:]):
            g.edge(a, b, style="invis", weight="10")
    for a, b in zip(rows["h"], rows["h"][1:]):
        g.edge(a, b, **_edge_label("W_s"))
    for a, b in zip(rows["s"], rows["s"][1:]):
        g.edge(a, b, **_edge_label("W_s"))
    # the encoder's inputs
    for j in range(T_in):
        g.edge(f"x_t{times_in[j]}", f"h_{j + 1}", **_edge_label("W_x"))
    # the decoder starts from the encoder's final state; its row of inputs and contexts stands above
    # the encoder's states (the α edges do not constrain the ranks)
    g.edge(f"h_{T_in}", "s_init", color=style.ROLE_LINE["s"], penwidth="1.6")
    g.edge(f"h_{T_in}", "under_init", style="invis")
    g.edge("under_init", "s_init", style="invis")
    feedback = getattr(out, "feedback", None)
    for k, t in enumerate(times):
        # the encoder states, weighted: c_t = Σ_j α_tj h_j
        for j in range(T_in):
            a = float(w[k, j])
            if a >= min_weight:
                g.edge(f"h_{j + 1}", f"c_t{t}", color=_mix(a), penwidth=f"{0.5 + 4.5 * a:.2f}", arrowsize="0.5",
                       constraint="false")
        # the state that asks: drawn downwards into c_t (written c_t -> s with the arrow turned round)
        asker = ("s_init" if k == 0 else f"s_t{t - 1}") if asks_previous else f"s_t{t}"
        g.edge(f"c_t{t}", asker, color=ATTENTION_LINE, style="dashed", dir="back", arrowtail="odot")
        if into_step:    # Bahdanau: [x_t; c_t] enters the step
            g.edge(f"x_t{t}", f"s_t{t}", **_edge_label("W_x"))
            g.edge(f"c_t{t}", f"s_t{t}", color=ATTENTION_LINE)
            g.edge(f"s_t{t}", f"y_t{t}", **_edge_label("W_y"))
        else:            # Luong: s̃_t = tanh(W_h [c_t; s_t] + b_h), y_t = W_y s̃_t + b_y
            g.edge(f"x_t{t}", f"s_t{t}", **_edge_label("W_x"))
            g.edge(f"c_t{t}", f"st_t{t}", color=ATTENTION_LINE, **_edge_label("W_h"))
            g.edge(f"s_t{t}", f"st_t{t}", **_edge_label("W_h"))
            g.edge(f"st_t{t}", f"y_t{t}", **_edge_label("W_y"))
    for r, ids in rows.items():
        if ids:
            with g.subgraph() as row:
                row.attr(rank="same")
                for i in ids:
                    row.node(i)
    # a note with the equations, under the decoder
    q = "s<SUB>t−1</SUB>" if asks_previous else "s<SUB>t</SUB>"
    wiring = "[x<SUB>t</SUB>; c<SUB>t</SUB>] enters the step" if into_step else \
        "s̃<SUB>t</SUB> = tanh(W<SUB>h</SUB>[c<SUB>t</SUB>; s<SUB>t</SUB>] + b<SUB>h</SUB>)"
    eq = (f"α<SUB>t</SUB> = softmax<SUB>j</SUB> score({q}, h<SUB>j</SUB>),  "
          f"c<SUB>t</SUB> = Σ<SUB>j</SUB> α<SUB>t,j</SUB> h<SUB>j</SUB>;  {wiring}<BR/>"
          f'<FONT POINT-SIZE="11">edge width ∝ α<SUB>t,j</SUB>; dashed, ⊸: the state that asks'
          f'{"; free-running: x<SUB>t</SUB> is the previous prediction" if feedback is not None else ""}</FONT>')
    g.node("note", f"<{eq}>", shape="note", style="filled", fillcolor=ATTENTION_FILL, color=ATTENTION_LINE,
           fontsize="12")
    with g.subgraph() as row:
        row.attr(rank="same")
        row.node("note")
        row.node(rows["x"][0])
    style.set_title(g, title)
    return g


def _mix(a: float) -> str:
    """A colour between light grey (α = 0) and the attention purple (α = 1)."""
    lo, hi = (200, 200, 200), tuple(int(ATTENTION_LINE[i:i + 2], 16) for i in (1, 3, 5))
    a = min(max(a, 0.0), 1.0) ** 0.7
    return "#%02x%02x%02x" % tuple(round(x + (y - x) * a) for x, y in zip(lo, hi))
