r"""The unfolded picture of a network that reads a *window* of inputs at every time step (a time-delay
network, :mod:`gradlab.nn.tdnn`): one column per time step, inputs at the bottom, each layer a row
above them, and an edge from every value a step reads, labelled and coloured by the shared weight on
it. The same tap W_j appears at every shift in the same colour: that is what shows the sharing.

A window network has no state handed from step to step, and each input feeds several steps, so the
per-step clusters of :func:`gradlab.render.unfolded.unfolded` (which keep each step's values together)
do not apply: here the columns are kept in time order by an invisible spine along every row and a time
axis under the inputs.
"""
from __future__ import annotations

from . import style
from .output import Figure
from .structure import Unfolding
from .unfolded import _fig, _value_node, node_id

__all__ = ["window_figure"]


def window_figure(u: Unfolding, *, title: str | None = None, name: str = "windows") -> Figure:
    r"""Return the figure of ``u``: rows x (inputs), s (hidden layers, named h), y (outputs), E (losses);
    columns in time order; every edge labelled with its weight matrices, one colour per weight."""
    g: Figure = _fig(name, None)
    g.attr(nodesep="0.35", ranksep="0.55")
    rows: dict = {"axis": [], "x": [], "s": [], "y": [], "E": []}
    for n, (role, t) in sorted(u.shown.items(), key=lambda item: (item[1][1] or 0, u.index[item[0]])):
        if t is None:
            continue
        _value_node(g, u, n)
        rows.setdefault(role if role in rows else "s", []).append((t, node_id(u, n)))
    for t in u.times:
        g.node(f"axis_t{t}", f"t = {t}", shape="plaintext", fontcolor="#555555", fontsize="12")
        rows["axis"].append((t, f"axis_t{t}"))
    finals = [n for n, (role, t) in u.shown.items() if t is None]
    for n in finals:
        _value_node(g, u, n)

    weights = [p for p in u.params if p.ndim >= 2]
    colour_of = {p: style.PALETTE[k % len(style.PALETTE)] for k, p in enumerate(weights)}
    # spines first (dot's initial order follows the edge list), then the columns
    for r, members in rows.items():
        ids = [i for _, i in sorted(members)]
        for a, b in zip(ids, ids[1:]):
            g.edge(a, b, style="invis")
    by_t = {}
    for r in ("x", "s", "y"):
        for t, i in rows[r]:
            by_t.setdefault(t, {})[r] = i
    for t in u.times:
        lowest = by_t.get(t, {}).get("x")
        if lowest:
            g.edge(f"axis_t{t}", lowest, style="invis")
    for e in u.edges():
        mats = u.matrices(e.params)
        attrs = {}
        if mats:
            colour = colour_of.get(mats[0], style.PARAM_INK)
            attrs.update(label=style.html_label(", ".join(style.math_label(u.param_names[p], colour=colour)
                                                          for p in mats)), color=colour, penwidth="1.4")
        g.edge(node_id(u, e.tail), node_id(u, e.head), **attrs)
    for r, members in rows.items():
        if members:
            with g.subgraph() as row:
                row.attr(rank="same")
                for _, i in sorted(members):
                    row.node(i)
    style.set_title(g, title)
    return g
