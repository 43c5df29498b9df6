r"""The op-level view: every primitive op node of the recorded graph, one cluster per time step.

This is the computational-graph figure of the engine lessons (each node one op of the table, each
edge one input), with the unfolded structure kept readable: the op nodes of step t sit in the column
of step t, in the same order in every column, inputs at the bottom, the loss on top. The state handed from step t to step t+1 is drawn as a
reversed edge (``dir=back``), so it keeps the columns aligned instead of stacking each step above the
previous one. No ``rank=same`` rows across the steps and no ``newrank``: with ~1 500 nodes (LSTM,
T = 50) each doubles dot's layout time, and the reversed state edges already align the columns.
"""
from __future__ import annotations

from . import style
from .output import Figure
from .structure import Unfolding, is_weight

__all__ = ["op_graph", "op_symbol", "reaches_loss"]

_SYMBOLS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "neg": "−", "matmul": "@", "transpose": "ᵀ",
            "sigmoid": "σ", "tanh": "tanh", "relu": "relu", "exp": "exp", "log": "log", "sum": "Σ", "mean": "mean",
            "linear": "W·+b", "softmax": "softmax", "log_softmax": "log softmax", "concat": "concat",
            "stack": "stack", "reshape": "reshape", "maximum": "max", "where": "where", "clip": "clip"}


def reaches_loss(u: Unfolding) -> set:
    """Return the nodes of ``u``'s recorded graph that have a path to the loss (the graph's first output):
    the ones a gradient of the loss flows through. (A graph recorded with the last state as a further
    output, as :func:`gradlab.render.unfolding_of` records a cell, also holds parts that do not.)"""
    loss = u.graph.outputs[0]
    alive, stack = {loss}, [loss]
    while stack:
        for p in stack.pop().parents:
            if p not in alive:
                alive.add(p)
                stack.append(p)
    return alive


def op_symbol(n) -> str:
    """Return the short label of an op node: ``+``, ``×``, ``σ``, ``tanh``, ``[0:4]`` for a slice, ``x²``."""
    name = n.op.name
    if name == "getitem":
        key = n.attrs.get("key")
        parts = key if isinstance(key, tuple) else (key,)
        shown = []
        for k in parts:
            if isinstance(k, slice):
                if k == slice(None):
                    shown.append(":")
                else:
                    shown.append(f"{'' if k.start is None else k.start}:{'' if k.stop is None else k.stop}")
            elif k is Ellipsis:
                shown.append("…")
            else:
                shown.append(str(k))
        return "[" + ",".join(shown) + "]"
    if name == "power":
        p = n.attrs.get("p")
        return "x²" if p == 2 else f"x^{p}"
    if name == "linear":
        return "linear"
    return _SYMBOLS.get(name, name)


class _OpFigure:
    """The op-level figure being built: the DOT names given so far and where each node is drawn."""

    def __init__(self, u: Unfolding, shared: str, elide):
        self.u, self.shared = u, shared
        self.times = u.times
        self.hidden = set(self.times[elide:-elide]) if elide and len(self.times) > 2 * elide + 1 else set()
        self.fixed = getattr(u, "fixed", set())        # weights that are not trained, marked on their boxes
        self.ids: dict = {}
        self.place: dict = {}          # node -> step it is drawn in (None: outside the steps)
        for t in self.times:
            step = u.steps[t]
            for n in step.nodes + step.post:
                self.place[n] = t
        self.state_of = {n: u.label(n) for n in u.shown}
        self.alive = reaches_loss(u)
        self.leaf_consumers: dict = {}
        for n in u.graph.nodes:
            for p in n.parents:
                if p.op is None:
                    self.leaf_consumers.setdefault(p, []).append(n)

    def nid(self, n) -> str:
        if n not in self.ids:
            self.ids[n] = f"n{self.u.index[n]}"
        return self.ids[n]

    def label_of(self, n) -> str:
        sym = style.html_label(_esc(op_symbol(n)))
        if n in self.state_of and self.u.shown[n][0] != "x":
            nm, t = self.state_of[n]
            sym = style.html_label(_esc(op_symbol(n)), f'<FONT POINT-SIZE="10">= {style.math_label(nm, t)}</FONT>')
        return sym


def _new_figure(name: str) -> Figure:
    return Figure(name, graph_attr={"rankdir": "BT", "nodesep": "0.15", "ranksep": "0.25",
                                    "fontname": style.FONT, "fontsize": "12"},
                  node_attr={"fontname": style.FONT, "fontsize": "11", "shape": "ellipse", "height": "0.3",
                             "margin": "0.04,0.02"},
                  edge_attr={"arrowsize": "0.5", "penwidth": "0.8"})


def _draw_op(g, cont, f: _OpFigure, n) -> None:
    """One op node: an input x_t as a circle (outside its column), any other op as an ellipse with its
    symbol (and the value it is, ``= s_3``)."""
    role = f.u.shown.get(n, (None,))[0]
    fill = style.ROLE_FILL.get(role, style.ROLE_FILL["op"]) if role else style.ROLE_FILL["op"]
    line = style.ROLE_LINE.get(role, style.ROLE_LINE["op"]) if role else "#777777"
    if role == "x":
        nm, t = f.state_of[n]
        g.node(f.nid(n), style.html_label(style.math_label(nm, t)), shape="circle", style="filled",
               fillcolor=fill, color=line, width="0.35")
        return
    if n not in f.alive:          # no path to the loss: no gradient flows through it
        fill, line = style.NO_GRAD_FILL, style.NO_GRAD_LINE
        cont.node(f.nid(n), f.label_of(n), style="filled", fillcolor=fill, color=line, fontcolor=style.NO_GRAD_INK)
        return
    cont.node(f.nid(n), f.label_of(n), style="filled", fillcolor=fill, color=line)


def _draw_initial_states(g, f: _OpFigure) -> None:
    if not f.u.initial:
        return
    with g.subgraph(name="cluster_t0") as c:
        c.attr(style="invis")
        for n, _ in f.u.initial:
            nm, t = f.u.label(n)
            c.node(f.nid(n), style.html_label(style.math_label(nm, t)), shape="circle", style="filled",
                   fillcolor=style.ROLE_FILL["s0"], color=style.ROLE_LINE["s0"], width="0.35")


def _draw_leaf(c, f: _OpFigure, n, p, t) -> None:
    """A leaf read by op ``n`` of step ``t``: a weight box per step (``shared="label"``), or a constant
    or target drawn in the column; leaves read by several steps (the whole sequence) are not drawn."""
    u = f.u
    if is_weight(p):
        if f.shared == "label" and (p, t) not in f.ids:
            pid = f"{u.param_names[p]}_t{t}"
            f.ids[(p, t)] = pid
            text = style.math_label(u.param_names[p]) if p not in f.fixed else \
                style.param_text([u.param_names[p]], fixed={u.param_names[p]})
            c.node(pid, style.html_label(text), shape="box", style="filled", fillcolor=style.ROLE_FILL["param"],
                   color=style.ROLE_LINE["param"], height="0.25", fontsize="11")
        return
    if p in u.shown or any(q is p for q, _ in u.initial):
        return
    users = {f.place.get(m) for m in f.leaf_consumers.get(p, ())}
    if len(users) > 1 or p in f.ids:
        return  # a leaf read by several steps (the whole sequence xs): not drawn
    lbl = (f"{float(p.data):.3g}" if p.ndim == 0 else
           (f"<{style.math_label('d', t)}>" if p.name == "d" else (p.name or "const")))
    c.node(f.nid(p), lbl, shape="plaintext" if p.ndim == 0 else "circle", fontsize="10",
           **({} if p.ndim == 0 else {"style": "filled", "fillcolor": "#f4f4f4", "width": "0.3",
                                      "color": style.ROLE_LINE["const"]}))


def _draw_columns(g, f: _OpFigure) -> None:
    """One cluster per step with its op nodes and the leaves they read; the elided steps as one "⋯"."""
    gap = False
    for t in f.times:
        if t in f.hidden:
            if not gap:
                h = sorted(f.hidden)
                with g.subgraph(name="cluster_gap") as c:
                    c.attr(label=f"t = {h[0]} … {h[-1]}", style="dashed,rounded", color=style.GAP_LINE)
                    c.node("gap", "⋯", shape="plaintext", fontsize="28")
                gap = True
            continue
        step = f.u.steps[t]
        with g.subgraph(name=f"cluster_t{t}") as c:
            c.attr(label=f"t = {t}", style="rounded", color=style.FRAME_LINE, fontcolor=style.FRAME_INK,
                   labelloc="b")
            for n in step.nodes + step.post:
                _draw_op(g, c, f, n)
                for p in n.parents:
                    if p.op is None:
                        _draw_leaf(c, f, n, p, t)


def _draw_total_loss(g, f: _OpFigure) -> None:
    # The total loss is drawn as one node E = Σ_t E_t: the left-fold sum ((E_1+E_2)+E_3)+… as op nodes
    # would lift each column one rank above the previous one.
    for n in f.u.final_out:
        g.node(f.nid(n), style.html_label(style.math_label("E") + " = Σ<SUB>t</SUB> " + style.math_label("E", "t")),
               style="filled", fillcolor=style.ROLE_FILL["E"], color=style.ROLE_LINE["E"])


def _input_spine(g, f: _OpFigure) -> list:
    spine = ["start"] + [f.nid(f.u.steps[t].inputs[0]) for t in f.times
                         if t not in f.hidden and f.u.steps[t].inputs]
    for a, b in zip(spine, spine[1:]):
        g.edge(a, b, style="invis")
    return spine


def _draw_edges(g, f: _OpFigure) -> None:
    """The losses into E; then one edge per input of each drawn op: a weight from its box, the state
    handed to the next step reversed (the columns stay aligned), an input from the row below."""
    u = f.u
    drawn_gap = set()
    final = set(u.final)
    order = {t: k for k, t in enumerate(f.times)}
    for t in f.times:
        for n in u.steps[t].losses:
            for o in u.final_out:
                g.edge(f.nid(n), f.nid(o), **({"style": "dotted"} if t in f.hidden else {}))
    for n in u.graph.nodes:
        if n.op is None or n in final or n not in f.ids and f.place.get(n) in f.hidden:
            continue
        tn = f.place.get(n)
        if tn in f.hidden:
            continue
        for p in dict.fromkeys(n.parents):
            if is_weight(p):
                if f.shared == "label":
                    g.edge(f.ids[(p, tn)], f.nid(n), color=style.ROLE_LINE["param"])
                continue
            tp = f.place.get(p) if p.op is not None else None
            if p not in f.ids:
                if tp in f.hidden and ("gap", f.nid(n)) not in drawn_gap:
                    drawn_gap.add(("gap", f.nid(n)))
                    g.edge("gap", f.nid(n), style="dotted")
                continue
            if tp is not None and tn is not None and order[tp] < order[tn]:
                # the state handed to the next step: reversed, so the columns stay aligned
                g.edge(f.nid(n), f.nid(p), dir="back", color=style.ROLE_LINE["s"], penwidth="1.2")
            elif u.shown.get(p, ("",))[0] == "x":
                # an input stands a row below its column (outside the cluster, see the spine below)
                g.edge(f.nid(p), f.nid(n), minlen="2", weight="8")
            else:
                g.edge(f.nid(p), f.nid(n))
    # states that feed an elided step
    for t in f.times:
        if t in f.hidden or t + 1 not in f.hidden:
            continue
        for s in u.steps[t].states:
            g.edge(f.nid(s), "gap", style="dotted")


def _draw_shared_once(g, f: _OpFigure) -> None:
    """``shared="once"``: each weight one box on the top row, coloured edges to every op that reads it."""
    u = f.u
    params = list(u.params)
    with g.subgraph() as row:
        row.attr(rank="source")
        for k, p in enumerate(params):
            row.node(f"param_{u.param_names[p]}", style.html_label(style.math_label(u.param_names[p])),
                     shape="box", style="filled", fillcolor=style.ROLE_FILL["param"],
                     color=style.PALETTE[k % len(style.PALETTE)], penwidth="1.6")
    for k, p in enumerate(params):
        for m in f.leaf_consumers.get(p, ()):
            if m in f.ids:
                g.edge(f"param_{u.param_names[p]}", f.nid(m), color=style.PALETTE[k % len(style.PALETTE)],
                       constraint="false")


def _align_inputs(g, spine: list) -> None:
    # The inputs on one row with an invisible spine from a start point, the first edges of the graph:
    # that fixes the order dot starts from, and the columns stay in time order and start level
    # (measured over all cells, T = 1..10; newrank, which would keep them inside their clusters,
    # triples dot's time here and loses the order). So the inputs are drawn under their columns.
    with g.subgraph(name="cluster_t0") as c:
        c.attr(style="invis")
        c.node("start", "", shape="point", style="invis", width="0")
    with g.subgraph() as row:
        row.attr(rank="same")
        for i in spine:
            row.node(i)


def op_graph(u: Unfolding, *, shared: str = "label", elide: int | None = None, title: str | None = None,
             name: str = "ops") -> Figure:
    r"""Return the op-level unfolded figure of ``u``: every op node, parameters as boxes (a copy per step
    with ``shared="label"``, once with coloured edges with ``shared="once"``), one cluster per step.

    Built in stages: the initial states, the columns (:func:`_draw_columns`), the total loss, the
    input spine, the edges (:func:`_draw_edges`), the shared weights, the input row."""
    if shared not in ("label", "once"):
        raise ValueError(f"render: shared must be 'label' or 'once', got {shared!r}")
    f = _OpFigure(u, shared, elide)
    g = _new_figure(name)
    _draw_initial_states(g, f)
    _draw_columns(g, f)
    _draw_total_loss(g, f)
    spine = _input_spine(g, f)
    _draw_edges(g, f)
    if shared == "once":
        _draw_shared_once(g, f)
    _align_inputs(g, spine)
    if len(f.ids) > 600:
        # a long op-level unfolding: fewer crossing-minimisation passes (LSTM T = 100, ~2 900 nodes:
        # dot 7.4 s -> 2.5 s here, time order unchanged); small figures keep dot's full effort
        g.attr(mclimit="0.2")
    style.set_title(g, title)
    return g


def _esc(text: str) -> str:
    import html

    return html.escape(text)
