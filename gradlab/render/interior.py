r"""The inside of a cell, drawn the way LSTM and GRU diagrams usually are.

* A learned layer is a box: the activation it feeds (``σ`` or ``tanh``) with the weights it reads. A
  stacked layer (an LSTM's ``W_x``, ``W_s``, ``b_s`` hold the rows of all four gates) is cut into one box
  per gate, named ``f_t = σ`` and listing that gate's rows (``W_{x,f}, W_{s,f}, b_{s,f}``), so no box
  reads as if one input passed through another's weights. A peephole ``p_f ⊙ c_{t−1}`` is a (diagonal)
  weight of its gate's box, and ``c`` enters that box directly.
* A pointwise operation is a circle (``×``, ``+``, ``1−``, ``tanh`` of the cell state).
* Inputs that several gate boxes read together join in a dot first (the concatenation
  ``[s_{t−1}; x_t]``).
* A state carried along by pointwise operations only (an LSTM's ``c``, a GRU's ``s``) runs straight
  across the top, ``c_{t−1} → × → + → c_t``; what the step computes *from* it hangs below that line
  (``tanh(c_t) → × → s_t``), as in the textbook picture.
* A part of the step with no path to the loss in the recorded graph (a four-gate LSTM's last LTM) is
  drawn grey: no gradient flows through it.

Everything is read off the recorded ops of the step (slices, ``linear`` nodes, element-wise ops), not
off a table of cells. ``t="all"`` draws every step's interior in its own cluster (the unfolded view at
gate level), the carried state on one line across time.

The drawing runs in named stages: :class:`_Interior` analyses one step (:meth:`_Interior.piece` builds
the drawn parts, :meth:`_Interior._join_inputs`, :meth:`_Interior._find_belt` and
:meth:`_Interior._find_hanging` decide the layout); :func:`_draw_step` draws them
(:func:`_draw_entries`, :func:`_draw_parts`, :func:`_draw_outputs`, :func:`_draw_edges`).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..nn.registry import KINDS
from . import style
from .opgraph import op_symbol, reaches_loss
from .output import Figure
from .structure import Unfolding, is_weight

__all__ = ["cell_interior", "GATE_NAMES", "reaches_loss"]

# figure label -> the order of the stacked gates, as written in each cell's docstring (gradlab.nn.registry)
GATE_NAMES = {k.label: "".join(k.gates) for k in KINDS.values() if k.gates}
_ACTIVATIONS = {"sigmoid": "σ", "tanh": "tanh", "relu": "relu"}
_POINTWISE = {"mul": "×", "add": "+", "sub": "−", "div": "÷", "neg": "−", "tanh": "tanh", "sigmoid": "σ",
              "relu": "relu", "exp": "exp", "log": "log"}
_ELEMENTWISE = set(_POINTWISE)


# ------------------------------------------------------------------------------- slices and layers
def _key_parts(n) -> tuple:
    key = n.attrs.get("key")
    return key if isinstance(key, tuple) else (key,)


def _last_axis_slice(n):
    """(lo, hi) when getitem node ``n`` takes columns lo..hi−1 of the last axis only; else None."""
    parts, ndim = _key_parts(n), n.parents[0].ndim
    if not ndim:
        return None
    if parts and parts[0] is Ellipsis and len(parts) == 2:
        sl = parts[1]
    elif len(parts) == ndim and all(k == slice(None) for k in parts[:-1]):
        sl = parts[-1]
    else:
        return None
    if not isinstance(sl, slice) or sl.step not in (None, 1):
        return None
    lo, hi, _ = sl.indices(n.parents[0].shape[-1])
    return (lo, hi) if hi > lo else None


def _weight_rows(p):
    """(weight, rows) when ``p`` is a weight, its transpose or a block of its rows; else None."""
    if is_weight(p):
        return p, None
    if p.op is None:
        return None
    if p.op.name == "transpose" and is_weight(p.parents[0]):
        return p.parents[0], None
    if p.op.name == "getitem" and is_weight(p.parents[0]):
        parts = _key_parts(p)
        if len(parts) == 1 and isinstance(parts[0], slice) and parts[0].step in (None, 1):
            lo, hi, _ = parts[0].indices(p.parents[0].shape[0])
            return p.parents[0], (lo, hi)
    return None


def _sub_range(outer, inner):
    """Rows ``inner`` (relative) of the block ``outer`` (absolute; None: all)."""
    if inner is None:
        return outer
    if outer is None:
        return inner
    return (outer[0] + inner[0], outer[0] + inner[1])


@dataclass
class _Terms:
    """An affine map of values: Σ W_k v_k + b (weights with their row blocks, the values they act on)."""

    weights: list = field(default_factory=list)    # (weight, rows)
    inputs: list = field(default_factory=list)     # nodes
    acts_on: dict = field(default_factory=dict)    # weight -> the value it multiplies (none for a bias)

    def add(self, other: "_Terms") -> "_Terms":
        return _Terms(self.weights + other.weights, self.inputs + [n for n in other.inputs if n not in self.inputs],
                      {**self.acts_on, **other.acts_on})


@dataclass
class _Part:
    """One drawn node of a step's interior."""

    id: str
    kind: str            # entry, layer, act, point, junction
    node: object         # the recorded node it stands for (its gradient decides the colour)
    label: str = ""
    inputs: list = field(default_factory=list)     # ids of the parts it reads
    params: list = field(default_factory=list)     # ids of the weight tags (peepholes of a pointwise op)
    gate: str = ""       # a layer's gate (from the rows of the stacked weights it reads), e.g. "f"
    active: bool = False  # a layer merged with its activation


class _Interior:
    """The interior of one step, analysed: the parts to draw (boxes, circles, the entries), which of
    them carry the state along the top (the belt), and which hang below it."""

    def __init__(self, u: Unfolding, t: int, alive: set, *, prefix: str, symbolic: bool):
        self.u, self.t, self.alive, self.prefix = u, t, alive, prefix
        self.tt = "t" if symbolic else str(t)
        self.tp = "t−1" if symbolic else str(t - 1)
        step = u.steps[t]
        self.states = list(step.states)
        self.H = self.states[0].shape[-1] if self.states and self.states[0].ndim else 0
        self.gates = GATE_NAMES.get(u.cell_name, "")
        self.keep = self._cell_nodes(step)
        self.entries = self._find_entries(step)
        self.parts: dict = {}          # id -> _Part, in drawing order
        self._ids: dict = {}           # (node, rows) -> id
        self.state_ids = [self.piece(s) for s in self.states]
        self.belt, self.belt_states = self._find_belt()
        self._join_inputs()
        self.hanging = self._find_hanging()

    # ------------------------------------------------------------------- what belongs to the step
    def _cell_nodes(self, step) -> set:
        """The cell proper: the step's ops that its states depend on (the output layer is left out)."""
        inside, keep, stack = set(step.nodes), set(), list(self.states)
        while stack:
            n = stack.pop()
            if n in keep or n not in inside or n in step.inputs:
                continue
            keep.add(n)
            stack.extend(n.parents)
        return keep

    def _find_entries(self, step) -> list:
        """The values that enter the step: x_t first, then the previous states (s_{t−1}, c_{t−1})."""
        u, entries = self.u, []
        for n in step.nodes:
            if n not in self.keep:
                continue
            for p in n.parents:
                if p in self.keep or p in entries or _weight_rows(p) or _is_const(p):
                    continue
                if p in u.shown or p.op is None or p.scope.t != self.t:
                    entries.append(p)
        for x in step.inputs:
            if x not in entries and any(x in n.parents for n in self.keep):
                entries.append(x)
        entries.sort(key=lambda n: (0 if u.shown.get(n, ("",))[0] == "x" else 1, u.index[n]))
        return entries

    # ------------------------------------------------------------------------------ the parts
    def _through_slices(self, node, rows):
        while node.op is not None and node.op.name == "getitem" and node in self.keep:
            sl = _last_axis_slice(node)
            if sl is None:
                break
            rows = _sub_range(sl, rows)
            node = node.parents[0]
        if rows is not None and node.ndim and rows == (0, node.shape[-1]):
            rows = None
        return node, rows

    def layer_terms(self, node, rows=None):
        """The :class:`_Terms` when columns ``rows`` of ``node`` are an affine map of values computed
        inside the step by learned weights (``linear``, a product with a weight, sums of those, a
        diagonal weight ``p ⊙ v``); None otherwise."""
        node, rows = self._through_slices(node, rows)
        if node.op is None or node not in self.keep:
            return None
        name, ps = node.op.name, node.parents
        if name == "linear" or name == "matmul":
            w = _weight_rows(ps[1]) if len(ps) > 1 else None
            if w is None:
                return None
            terms = _Terms([(w[0], _sub_range(w[1], rows))], [ps[0]], {w[0]: ps[0]})
            if len(ps) > 2:
                bias = ps[2]
                b = _weight_rows(bias)
                if b is not None:
                    terms.weights.append((b[0], _sub_range(b[1], rows)))
                else:
                    more = self.layer_terms(bias, rows)
                    # an added value that is no layer of this step (the inputs projected before the
                    # loop, in a fused unrolling) enters the box as one more input
                    terms = terms.add(more) if more is not None else terms.add(_Terms([], [bias]))
            return terms
        if name == "mul" and len(ps) == 2:
            for w, v in ((ps[0], ps[1]), (ps[1], ps[0])):
                wr = _weight_rows(w)
                if wr is not None and wr[0].ndim == 1 and _weight_rows(v) is None:
                    return _Terms([(wr[0], _sub_range(wr[1], rows))], [v], {wr[0]: v})   # diag(p) v
            return None
        if name == "add" and len(ps) == 2:
            sides = []
            for p in ps:
                wr = _weight_rows(p)
                if wr is not None:       # a bias
                    sides.append(_Terms([(wr[0], _sub_range(wr[1], rows) if p.ndim else None)], []))
                else:
                    sides.append(self.layer_terms(p, rows if p.shape[-1:] == node.shape[-1:] else None))
            if None in sides:
                return None
            return sides[0].add(sides[1])
        return None

    def _gate_of(self, weights) -> str:
        """The gate letter(s) of the rows a layer reads (from the stacked order of the cell's docstring)."""
        for w, rows in weights:
            if rows is None or not self.H or not self.gates:
                continue
            total = w.shape[0]
            lo, hi = rows
            if total % self.H == 0 and total // self.H == len(self.gates) and lo % self.H == 0 and hi % self.H == 0:
                return self.gates[lo // self.H: hi // self.H]
        return ""

    def _weight_names(self, terms: _Terms, gate: str) -> list:
        """The names of a layer's weights as the lecture writes the sum: W_x (on x_t) before W_s, then
        the vectors (biases, peepholes); a block of stacked rows carries its gate (W_x,f)."""
        def order(wr):
            w = wr[0]
            on_input = self.u.shown.get(terms.acts_on.get(w), ("",))[0] == "x"
            return (w.ndim < 2 or w not in terms.acts_on, not on_input, self.u.index[w])

        names = []
        for w, rows in sorted(terms.weights, key=order):
            name = self.u.param_names[w]
            if rows is not None and not (rows == (0, w.shape[0])):
                if gate and len(gate) == 1:
                    name = f"{name},{gate}" if "_" in name else f"{name}_{gate}"
                else:
                    name = f"{name}[{rows[0]}:{rows[1]}]"
            if name not in names:
                names.append(name)
        return names

    def _id(self, node, rows) -> str:
        suffix = "" if rows is None else f"_{rows[0]}_{rows[1]}"
        return f"{self.prefix}n{self.u.index[node]}{suffix}"

    def piece(self, node, rows=None) -> str:
        """Return the id of the part that draws columns ``rows`` of ``node`` (all of them: None),
        making it (and the parts it reads) on first use."""
        node, rows = self._through_slices(node, rows)
        key = (node, rows)
        if key in self._ids:
            return self._ids[key]
        if node not in self.keep:
            pid = f"{self.prefix}in_{self.u.index[node]}"
            self._ids[key] = pid
            self.parts.setdefault(pid, _Part(pid, "entry", node))
            return pid
        pid = self._id(node, rows)
        self._ids[key] = pid
        part = _Part(pid, "point", node)
        name = node.op.name
        terms = self.layer_terms(node, rows)
        act_terms = None
        if terms is None and name in _ACTIVATIONS:
            src = node.parents[0]
            if len(self.u.children.get(src, ())) == 1:
                act_terms = self.layer_terms(src, rows)
        if terms is not None or act_terms is not None:
            t = terms if terms is not None else act_terms
            part.kind = "layer"
            gate = part.gate = self._gate_of(t.weights)
            part.active = act_terms is not None
            head = ""
            if act_terms is not None:
                head = f"<B>{_ACTIVATIONS[name]}</B>"
                if len(gate) == 1:
                    head = f"{style.math_label(gate, self.tt)} = {head}"
            params = style.param_text(self._weight_names(t, gate), per_line=2,
                                      fixed={self.u.param_names[p] for p in getattr(self.u, "fixed", ())})
            part.label = style.html_label(*([head] if head else []), f'<FONT POINT-SIZE="12">{params}</FONT>')
            part.inputs = [self.piece(v) for v in t.inputs]
        elif name in _ACTIVATIONS and not any(p in self.states or p in self.entries for p in node.parents):
            part.kind = "act"            # the activation of a sum that is not a layer of its own (a GRU's n)
            part.inputs = [self.piece(node.parents[0], rows)]
            part.gate = self._gate_below(part.inputs)
            head = f"<B>{_ACTIVATIONS[name]}</B>"
            part.label = style.html_label(f"{style.math_label(part.gate, self.tt)} = {head}" if part.gate else head)
        elif name == "concat":
            part.kind = "junction"
            part.inputs = [self.piece(p) for p in node.parents]
        else:
            part.label, part.inputs, part.params = self._pointwise(node, rows)
        self.parts[pid] = part
        return pid

    def _gate_below(self, inputs) -> str:
        """The gate of the pre-activation layers that a sum of pointwise terms is made of, when they all
        belong to one gate (a GRU's W_{x,n} x_t + r_t ⊙ (W_{s,n} s_{t−1} + b_{s,n}) is n's)."""
        found, stack, seen = set(), list(inputs), set()
        while stack:
            part = self.parts.get(stack.pop())
            if part is None or part.id in seen:
                continue
            seen.add(part.id)
            if part.kind == "layer" and not part.active:
                found.add(part.gate)
            elif part.kind == "point":
                stack.extend(part.inputs)
        return found.pop() if len(found) == 1 and len(next(iter(found))) == 1 else ""

    def _pointwise(self, node, rows):
        sym = _POINTWISE.get(node.op.name, op_symbol(node))
        consts = [p for p in node.parents if _is_const(p)]
        if consts and node.op.name == "sub" and node.parents[0] is consts[0]:
            sym = f"{float(consts[0].data):g}−"
        elif consts:
            sym = f"{sym}{float(consts[0].data):g}"
        inputs, params = [], []
        for p in dict.fromkeys(node.parents):
            if _is_const(p):
                continue
            w = _weight_rows(p)
            if w is not None:
                params.append(w[0])
                continue
            same = rows is not None and p.ndim and p.shape[-1:] == node.shape[-1:]
            inputs.append(self.piece(p, rows if same else None))
        return style.html_label(sym), inputs, params

    # ------------------------------------------------------------------------------ the layout
    def _join_inputs(self) -> None:
        """Gate boxes that read the same two or more entries read them through one dot (a
        concatenation), instead of each box drawing its own lines from every entry; the state on the
        belt (a peephole's c_{t−1}) keeps its own lines into the boxes."""
        groups: dict = {}
        for part in self.parts.values():
            if part.kind != "layer":
                continue
            shared = tuple(i for i in part.inputs if self.parts[i].kind == "entry" and i not in self.belt)
            if len(shared) >= 2:
                groups.setdefault(frozenset(shared), []).append(part)
        for shared, boxes in groups.items():
            if len(boxes) < 2:
                continue
            jid = f"{self.prefix}join_{'_'.join(sorted(i.rsplit('_', 1)[-1] for i in shared))}"
            order = [i for i in boxes[0].inputs if i in shared]
            self.parts[jid] = _Part(jid, "junction", self.parts[order[0]].node, inputs=order)
            for box in boxes:
                rest = [i for i in box.inputs if i not in shared]
                box.inputs = [jid] + rest
        # a junction is drawn before the boxes that read it
        ordered = {k: v for k, v in self.parts.items() if v.kind in ("entry", "junction")}
        ordered.update(self.parts)
        self.parts = ordered

    def _find_belt(self):
        """The states carried by pointwise operations only (c_{t−1} → × → + → c_t): for each, the
        shortest such path from its previous value to its new value."""
        belt, belt_states = [], []
        readers: dict = {}
        for part in self.parts.values():
            for i in part.inputs:
                readers.setdefault(i, []).append(part.id)
        for s, sid in zip(self.states, self.state_ids):
            name = self.u.names.get(s)
            starts = [p.id for p in self.parts.values() if p.kind == "entry" and name is not None
                      and self.u.names.get(p.node) == name]
            for start in starts:
                path = self._shortest(start, sid, readers)
                if path:
                    belt.extend(path)
                    belt_states.append(s)
                    break
        return belt, belt_states

    def _shortest(self, start, goal, readers):
        prev, queue = {start: None}, deque([start])
        while queue:
            a = queue.popleft()
            if a == goal:
                path = [a]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return path[::-1]
            for b in readers.get(a, ()):
                if b not in prev and self.parts[b].kind == "point":
                    prev[b] = a
                    queue.append(b)
        return None

    def _find_hanging(self) -> set:
        """The parts computed from the belt that the belt does not need (tanh(c_t) → × → s_t): drawn
        below the belt line, their edges pointing down."""
        feeds, stack = set(self.belt), list(self.belt)
        while stack:
            for i in self.parts[stack.pop()].inputs:
                if i not in feeds:
                    feeds.add(i)
                    stack.append(i)
        readers: dict = {}
        for part in self.parts.values():
            for i in part.inputs:
                readers.setdefault(i, []).append(part.id)
        hanging, stack = set(), list(self.belt)
        while stack:
            for r in readers.get(stack.pop(), ()):
                if r not in feeds and r not in hanging:
                    hanging.add(r)
                    stack.append(r)
        return hanging

    def grey(self, pid) -> bool:
        """Whether no gradient of the loss flows through part ``pid`` (no path to the loss)."""
        return self.parts[pid].node not in self.alive


def _is_const(p) -> bool:
    return p.op is None and not p.requires_grad and p.ndim == 0 and not is_weight(p)


# ------------------------------------------------------------------------------------- drawing
def _value_shape(name: str) -> dict:
    """A value is a small fixed circle (s, c, x) or, for a long name (STM), an ellipse."""
    if len(name) <= 2:
        return {"shape": "circle", "style": "filled", "fixedsize": "true", "width": "0.62", "fontsize": "14"}
    return {"shape": "ellipse", "style": "filled", "margin": "0.04,0.02", "fontsize": "14"}


def _colours(st: _Interior, pid, fill, line) -> dict:
    if st.grey(pid):
        return {"fillcolor": style.NO_GRAD_FILL, "color": style.NO_GRAD_LINE, "fontcolor": style.NO_GRAD_INK}
    return {"fillcolor": fill, "color": line}


def _role_key(u, n) -> str:
    role = u.shown.get(n, ("x",))[0]
    if role in ("s", "s0", "c") and u.names.get(n, "").startswith(("c", "LTM")):
        return "c"
    return "s" if role == "s0" else role


def _draw_entries(g, st: _Interior, entry_ids: dict, rows: dict) -> dict:
    """The values entering the step (or, in the unfolded view, the previous step's outputs for them)."""
    u, ids = st.u, {}
    belt_entries = {i for i in st.belt if st.parts[i].kind == "entry"}
    for part in st.parts.values():
        if part.kind != "entry":
            continue
        e = part.node
        if e in entry_ids:
            ids[part.id] = entry_ids[e]
            readers = [p for p in st.parts.values() if part.id in p.inputs]
            if part.id in belt_entries and entry_ids[e] != "gap" and len(readers) > 1 and _role_key(u, e) == "s":
                # the previous step's state forks here: along the belt, and down into this step's gates.
                # Only for a carried state that is also the hidden state (a GRU's s): dot then keeps the
                # steps in time order; for a cell state read by peepholes the fork pushes the step's new
                # states out of its cluster, and plain edges lay out well (seen on every cell, T = 2..6)
                fork = f"{part.id}_fork"
                colour = style.NO_GRAD_LINE if st.grey(part.id) else style.INK
                g.node(fork, "", shape="point", width="0.08", color=colour)
                g.edge(entry_ids[e], fork, weight="8", penwidth="2", arrowhead="none", color=colour)
                ids[part.id] = fork
                rows.setdefault("belt", []).append(fork)
            continue
        ids[part.id] = part.id
        role = u.shown.get(e, ("x",))[0]
        nm = u.label(e)[0] if e in u.shown else (e.name or "v")
        label = style.math_label(nm, st.tt if role == "x" else st.tp)
        key = _role_key(u, e)
        colours = _colours(st, part.id, style.ROLE_FILL.get(key, style.ROLE_FILL["s0"]),
                           style.ROLE_LINE.get(key, style.ROLE_LINE["s0"]))
        g.node(part.id, style.html_label(label), **colours, **_value_shape(nm))
        rows.setdefault("belt" if part.id in belt_entries else "in", []).append(part.id)
    return ids


def _draw_parts(g, st: _Interior, ids: dict, rows: dict) -> None:
    """The boxes (layers), circles (pointwise operations) and dots (joins) of the step."""
    u = st.u
    for part in st.parts.values():
        if part.kind == "entry":
            continue
        ids[part.id] = part.id
        if part.kind == "junction":
            ink = style.NO_GRAD_LINE if st.grey(part.id) else style.JUNCTION_INK
            g.node(part.id, "", shape="point", width="0.1", color=ink)
        elif part.kind in ("layer", "act"):
            g.node(part.id, part.label, shape="box", style="filled,rounded", margin="0.1,0.05",
                   **_colours(st, part.id, style.LAYER_FILL, style.LAYER_LINE))
        else:
            g.node(part.id, part.label, shape="circle", style="filled", width="0.42", fixedsize="false",
                   margin="0.02", **_colours(st, part.id, style.POINT_FILL, style.POINT_LINE))
        if part.id in st.belt:
            rows.setdefault("belt", []).append(part.id)
        for w in part.params:      # a weight read by a pointwise op: a tag beside it
            name = u.param_names[w]
            tag = f"{part.id}_p_{u.index[w]}"
            g.node(tag, style.html_label(style.math_label(name)), shape="box", style="filled", fontsize="12",
                   height="0.25", fillcolor=style.ROLE_FILL["param"], color=style.ROLE_LINE["param"])
            g.edge(tag, part.id, color=style.ROLE_LINE["param"])


def _draw_outputs(g, st: _Interior, ids: dict, out_ids: dict, rows: dict) -> None:
    """The new states s_t, c_t, each in an invisible cluster of its own (see unfolded.py: dot would
    otherwise double a flat edge into it)."""
    u = st.u
    for s, sid in zip(st.states, st.state_ids):
        nm = u.names.get(s, "s")
        oid = f"{st.prefix}out_{nm}"
        key = "c" if nm.startswith(("c", "LTM")) else "s"
        with g.subgraph(name=f"cluster_{oid}") as box:
            box.attr(style="invis", label="", margin="0")
            colours = _colours(st, sid, style.ROLE_FILL[key], style.ROLE_LINE[key])
            box.node(oid, style.html_label(style.math_label(nm, st.tt)), **colours, **_value_shape(nm))
        out_ids[s] = oid
        edge = {"color": style.NO_GRAD_LINE} if st.grey(sid) else {}
        if sid in st.belt:
            g.edge(ids[sid], oid, weight="8", penwidth="2", **edge)
            rows.setdefault("belt", []).append(oid)
        elif sid in st.hanging:
            g.edge(oid, ids[sid], dir="back", **edge)       # hangs below the belt, as s_t in the usual picture
            rows.setdefault("low", []).append(oid)
        else:
            g.edge(ids[sid], oid, **edge)
            rows.setdefault("out", []).append(oid)


def _draw_edges(g, st: _Interior, ids: dict, entry_ids: dict) -> None:
    """One edge per input of each part. Along the belt: heavy and straight; from the belt down to what
    hangs below it, and into a part fed from the belt: drawn bottom-up and pointed back (dot then keeps
    the belt on top); from the previous step: not ranked (the steps keep their own rows)."""
    belt, hanging = set(st.belt), st.hanging
    drawn = set()
    for part in st.parts.values():
        if part.kind == "entry":
            continue
        head = ids[part.id]
        for i in part.inputs:
            tail = ids[i]
            if (tail, head) in drawn or tail == head:
                continue
            drawn.add((tail, head))
            attrs = {"color": style.NO_GRAD_LINE} if st.grey(part.id) else {}
            from_gap = tail == "gap"
            if part.id in belt and i in belt:
                attrs.update(weight="8", penwidth="2")
                if from_gap:
                    attrs["style"] = "dotted"
                g.edge(tail, head, **attrs)
            elif i in belt and st.parts[i].kind == "entry" and not _from_before(st, tail):
                g.edge(tail, head, constraint="false", **attrs)   # down from the belt's start: not ranked
            elif i in belt or i in hanging:
                g.edge(head, tail, dir="back", **attrs)     # points down, from the belt
            elif from_gap:
                g.edge(tail, head, style="dotted", constraint="false", **attrs)
            elif _from_before(st, tail) and st.belt:
                g.edge(tail, head, constraint="false", **attrs)   # the belt row keeps the steps in order
            elif _from_before(st, tail):
                # the previous step's state read low in this step: written bottom-up and pointed back,
                # so the steps do not stack up and stay in time order (no belt row to align them)
                g.edge(head, tail, dir="back", **attrs)
            else:
                g.edge(tail, head, **attrs)


def _from_before(st: _Interior, dot_id: str) -> bool:
    """Whether ``dot_id`` is drawn by an earlier step (or the gap), not inside ``st``'s cluster."""
    return bool(st.prefix) and not dot_id.startswith(st.prefix)


def _draw_step(g, st: _Interior, *, entry_ids: dict, out_ids: dict, rows: dict) -> None:
    r"""Draw the analysed step ``st`` into ``g`` (a cluster): entries, parts, new states, edges.
    ``entry_ids`` maps entries already drawn (the previous step's states) to their DOT names; the new
    states' names go into ``out_ids``; ``rows`` collects the rows to align (belt, in, low, out)."""
    ids = _draw_entries(g, st, entry_ids, rows)
    _draw_parts(g, st, ids, rows)
    _draw_outputs(g, st, ids, out_ids, rows)
    _draw_edges(g, st, ids, entry_ids)


def _align_rows(g, rows: dict, *, spine: list) -> None:
    """The belt on one row (straight across the cell, or across time); the entries (and what hangs
    lowest) on the bottom row; an invisible spine keeps the steps in time order."""
    if len(rows.get("belt", [])) > 1:
        with g.subgraph() as row:
            row.attr(rank="same")
            for i in dict.fromkeys(rows["belt"]):
                row.node(i)
    bottom = list(dict.fromkeys(rows.get("in", []) + rows.get("low", [])))
    if bottom:
        with g.subgraph() as row:
            row.attr(rank="min")
            for i in bottom:
                row.node(i)
    for a, b in zip(spine, spine[1:]):
        g.edge(a, b, style="invis")


def _new_figure(name: str) -> Figure:
    return Figure(name, graph_attr={"rankdir": "BT", "newrank": "true", "nodesep": "0.3", "ranksep": "0.32",
                                    "fontname": style.FONT, "forcelabels": "true"},
                  node_attr={"fontname": style.FONT, "fontsize": "14"},
                  edge_attr={"fontname": style.FONT, "arrowsize": "0.6", "color": style.INK})


def _one_step(g, u: Unfolding, t, alive: set, rows: dict) -> None:
    if t is None:
        t = u.times[(len(u.times) - 1) // 2]   # a middle step: every state it makes is read later
    if t not in u.steps:
        raise ValueError(f"render: the graph has no time step {t!r}; it has {u.times[0]}..{u.times[-1]}")
    st = _Interior(u, t, alive, prefix="", symbolic=True)
    with g.subgraph(name="cluster_cell") as c:
        c.attr(label=f"<<B>{u.cell_name}</B> cell>", style="rounded", color=style.FRAME_LINE, labelloc="b",
               fontsize="15")
        _draw_step(c, st, entry_ids={}, out_ids={}, rows=rows)


def _all_steps(g, u: Unfolding, alive: set, rows: dict, elide) -> list:
    """Every step's interior in its own cluster (the elided middle as one "⋯" cluster); returns the
    spine (the first input of each step, and the gap) that keeps them in time order."""
    times = u.times
    hidden = set(times[elide:-elide]) if elide and len(times) > 2 * elide + 1 else set()
    prev_out: dict = {}
    gap, spine = False, []
    for t in times:
        if t in hidden:
            if not gap:
                _draw_gap(g, sorted(hidden), prev_out, rows)
                spine.append("gap_in")
                gap = True
            continue
        st = _Interior(u, t, alive, prefix=f"t{t}_", symbolic=False)
        entry_ids = {p.node: prev_out[p.node] for p in st.parts.values() if p.kind == "entry" and p.node in prev_out}
        out_ids: dict = {}
        with g.subgraph(name=f"cluster_t{t}") as c:
            c.attr(label=f"t = {t}", style="rounded", color=style.FRAME_LINE, fontcolor=style.FRAME_INK,
                   labelloc="b")
            _draw_step(c, st, entry_ids=entry_ids, out_ids=out_ids, rows=rows)
        if gap and t - 1 in hidden:
            # the states coming out of the elided steps are drawn in this step, fed from the "⋯"
            for part in st.parts.values():
                if part.kind == "entry" and u.shown.get(part.node, ("x",))[0] != "x":
                    g.edge("gap", part.id, style="dotted", **({} if part.id in st.belt else {"constraint": "false"}))
        xs = [p.id for p in st.parts.values() if p.kind == "entry" and u.shown.get(p.node, ("",))[0] == "x"]
        spine.extend(xs[:1])
        prev_out = out_ids
    return spine


def _draw_gap(g, hidden: list, prev_out: dict, rows: dict) -> None:
    with g.subgraph(name="cluster_gap") as c:
        c.attr(label=f"t = {hidden[0]} … {hidden[-1]}", style="dashed,rounded", color=style.GAP_LINE)
        c.node("gap", "⋯", shape="plaintext", fontsize="28")
        c.node("gap_in", "", shape="point", style="invis", width="0")
    rows.setdefault("belt", []).append("gap")
    rows.setdefault("in", []).append("gap_in")
    for s_id in prev_out.values():   # the states carried into the elided steps
        on_belt = s_id in rows.get("belt", ())
        g.edge(s_id, "gap", style="dotted", **({} if on_belt else {"constraint": "false"}))


def cell_interior(u: Unfolding, *, t=None, elide: int | None = None, title: str | None = None,
                  name: str = "cell") -> Figure:
    r"""Return the interior of the cell at step ``t`` (default: a middle step, drawn with symbolic
    subscripts t−1, t), or of every step with ``t="all"`` (one cluster per step, the carried state
    straight across time; ``elide=k`` keeps the first and last k steps). Parts with no path to the loss
    in the recorded graph are grey."""
    g = _new_figure(name)
    alive = reaches_loss(u)
    rows: dict = {}
    spine: list = []
    if t == "all":
        spine = _all_steps(g, u, alive, rows, elide)
    else:
        _one_step(g, u, t, alive, rows)
    _align_rows(g, rows, spine=spine)
    if t == "all" and len(u.times) > 20:
        g.attr(mclimit="0.2")   # long gate-level unfoldings: fewer crossing passes (see opgraph.py)
    style.set_title(g, title)
    return g
