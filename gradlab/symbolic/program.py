r"""The symbolic interpreter: replay a recorded graph on SymPy object arrays, with the per-step
tensors (states s_t, c_t, gates, outputs y_t, step losses E_t) replaced by named symbols whose
defining equations are recorded, and derive gradients by two independent routes.

A :class:`Program` is a straight-line program: leaf symbols (parameters, inputs, targets, the
initial state), then definitions ``symbol = expression`` in evaluation order, then outputs. Because
each definition only mentions symbols of its own step and the step before, the program *is* the
common-subexpression-eliminated form, and its size grows linearly with T instead of exploding like
the inlined expression (LSTM: 65 million tree operations at T = 8, see the research notes).

Route (b), :func:`op_table_reverse`, runs reverse mode through gradlab's op table on the symbolic
replay: every VJP is the engine's own, applied to symbols, so ``tanh``'s ``g (1 − out²)`` becomes
``δ (1 − s_t²)``. At each state node the accumulated adjoint is named ``δ_t = ∂E/∂s_t`` and defined
in terms of ``δ_{t+1}``: that is the backward recursion.

Route (a), :func:`diff_reverse`, ignores the op table: it differentiates each recorded *forward*
definition with SymPy's ``diff`` and chains the local partial derivatives. Agreement of (a) and (b)
tests the op table itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from ..engine.autodiff import reverse
from .namespace import symengine_namespace, sympy_namespace
from .functions import NUMERIC_MODULES, sigma
from .names import SymInfo

__all__ = ["Definition", "Program", "SymbolicTrace", "trace", "op_table_reverse", "diff_reverse",
           "tidy", "obj_array", "count_ops", "get_backend", "to_sympy", "symbolic_namespace", "SympyBackend",
           "SymEngineBackend"]

_DISPLAY_FUNCS = {"tanh": sp.tanh, "sigmoid": sigma, "exp": sp.exp, "log": sp.log}


def symbolic_namespace():
    """Return the array namespace of the symbolic replay (SymPy object arrays, functions unevaluated)."""
    return sympy_namespace()


class SympyBackend:
    """Build expressions with SymPy (the default: printing, ``diff``, candidates all need it)."""

    name = "sympy"
    namespace = staticmethod(symbolic_namespace)
    zero, one = sp.Integer(0), sp.Integer(1)
    add = staticmethod(lambda *args: sp.Add(*args))

    @staticmethod
    def symbol(si):
        return si.symbol()

    @staticmethod
    def number(v):
        return _number(v)

    @staticmethod
    def tidy_array(a):
        return _tidy_array(a)


class SymEngineBackend:
    r"""Build expressions with SymEngine (optional, ``pip install symengine``): the same replay and the
    same op-table VJPs, on a C++ expression DAG. Only route (b) runs on it; :meth:`to_sympy` converts."""

    name = "symengine"

    def __init__(self):
        try:
            import symengine as se
        except ImportError as e:
            raise ValueError("backend='symengine' needs the optional package symengine: pip install symengine") from e
        self.se = se
        self.zero, self.one = se.Integer(0), se.Integer(1)
        self.add = lambda *args: se.Add(*args)

    def namespace(self):
        return symengine_namespace()

    def symbol(self, si):
        return self.se.Symbol(si.ident)

    def number(self, v):
        v = float(v)
        if v == int(v) and abs(v) < 1e12:
            return self.se.Integer(int(v))
        f = Fraction(v)
        return self.se.Rational(f.numerator, f.denominator) if f.denominator <= 1024 else self.se.RealDouble(v)

    def tidy_array(self, a):
        return np.asarray(a, dtype=object)


def get_backend(backend="sympy"):
    """Return the expression backend: ``"sympy"`` (default) or ``"symengine"`` (optional, faster)."""
    if backend in (None, "sympy"):
        return SympyBackend()
    if backend == "symengine":
        return SymEngineBackend()
    if hasattr(backend, "namespace"):
        return backend
    raise ValueError(f"symbolic backend must be 'sympy' or 'symengine', got {backend!r}")


def to_sympy(a):
    """Return ``a`` (an expression or object array from either backend) as SymPy expressions."""
    if isinstance(a, np.ndarray):
        return np.asarray(np.frompyfunc(sp.sympify, 1, 1)(a), dtype=object).reshape(a.shape)
    return sp.sympify(a)


def obj_array(shape, fill) -> np.ndarray:
    """Return an object array of ``shape`` with ``fill(index)`` at every index."""
    a = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        a[idx] = fill(idx)
    return a


def _number(v):
    """An exact SymPy number for a float that is a short binary fraction (0.5, 1, 0.25), else a Float."""
    v = complex(v).real if isinstance(v, complex) else float(v)
    if v == int(v) and abs(v) < 1e12:
        return sp.Integer(int(v))
    f = Fraction(v)
    if f.denominator <= 1024:
        return sp.Rational(f.numerator, f.denominator)
    return sp.Float(v)


def tidy(expr):
    """Return ``expr`` with floats that are short binary fractions made exact (0.5 -> 1/2)."""
    if not isinstance(expr, sp.Basic):
        return _number(expr) if isinstance(expr, (int, float, np.floating, np.integer)) else expr
    floats = expr.atoms(sp.Float)
    if not floats:
        return expr
    return expr.xreplace({f: _number(f) for f in floats})


_tidy_vec = np.frompyfunc(tidy, 1, 1)


def _tidy_array(a) -> np.ndarray:
    return np.asarray(_tidy_vec(np.asarray(a, dtype=object)), dtype=object).reshape(np.shape(a))


def count_ops(exprs) -> int:
    """Return the number of operations in ``exprs`` counted on the expression trees."""
    total = 0
    for e in exprs:
        if isinstance(e, sp.Basic):
            total += sp.count_ops(e)
        elif type(e).__module__.startswith("symengine"):
            import symengine

            total += symengine.count_ops(e)
    return int(total)


@dataclass
class Definition:
    """``symbols = expr`` for one named array (e.g. s_t); ``display`` is the same right-hand side as
    the lecture writes it (gates as σ(·), activations applied to their argument)."""

    base: str
    kind: str
    t: int | None
    symbols: np.ndarray
    expr: np.ndarray
    display: np.ndarray | None = None
    node: object = None

    def pairs(self):
        """Yield (symbol, expression) for each element."""
        for s, e in zip(self.symbols.flat, self.expr.flat):
            yield s, e


@dataclass
class Program:
    r"""A straight-line program over SymPy scalars: ``leaves`` {name: symbol array} are the inputs,
    ``definitions`` are evaluated in order, ``outputs`` {name: expression array} are the results.
    ``info`` {Symbol: SymInfo} names every symbol in lecture notation."""

    leaves: dict
    definitions: list
    outputs: dict
    info: dict = field(default_factory=dict)

    def assignments(self) -> list:
        """Return [(symbol, expression)] of every definition, in evaluation order."""
        return [pair for d in self.definitions for pair in d.pairs()]

    def size(self) -> int:
        """Return the number of operations of the program: definitions plus outputs (its CSE size)."""
        exprs = [e for _, e in self.assignments()]
        exprs += [e for a in self.outputs.values() for e in np.asarray(a).flat]
        return count_ops(exprs)

    def leaf_symbols(self) -> list:
        """Return every leaf symbol in a fixed order (the arguments of the numeric function)."""
        return [s for a in self.leaves.values() for s in np.asarray(a).flat]

    def to_sympy(self) -> "Program":
        """Return this program with every expression converted to SymPy (from the SymEngine backend)."""
        defs = [Definition(d.base, d.kind, d.t, to_sympy(d.symbols), to_sympy(d.expr),
                           None if d.display is None else to_sympy(d.display), d.node) for d in self.definitions]
        info = {sp.sympify(k): v for k, v in self.info.items()}
        return Program({k: to_sympy(v) for k, v in self.leaves.items()}, defs,
                       {k: to_sympy(np.asarray(v, dtype=object)) for k, v in self.outputs.items()}, info)

    def lambdify(self, *, extra_cse: bool = False, keep=()):
        r"""Return ``f(values) -> {output name: ndarray}``: the program compiled with ``lambdify``, the
        definitions acting as the common subexpressions (``extra_cse`` runs SymPy's ``cse`` inside
        each as well). ``values`` maps leaf names to arrays; ``keep`` names definition bases whose
        values are returned too, as {(base, t): array}."""
        args = self.leaf_symbols()
        names = list(self.outputs)
        flat, shapes = [], []
        for n in names:
            a = np.asarray(self.outputs[n], dtype=object)
            shapes.append(a.shape)
            flat.extend(a.flat)
        kept = [d for d in self.definitions if d.base in keep or (d.base, d.t) in keep]
        for d in kept:
            flat.extend(d.symbols.flat)
        assigns = self.assignments()
        if extra_cse:
            subs, reduced = sp.cse([e for _, e in assigns] + flat, symbols=sp.numbered_symbols("_c"))
            n = len(assigns)
            assigns = list(subs) + [(s, e) for (s, _), e in zip(assigns, reduced[:n])]
            flat = reduced[n:]
            assigns = _order(assigns)
        fn = sp.lambdify(args, flat, modules=NUMERIC_MODULES, cse=lambda exprs: (assigns, exprs))
        leaf_names = list(self.leaves)
        leaf_shapes = {k: np.shape(v) for k, v in self.leaves.items()}

        def f(values):
            vec = []
            for k in leaf_names:
                if k not in values:
                    raise ValueError(f"numeric program: missing value for {k!r} (shape {leaf_shapes[k]})")
                v = np.asarray(values[k], dtype=np.float64)
                if v.shape != leaf_shapes[k]:
                    raise ValueError(f"numeric program: {k!r} has shape {v.shape}, expected {leaf_shapes[k]}")
                vec.extend(v.flat)
            out = fn(*vec)
            res, i = {}, 0
            for n, shp in zip(names, shapes):
                size = int(np.prod(shp))
                res[n] = np.asarray(out[i:i + size], dtype=np.float64).reshape(shp)
                i += size
            for d in kept:
                size = d.symbols.size
                res[(d.base, d.t)] = np.asarray(out[i:i + size], dtype=np.float64).reshape(d.symbols.shape)
                i += size
            return res

        f.program = self
        return f


def _order(assigns):
    """Topologically order assignments so that each symbol is defined before it is read."""
    defined = {s for s, _ in assigns}
    done, out, pending = set(), [], list(assigns)
    while pending:
        rest = []
        for s, e in pending:
            if all((u not in defined) or (u in done) for u in e.free_symbols):
                out.append((s, e))
                done.add(s)
            else:
                rest.append((s, e))
        if len(rest) == len(pending):
            raise ValueError("numeric program: the definitions are cyclic")
        pending = rest
    return out


# -------------------------------------------------------------------------------- the replay
@dataclass
class SymbolicTrace:
    r"""The symbolic replay of a graph: ``values`` {node: object array}, ``forward`` (the forward
    :class:`Program`, whose output is the loss), ``leaf_arrays`` {leaf: symbol array},
    ``named`` {node: Definition}."""

    graph: object
    values: dict
    forward: Program
    leaf_arrays: dict
    named: dict
    info: dict


def trace(graph, leaves: dict, named: dict, backend="sympy") -> SymbolicTrace:
    r"""Replay ``graph`` on SymPy symbols and return a :class:`SymbolicTrace`.

    ``leaves`` maps leaf nodes to ``(name, base, kind, time_major)``: the leaf becomes an array of
    symbols; a time-major leaf (``xs`` of shape (T, D)) has its first axis read as t = 1..T. Other
    leaves stay numbers (made exact where they are short binary fractions). ``named`` maps op nodes
    to ``(base, kind, t)``: the node's value becomes an array of fresh symbols and its expression is
    recorded as their definition. ``backend`` is ``"sympy"`` or ``"symengine"`` (optional, faster).
    """
    be = get_backend(backend)
    xp = be.namespace()
    info: dict = {}
    leaf_arrays: dict = {}
    leaf_by_name: dict = {}
    vals: dict = {}
    defs: list = []
    named_defs: dict = {}
    for node in graph.nodes:
        if node.op is None:
            if node in leaves:
                name, base, kind, time_major, t0 = (tuple(leaves[node]) + (None,))[:5]
                shape = tuple(node.shape)

                def make(idx, base=base, kind=kind, time_major=time_major, shape=shape, t0=t0):
                    if time_major:
                        si = SymInfo(base, kind, idx[0] + 1, tuple(idx[1:]), shape[1:])
                    else:
                        si = SymInfo(base, kind, t0, tuple(idx), shape)
                    s = be.symbol(si)
                    info[s] = si
                    return s

                arr = obj_array(shape, make)
                leaf_arrays[node] = arr
                leaf_by_name[name] = arr
                vals[node] = arr
            else:
                data = np.asarray(node.data)
                vals[node] = obj_array(data.shape, lambda idx, d=data: be.number(d[idx])) if data.dtype.kind in "fiub" \
                    else np.asarray(data, dtype=object)
            continue
        inputs = [vals[p] for p in node.parents]
        try:
            v = xp.wrap(node.op.forward(*inputs, xp=xp, **node.attrs))
        except (ValueError, TypeError, IndexError) as e:
            raise ValueError(f"symbolic replay: {node.op.name} at {node.scope} failed: {e}") from None
        if node in named:
            base, kind, t = named[node]
            shape = v.shape
            # a tuple of bases names consecutive blocks of the last axis (one activation computing
            # two gates at once, e.g. σ([a_r; a_z]) gives r_t and z_t)
            bases = base if isinstance(base, tuple) else (base,)
            block = shape[-1] // len(bases) if shape else 1

            def make(idx, bases=bases, kind=kind, t=t, shape=shape, block=block):
                if len(bases) == 1:
                    si = SymInfo(bases[0], kind, t, tuple(idx), shape)
                else:
                    j = idx[-1]
                    si = SymInfo(bases[j // block], kind, t, tuple(idx[:-1]) + (j % block,), shape[:-1] + (block,))
                s = be.symbol(si)
                info[s] = si
                return s

            syms = obj_array(shape, make)
            display = None
            f = _DISPLAY_FUNCS.get(node.op.name) if be.name == "sympy" else None
            if f is not None:
                display = _tidy_array(np.frompyfunc(f, 1, 1)(inputs[0]).reshape(shape))
            expr = be.tidy_array(v)
            for b, name in enumerate(bases):
                cut = (Ellipsis, slice(b * block, (b + 1) * block)) if len(bases) > 1 else Ellipsis
                d = Definition(name, kind, t, syms[cut], expr[cut], None if display is None else display[cut], node)
                defs.append(d)
                named_defs.setdefault(node, d)
            v = syms
        vals[node] = v
    out = graph.outputs[0]
    prog = Program(leaf_by_name, defs, {"E": be.tidy_array(vals[out])}, info)
    tr = SymbolicTrace(graph, vals, prog, leaf_arrays, named_defs, info)
    tr.backend = be
    return tr


# ----------------------------------------------------------------- route (b): the op table
def _sum_terms(terms, shape, be=SympyBackend):
    """Element-wise sum of a list of object arrays, building each Add once (linear, not quadratic)."""
    if not terms:
        return obj_array(shape, lambda idx: be.zero)
    if len(terms) == 1:
        return terms[0]
    stacked = [np.asarray(t, dtype=object) for t in terms]
    return obj_array(shape, lambda idx: be.add(*[t[idx] for t in stacked]))


class _Terms(list):
    """The contributions to one node's adjoint, collected to be summed once (see :func:`_sum_terms`)."""


def _collect(total, g):
    if isinstance(total, _Terms):
        total.append(g)
        return total
    return _Terms([total, g])


def op_table_reverse(tr: SymbolicTrace, wrt, adjoints: dict, contributions: dict | None = None):
    r"""Route (b): reverse mode through the op table on the symbolic replay ``tr``.

    This is the engine's own loop (:func:`gradlab.engine.autodiff.reverse`) on the replay's values, with
    three hooks: contributions to a node are collected and summed once (each ``Add`` built once), a node
    in ``adjoints`` {op node: base name, e.g. ``"delta"``} becomes, when its adjoint is complete, symbols
    (``δ_t``) defined by the accumulated expression, and, when ``contributions`` is a dict, it is filled
    with {leaf: {t: [terms]}}, the per-time-step parts of each gradient (they sum to it). Returns
    ``(definitions, grads)``: the adjoint definitions in evaluation order (last step first) and
    {leaf: gradient expression array}.
    """
    be = getattr(tr, "backend", SympyBackend)
    graph, vals = tr.graph, tr.values
    out = graph.outputs[0]
    targets = set(wrt)
    defs: list = []

    def finish(node, g):
        g = _sum_terms(g, vals[node].shape, be) if isinstance(g, _Terms) else g
        if node not in adjoints:
            return g
        nd = tr.named.get(node)
        base, t, shape = adjoints[node], (nd.t if nd is not None else node.scope.t), vals[node].shape

        def make(idx):
            si = SymInfo(base, "adjoint", t, tuple(idx), shape)
            s = be.symbol(si)
            tr.info[s] = si
            return s

        syms = obj_array(shape, make)
        defs.append(Definition(base, "adjoint", t, syms, be.tidy_array(g), None, node))
        return syms

    def per_step(parent, child, pg):
        if parent in targets:
            contributions.setdefault(parent, {}).setdefault(child.scope.t, []).append(pg)

    order = [n for n in reversed(graph.nodes) if n.requires_grad]
    found = reverse(order, {out: obj_array(vals[out].shape, lambda idx: be.one)}, vals.__getitem__,
                    on_node=finish, accumulate=_collect, on_edge=None if contributions is None else per_step,
                    xp=be.namespace())
    grads = {w: be.tidy_array(found[w]) if w in found else obj_array(vals[w].shape, lambda idx: be.zero)
             for w in wrt}
    return defs, grads


# -------------------------------------------------------------------- route (a): SymPy diff
def diff_reverse(tr: SymbolicTrace, wrt, adjoint_bases: dict):
    r"""Route (a): SymPy's ``diff`` of every recorded forward definition, chained in reverse.

    For each definition ``v = f(u, …)`` (in reverse order) the adjoint of every symbol ``u`` read by
    f gains ``v̄ · ∂f/∂u``; ``∂f/∂u`` comes from ``sympy.diff``, not from the op table. Definitions of
    kinds listed in ``adjoint_bases`` {node: base} get named adjoint symbols — the same names as
    route (b), so the two programs can be compared definition by definition. Returns
    ``(definitions, grads)`` like :func:`op_table_reverse`.
    """
    prog = tr.forward
    terms: dict = {}
    (E,) = np.asarray(prog.outputs["E"]).flat
    wanted = {s for w in wrt for s in tr.leaf_arrays[w].flat}
    defined = {s for d in prog.definitions for s in d.symbols.flat}

    def push(expr, weight):
        for u in expr.free_symbols:
            if u in defined or u in wanted:
                terms.setdefault(u, []).append(weight * sp.diff(expr, u))

    push(E, sp.Integer(1))
    defs = []
    for d in reversed(prog.definitions):
        bars = obj_array(d.symbols.shape, lambda idx: sp.Add(*terms.pop(d.symbols[idx], [])))
        if d.node in adjoint_bases:
            base = adjoint_bases[d.node]

            def make(idx, base=base, d=d):
                si = SymInfo(base, "adjoint", d.t, tuple(idx), d.symbols.shape)
                s = si.symbol()
                tr.info.setdefault(s, si)
                return s

            syms = obj_array(d.symbols.shape, make)
            defs.append(Definition(base, "adjoint", d.t, syms, _tidy_array(bars), None, d.node))
            bars = syms
        for idx in np.ndindex(*d.symbols.shape):
            if bars[idx] != 0:
                push(d.expr[idx], bars[idx])
    grads = {}
    for w in wrt:
        arr = tr.leaf_arrays[w]
        grads[w] = _tidy_array(obj_array(arr.shape, lambda idx: sp.Add(*terms.get(arr[idx], []))))
    return defs, grads
