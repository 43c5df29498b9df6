r"""A cell unrolled for T steps and replayed on symbols: the roles of its nodes (parameters, inputs,
targets, initial state, states, gates, outputs, step losses) and the three forms of its gradient.

Forms of ∂E/∂W, each a :class:`~gradlab.symbolic.program.Program` that evaluates to numbers:

* **recursion** (route b, the op table): ``δ_t = ∂E/∂s_t`` defined from ``δ_{t+1}``; size O(T).
* **sum of paths**: ∂E/∂W = Σ_N [∂⁺E_N/∂W + Σ_{i≤N} ∂E_N/∂z_N · (Π_{k=N}^{i+1} ∂z_k/∂z_{k−1}) · ∂⁺z_i/∂W]
  with the local Jacobians from SymPy ``diff`` and every path product ``P_{i,N} = P_{i+1,N} ∂z_{i+1}/∂z_i``
  named once, so its size is O(T²) (z_t is the whole state, e.g. (s_t, c_t)).
* **expanded**: every symbol substituted away (tiny T only: this is the expression swell).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..nn.registry import KINDS, cell_kind
from .program import (Definition, Program, SymbolicTrace, _tidy_array, diff_reverse, obj_array,
                      op_table_reverse, tidy, trace)

__all__ = ["SymbolicModel", "symbolic_model", "CELL_KINDS", "GATES"]

# the cell kinds derive() accepts, every spelling -> canonical name, and the gate order of each, both
# read from the one table of cell kinds (gradlab.nn.registry)
CELL_KINDS = {spelling: k.name for k in KINDS.values() for spelling in (k.name, *k.aliases)}
GATES = {k.name: k.gates for k in KINDS.values() if k.gates}


def _adjoint_base(state_name: str) -> str:
    return "delta" if state_name == "s" else f"delta_{state_name}"


@dataclass
class SymbolicModel:
    r"""A recorded, symbolically replayed model. ``kind``, ``sizes``; ``graph`` (the engine graph of E);
    ``trace`` (the symbolic replay); ``params`` {name: leaf}; ``values`` {leaf name: array} (a random
    point, float64); ``states`` {state name: [node at t=1..T]}; ``adjoints`` {node: adjoint base}."""

    kind: str
    sizes: dict
    spec: object
    graph: object
    trace: SymbolicTrace
    params: dict
    values: dict
    states: dict
    adjoints: dict
    loss_terms: list
    leaf_names: dict = field(default_factory=dict)
    output_nodes: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    @property
    def T(self) -> int:
        """The number of time steps."""
        return self.sizes["T"]

    @property
    def info(self) -> dict:
        """{Symbol: SymInfo} for every symbol of the model."""
        return self.trace.info

    def state_symbols(self, t: int) -> list:
        """Return z_t, the flattened symbols of the whole state at step t (s_t, then c_t, ...)."""
        out = []
        for name, nodes in self.states.items():
            if t == 0:
                arr = self.trace.forward.leaves.get(f"{name}_0")
                if arr is None:
                    continue
                out.extend(np.asarray(arr).flat)
            elif nodes[t - 1] in self.trace.named:
                out.extend(self.trace.named[nodes[t - 1]].symbols.flat)
        return out

    # ------------------------------------------------------------------------------- routes
    def recursion(self) -> Program:
        r"""Return route (b), reverse mode through the op table, as a program whose outputs are
        {parameter name: ∂E/∂W}; :meth:`contributions` gives the per-step terms."""
        if "recursion" not in self._cache:
            leaves = list(self.params.values())
            contrib: dict = {}
            defs, grads = op_table_reverse(self.trace, leaves, self.adjoints, contrib)
            self._cache["contributions"] = {n: {t: _tidy_array(_sum_arrays(v)) for t, v in contrib.get(p, {}).items()}
                                            for n, p in self.params.items()}
            prog = Program(self.trace.forward.leaves, self.trace.forward.definitions + defs,
                           {n: grads[p] for n, p in self.params.items()}, self.trace.info)
            self._cache["recursion"] = prog
        return self._cache["recursion"]

    def contributions(self) -> dict:
        """Return {parameter name: {t: array}}: the per-step terms of route (b); they sum to ∂E/∂W."""
        self.recursion()
        return self._cache["contributions"]

    def diff_route(self) -> Program:
        r"""Return route (a): the gradient from SymPy ``diff`` of the forward definitions, chained in
        reverse, with the same adjoint names as :meth:`recursion`."""
        if "diff" not in self._cache:
            leaves = list(self.params.values())
            defs, grads = diff_reverse(self.trace, leaves, self.adjoints)
            self._cache["diff"] = Program(self.trace.forward.leaves, self.trace.forward.definitions + defs,
                                          {n: grads[p] for n, p in self.params.items()}, self.trace.info)
        return self._cache["diff"]

    # ------------------------------------------------------------------------ local Jacobians
    def _step_defs(self, t):
        return [d for d in self.trace.forward.definitions if d.t == t]

    def local_jacobians(self) -> dict:
        r"""Return {t: (J_t, Wplus_t, g_t, Eplus_t)} from SymPy ``diff`` of step t's definitions:
        ``J_t`` = ∂z_t/∂z_{t−1} (object matrix), ``Wplus_t`` {param symbol: column ∂⁺z_t/∂W},
        ``g_t`` = ∂E_t/∂z_t (row) and ``Eplus_t`` {param symbol: ∂⁺E_t/∂W} (through y_t only)."""
        if "jac" in self._cache:
            return self._cache["jac"]
        pset = {s for a in self.params.values() for s in self.trace.leaf_arrays[a].flat}
        out = {}
        terms = dict(self.loss_terms)
        back = {}
        for d in self.trace.forward.definitions:
            if d.display is not None:
                back.update({e: s for s, e in zip(d.symbols.flat, d.display.flat)})

        def fold(e):
            # write σ(a_t) as f_t and tanh(…) as s_t again: the local Jacobians in the lecture's symbols
            return e.xreplace(back) if isinstance(e, sp.Basic) else e

        for t in range(1, self.T + 1):
            z_prev, z_now = self.state_symbols(t - 1), self.state_symbols(t)
            zp = set(z_prev)
            zn = set(z_now)
            # forward mode through the step: d v / d (z_{t-1} ∪ params), v in step order
            tot: dict = {}
            for d in self._step_defs(t):
                after = d.kind in ("output", "loss") and not any(x in zn for x in d.symbols.flat)
                rhs = d.display if d.display is not None else d.expr
                for s, e in zip(d.symbols.flat, rhs.flat):
                    row: dict = {}
                    for u in e.free_symbols:
                        if u in zp or u in pset or (after and u in zn):
                            row[u] = row.get(u, 0) + sp.diff(e, u)
                        elif u in tot:
                            du = sp.diff(e, u)
                            for v, dv in tot[u].items():
                                row[v] = row.get(v, 0) + du * dv
                    tot[s] = row
            tot = {v: {u: fold(e) for u, e in row.items()} for v, row in tot.items()}
            J = obj_array((len(z_now), len(z_prev)), lambda ij: tidy(tot[z_now[ij[0]]].get(z_prev[ij[1]], 0)))
            wplus = {}
            for p in pset:
                col = [tidy(tot[z].get(p, 0)) for z in z_now]
                if any(c != 0 for c in col):
                    wplus[p] = col
            # E_t = f(z_t, params): reverse over the after-state definitions
            g, eplus = None, {}
            if t in terms:
                E = terms[t]
                row = tot.get(E) if E is not None else None
                if row is None:   # E_t not a named definition (many-to-one): its expression
                    row = {}
                    expr = self.trace.forward.outputs["E"].flat[0]
                    for u in expr.free_symbols:
                        if u in tot:
                            du = sp.diff(expr, u)
                            for v, dv in tot[u].items():
                                row[v] = row.get(v, 0) + du * dv
                        if u in zn or u in pset:
                            row[u] = row.get(u, 0) + sp.diff(expr, u)
                g = [tidy(row.get(z, 0)) for z in z_now]           # ∂E_t/∂z_t
                eplus = {p: tidy(row.get(p, 0)) for p in pset}     # ∂⁺E_t/∂W (the output layer)
                eplus = {p: v for p, v in eplus.items() if v != 0}
            out[t] = (J, wplus, g, eplus, z_now, z_prev)
        self._cache["jac"] = out
        return out

    def sum_of_paths(self) -> Program:
        r"""Return the sum-of-paths program: Σ_N [∂⁺E_N/∂W + Σ_{i≤N} P_{i,N} ∂⁺z_i/∂W] with
        P_{N,N} = ∂E_N/∂z_N and P_{i,N} = P_{i+1,N} · ∂z_{i+1}/∂z_i, each product named once."""
        if "paths" in self._cache:
            return self._cache["paths"]
        jac = self.local_jacobians()
        defs = []
        Jsym = {}
        for t, (J, *_rest) in jac.items():
            syms = obj_array(J.shape, lambda ij, t=t: sp.Symbol(f"J__{t}__{ij[0]}_{ij[1]}"))
            defs.append(Definition("J", "aux", t, syms, J))
            Jsym[t] = syms
        acc = {s: [] for a in self.params.values() for s in self.trace.leaf_arrays[a].flat}
        for N, (_, _, g, eplus, _, _) in jac.items():
            if g is None:
                continue
            for p, v in eplus.items():
                acc[p].append(v)
            P = np.array(g, dtype=object)
            for i in range(N, 0, -1):
                syms = obj_array(P.shape, lambda j, i=i, N=N: sp.Symbol(f"P__{i}__{N}__{j[0]}"))
                defs.append(Definition("P", "aux", i, syms, _tidy_array(P)))
                wplus = jac[i][1]
                for p, col in wplus.items():
                    acc[p].append(sp.Add(*[a * c for a, c in zip(syms, col) if c != 0]))
                if i > 1:
                    P = np.array([sp.Add(*[syms[a] * Jsym[i][a, b] for a in range(len(syms))])
                                  for b in range(Jsym[i].shape[1])], dtype=object)
        outs = {}
        for n, leaf in self.params.items():
            arr = self.trace.leaf_arrays[leaf]
            outs[n] = obj_array(arr.shape, lambda idx, arr=arr: sp.Add(*acc[arr[idx]]))
        prog = Program(self.trace.forward.leaves, self.trace.forward.definitions + defs, outs, self.trace.info)
        self._cache["paths"] = prog
        return prog

    def expanded(self, *, max_steps: int = 3) -> dict:
        r"""Return {parameter name: ∂E/∂W} with every state, gate and adjoint substituted away: the fully
        expanded element form, in the parameters, inputs, targets and initial state. Only for tiny T
        (``max_steps``): beyond that the expression swells exponentially (see examples/expression_swell.py)."""
        if self.T > max_steps:
            raise ValueError(f"expanded form: T={self.T} is too long for a fully expanded expression "
                             f"(limit T <= {max_steps}); use form='recursion' or 'sum-of-paths'")
        if "expanded" in self._cache:
            return self._cache["expanded"]
        prog = self.recursion()
        forward = {s: e for d in self.trace.forward.definitions
                   for s, e in zip(d.symbols.flat, (d.display if d.display is not None else d.expr).flat)}
        adj = [d for d in prog.definitions if d.kind == "adjoint"]
        out = {}
        for n, arr in prog.outputs.items():
            vals = np.array(arr, dtype=object)
            for d in reversed(adj):      # δ_1 first: it mentions δ_2, which is substituted next
                m = dict(d.pairs())
                vals = np.frompyfunc(lambda e, m=m: e.xreplace(m) if isinstance(e, sp.Basic) else e, 1, 1)(vals)
            for d in reversed(self.trace.forward.definitions):
                m = {s: forward[s] for s in d.symbols.flat}
                vals = np.frompyfunc(lambda e, m=m: e.xreplace(m) if isinstance(e, sp.Basic) else e, 1, 1)(vals)
            out[n] = np.asarray(vals, dtype=object).reshape(np.shape(arr))
        self._cache["expanded"] = out
        return out

    def expanded_program(self, **kw) -> Program:
        """Return the expanded form as a program (no definitions: everything inline)."""
        return Program(self.trace.forward.leaves, [], self.expanded(**kw), self.trace.info)

    def inlined_loss(self):
        """Return E with every definition substituted: the naive expression a plain ``diff`` starts from."""
        E = self.trace.forward.outputs["E"].flat[0]
        for d in reversed(self.trace.forward.definitions):
            E = E.xreplace(dict(d.pairs()))
        return E

    # --------------------------------------------------------------------------- numbers
    def engine_gradient(self, values=None) -> dict:
        """Return {parameter name: ∂E/∂W} from the engine's reverse mode at ``values`` (the model's point)."""
        values = self.values if values is None else values
        leaves = {leaf: np.asarray(values[name], dtype=np.float64)
                  for name, leaf in self._leaf_names().items() if name in values}
        grads = self.graph.gradient(list(self.params.values()), leaves)
        return {n: np.asarray(grads[p]) for n, p in self.params.items()}

    def engine_forward(self, values=None) -> dict:
        """Return {(base, t): value} of every named node (states, gates, outputs) from the engine's
        forward pass at ``values``: what the matrix form's forward definitions are checked against."""
        values = self.values if values is None else values
        leaves = {leaf: np.asarray(values[name], dtype=np.float64) for name, leaf in self._leaf_names().items()
                  if name in values}
        vals = self.graph.replay(leaves, all_values=True)
        out = {}
        for d in self.trace.forward.definitions:
            if d.node is None or d.kind == "loss" or d.t is None:
                continue
            v = np.asarray(vals[d.node], dtype=np.float64)
            if d.symbols.shape != v.shape:          # one of several gates computed by one node
                j = [x.base for x in self.trace.forward.definitions if x.node is d.node and x.t == d.t].index(d.base)
                n = d.symbols.shape[-1]
                v = v[..., j * n:(j + 1) * n]
            out[(d.base, d.t)] = v
        return out

    def _leaf_names(self) -> dict:
        return {name: leaf for leaf, name in self.leaf_names.items()}

    def random_values(self, seed: int) -> dict:
        """Return a fresh random point {leaf name: float64 array} drawn like the checker draws."""
        pb = self.spec.draw(self.sizes, seed=seed)
        vals = dict(pb.params)
        vals.update(pb.data)
        return {k: np.asarray(v, dtype=np.float64) for k, v in vals.items() if k in self.trace.forward.leaves}


def _sum_arrays(arrs):
    out = np.asarray(arrs[0], dtype=object)
    for a in arrs[1:]:
        out = out + np.asarray(a, dtype=object)
    return out


def _gate_label(node, t, kind, H, named):
    """Find the gate name(s) of an activation node: from the chunk of the stacked pre-activations it
    was cut from (a tuple when it spans several gates), else from its layer's weight name (``W_f``)."""
    gates = GATES.get(kind)
    seen, stack = set(), list(node.parents)
    layer_label = None
    blocks = max(1, node.shape[-1] // H) if node.shape else 1
    while stack:
        n = stack.pop(0)
        if n in seen or n.op is None or n in named or n.scope.t != t:
            continue
        seen.add(n)
        if n.op.name == "getitem" and gates:
            key = n.attrs.get("key")
            key = key if isinstance(key, tuple) else (key,)
            sl = key[-1]
            if isinstance(sl, slice) and len(n.parents[0].shape) and n.parents[0].shape[-1] == len(gates) * H:
                g0 = (sl.start or 0) // H
                labels = tuple(gates[g0:g0 + blocks])
                if len(labels) == blocks:
                    return labels[0] if blocks == 1 else labels
        m = re.fullmatch(r"W_(\w+)", n.scope.path[-1]) if n.scope.path else None
        if m and m.group(1) not in ("x", "s", "y") and layer_label is None:
            layer_label = m.group(1)
        stack.extend(n.parents)
    return layer_label if blocks == 1 else None


def symbolic_model(kind: str, T: int, *, hidden: int = 1, inputs: int = 1, outputs: int = 1,
                   mode: str = "many_to_many", seed: int = 0, gates: bool = True,
                   backend: str = "sympy", loss: str = "mse_half") -> SymbolicModel:
    r"""Return the :class:`SymbolicModel` of cell ``kind`` (elman, jordan, lstm, gru, peephole_lstm,
    four_gate_lstm) unrolled for ``T`` steps with sizes D=``inputs``, H=``hidden``, O=``outputs``, loss
    E = Σ_t E_t (``mode="many_to_one"``: E = E_T) with E_t = ½‖y_t − d_t‖² (``loss=``: any of
    ``gradlab.specs.LOSSES``, e.g. ``"softmax_cross_entropy"``), replayed on symbols. ``backend="symengine"``
    (optional package) builds the expressions with SymEngine: :meth:`SymbolicModel.recursion` and
    numbers work on it; printing and the other forms need the default SymPy backend."""
    from .. import specs
    from ..engine.graph import Graph
    from ..nn.unroll import unroll
    from ..engine.tensor import tensor

    try:
        key = cell_kind(kind).name
    except ValueError as e:
        raise ValueError(f"derive: {e}") from None
    for what, n in (("T", T), ("hidden", hidden), ("inputs", inputs), ("outputs", outputs)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"derive: {what} must be a positive int, got {n!r}")
    if mode not in specs.MODES:
        raise ValueError(f"derive: unknown mode {mode!r}; choose one of {', '.join(specs.MODES)}")
    if loss not in specs.LOSSES:
        raise ValueError(f"derive: unknown loss {loss!r}; choose one of {', '.join(specs.LOSSES)}")
    spec = specs.SPECS[key](mode=mode, loss=loss)
    sizes = {"T": int(T), "D": int(inputs), "H": int(hidden), "O": int(outputs)}
    pb = spec.draw(sizes, seed=seed)
    cell = spec.build_module(sizes)
    named_params = cell.parameters_by_name()
    for name, p in named_params.items():
        p.data = np.array(pb.params[name], dtype=np.float64)
    data = {k: tensor(np.asarray(v, dtype=np.float64), name=k) for k, v in pb.data.items()}
    state_names = tuple(getattr(cell, "state_names", ("s",)))
    init_parts = []
    for nm in state_names:
        leaf = data.get(f"{nm}_0")
        if leaf is None:   # a part the spec does not draw (e.g. the Jordan cell's s_0, never read)
            leaf = tensor(np.zeros(cell.state_sizes()[state_names.index(nm)]), name=f"{nm}_0")
            data[f"{nm}_0"] = leaf
        init_parts.append(leaf)
    state = init_parts[0] if len(init_parts) == 1 else tuple(init_parts)
    run = unroll(cell, data["xs"], state=state, outputs="all" if mode == "many_to_many" else "last")
    if mode == "many_to_many":
        ds = data["ds"]
        terms = [specs._loss(loss, y, ds[t]) for t, y in enumerate(run.outputs)]
        E = terms[0]
        for e in terms[1:]:
            E = E + e
        loss_nodes = {t + 1: e for t, e in enumerate(terms)}
    else:
        E = specs._loss(loss, run.outputs[-1], data["d"])
        loss_nodes = {}
    graph = Graph(E)
    present = set(graph.nodes)
    leaves = {}
    leaf_name = {}
    for name, p in named_params.items():
        leaves[p] = (name, name, "param", False)
        leaf_name[p] = name
    for k, leaf in data.items():
        if leaf not in present:
            continue
        if k == "xs":
            leaves[leaf] = (k, "x", "input", True)
        elif k == "ds":
            leaves[leaf] = (k, "d", "target", True)
        elif k == "d":
            leaves[leaf] = (k, "d", "target", False, int(T))
        else:
            leaves[leaf] = (k, k[:-2], "initial", False, 0)
        leaf_name[leaf] = k
    named = {}
    states = {nm: [] for nm in state_names}
    for t, st in enumerate(run.states, start=1):
        parts = st if isinstance(st, tuple) else (st,)
        for nm, node in zip(state_names, parts):
            if node in present and node.op is not None:
                named[node] = (nm, "state", t)
            states[nm].append(node)
    states = {nm: nodes for nm, nodes in states.items() if any(n in named for n in nodes)}
    for t, y in zip(run.output_times, run.outputs):
        if y not in named and y.op is not None:
            named[y] = ("y", "output", t)
    for t, e in loss_nodes.items():
        named[e] = ("E", "loss", t)
    if gates:
        H = int(hidden)
        for node in graph.nodes:
            if node.op is None or node in named or node.op.name not in ("sigmoid", "tanh") or node.scope.t is None:
                continue
            label = _gate_label(node, node.scope.t, key, H, named)
            if label is not None:
                named[node] = (label, "gate", node.scope.t)
    tr = trace(graph, leaves, named, backend=backend)
    adjoints = {node: _adjoint_base(nm) for nm, nodes in states.items() for node in nodes if node in named}
    values = {leaf_name[leaf]: np.asarray(leaf.data, dtype=np.float64) for leaf in leaves}
    lterms = []
    for t, e in loss_nodes.items():
        lterms.append((t, tr.named[e].symbols.flat[0]))
    if mode != "many_to_many":
        lterms.append((int(T), None))
    return SymbolicModel(key, sizes, spec, graph, tr, {n: p for n, p in named_params.items() if p in present},
                         values, states, adjoints, lterms, leaf_name,
                         dict(zip(run.output_times, run.outputs)) if mode == "many_to_many" else {int(T): run.outputs[-1]})
