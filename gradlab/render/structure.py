r"""Reading an unfolded network off a recorded graph: which nodes are inputs, states, outputs and losses
of which time step, and what the shared parameters between them are.

Everything here is inferred from the graph and its scopes alone (``node.scope.t``), so any model that
records its steps inside ``gradlab.scope(t=t)`` can be drawn; a model path (``hints``) may name the
roles directly. The rules, for the op nodes recorded at step t:

* a **state** s_t is consumed by a later step;
* an **output** y_t is consumed outside every step (by the loss), and is not a state;
* an **input** x_t enters the step from outside, carries no gradient and is not the initial state;
  the **initial state** s_0 enters step 1 where step 2 reads s_1 (steps are aligned op by op);
* the **loss** E_t is the last node after the steps that depends on step t only; nodes that depend
  on several steps (the total E = Σ_t E_t) are the final loss.

Between two shown values the hidden ops collapse into one edge, labelled with the weight matrices met
on the way (x_t → s_t carries W_x, s_{t-1} → s_t carries W_s): the textbook unfolded figure.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Unfolding", "Step", "Edge", "param_name", "is_weight"]


def param_name(p, fallback: int = 0) -> str:
    """Return the lecture name of parameter ``p`` (``p.name``), or ``θ<k>`` when it has none."""
    return p.name if p.name else f"θ{fallback}"


def is_weight(n) -> bool:
    """Return True for a model weight: a leaf that requires a gradient (a Parameter), or a leaf marked
    ``fixed`` (:class:`gradlab.nn.module.Fixed`, e.g. an echo-state reservoir's W_s), which figures draw
    as a weight, marked fixed, although it has no gradient."""
    return n.op is None and (n.requires_grad or getattr(n, "fixed", False))


@dataclass
class Step:
    """The roles at one time step t: op nodes, and the shown values (lists of nodes)."""

    t: int
    nodes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    states: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    post: list = field(default_factory=list)


@dataclass
class Edge:
    """A collapsed edge between shown values ``tail`` -> ``head``, with the parameters met on the way."""

    tail: object
    head: object
    params: list


class Unfolding:
    """The unfolded network read off ``graph`` (a :class:`gradlab.Graph`); see the module docstring.

    ``hints`` may give ``{"states": {t: [nodes]}, "outputs": {t: [...]}, "losses": {t: [...]},
    "inputs": {t: [...]}, "initial": [s_0, c_0], "names": {node: "c"}, "cell": "LSTM"}``; roles not
    given are inferred (a model path gives them all: see :func:`gradlab.render.unfolding_of`).
    """

    def __init__(self, graph, hints: dict | None = None):
        hints = hints or {}
        self.graph = graph
        nodes = graph.nodes
        self.index = {n: i for i, n in enumerate(nodes)}
        self.children: dict = {n: [] for n in nodes}
        for n in nodes:
            for p in dict.fromkeys(n.parents):
                self.children[p].append(n)
        self.params = [n for n in nodes if is_weight(n)]
        self.fixed = {p for p in self.params if not p.requires_grad}   # weights drawn as not trained
        self.param_names = {}
        for k, p in enumerate(self.params):
            self.param_names[p] = param_name(p, k)
        self.times = graph.time_steps
        if not self.times:
            raise ValueError("render: the graph has no time steps; record each step inside "
                             "gradlab.scope(t=t) (gradlab.nn.unroll does) to draw an unfolded network")
        self.steps = {t: Step(t) for t in self.times}
        for n in nodes:
            if n.op is not None and n.scope.t is not None:
                self.steps[n.scope.t].nodes.append(n)
        self.cell_name = hints.get("cell") or self._common_layer()
        self._find_states(hints)
        self._find_post(hints)
        self._find_inputs(hints)
        self.names: dict = {}
        self._name(hints.get("names") or {})
        self.shown = self._shown_nodes()

    # ----------------------------------------------------------------------------------- roles
    def step_of(self, n):
        """Return the time step whose op nodes include ``n`` (None for leaves and nodes outside steps)."""
        return n.scope.t if n.op is not None else None

    def _common_layer(self) -> str:
        paths = [n.scope.path for s in self.steps.values() for n in s.nodes]
        if not paths:
            return "cell"
        common = list(paths[0])
        for p in paths[1:]:
            k = 0
            while k < min(len(common), len(p)) and common[k] == p[k]:
                k += 1
            common = common[:k]
        return common[0] if common else "cell"

    def _find_states(self, hints):
        given = hints.get("states") or {}
        for t, step in self.steps.items():
            if t in given:
                step.states = [n for n in given[t] if n in self.index]
                continue
            step.states = [n for n in step.nodes
                           if any((c.scope.t or 0) > t and c.op is not None for c in self.children[n])]
        # the last step hands its state to no one: it is the node in the place of the earlier states
        for t in self.times[1:]:
            if t in given or not self._aligned(t - 1):
                continue
            prev, step = self.steps[t - 1], self.steps[t]
            extra = [m for n, m in zip(prev.nodes, step.nodes) if n in set(prev.states) and m not in step.states]
            if extra:
                step.states = sorted(step.states + extra, key=self.index.__getitem__)

    def _find_post(self, hints):
        origin: dict = {}
        self.final, self.pre = [], []
        for n in self.graph.nodes:
            if n.op is None or n.scope.t is not None:
                continue
            o = set()
            for p in n.parents:
                if p.op is not None and p.scope.t is not None:
                    o.add(p.scope.t)
                else:
                    o |= origin.get(p, set())
                if len(o) > 1:
                    o = set(sorted(o)[:2])   # "several steps" is all that counts: two stand for them all
            origin[n] = o                    # (so that a sum over T losses stays linear in T)
            if len(o) == 1:
                self.steps[next(iter(o))].post.append(n)
            elif len(o) > 1:
                self.final.append(n)
            else:
                self.pre.append(n)
        outs = set(self.graph.outputs)
        given_out, given_loss = hints.get("outputs") or {}, hints.get("losses") or {}
        for t, step in self.steps.items():
            post = set(step.post)
            if t in given_loss:
                step.losses = [n for n in given_loss[t] if n in self.index]
            else:
                step.losses = [n for n in step.post if n in outs or any(c not in post for c in self.children[n])]
            if t in given_out:
                step.outputs = [n for n in given_out[t] if n in self.index]
            else:
                states = set(step.states)
                step.outputs = [n for n in step.nodes if n not in states and (
                    n in outs or any(c.op is not None and c.scope.t is None for c in self.children[n]))]
        self.final_out = [o for o in self.graph.outputs if o in set(self.final)]

    def _aligned(self, t) -> bool:
        """Steps t and t+1 record the same ops in the same order (one may end with extra ops, e.g. the
        output layer of the only step whose output the loss reads)."""
        a, b = self.steps.get(t), self.steps.get(t + 1)
        if a is None or b is None or not a.nodes or not b.nodes:
            return False
        return all(x.op is y.op and x.scope.path == y.scope.path for x, y in zip(a.nodes, b.nodes))

    def _find_inputs(self, hints):
        given = hints.get("inputs") or {}
        self.initial: list = []          # (node, index of the state it stands for)
        given_init = list(hints.get("initial") or ())
        self.initial = [(n, k) for k, n in enumerate(given_init) if n in self.index]
        steps_using: dict = {}           # leaf -> the steps that read it (computed once: xs is read by every step)
        for t, step in self.steps.items():
            if t in given:
                step.inputs = [n for n in given[t] if n in self.index]
                continue
            inside = set(step.nodes)
            cands = []
            for k, n in enumerate(step.nodes):
                for i, p in enumerate(n.parents):
                    if p in inside or is_weight(p) or p.ndim == 0:
                        continue
                    if p.op is not None and p.scope.t is not None:
                        continue  # a state of an earlier step
                    if p not in steps_using:
                        steps_using[p] = {c.scope.t for c in self.children[p] if c.op is not None}
                    if len(steps_using[p]) > 1:
                        continue  # e.g. the whole sequence xs, sliced inside each step
                    cands.append((k, i, p))
                if not n.requires_grad and n.ndim > 0 and all(p.op is None and not is_weight(p)
                                                              for p in n.parents):
                    cands.append((k, None, n))  # a slice x_t = xs[t] taken inside the step
            prev = self.steps.get(t - 1)
            for k, i, p in dict.fromkeys(cands):
                if p in given_init:
                    continue
                if t == self.times[0] and i is not None and self._aligned(t):
                    twin = self.steps[t + 1].nodes[k].parents[i]
                    if twin in set(step.states):
                        if p not in [q for q, _ in self.initial]:
                            self.initial.append((p, step.states.index(twin)))
                        continue
                if prev is not None and p in set(prev.states):
                    continue
                if p not in step.inputs:
                    step.inputs.append(p)

    def _name(self, given):
        names = self.names
        # state names come from a step whose outputs are read (there the hidden state shows itself);
        # the other steps take them by position, the steps being recorded op for op alike
        ref = next((s for s in reversed(list(self.steps.values())) if s.outputs and s.states), None)
        by_position = {}
        if ref is not None:
            position = {n: k for k, n in enumerate(ref.nodes)}
            by_position = {position[n]: b for n, b in zip(ref.states, self._state_bases(ref))}
        for step in self.steps.values():
            for k, n in enumerate(step.inputs):
                names[n] = given.get(n) or ("x" if len(step.inputs) == 1 else f"x{k + 1}")
            base = self._state_bases(step)
            if len(step.states) > 1 and by_position:
                position = {n: k for k, n in enumerate(step.nodes)}
                mapped = [by_position.get(position[n]) for n in step.states]
                if all(mapped) and len(set(mapped)) == len(mapped):
                    base = mapped
            for n, b in zip(step.states, base):
                names[n] = given.get(n) or b
            for k, n in enumerate(step.outputs):
                names.setdefault(n, given.get(n) or ("y" if len(step.outputs) == 1 else f"y{k + 1}"))
            for k, n in enumerate(step.losses):
                names[n] = given.get(n) or ("E" if len(step.losses) == 1 else f"E{k + 1}")
        first = self.steps[self.times[0]]
        for p, i in self.initial:
            names[p] = given.get(p) or names.get(first.states[i], "s")
        for o in self.final_out:
            names[o] = given.get(o) or "E"

    def _state_bases(self, step) -> list:
        states = step.states
        if len(states) == 1:
            return ["s"]
        if not states:
            return []
        # the state read by the outputs directly (not through another state) is the hidden state s
        sset, hidden = set(states), []
        inside = set(step.nodes)
        for s in states:
            stack, seen, direct = [s], set(), False
            while stack and not direct:
                n = stack.pop()
                for c in self.children[n]:
                    if c in step.outputs or (c.op is not None and c.scope.t is None):
                        direct = True
                        break
                    if c in inside and c not in sset and c not in seen:
                        seen.add(c)
                        stack.append(c)
            hidden.append(direct)
        if hidden.count(True) == 1:
            others = [i for i, h in enumerate(hidden) if not h]
            out = []
            for i, s in enumerate(states):
                out.append("s" if hidden[i] else ("c" if len(others) == 1 else f"c{others.index(i) + 1}"))
            return out
        return [f"s{k + 1}" for k in range(len(states))]

    # ------------------------------------------------------------------------------- collapsing
    def _shown_nodes(self) -> dict:
        """Return {node: (role, t)} for the values a cell-level figure shows."""
        shown = {}
        for p, _ in self.initial:
            shown[p] = ("s0", 0)
        for t, step in self.steps.items():
            for n in step.inputs:
                shown[n] = ("x", t)
            for n in step.states:
                shown[n] = ("c" if self.names[n].startswith("c") else "s", t)
            for n in step.outputs:
                shown.setdefault(n, ("y", t))
            for n in step.losses:
                shown.setdefault(n, ("E", t))
        for n in self.final_out:
            shown[n] = ("E", None)
        return shown

    def label(self, n) -> tuple[str, object]:
        """Return (name, t) of a shown value, e.g. ("s", 3); the final loss has t None."""
        role, t = self.shown[n]
        return self.names.get(n, role), t

    def edges(self, shown=None) -> list:
        """Return the collapsed edges between ``shown`` values (default: the cell-level set), each with
        the parameters met on the way, in a deterministic order."""
        if shown is None:
            if getattr(self, "_edges", None) is None:
                self._edges = self.edges(self.shown)
            return self._edges
        found = []
        for v in sorted(shown, key=self.index.__getitem__):
            if v.op is None:
                continue
            region, stack = set(), [v]
            while stack:
                n = stack.pop()
                for p in n.parents:
                    if p in shown or p in region or is_weight(p):
                        continue
                    region.add(p)
                    stack.append(p)
            order = sorted(region | {v}, key=self.index.__getitem__)
            reach, below = {}, {}
            labels: dict = {}
            for h in order:
                r, b = None, set()
                for p in h.parents:
                    if p in shown:
                        r = r if r is not None else set()
                        r.add(p)
                    elif p in region:
                        if r is None and reach[p] and h.op.name == "add" and len(self.children[p]) == 1:
                            r = reach[p]      # h is its only reader: take the set over, no copy (a sum
                                              # over T losses stays linear in T)
                        else:
                            r = r if r is not None else set()
                            r |= reach[p]
                        if not reach[p]:
                            b |= below[p]
                    elif is_weight(p):
                        b.add(p)
                r = r if r is not None else set()
                reach[h], below[h] = r, b
                if r:
                    ps = set()
                    for p in h.parents:
                        ps |= {p} if is_weight(p) else (
                            below[p] if p in region and not reach[p] else set())
                    if not ps:
                        continue
                    # the weights act on the values that come in where they apply: linear(x, W, u)
                    # is W x + u, so W and a parameter bias label x's edge only, not u's
                    applied = r
                    if h.op.name == "linear" and h.parents:
                        p0 = h.parents[0]
                        applied = {p0} if p0 in shown else (reach.get(p0, set()) if p0 in region else set())
                    for u in applied:
                        labels.setdefault(u, set()).update(ps)
            for u in sorted(reach[v], key=self.index.__getitem__):
                params = sorted(labels.get(u, ()), key=self.index.__getitem__)
                found.append(Edge(u, v, params))
        return found

    def matrices(self, params) -> list:
        """Return the parameters among ``params`` that are matrices (the ones a figure labels an edge with)."""
        mats = [p for p in params if p.ndim >= 2]
        return mats if mats else list(params)

    def gated(self) -> bool:
        """Return True when the cell multiplies two computed values element-wise (a gate, as in LSTM and
        GRU): such a step is drawn as one box rather than as weight-labelled edges."""
        for step in self.steps.values():
            for n in step.nodes:
                if n.op.name == "mul" and sum(1 for p in n.parents if p.op is not None and p.requires_grad) == 2:
                    return True
        return False
