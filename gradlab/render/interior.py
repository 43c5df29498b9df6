r"""The inside of a cell, drawn the way LSTM and GRU diagrams usually are: learned layers as boxes (a
layer and the gate activation it feeds are one box, "σ" or "tanh" with its weights), pointwise
operations as circles (×, +, 1−, tanh of the cell state), a split of stacked gates as labelled
lines, a concatenation as a dot, and the cell state running straight along the top.

The view is read off the recorded ops of one time step; ``t="all"`` draws every step's interior in
its own cluster (the unfolded view at gate level), with the cell-state line straight across time.
"""
from __future__ import annotations

from ..nn.registry import KINDS
from . import style
from .opgraph import op_symbol
from .output import Figure
from .structure import Unfolding, is_weight

__all__ = ["cell_interior", "GATE_NAMES"]

# figure label -> the order of the stacked gates, as written in each cell's docstring (gradlab.nn.registry)
GATE_NAMES = {k.label: "".join(k.gates) for k in KINDS.values() if k.gates}
_ACTIVATIONS = ("sigmoid", "tanh", "relu")
_POINTWISE = {"mul": "×", "add": "+", "sub": "−", "div": "÷", "neg": "−", "tanh": "tanh", "sigmoid": "σ",
              "relu": "relu", "exp": "exp", "log": "log"}
POINT_FILL = "#f9d9e4"
POINT_LINE = "#b03a66"
LAYER_FILL = "#fff2b3"
LAYER_LINE = "#b08d00"


def _is_param(p) -> bool:
    return is_weight(p)          # a Parameter, or a weight marked fixed (drawn as not trained)


def _is_const(p) -> bool:
    return p.op is None and not p.requires_grad and p.ndim == 0


def _const_text(p) -> str:
    v = float(p.data)
    return f"{v:g}"


class _Step:
    """The interior of one step: which nodes are drawn, collapsed or merged, and how they are labelled."""

    def __init__(self, u: Unfolding, t: int):
        self.u, self.t = u, t
        step = u.steps[t]
        self.states = list(step.states)
        inside = set(step.nodes)
        # the cell proper: ancestors of the states inside the step (the output layer is left out)
        keep, stack = set(), list(self.states)
        while stack:
            n = stack.pop()
            if n in keep or n not in inside:
                continue
            keep.add(n)
            stack.extend(n.parents)
        self.nodes = [n for n in step.nodes if n in keep and n not in step.inputs]
        self.entries = []       # values that enter the step: x_t, s_{t-1}, c_{t-1}
        seen = set()
        for n in self.nodes:
            for p in n.parents:
                if p in keep or p in seen or _is_param(p) or _is_const(p):
                    continue
                if p in u.shown or p.op is None or p.scope.t != t:
                    seen.add(p)
                    self.entries.append(p)
        for x in step.inputs:
            if x not in seen and any(x in n.parents for n in self.nodes):
                self.entries.insert(0, x)
                seen.add(x)
        self.entries.sort(key=lambda n: (0 if u.shown.get(n, ("",))[0] == "x" else 1, u.index[n]))
        users: dict = {}
        for n in self.nodes:
            for p in n.parents:
                users.setdefault(p, []).append(n)
        self.users = users
        # a layer (linear, or matmul with a parameter) feeding exactly one activation merges with it
        self.merged = {}
        for n in self.nodes:
            if self._is_layer(n):
                us = users.get(n, [])
                if len(us) == 1 and us[0].op.name in _ACTIVATIONS and us[0] not in self.states:
                    self.merged[us[0]] = n
        self.layer_of = {v: k for k, v in self.merged.items()}
        gates = GATE_NAMES.get(u.cell_name, "")
        self.gate_name = {}
        for n in self.nodes:
            if n.op.name == "getitem":
                self.gate_name[n] = self._slice_name(n, gates)
        # the belt: states that the outputs do not read directly (c in an LSTM), and the ops between
        # the previous value of such a state and the new one
        hidden_states = {e.tail for e in u.edges() if u.shown.get(e.head, ("",))[0] == "y"}
        belt_states = [s for s in self.states if s not in hidden_states] if len(self.states) > 1 else []
        self.belt = []
        for s in belt_states:
            path, n = [s], s
            while True:
                prev = [p for p in n.parents if p in keep and p.op is not None and p.op.name in ("add", "mul")]
                if not prev:
                    break
                # follow the parent that leads back to the previous cell state
                nxt = None
                for p in prev:
                    if any(q in self.entries and u.names.get(q, "") == u.names.get(s, "?") for q in p.parents) or \
                            p.op.name == "mul" and any(q in self.entries for q in p.parents):
                        nxt = p
                        break
                if nxt is None:
                    break
                path.append(nxt)
                n = nxt
            self.belt.extend(reversed(path))
        self.belt_entries = [q for q in self.entries if any(u.names.get(q, "") == u.names.get(s, "?")
                                                             for s in belt_states)]

    def _is_layer(self, n) -> bool:
        if n.op.name == "linear":
            return True
        if n.op.name == "matmul":
            return any(_is_param(p) or (p.op is not None and p.op.name == "transpose" and _is_param(p.parents[0]))
                       for p in n.parents)
        return False

    def _slice_name(self, n, gates) -> str:
        key = n.attrs.get("key")
        parts = key if isinstance(key, tuple) else (key,)
        sl = next((k for k in parts if isinstance(k, slice)), None)
        src = n.parents[0]
        if sl is not None and sl.start is not None and sl.stop is not None and sl.stop > sl.start:
            width = sl.stop - sl.start
            total = src.shape[-1] if src.ndim else 0
            H = self.states[0].shape[-1] if self.states and self.states[0].ndim else 0
            # gates are stacked in blocks of H columns from gate 0 (the cell's docstring order), so
            # columns [a, b) of any stack are the gates a/H … b/H − 1 (a GRU's σ block holds r and z)
            if H and total % H == 0 and sl.start % H == 0 and sl.stop % H == 0 and sl.stop // H <= len(gates):
                return ",".join(gates[sl.start // H: sl.stop // H])
            k = sl.start // width
            if total and total % width == 0 and len(gates) == total // width and k < len(gates):
                return gates[k]
        return op_symbol(n)

    def params_of(self, n) -> list:
        """Return the names of the parameters a layer node reads (through a transpose, too)."""
        out = []
        for p in n.parents:
            if _is_param(p):
                out.append(self.u.param_names[p])
            elif p.op is not None and p.op.name == "transpose" and _is_param(p.parents[0]):
                out.append(self.u.param_names[p.parents[0]])
        return out


def _is_x_id(dot_id: str, u: Unfolding) -> bool:
    """Whether a DOT name ``t3_in_17`` stands for an input x_t (not a previous state)."""
    index = int(dot_id.rsplit("_", 1)[1])
    node = u.graph.nodes[index]
    return u.shown.get(node, ("",))[0] == "x"


def _value_shape(name: str) -> dict:
    """A value is a small fixed circle (s, c, x) or, for a long name (STM), an ellipse."""
    if len(name) <= 2:
        return {"shape": "circle", "style": "filled", "fixedsize": "true", "width": "0.62", "fontsize": "13"}
    return {"shape": "ellipse", "style": "filled", "margin": "0.04,0.02", "fontsize": "13"}


def _entry_label(u, n, t_text):
    nm, _ = u.label(n) if n in u.shown else (n.name or "v", None)
    return style.math_label(nm, t_text)


def _draw_step(g, u: Unfolding, st: _Step, *, prefix: str, entry_ids: dict, symbolic: bool, out_ids: dict,
               rows: dict):
    r"""Draw the interior of ``st`` into ``g`` (a cluster); ``entry_ids`` maps entries already drawn
    (the previous step's outputs) to their DOT names; fills ``out_ids`` with the state output nodes."""
    t = st.t
    tt = "t" if symbolic else str(t)
    tp = "t−1" if symbolic else str(t - 1)
    ids = {}

    def nid(n):
        return f"{prefix}n{u.index[n]}"

    for e in st.entries:
        if e in entry_ids:
            ids[e] = entry_ids[e]
            continue
        role = u.shown.get(e, ("x",))[0]
        key = "c" if role in ("s", "s0") and u.names.get(e, "").startswith(("c", "LTM")) else role
        key = "x" if role == "x" else key
        ids[e] = f"{prefix}in_{u.index[e]}"
        label = _entry_label(u, e, tt if role == "x" else tp)
        g.node(ids[e], style.html_label(label), fillcolor=style.ROLE_FILL.get(key, "#eee"),
               color=style.ROLE_LINE.get(key, "#777"), **_value_shape(u.names.get(e, "x")))
        rows.setdefault("belt" if e in st.belt_entries else "in", []).append(ids[e])
    for n in st.nodes:
        if n in st.layer_of or n.op.name == "getitem":
            continue  # a layer merged into its activation's box; a gate slice is a labelled line
        if n.op.name == "transpose" and all(_is_param(p) for p in n.parents):
            continue
        if n in st.merged or st._is_layer(n):
            layer = st.merged.get(n, n)
            act = n.op.name if n in st.merged else None
            head = {"sigmoid": "σ", "tanh": "tanh", "relu": "relu"}.get(act, "")
            params = style.param_text(st.params_of(layer), per_line=2,
                                      fixed={u.param_names[p] for p in getattr(u, "fixed", ())})
            label = style.html_label(f"<B>{head}</B>", f'<FONT POINT-SIZE="10">{params}</FONT>') if head \
                else style.html_label(params)
            g.node(nid(n), label, shape="box", style="filled", fillcolor=LAYER_FILL, color=LAYER_LINE,
                   margin="0.08,0.04")
            ids[n] = nid(n)
            if layer is not n:
                ids[layer] = nid(n)
            continue
        if n.op.name in _ACTIVATIONS and not any(p in st.states or p in st.belt for p in n.parents):
            # a gate activation of a stacked layer's slice: a layer box without weights of its own
            g.node(nid(n), style.html_label(f"<B>{_POINTWISE[n.op.name]}</B>"), shape="box", style="filled",
                   fillcolor=LAYER_FILL, color=LAYER_LINE, margin="0.08,0.04")
            ids[n] = nid(n)
            continue
        if n.op.name == "concat":
            g.node(nid(n), "", shape="point", width="0.09", color="#333333")
            ids[n] = nid(n)
            continue
        sym = _POINTWISE.get(n.op.name, op_symbol(n))
        consts = [p for p in n.parents if _is_const(p)]
        if consts and n.op.name == "sub" and n.parents[0] is consts[0]:
            sym = f"{_const_text(consts[0])}−"
        elif consts:
            sym = f"{sym}{_const_text(consts[0])}"
        g.node(nid(n), style.html_label(sym), shape="circle", style="filled", fillcolor=POINT_FILL,
               color=POINT_LINE, width="0.4", fixedsize="false", margin="0.02")
        ids[n] = nid(n)
        if n in st.belt:
            rows.setdefault("belt", []).append(nid(n))
    # parameters read by pointwise ops (peepholes)
    for n in st.nodes:
        if n not in ids or st._is_layer(n) or n in st.merged:
            continue
        for p in n.parents:
            if _is_param(p):
                pid = f"{prefix}p_{u.param_names[p]}"
                g.node(pid, style.html_label(style.math_label(u.param_names[p])), shape="box", style="filled",
                       fillcolor=style.ROLE_FILL["param"], color=style.ROLE_LINE["param"], fontsize="11",
                       height="0.25")
                g.edge(pid, ids[n], color=style.ROLE_LINE["param"])
    # state outputs
    for s in st.states:
        nm = u.names.get(s, "s")
        key = "c" if nm.startswith(("c", "LTM")) else "s"
        oid = f"{prefix}out_{nm}"
        with g.subgraph(name=f"cluster_{oid}") as box:   # see unfolded.py: avoids a doubled flat edge
            box.attr(style="invis", label="", margin="0")
            box.node(oid, style.html_label(style.math_label(nm, tt)), fillcolor=style.ROLE_FILL[key],
                     color=style.ROLE_LINE[key], **_value_shape(nm))
        out_ids[s] = oid
        g.edge(ids[s], oid, **({"weight": "8"} if s in st.belt else {}))
        if s in st.belt:
            rows.setdefault("belt", []).append(oid)
        else:
            rows.setdefault("out", []).append(oid)
    # edges (a slice is a line from the stacked value to its user, labelled with the gate)
    def source(p):
        label = None
        while p.op is not None and p.op.name == "getitem" and p in st.gate_name and p not in ids:
            label = st.gate_name[p]
            p = p.parents[0]
        if p in st.layer_of and p not in ids:
            p = st.layer_of[p]
        return ids.get(p), label

    drawn = set()
    for n in st.nodes:
        if n not in ids:
            continue
        target = ids[n]
        inputs = st.merged[n].parents if n in st.merged else n.parents
        for p in inputs:
            if _is_param(p) or _is_const(p) or (p.op is not None and p.op.name == "transpose"):
                continue
            src, label = source(p)
            if src is None or src == target or (src, target) in drawn:
                continue
            drawn.add((src, target))
            attrs = {}
            if label:
                text = ", ".join(style.math_label(part, tt) for part in label.split(",")) if label.isalpha() or \
                    all(part.isalpha() for part in label.split(",")) else style.math_label(label, tt)
                attrs["xlabel"] = style.html_label(f'<FONT POINT-SIZE="10">{text}</FONT>')
            if n in st.belt and (p in st.belt or p in st.belt_entries):
                attrs["weight"] = "8"
                attrs["penwidth"] = "2"
                if entry_ids.get(p) == "gap":
                    attrs["style"] = "dotted"
            elif p in entry_ids and entry_ids[p] == "gap":
                attrs.update(style="dotted", constraint="false")   # from the elided steps: does not rank
            elif p in entry_ids:
                # the previous step's state read low in this step: reversed, so steps do not stack up
                g.edge(target, src, dir="back", **attrs)
                continue
            g.edge(src, target, **attrs)
    return ids


def cell_interior(u: Unfolding, *, t=None, elide: int | None = None, title: str | None = None,
                  name: str = "cell") -> Figure:
    r"""Return the interior of the cell at step ``t`` (default: a middle step, drawn with symbolic
    subscripts t−1, t), or of every step with ``t="all"`` (one cluster per step, the cell-state line
    straight across time)."""
    g = Figure(name, graph_attr={"rankdir": "BT", "newrank": "true", "nodesep": "0.25", "ranksep": "0.3",
                                 "fontname": style.FONT, "forcelabels": "true"},
               node_attr={"fontname": style.FONT, "fontsize": "13"},
               edge_attr={"fontname": style.FONT, "arrowsize": "0.6"})
    rows: dict = {}
    if t != "all":
        if t is None:
            t = u.times[(len(u.times) - 1) // 2]   # a middle step: every state it makes is read later
        if t not in u.steps:
            raise ValueError(f"render: the graph has no time step {t!r}; it has {u.times[0]}..{u.times[-1]}")
        st = _Step(u, t)
        with g.subgraph(name="cluster_cell") as c:
            c.attr(label=f"<<B>{u.cell_name}</B> cell>", style="rounded", color="#999999", labelloc="b")
            _draw_step(c, u, st, prefix="", entry_ids={}, symbolic=True, out_ids={}, rows=rows)
    else:
        times = u.times
        hidden = set(times[elide:-elide]) if elide and len(times) > 2 * elide + 1 else set()
        prev_out: dict = {}
        gap = False
        for tt in times:
            if tt in hidden:
                if not gap:
                    with g.subgraph(name="cluster_gap") as c:
                        h = sorted(hidden)
                        c.attr(label=f"t = {h[0]} … {h[-1]}", style="dashed,rounded", color="#bbbbbb")
                        c.node("gap", "⋯", shape="plaintext", fontsize="28")
                        c.node("gap_in", "", shape="point", style="invis", width="0")
                    rows.setdefault("belt", []).append("gap")
                    rows.setdefault("in", []).append("gap_in")
                    for s_id in prev_out.values():   # the states carried into the elided steps
                        on_belt = s_id in rows.get("belt", ())
                        g.edge(s_id, "gap", style="dotted", **({} if on_belt else {"constraint": "false"}))
                    gap = True
                continue
            st = _Step(u, tt)
            entry_ids = {}
            for e in st.entries:
                if e in prev_out:
                    entry_ids[e] = prev_out[e]
                elif gap and tt - 1 in hidden and u.shown.get(e, ("x",))[0] != "x":
                    entry_ids[e] = "gap"
            out_ids: dict = {}
            with g.subgraph(name=f"cluster_t{tt}") as c:
                c.attr(label=f"t = {tt}", style="rounded", color="#c8c8c8", fontcolor="#555555", labelloc="b")
                _draw_step(c, u, st, prefix=f"t{tt}_", entry_ids=entry_ids, symbolic=False, out_ids=out_ids,
                           rows=rows)
            prev_out = out_ids
    for r in ("belt",):
        if len(rows.get(r, [])) > 1:
            with g.subgraph() as row:
                row.attr(rank="same")
                for i in dict.fromkeys(rows[r]):
                    row.node(i)
    if rows.get("in"):
        with g.subgraph() as row:
            row.attr(rank="min")
            for i in dict.fromkeys(rows["in"]):
                row.node(i)
        if t == "all":
            # an invisible spine along the inputs of the steps (and the gap): keeps them in time order
            spine = [i for i in dict.fromkeys(rows["in"]) if i == "gap_in" or "_in_" in i and _is_x_id(i, u)]
            for a, b in zip(spine, spine[1:]):
                g.edge(a, b, style="invis")
    if t == "all" and len(u.times) > 20:
        g.attr(mclimit="0.2")   # long gate-level unfoldings: fewer crossing passes (see opgraph.py)
    style.set_title(g, title)
    return g
