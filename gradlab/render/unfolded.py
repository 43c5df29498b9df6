r"""The textbook pictures of a recurrent network: *unfolded* (one column per time step) and *folded*
(the cell once, its recurrent edge through a delay square).

Unfolded: time runs left to right, one cluster per step; inputs x_t at the bottom, states s_t in the
middle, outputs y_t and losses E_t on top, the total loss E above them. A cell without gates (Elman,
Jordan) is drawn as values joined by edges labelled with the shared weights (W_x, W_s, W_y on every
copy: that is what shows the sharing); a gated cell (LSTM, GRU) is one box per step, labelled with its
parameters, with the states passed between the boxes. ``shared="once"`` draws each parameter once
instead, with a coloured edge to every place it is used.

Layout notes: rows are ``rank=same`` groups under ``newrank=true`` (rows may cross the step clusters),
and the state edges s_{t-1} -> s_t are ordinary flat edges. They must *not* carry
``constraint=false``: dot would then be free to lay the row out right to left.
"""
from __future__ import annotations

from . import style
from .output import Figure
from .structure import Unfolding

__all__ = ["unfolded", "folded", "ROWS"]

ROWS = ("x", "s", "h", "y", "E")


def _rows(u: Unfolding, box: bool) -> dict:
    """Return {shown node: row}: x bottom, s the state row (with the boxes), h the hidden state of a
    gated cell with several states (above its box, the other states run along the box row like
    the LSTM's cell-state conveyor belt), y outputs, E losses."""
    edges = u.edges()
    upper = set()
    if box:
        for e in edges:
            if u.shown[e.head][0] == "y" and u.shown[e.tail][0] in ("s", "c"):
                step = u.steps.get(u.shown[e.tail][1])
                if step is not None and len(step.states) > 1:
                    upper.add(e.tail)
        first = u.steps[u.times[0]]
        for n, k in u.initial:
            if k < len(first.states) and first.states[k] in upper:
                upper.add(n)
    # a name drawn above the box at one step is drawn there at every step (s of an LSTM whose loss
    # reads only the last output)
    upper_names = {u.names.get(n) for n in upper}
    for n, (role, t) in u.shown.items():
        step = u.steps.get(t)
        if box and role in ("s", "c", "s0") and u.names.get(n) in upper_names and (
                step is None or len(step.states) > 1):
            upper.add(n)
    rows = {}
    for n, (role, t) in u.shown.items():
        if role in ("x", "E"):
            rows[n] = role
        elif role == "y" or (not box and u.names.get(n, "").startswith("y")):
            rows[n] = "y"
        else:
            rows[n] = "h" if n in upper else "s"
    return rows


def node_id(u: Unfolding, n) -> str:
    """Return the stable DOT name of a shown value: ``s_t3``, ``c_t0``, ``x_t1``, ``E`` (the total)."""
    name, t = u.label(n)
    return name if t is None else f"{name}_t{t}"


def _fig(name: str, title: str | None, rankdir: str = "BT") -> Figure:
    g = Figure(name, graph_attr={"rankdir": rankdir, "newrank": "true", "nodesep": "0.45", "ranksep": "0.4",
                                 "fontname": style.FONT, "fontsize": "14", "compound": "true"},
               node_attr={"fontname": style.FONT, "fontsize": "14"},
               edge_attr={"fontname": style.FONT, "fontsize": "12", "arrowsize": "0.7"})
    return g


def _value_node(g, u, n, *, annotate=None, shape="circle"):
    role, t = u.shown[n]
    name, _ = u.label(n)
    key = "c" if role == "s" and name.startswith(("c", "LTM")) else role
    fill, line = style.ROLE_FILL.get(key, "#ffffff"), style.ROLE_LINE.get(key, "#555555")
    label = style.math_label(name, t)
    attrs = {"shape": shape, "style": "filled", "fillcolor": fill, "color": line, "penwidth": "1.3",
             "margin": "0.02", "width": "0.45"}
    if annotate and n in annotate:
        lines, colour = annotate[n]
        label = label + "".join(f'<BR/><FONT POINT-SIZE="10">{ln}</FONT>' for ln in lines)
        attrs.update(fillcolor=colour, fontcolor=style.text_colour(colour), shape="box", style="rounded,filled")
    g.node(node_id(u, n), style.html_label(label), **attrs)


def _box_params(u: Unfolding, t) -> list:
    """Return the parameters on the way into the states of step t (the cell's own, not the output layer's)."""
    found = {}
    for e in u.edges():
        if u.shown[e.head][1] == t and u.shown[e.head][0] in ("s", "c"):
            for p in e.params:
                found.setdefault(p, None)
    return sorted(found, key=u.index.__getitem__)


class _Plan:
    """Which steps are drawn, and the collapsed edges re-routed for boxes and the elided gap."""

    def __init__(self, u: Unfolding, *, elide, box):
        self.u = u
        T = u.times
        self.hidden = set()
        if elide is not None:
            if not isinstance(elide, int) or isinstance(elide, bool) or elide < 1:
                raise ValueError(f"render: elide must be a positive int (steps kept at each end), got {elide!r}")
            if len(T) > 2 * elide + 1:
                self.hidden = set(T[elide:-elide])
        self.times = [t for t in T if t not in self.hidden]
        self.box = u.gated() if box is None else bool(box)

    def visible(self, n) -> bool:
        t = self.u.shown[n][1]
        return t is None or t not in self.hidden

    def gap_range(self):
        h = sorted(self.hidden)
        return (h[0], h[-1]) if h else None


def unfolded(u: Unfolding, *, shared: str = "label", elide: int | None = None, box: bool | None = None,
             title: str | None = None, annotate: dict | None = None, backward: bool = False,
             edge_colour=None, cut: set | None = None, highlight: dict | None = None,
             notes: list | None = None, name: str = "unfolded") -> Figure:
    r"""Return the unfolded figure of ``u`` (see the module docstring).

    ``shared``: ``"label"`` (the parameter name on every copy) or ``"once"`` (each parameter drawn once,
    coloured edges to its uses). ``elide=k`` keeps the first and last k steps. ``box`` forces (True) or
    forbids (False) one box per step. The remaining arguments are used by the gradient and check views:
    ``annotate`` {node: (lines, fill colour)}, ``backward`` (arrows point back in time),
    ``edge_colour(tail, head)`` -> (colour, width) or None, ``cut`` {(tail, head)} edges where the
    gradient stops, ``highlight`` {parameter name: set of steps or None for all}, ``notes`` [(node, markup)].
    """
    if shared not in ("label", "once"):
        raise ValueError(f"render: shared must be 'label' or 'once', got {shared!r}")
    plan = _Plan(u, elide=elide, box=box)
    row_of = _rows(u, plan.box)
    fixed = {u.param_names[p] for p in getattr(u, "fixed", ())}
    highlight = highlight or {}
    cut = cut or set()
    g = _fig(name, title)
    rows = {r: [] for r in ROWS}
    boxes = {}

    # -- nodes, one cluster per drawn step (initial states in an unlabelled cluster at the left)
    with g.subgraph(name="cluster_t0") as c:
        c.attr(style="invis")
        for n, _ in u.initial:
            _value_node(c, u, n, annotate=annotate)
            rows[row_of[n]].append(node_id(u, n))
        # an invisible point on the input row, left of every step: the start of the input spine
        c.node("start", "", shape="point", style="invis", width="0")
        rows["x"].append("start")
    gap_done = False
    for t in u.times:
        if t in plan.hidden:
            if not gap_done:
                a, b = plan.gap_range()
                label = f"t = {a} … {b}"
                stops = sorted({u.shown[tail][1] for tail, head in cut
                                if u.shown[tail][1] in plan.hidden or u.shown[head][1] in plan.hidden})
                if stops:   # truncation boundaries inside the gap, said in words
                    label = (f'<{label}<BR/><FONT COLOR="{style.HIGHLIGHT}">gradient stops after t = '
                             f'{", ".join(map(str, stops))}</FONT>>')
                with g.subgraph(name="cluster_gap") as c:
                    c.attr(label=label, style="dashed,rounded", color="#bbbbbb", fontcolor="#777777",
                           labelloc="b")
                    c.node("gap", "⋯", shape="plaintext", fontsize="28")
                rows["s"].append("gap")
                gap_done = True
            continue
        step = u.steps[t]
        bad = any(steps is not None and t in steps for steps in highlight.values())
        with g.subgraph(name=f"cluster_t{t}") as c:
            c.attr(label=f"t = {t}", style="rounded", color=style.HIGHLIGHT if bad else "#c8c8c8",
                   penwidth="2.2" if bad else "1", fontcolor=style.HIGHLIGHT if bad else "#555555", labelloc="b")
            for n in step.inputs + step.states + step.outputs + step.losses:
                if n in u.shown and u.shown[n][1] == t and node_id(u, n) not in {i for r in rows.values() for i in r}:
                    if plan.box and row_of[n] == "s" and t == u.times[-1] and step.outputs:
                        # a last-step state on the belt feeds nothing drawn; dot then drops it outside
                        # its cluster unless an (invisible) edge ties it to the step's output
                        _value_node(c, u, n, annotate=annotate)
                        c.edge(node_id(u, n), node_id(u, step.outputs[0]), style="invis")
                    elif plan.box and row_of[n] == "s" and t != u.times[-1]:
                        # a state between two boxes sits in its own (invisible) cluster: dot 2.4x draws a
                        # flat edge twice when its tail also has a flat edge inside the same cluster
                        with c.subgraph(name=f"cluster_t{t}_{node_id(u, n)}") as inner:
                            inner.attr(style="invis", label="", margin="0")
                            _value_node(inner, u, n, annotate=annotate)
                    else:
                        _value_node(c, u, n, annotate=annotate)
                    rows[row_of[n]].append(node_id(u, n))
            if plan.box:
                bid = f"cell_t{t}"
                boxes[t] = bid
                params = _box_params(u, t)
                hl = {p for p in highlight if highlight[p] is None or t in highlight[p]}
                lines = [f"<B>{u.cell_name}</B>"]
                if shared == "label" and params:
                    lines.append(style.param_text([u.param_names[p] for p in params], highlight=hl, per_line=2,
                                                  fixed=fixed))
                c.node(bid, style.html_label(*lines), shape="box", style="rounded,filled",
                       fillcolor=style.ROLE_FILL["cell"], color=style.HIGHLIGHT if hl else style.ROLE_LINE["cell"],
                       penwidth="2.2" if hl else "1.3", margin="0.12,0.06")
                rows["s"].append(bid)
    # The total loss E = Σ_t E_t is drawn above the steps, except when steps are elided: its edges
    # then lead dot to lay the last steps out right to left (dot 2.43), and the E_t show the loss.
    final = [] if plan.hidden else list(u.final_out)
    for n in final:
        _value_node(g, u, n, annotate=annotate)

    # -- an invisible flat spine along the inputs, first among the edges: dot's initial order follows
    # the edge list, and this puts x_t left of x_{t+1} even where no drawn edge is flat (Jordan)
    xs = list(rows["x"])
    for a, b in zip(xs, xs[1:]):
        g.edge(a, b, style="invis")

    # -- edges
    drawn = set()

    def edge(tail, head, label_params=(), *, t=None, style_=None, colour=None, constraint=True, key=None):
        k = key or (tail, head)
        if k in drawn:
            return
        drawn.add(k)
        attrs = {}
        names = [u.param_names[p] for p in label_params]
        if shared == "label" and names:
            hl = {p for p in names if p in highlight and (highlight[p] is None or t in highlight[p])}
            attrs["label"] = style.html_label(style.param_text(names, highlight=hl, fixed=fixed))
            if hl:
                attrs.update(color=style.HIGHLIGHT, penwidth="2.5")
        if names and not colour and all(n in fixed for n in names):
            attrs["color"] = style.FIXED_INK      # an edge through fixed weights only: no gradient, no training
        if colour:
            attrs["color"], attrs["penwidth"] = colour
        if backward:
            attrs["dir"] = "back"
        if style_:
            attrs.update(style_)
        if not constraint:
            # An edge down a row (s_{t-1} above the box it feeds) is written head -> tail with its arrow
            # turned round: the rows keep their order, and, unlike constraint=false, the edge still
            # takes part in ordering the nodes, so time keeps running left to right.
            attrs["dir"] = "forward" if backward else "back"
            tail, head = head, tail
        g.edge(tail, head, **attrs)

    for e in u.edges():
        if not (plan.visible(e.tail) or plan.visible(e.head)):
            continue
        _, th = u.shown[e.head]
        tail_id, head_id = node_id(u, e.tail), node_id(u, e.head)
        # edges are labelled with their weight matrices; a highlighted bias is shown too
        mats = [p for p in e.params if p in set(u.matrices(e.params)) or u.param_names[p] in highlight]
        into_state = u.shown[e.head][0] in ("s", "c") and u.shown[e.head][1] is not None
        cut_here = (e.tail, e.head) in cut
        if plan.box and into_state:
            same_step = u.shown[e.tail][1] == th and u.shown[e.tail][0] in ("s", "c")
            if same_step:
                continue
            tail_id = tail_id if plan.visible(e.tail) else "gap"
            if not plan.visible(e.head):
                edge(tail_id, "gap", key=(tail_id, "gap"), style_={"style": "dotted"})
                continue
            colour = edge_colour(e.tail, e.head) if edge_colour else None
            sty = {"style": "dashed", "color": "#999999", "label": '<<FONT COLOR="#d62728">stop</FONT>>'} if cut_here else (
                {"style": "dotted"} if tail_id == "gap" else None)
            above = tail_id != "gap" and ROWS.index(row_of[e.tail]) > ROWS.index("s")
            edge(tail_id, boxes[th], t=th, colour=None if cut_here else colour, style_=sty,
                 key=(tail_id, boxes[th]), constraint=not above)
            edge(boxes[th], head_id, t=th, key=(boxes[th], head_id),
                 colour=edge_colour(e.head, e.head) if edge_colour else None)
            continue
        if not plan.visible(e.tail):
            if u.shown[e.tail][0] not in ("s", "c"):
                continue  # only the state is carried through the elided steps
            tail_id = "gap"
        if th is None and not final:
            continue
        if not plan.visible(e.head):
            if u.shown[e.head][0] in ("s", "c"):
                edge(tail_id, "gap", key=(tail_id, "gap"), style_={"style": "dotted"})
            continue
        colour = edge_colour(e.tail, e.head) if edge_colour else None
        sty = {}
        if tail_id == "gap":
            sty["style"] = "dotted"
        if cut_here:
            sty.update(style="dashed", color="#999999")
            sty["label"] = '<<FONT COLOR="#d62728">stop</FONT>>'
            colour = None
        up = ROWS.index(row_of[e.tail]) if tail_id != "gap" else 1
        down = ROWS.index(row_of[e.head]) if u.shown[e.head][1] is not None else len(ROWS)
        edge(tail_id, head_id, mats if not cut_here else (), t=th, colour=colour, style_=sty or None,
             constraint=up <= down, key=(tail_id, head_id))

    # -- parameters drawn once, with a coloured edge to every use
    if shared == "once":
        # Parameters that travel together (a layer's W and b label the same edges) share one node,
        # drawn once in a row under the inputs, with a coloured edge to each place it is used.
        carried: dict = {}
        targets: dict = {}
        for e in u.edges():
            if not plan.visible(e.head):
                continue
            th = u.shown[e.head][1]
            into_box = plan.box and u.shown[e.head][0] in ("s", "c") and th is not None
            target = boxes.get(th) if into_box else node_id(u, e.head)
            for p in e.params:
                carried.setdefault(p, set()).add((node_id(u, e.tail), node_id(u, e.head)))
                targets.setdefault(p, []).append(target)
        groups: dict = {}
        for p in sorted(carried, key=u.index.__getitem__):
            groups.setdefault(frozenset(carried[p]), []).append(p)
        with g.subgraph() as row:
            row.attr(rank="same")
            for k, members in enumerate(groups.values()):
                colour = style.PALETTE[k % len(style.PALETTE)]
                names = [u.param_names[p] for p in members]
                hl = {n for n in names if n in highlight}
                frozen = all(n in fixed for n in names)
                text = style.param_text(names, highlight=hl, fixed=fixed)
                row.node(f"param_{names[0]}", style.html_label(text + (" fixed" if frozen else "")),
                         shape="box", style="rounded,filled" + (",dashed" if frozen else ""),
                         fillcolor="#f2f2f2" if frozen else style.ROLE_FILL["param"], color=colour, penwidth="1.6")
        # the row stands under the inputs: invisible edges to the start point put it there (edges to an
        # input itself would pull the steps apart)
        for k, members in enumerate(groups.values()):
            name = u.param_names[members[0]]
            if rows["x"]:
                g.edge(f"param_{name}", "start", style="invis")
            for target in dict.fromkeys(targets[members[0]]):
                g.edge(f"param_{name}", target, color=style.PALETTE[k % len(style.PALETTE)],
                       constraint="false", arrowsize="0.6", penwidth="1.2")

    # -- notes beside the figure (the checker's numbers)
    for k, (n, markup) in enumerate(notes or ()):
        nid = f"note_{k + 1}"
        g.node(nid, f"<{markup}>", shape="note", style="filled", fillcolor="#fff0f0", color=style.HIGHLIGHT,
               fontsize="11")
        if n is not None and n in u.shown and plan.visible(n):
            role, tn = u.shown[n]
            target = boxes[tn] if plan.box and role in ("s", "c") and tn in boxes else node_id(u, n)
            g.edge(nid, target, style="dashed", color=style.HIGHLIGHT, constraint="false", dir="none")
        rows.setdefault("notes", []).append(nid)

    # -- rows
    for r, ids in rows.items():
        if ids and r != "notes":
            with g.subgraph() as row:
                row.attr(rank="same")
                for i in ids:
                    row.node(i)
    if rows.get("notes"):
        # the notes stand on the input row, next to the step they point at
        with g.subgraph() as row:
            row.attr(rank="same")
            for i in rows["x"][-1:] + rows["notes"]:
                row.node(i)
    style.set_title(g, title)
    return g


def folded(u: Unfolding, *, box: bool | None = None, title: str | None = None, name: str = "folded") -> Figure:
    r"""Return the folded figure: the cell drawn once, each recurrent edge through a black delay square.

    The values are those of one representative step; each state that the next step reads goes into
    its own delay square (one time step of delay) and out of it into the cell (or, without a box, into
    the state it feeds, labelled with the recurrent weight).
    """
    plan = _Plan(u, elide=None, box=box)
    row_of = _rows(u, plan.box)
    fixed = {u.param_names[p] for p in getattr(u, "fixed", ())}
    t = u.times[-1] if len(u.times) == 1 else u.times[-2]   # a step whose states feed a next step
    step, nxt = u.steps[t], u.steps.get(t + 1)
    g = _fig(name, title)
    g.attr(nodesep="0.5")
    ids, rows = {}, {r: [] for r in ROWS}
    for n in step.inputs + step.states + step.outputs + step.losses:
        if n in u.shown and n not in ids:
            nm, _ = u.label(n)
            role = u.shown[n][0]
            key = "c" if role == "s" and nm.startswith(("c", "LTM")) else role
            g.node(nm, style.html_label(style.math_label(nm)), shape="circle", style="filled",
                   fillcolor=style.ROLE_FILL.get(key, "#fff"), color=style.ROLE_LINE.get(key, "#555"),
                   penwidth="1.3", margin="0.02", width="0.45")
            ids[n] = nm
            rows[row_of[n]].append(nm)
    carried = [n for n in step.states if nxt is not None and any(c in set(nxt.nodes) for c in u.children[n])]
    if plan.box:
        g.node("cell", style.html_label(f"<B>{u.cell_name}</B>", style.param_text(
            [u.param_names[p] for p in _box_params(u, t)], per_line=3, fixed=fixed)), shape="box",
            style="rounded,filled",
            fillcolor=style.ROLE_FILL["cell"], color=style.ROLE_LINE["cell"], margin="0.12,0.06")
        rows["s"].insert(0, "cell")
    done = set()
    for e in u.edges():
        if u.shown[e.head][1] != t or e.tail not in ids:
            continue
        into_state = u.shown[e.head][0] in ("s", "c")
        if plan.box and into_state:
            if u.shown[e.tail][0] in ("s", "c"):
                continue
            for a, b in ((ids[e.tail], "cell"), ("cell", ids[e.head])):
                if (a, b) not in done:
                    done.add((a, b))
                    g.edge(a, b)
            continue
        label = [u.param_names[p] for p in u.matrices(e.params)]
        g.edge(ids[e.tail], ids[e.head], **({"label": style.html_label(style.param_text(label, fixed=fixed))}
                                            if label else {}))
    # the recurrent edges: state -> delay (one step) -> (the cell | the states it feeds)
    for s in carried:
        d = f"delay_{ids[s]}"
        g.node(d, "", shape="square", style="filled", fillcolor="black", color="black", width="0.16",
               height="0.16", fixedsize="true")
        rows[row_of[s]].append(d)
        g.edge(ids[s], d, tailport="e", headport="w")
        if plan.box:
            # the loop leaves the delay downwards and enters the cell at its right-hand corner
            g.edge(d, "cell", tailport="s", headport="s" if row_of[s] == "s" else "n", constraint="false")
            continue
        for e in u.edges():
            if e.tail is s and u.shown[e.head][1] == t + 1:
                label = [u.param_names[p] for p in u.matrices(e.params)]
                nm, _ = u.label(e.head)
                g.edge(d, nm, tailport="s", headport="se", constraint="false",
                       **({"label": style.html_label(style.param_text(label, fixed=fixed))} if label else {}))
    for r, members in rows.items():
        if members:
            with g.subgraph() as row:
                row.attr(rank="same")
                for i in members:
                    row.node(i)
    style.set_title(g, title)
    return g
