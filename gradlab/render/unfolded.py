r"""The textbook pictures of a recurrent network: *unfolded* (one column per time step) and *folded*
(the cell once, its recurrent edge through a delay square).

Unfolded: time runs left to right, one cluster per step; inputs x_t at the bottom, states s_t in the
middle, outputs y_t and losses E_t on top, the total loss E above them. A cell without gates (Elman,
Jordan) is drawn as values joined by edges labelled with the shared weights (W_x, W_s, W_y on every
copy: that is what shows the sharing); a gated cell (LSTM, GRU) is one box per step, labelled with its
parameters, with the states passed between the boxes. ``shared="once"`` draws each parameter once
instead, in a legend under the figure, and every edge it acts on in its colour.

Long sequences: ``elide=k`` draws the first and last k steps and one gap between them;
:func:`steps_kept` chooses k to fit an aspect ratio (``fit="16:9"``) and elides every sequence longer
than :data:`MAX_STEPS` steps unless all steps are asked for.

Layout notes: rows are ``rank=same`` groups under ``newrank=true`` (rows may cross the step clusters),
and the state edges s_{t-1} -> s_t are ordinary flat edges. They must *not* carry
``constraint=false``: dot would then be free to lay the row out right to left.
"""
from __future__ import annotations

from . import style
from .output import Figure
from .structure import Unfolding

__all__ = ["unfolded", "folded", "ROWS", "MAX_STEPS", "AUTO_KEEP", "steps_kept", "estimated_size", "parse_ratio",
           "bands_to_fit", "READABLE", "MAX_BANDS"]

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
        label = label + "".join(f'<BR/><FONT POINT-SIZE="{style.NUMBER_POINT_SIZE}">{ln}</FONT>' for ln in lines)
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


# Long sequences. Above MAX_STEPS time steps the middle of a sequence is elided unless all steps are asked
# for (a figure of 20 000 steps would take dot minutes and gigabytes, and no slide can show it): the first and
# last AUTO_KEEP steps are drawn, the gap says which steps it stands for.
MAX_STEPS = 60
AUTO_KEEP = 3
# The size of the drawn parts in inches, as dot lays them out (measured with dot 2.42 on the figures gradlab
# draws, rounded up for widths and down for heights, so that a figure fitted to a ratio is no wider; the
# layout test checks the ratio they predict against dot's own layout): one step's column (values only, values
# with their gradient norms, one box per step, a box with norms), the initial states, the gap, one row.
COLUMN_WIDTH = {"values": 1.4, "values annotated": 1.7, "box": 3.3, "box annotated": 3.5}
FIRST_COLUMN, GAP_WIDTH, ROW_HEIGHT = 1.1, 2.3, 1.05
SLIDE = "16:9"


def parse_ratio(fit) -> float | None:
    """Return the width/height ratio of ``fit`` (``"16:9"``, ``"4:3"``, a number, or None: no fitting)."""
    if fit is None:
        return None
    if isinstance(fit, (int, float)) and not isinstance(fit, bool) and fit > 0:
        return float(fit)
    if isinstance(fit, str) and ":" in fit:
        a, _, b = fit.partition(":")
        try:
            w, h = float(a), float(b)
        except ValueError:
            w = h = 0.0
        if w > 0 and h > 0:
            return w / h
    raise ValueError(f"render: fit must be an aspect ratio such as '16:9' or '4:3' (width:height), got {fit!r}")


def _check_keep(elide):
    if elide is not None and (not isinstance(elide, int) or isinstance(elide, bool) or elide < 1):
        raise ValueError(f"render: elide must be a positive int (steps kept at each end), got {elide!r}")


def estimated_size(u: Unfolding, kept: int, *, annotated: bool = False, box: bool | None = None) -> tuple:
    r"""Return (width, height) in inches that the unfolded figure of ``u`` takes with ``kept`` steps drawn
    (plus the initial state, and a gap when steps are elided): steps times :data:`COLUMN_WIDTH`, the rows
    times :data:`ROW_HEIGHT`, plus, for ``annotated`` (gradient) figures, the legend under them."""
    box = u.gated() if box is None else box
    width_of = COLUMN_WIDTH[("box" if box else "values") + (" annotated" if annotated else "")]
    elided = kept < len(u.times)
    width = FIRST_COLUMN + kept * width_of + (GAP_WIDTH if elided else 0)
    rows = 4 + (1 if u.final_out and not elided else 0)
    rows += 1 if box and any(len(s.states) > 1 for s in u.steps.values()) else 0
    return width, rows * ROW_HEIGHT + 0.3 + (1.3 if annotated else 0)


# The largest drawing (inches) that still reads once scaled onto a 13.3 × 7.5 in (1280 × 720) slide: its
# fonts keep about two thirds of their size. Fitting wraps a sequence into bands only within it.
READABLE = (20.0, 11.0)
MAX_BANDS = 3


def bands_to_fit(u: Unfolding, ratio: float, *, annotated: bool = False, box: bool | None = None) -> int | None:
    r"""Return the steps per band (for ``wrap=``) of the fewest bands, two to :data:`MAX_BANDS`, in which
    every step of ``u`` fits the aspect ``ratio`` at a readable size (:data:`READABLE`), or None."""
    T = len(u.times)
    for bands in range(2, MAX_BANDS + 1):
        per = -(-T // bands)
        if per < 2:
            return None
        w, h = estimated_size(u, T, annotated=annotated, box=box)
        band_h = h - (1.3 if annotated else 0) - (ROW_HEIGHT if u.final_out else 0)
        width = w - (T - per) * (w - FIRST_COLUMN) / T + 1.2         # one band, and its "continued" mark
        height = bands * band_h + 0.3 * (bands - 1) + (1.3 if annotated else 0)
        if width <= ratio * height and width <= READABLE[0] and height <= READABLE[1]:
            return per
    return None


def steps_kept(u: Unfolding, *, elide=None, fit=None, all_steps: bool = False, annotated: bool = False,
               box: bool | None = None) -> int | None:
    r"""Return how many steps to keep at each end of the sequence (None: draw every step).

    ``elide=k`` is taken as given. Otherwise ``fit`` (an aspect ratio such as ``"16:9"``) keeps the most
    steps whose estimated figure (:func:`estimated_size`) is no wider than that ratio, at least one at
    each end; and a sequence longer than :data:`MAX_STEPS` keeps :data:`AUTO_KEEP` at each end unless
    ``all_steps``."""
    _check_keep(elide)
    if elide is not None:
        return elide
    ratio = parse_ratio(fit)
    T = len(u.times)
    keep = None if all_steps or T <= MAX_STEPS else AUTO_KEEP
    if ratio is not None:
        def fits(kept):
            w, h = estimated_size(u, kept, annotated=annotated, box=box)
            return w <= ratio * h

        if not fits(T if keep is None else 2 * keep):
            keep = next((k for k in range(min(keep or T, T // 2), 0, -1) if fits(2 * k)), 1)
    return keep if keep is not None and T > 2 * keep + 1 else None


class _Plan:
    """Which steps are drawn, and whether a step is one box."""

    def __init__(self, u: Unfolding, *, elide, box, wrap=None):
        self.u = u
        T = u.times
        self.hidden = set()
        _check_keep(elide)
        if elide is not None and len(T) > 2 * elide + 1:
            self.hidden = set(T[elide:-elide])
        self.times = [t for t in T if t not in self.hidden]
        self.box = u.gated() if box is None else bool(box)
        if wrap is not None and (not isinstance(wrap, int) or isinstance(wrap, bool) or wrap < 1):
            raise ValueError(f"render: wrap must be a positive int (steps per row of the figure), got {wrap!r}")
        # wrap=n: the drawn steps (the gap counting as one) run in bands of n, one band under the other
        self.band = {0: 0}
        column = 0
        for t in T:
            if t in self.hidden and t - 1 in self.hidden:
                self.band[t] = self.band[t - 1]
                continue
            self.band[t] = column // wrap if wrap else 0
            column += 1
        self.wrapped = max(self.band.values()) > 0

    def visible(self, n) -> bool:
        t = self.u.shown[n][1]
        return t is None or t not in self.hidden

    def band_of(self, n) -> int:
        """The band (row of steps, 0 on top) of a shown value; the total loss is in the first."""
        return self.band.get(self.u.shown[n][1] or 0, 0)

    def gap_range(self):
        h = sorted(self.hidden)
        return (h[0], h[-1]) if h else None


def unfolded(u: Unfolding, *, shared: str = "label", elide: int | None = None, box: bool | None = None,
             title: str | None = None, annotate: dict | None = None, backward: bool = False,
             edge_colour=None, cut: set | None = None, highlight: dict | None = None,
             notes: list | None = None, name: str = "unfolded", wrap: int | None = None) -> Figure:
    r"""Return the unfolded figure of ``u`` (see the module docstring).

    ``shared``: ``"label"`` (the parameter name on every copy) or ``"once"`` (each parameter drawn once,
    in a legend, and every edge it acts on drawn in its colour). ``elide=k`` keeps the first and last k
    steps. ``wrap=n`` draws n steps per band, the bands one under the other (a long sequence on a slide
    without eliding it); a state that crosses to the next band leaves its band through a "continued" arrow
    and enters the next one from a dashed copy of itself. ``box`` forces (True) or forbids (False) one box
    per step. The remaining arguments are used by
    the gradient and check views: ``annotate`` {node: (lines, fill colour)}, ``backward`` (arrows point
    back in time), ``edge_colour(tail, head)`` -> (colour, width) or None, ``cut`` {(tail, head)} edges
    where the gradient stops, ``highlight`` {parameter name: set of steps or None for all}, ``notes``
    [(node, markup)].

    The figure is drawn in named steps (the methods of :class:`_Drawing`): the initial states, one cluster
    per step, the total loss, the input spine that keeps time running left to right, the edges, the
    legend of shared parameters, the notes, and the rows.
    """
    if shared not in ("label", "once"):
        raise ValueError(f"render: shared must be 'label' or 'once', got {shared!r}")
    d = _Drawing(u, _Plan(u, elide=elide, box=box, wrap=wrap), shared=shared, annotate=annotate, backward=backward,
                 edge_colour=edge_colour, cut=cut or set(), highlight=highlight or {}, name=name)
    d.draw_initial_states()
    d.draw_steps()
    d.draw_total_loss()
    d.draw_input_spine()
    d.draw_edges()
    if shared == "once":
        d.draw_shared_legend()
    d.draw_notes(notes or ())
    d.close_rows()
    style.set_title(d.g, title)
    return d.g


_STOP = {"style": "dashed", "color": "#999999", "label": f'<<FONT COLOR="{style.HIGHLIGHT}">stop</FONT>>'}


class _Drawing:
    """One unfolded figure being drawn: the graph, the rows its nodes go into, the boxes of the steps and
    the edges drawn so far. Each ``draw_*`` method is one step of :func:`unfolded`."""

    def __init__(self, u, plan, *, shared, annotate, backward, edge_colour, cut, highlight, name):
        self.u, self.plan, self.shared = u, plan, shared
        self.annotate, self.backward, self.edge_colour = annotate, backward, edge_colour
        self.cut, self.highlight = cut, highlight
        self.row_of = _rows(u, plan.box)
        self.fixed = {u.param_names[p] for p in getattr(u, "fixed", ())}
        self.g = _fig(name, None)
        self.rows: dict = {}                 # (band, row) -> node ids
        self.band_of_id: dict = {}
        self.placed: set = set()
        self.boxes: dict = {}
        self.drawn: set = set()
        self.final = [] if plan.hidden or plan.wrapped else list(u.final_out)
        self.groups = _parameter_groups(u, plan) if shared == "once" else {}
        self.colour_of = {p: style.PALETTE[k % len(style.PALETTE)]
                          for k, members in enumerate(self.groups.values()) for p in members}

    def _row(self, r, band=0) -> list:
        return self.rows.setdefault((band, r), [])

    def _add(self, nid, r, band):
        self._row(r, band).append(nid)
        self.band_of_id[nid] = band

    def _place(self, c, n):
        _value_node(c, self.u, n, annotate=self.annotate)
        nid = node_id(self.u, n)
        self._add(nid, self.row_of[n], self.plan.band_of(n))
        self.placed.add(nid)

    # -- 1. the initial states, in an unlabelled cluster at the left, and the start of the input spine
    def draw_initial_states(self):
        with self.g.subgraph(name="cluster_t0") as c:
            c.attr(style="invis")
            for n, _ in self.u.initial:
                self._place(c, n)
            c.node("start", "", shape="point", style="invis", width="0")
            self._add("start", "x", 0)

    # -- 2. one cluster per drawn step, and one gap for the elided ones
    def draw_steps(self):
        gap_done, band = False, 0
        for t in self.u.times:
            if self.plan.band[t] != band:
                band = self.plan.band[t]
                self._draw_band_start(band)
            if t not in self.plan.hidden:
                self._draw_step(t)
            elif not gap_done:
                self._draw_gap(band)
                gap_done = True

    def _crossing(self, band) -> list:
        """The (tail id, tail node or None for the gap) of the edges that enter ``band`` from the one before."""
        u, plan, found = self.u, self.plan, {}
        for e in u.edges():
            if not plan.visible(e.head) or plan.band_of(e.head) != band or u.shown[e.head][1] is None:
                continue
            if plan.visible(e.tail) and plan.band_of(e.tail) < band and u.shown[e.tail][0] in ("s", "c", "s0"):
                found.setdefault(node_id(u, e.tail), e.tail)
            elif not plan.visible(e.tail) and u.shown[e.tail][0] in ("s", "c"):
                found.setdefault("gap", None)
        return list(found.items())

    def _draw_band_start(self, band):
        """The left end of a band after the first: the start of its input spine and a dashed copy of each
        state that comes in from the band above (the edges are re-routed to it in :meth:`_edge`)."""
        with self.g.subgraph(name=f"cluster_band{band}") as c:
            c.attr(style="invis")
            c.node(f"start_b{band}", "", shape="point", style="invis", width="0")
            self._add(f"start_b{band}", "x", band)
            c.node(f"top_b{band}", "", shape="point", style="invis", width="0")  # its row: see close_rows
            for tail_id, n in self._crossing(band):
                ghost = f"from_{tail_id}"
                label = "⋯" if n is None else style.html_label(style.math_label(*self.u.label(n)))
                c.node(ghost, label, shape="circle" if n is not None else "plaintext", style="dashed",
                       color="#999999", fontcolor="#777777", width="0.45", margin="0.02")
                self._add(ghost, "s" if n is None else self.row_of[n], band)

    def _draw_gap(self, band):
        a, b = self.plan.gap_range()
        label = f"t = {a} … {b}"
        shown, hidden = self.u.shown, self.plan.hidden
        stops = sorted({shown[tail][1] for tail, head in self.cut if shown[tail][1] in hidden or shown[head][1] in hidden})
        if stops:   # truncation boundaries inside the gap, said in words
            listed = ", ".join(map(str, stops[:6])) + (", …" if len(stops) > 6 else "")
            label = f'<{label}<BR/><FONT COLOR="{style.HIGHLIGHT}">gradient stops after t = {listed}</FONT>>'
        with self.g.subgraph(name="cluster_gap") as c:
            c.attr(label=label, style="dashed,rounded", color="#bbbbbb", fontcolor="#777777", labelloc="t")
            c.node("gap", "⋯", shape="plaintext", fontsize="28")
        self._add("gap", "s", band)

    def _draw_step(self, t):
        u, plan, step = self.u, self.plan, self.u.steps[t]
        bad = any(steps is not None and t in steps for steps in self.highlight.values())
        with self.g.subgraph(name=f"cluster_t{t}") as c:
            c.attr(label=f"t = {t}", style="rounded", color=style.HIGHLIGHT if bad else "#c8c8c8",
                   penwidth="2.2" if bad else "1", fontcolor=style.HIGHLIGHT if bad else "#555555", labelloc="t")
            for n in step.inputs + step.states + step.outputs + step.losses:
                if n not in u.shown or u.shown[n][1] != t or node_id(u, n) in self.placed:
                    continue
                on_belt = plan.box and self.row_of[n] == "s"
                if on_belt and t == u.times[-1] and step.outputs:
                    # a last-step state on the belt feeds nothing drawn; dot then drops it outside
                    # its cluster unless an (invisible) edge ties it to the step's output
                    self._place(c, n)
                    c.edge(node_id(u, n), node_id(u, step.outputs[0]), style="invis")
                elif on_belt and t != u.times[-1]:
                    # a state between two boxes sits in its own (invisible) cluster: dot 2.4x draws a
                    # flat edge twice when its tail also has a flat edge inside the same cluster
                    with c.subgraph(name=f"cluster_t{t}_{node_id(u, n)}") as inner:
                        inner.attr(style="invis", label="", margin="0")
                        self._place(inner, n)
                else:
                    self._place(c, n)
            if plan.box:
                self._draw_box(c, t)

    def _draw_box(self, c, t):
        u, bid = self.u, f"cell_t{t}"
        self.boxes[t] = bid
        params = _box_params(u, t)
        hl = {p for p in self.highlight if self.highlight[p] is None or t in self.highlight[p]}
        lines = [f"<B>{u.cell_name}</B>"]
        if self.shared == "label" and params:
            lines.append(style.param_text([u.param_names[p] for p in params], highlight=hl, per_line=2,
                                          fixed=self.fixed))
        c.node(bid, style.html_label(*lines), shape="box", style="rounded,filled",
               fillcolor=style.ROLE_FILL["cell"], color=style.HIGHLIGHT if hl else style.ROLE_LINE["cell"],
               penwidth="2.2" if hl else "1.3", margin="0.12,0.06")
        self._add(bid, "s", self.plan.band[t])

    # -- 3. the total loss E = Σ_t E_t above the steps, except when steps are elided: its edges then lead
    # dot to lay the last steps out right to left (dot 2.43), and the E_t show the loss
    def draw_total_loss(self):
        for n in self.final:
            _value_node(self.g, self.u, n, annotate=self.annotate)

    # -- 4. an invisible flat spine along the inputs, first among the edges: dot's initial order follows
    # the edge list, and this puts x_t left of x_{t+1} even where no drawn edge is flat (Jordan)
    def draw_input_spine(self):
        for (band, r), ids in sorted(self.rows.items()):
            if r == "x":
                for a, b in zip(ids, ids[1:]):
                    self.g.edge(a, b, style="invis")

    # -- 5. the edges: collapsed edges between the values, re-routed through the boxes and the gap
    def draw_edges(self):
        for e in self.u.edges():
            if not (self.plan.visible(e.tail) or self.plan.visible(e.head)):
                continue
            into_state = self.u.shown[e.head][0] in ("s", "c") and self.u.shown[e.head][1] is not None
            if self.plan.box and into_state:
                self._edge_into_box(e)
            else:
                self._edge_between_values(e)

    def _edge(self, tail, head, params=(), *, t=None, style_=None, colour=None, constraint=True, key=None,
              label=True):
        """Draw one edge (once): labelled with its weights (shared="label") or coloured as their legend
        entry (shared="once"); ``constraint=False`` marks an edge down a row (see below)."""
        k = key or (tail, head)
        if k in self.drawn:
            return
        self.drawn.add(k)
        if self.band_of_id.get(tail, 0) < self.band_of_id.get(head, 0):
            tail = self._continue(tail)
        u, attrs = self.u, {}
        names = [u.param_names[p] for p in params]
        if self.shared == "label" and names and label:
            hl = {p for p in names if p in self.highlight and (self.highlight[p] is None or t in self.highlight[p])}
            attrs["label"] = style.html_label(style.param_text(names, highlight=hl, fixed=self.fixed))
            if hl:
                attrs.update(color=style.HIGHLIGHT, penwidth="2.5")
        if self.shared == "once" and params and params[0] in self.colour_of:
            attrs.update(color=self.colour_of[params[0]], penwidth="2.2")
        if names and not colour and all(n in self.fixed for n in names):
            attrs["color"] = style.FIXED_INK      # an edge through fixed weights only: no gradient, no training
            if self.shared == "once":
                attrs["style"] = "dashed"
        if colour:
            attrs["color"], attrs["penwidth"] = colour
        if self.backward:
            attrs["dir"] = "back"
        if style_:
            attrs.update(style_)
        if not constraint:
            # An edge down a row (s_{t-1} above the box it feeds) is written head -> tail with its arrow
            # turned round: the rows keep their order, and, unlike constraint=false, the edge still
            # takes part in ordering the nodes, so time keeps running left to right.
            attrs["dir"] = "forward" if self.backward else "back"
            tail, head = head, tail
        self.g.edge(tail, head, **attrs)

    def _continue(self, tail) -> str:
        """Close the band of ``tail`` with a "continued below" arrow (once), and return the dashed copy of
        ``tail`` at the start of the next band, where the edge goes on."""
        mark = f"to_{tail}"
        if mark not in self.band_of_id:
            self.g.node(mark, "continued ↓", shape="plaintext", fontcolor="#777777", fontsize="11")
            self._add(mark, next(r for (b, r), ids in self.rows.items() if tail in ids), self.band_of_id[tail])
            self.g.edge(tail, mark, style="dashed", color="#999999", **({"dir": "back"} if self.backward else {}))
        return f"from_{tail}"

    def _weights(self, e) -> list:
        """The parameters an edge is labelled with: its weight matrices, and a highlighted bias."""
        mats = set(self.u.matrices(e.params))
        return [p for p in e.params if p in mats or self.u.param_names[p] in self.highlight]

    def _edge_into_box(self, e):
        u, plan = self.u, self.plan
        th = u.shown[e.head][1]
        if u.shown[e.tail][1] == th and u.shown[e.tail][0] in ("s", "c"):
            return                                    # inside the box
        tail_id = node_id(u, e.tail) if plan.visible(e.tail) else "gap"
        if not plan.visible(e.head):
            self._edge_into_gap(tail_id, e.tail)
            return
        cut_here = (e.tail, e.head) in self.cut
        colour = self.edge_colour(e.tail, e.head) if self.edge_colour else None
        sty = _STOP if cut_here else ({"style": "dotted"} if tail_id == "gap" else None)
        above = tail_id != "gap" and ROWS.index(self.row_of[e.tail]) > ROWS.index("s")
        self._edge(tail_id, self.boxes[th], self._weights(e), t=th, colour=None if cut_here else colour, style_=sty,
                   key=(tail_id, self.boxes[th]), constraint=not above, label=False)
        self._edge(self.boxes[th], node_id(u, e.head), t=th, key=(self.boxes[th], node_id(u, e.head)),
                   colour=self.edge_colour(e.head, e.head) if self.edge_colour else None)

    def _edge_into_gap(self, tail_id, tail):
        """A state carried into the elided steps: a dotted edge into the gap (which stands on the box row, so
        an edge from a state drawn above the box runs down a row)."""
        above = tail_id != "gap" and ROWS.index(self.row_of[tail]) > ROWS.index("s")
        self._edge(tail_id, "gap", key=(tail_id, "gap"), style_={"style": "dotted"}, constraint=not above)

    def _edge_between_values(self, e):
        u, plan = self.u, self.plan
        th = u.shown[e.head][1]
        tail_id, head_id = node_id(u, e.tail), node_id(u, e.head)
        if not plan.visible(e.tail):
            if u.shown[e.tail][0] not in ("s", "c"):
                return  # only the state is carried through the elided steps
            tail_id = "gap"
        if th is None and not self.final:
            return
        if not plan.visible(e.head):
            if u.shown[e.head][0] in ("s", "c"):
                self._edge_into_gap(tail_id, e.tail)
            return
        cut_here = (e.tail, e.head) in self.cut
        colour = None if cut_here else (self.edge_colour(e.tail, e.head) if self.edge_colour else None)
        sty = dict(_STOP) if cut_here else ({"style": "dotted"} if tail_id == "gap" else {})
        up = ROWS.index(self.row_of[e.tail]) if tail_id != "gap" else 1
        down = ROWS.index(self.row_of[e.head]) if th is not None else len(ROWS)
        self._edge(tail_id, head_id, self._weights(e) if not cut_here else (), t=th, colour=colour,
                   style_=sty or None, constraint=up <= down, key=(tail_id, head_id))

    # -- 6. shared="once": each parameter once, in a legend under the inputs, in the colour of its edges
    def draw_shared_legend(self):
        u, rows = self.u, []
        for k, members in enumerate(self.groups.values()):
            colour = style.PALETTE[k % len(style.PALETTE)]
            names = [u.param_names[p] for p in members]
            hl = {n for n in names if n in self.highlight}
            text = style.param_text(names, highlight=hl, fixed=self.fixed)
            frozen = all(n in self.fixed for n in names)
            line = f'<FONT COLOR="{style.FIXED_INK}">╍╍╍</FONT>' if frozen else f'<FONT COLOR="{colour}">━━━</FONT>'
            rows.append(f'<TR><TD ALIGN="LEFT">{line}  {text}{" fixed" if frozen else ""}</TD></TR>')
        if not rows:
            return
        self.g.node("legend_shared", '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3">'
                    '<TR><TD ALIGN="LEFT">shared parameters, one each</TD></TR>' + "".join(rows) + "</TABLE>>",
                    shape="plaintext", fontsize="13")
        self.g.edge("legend_shared", self.bottom_start(), style="invis")

    def bottom_start(self) -> str:
        """The start of the input row of the last band: what a legend under the figure is tied to."""
        band = max(b for b, _ in self.rows)
        return "start" if band == 0 else f"start_b{band}"

    # -- 7. notes beside the figure (the checker's numbers), on the input row next to the step they point at
    def draw_notes(self, notes):
        u, plan = self.u, self.plan
        for k, (n, markup) in enumerate(notes):
            nid = f"note_{k + 1}"
            self.g.node(nid, f"<{markup}>", shape="note", style="filled", fillcolor="#fff0f0",
                        color=style.HIGHLIGHT, fontsize="11")
            if n is not None and n in u.shown and plan.visible(n):
                role, tn = u.shown[n]
                target = self.boxes[tn] if plan.box and role in ("s", "c") and tn in self.boxes else node_id(u, n)
                self.g.edge(nid, target, style="dashed", color=style.HIGHLIGHT, constraint="false", dir="none")
            self._row("notes", None).append(nid)

    # -- 8. the rows: one rank=same group each (inputs at the bottom, losses on top)
    def close_rows(self):
        notes = self.rows.pop((None, "notes"), [])
        # each band stands under the one before: an invisible edge from a point on its top row, at its left
        # end, to the start of the input row above (an edge from a node of the top row would pull that
        # node's step to the left)
        bands = sorted({b for b, _ in self.rows})
        for b in bands[1:]:
            top = max((r for (bb, r), ids in self.rows.items() if bb == b and ids), key=ROWS.index)
            self.rows[(b, top)].insert(0, f"top_b{b}")
            self.g.edge(f"top_b{b}", "start" if b == 1 else f"start_b{b - 1}", style="invis")
        for (band, r), ids in self.rows.items():
            if ids:
                with self.g.subgraph() as row:
                    row.attr(rank="same")
                    for i in ids:
                        row.node(i)
        if notes:
            with self.g.subgraph() as row:
                row.attr(rank="same")
                for i in self._row("x", bands[-1])[-1:] + notes:
                    row.node(i)


def _parameter_groups(u: Unfolding, plan) -> dict:
    """Return {frozenset of edges: [parameters]}: parameters that travel together (a layer's W and b act
    on the same edges) form one legend entry, in the order the model declares them."""
    carried: dict = {}
    for e in u.edges():
        if plan.visible(e.head):
            for p in e.params:
                carried.setdefault(p, set()).add((e.tail, e.head))
    groups: dict = {}
    for p in sorted(carried, key=u.index.__getitem__):
        groups.setdefault(frozenset(carried[p]), []).append(p)
    return groups


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
        # the black square, labelled on its right with what it does and what comes out of it (the value
        # one step back); the edges attach to the square (port "sq")
        g.node(d, style.html_label(
            '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
            '<TD PORT="sq" BGCOLOR="black" WIDTH="12" HEIGHT="12" FIXEDSIZE="TRUE"></TD>'
            f'<TD ALIGN="LEFT">  <FONT POINT-SIZE="12">delay: {style.math_label(ids[s], "t−1")}</FONT></TD>'
            '</TR></TABLE>'), shape="plaintext", margin="0")
        rows[row_of[s]].append(d)
        g.edge(ids[s], d, tailport="e", headport="sq:w")
        if plan.box:
            # the loop leaves the delay downwards and enters the cell at its right-hand corner
            g.edge(d, "cell", tailport="sq:s", headport="s" if row_of[s] == "s" else "n", constraint="false")
            continue
        for e in u.edges():
            if e.tail is s and u.shown[e.head][1] == t + 1:
                label = [u.param_names[p] for p in u.matrices(e.params)]
                nm, _ = u.label(e.head)
                # the weights written where the loop leaves its delay square (a mid-edge label of a
                # non-constraining edge drifts onto the neighbouring edges when two loops are drawn)
                g.edge(d, nm, tailport="sq:s", headport="se", constraint="false",
                       **({"taillabel": style.html_label(style.param_text(label, fixed=fixed)),
                           "labeldistance": "2.2", "labelangle": "-35"} if label else {}))
    for r, members in rows.items():
        if members:
            with g.subgraph() as row:
                row.attr(rank="same")
                for i in members:
                    row.node(i)
    style.set_title(g, title)
    return g
