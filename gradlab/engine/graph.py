r"""The recorded graph as a first-class object: select nodes by scope, and *replay* it.

Model code runs once and records nodes. :class:`Graph` collects the nodes under one or more outputs
in forward order and can re-evaluate them with other leaf values and another array namespace,
without running the model code again:

* NumPy with perturbed parameters (finite differences),
* complex arrays (complex-step differentiation),
* ``autograd.numpy`` (HIPS autograd then differentiates the replay: an independent reference),
* object arrays of SymPy expressions (exact symbolic values and gradients, see
  :func:`gradlab.symbolic.namespace.sympy_namespace`).

>>> import numpy as np, gradlab
>>> W = gradlab.Parameter(np.array([[2.0]]), name="W")
>>> x = gradlab.tensor(np.array([[3.0]]), name="x")
>>> y = gradlab.tanh(x @ W).sum()
>>> g = gradlab.Graph(y)
>>> float(g.replay({W: np.array([[0.0]])}))
0.0
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from .autodiff import reverse, toposort
from .backend import get_xp
from .tensor import Tensor

__all__ = ["Graph"]


class Graph:
    """The nodes under ``outputs`` in forward order (every node after its inputs)."""

    def __init__(self, *outputs):
        if not outputs:
            raise ValueError("Graph: give at least one output tensor")
        for k, o in enumerate(outputs):
            if not isinstance(o, Tensor):
                shape = f" of shape {o.shape}" if hasattr(o, "shape") else ""
                raise TypeError(f"Graph: output {k} is a {type(o).__name__}{shape}, not a Tensor; give the recorded "
                                f"result of gradlab ops (e.g. the loss), not its value")
        self.outputs = tuple(outputs)
        self.nodes = toposort(self.outputs)[::-1]
        self._position = {node: i for i, node in enumerate(self.nodes)}

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        ops = sum(1 for n in self.nodes if n.op is not None)
        return f"Graph({ops} op nodes, {len(self.nodes) - ops} leaves, {len(self.outputs)} output(s))"

    @property
    def leaves(self) -> list:
        """Nodes made by no op: parameters, inputs and constants, in forward order."""
        return [n for n in self.nodes if n.op is None]

    @property
    def parameters(self) -> list:
        """Leaves that require a gradient, in forward order."""
        return [n for n in self.nodes if n.op is None and n.requires_grad]

    @property
    def time_steps(self) -> list:
        """The distinct time steps recorded in the graph, sorted."""
        return sorted({n.scope.t for n in self.nodes if n.scope.t is not None})

    def select(self, *, t: int | None = None, layer: str | None = None, op: str | None = None) -> list:
        """Return the op nodes made at time step ``t``, inside layer ``layer`` (``"cell"`` includes
        ``"cell.W_s"``) and by the op named ``op``; criteria left as None are not applied."""
        found = []
        for n in self.nodes:
            if n.op is None:
                continue
            if t is not None and n.scope.t != t:
                continue
            if layer is not None and not n.scope.within(layer):
                continue
            if op is not None and n.op.name != op:
                continue
            found.append(n)
        return found

    def analytic(self) -> bool:
        """Return True when every op in the graph is holomorphic (complex-step differentiation is exact)."""
        return all(n.op.analytic for n in self.nodes if n.op is not None)

    def kinks(self) -> list:
        """Return ``(node, distance)`` for each non-smooth op node: how close its inputs are to a kink."""
        found = []
        for n in self.nodes:
            if n.op is not None and n.op.kink is not None:
                xp = get_xp(n.data)
                d = n.op.kink(*(p.data for p in n.parents), xp=xp, **n.attrs)
                found.append((n, float(xp.min(d)) if getattr(d, "size", 1) else float("inf")))
        return found

    def _check_leaves(self, leaves, what: str, values=None) -> None:
        for leaf in leaves:
            if leaf not in self._position or leaf.op is not None:
                raise ValueError(f"{what}: {leaf!r} is not a leaf of this graph")
            if values is not None and np.shape(values[leaf]) != tuple(leaf.shape):
                raise ValueError(f"{what}: the value given for {leaf!r} has shape {np.shape(values[leaf])}, "
                                 f"but the leaf was recorded with shape {tuple(leaf.shape)}")

    # ------------------------------------------------------------------------------- replay
    def replay(self, values: Mapping | None = None, *, xp=None, all_values: bool = False):
        """Re-evaluate the graph with ``values`` ({leaf: new array}) in place of the recorded leaves.

        ``xp`` is the array namespace the ops compute with (default: taken from the new values, NumPy
        otherwise). A value must have its leaf's shape. Returns the output value (a tuple for several
        outputs), or, with ``all_values=True``, a dict {node: value} for every node.
        """
        values = dict(values or {})
        self._check_leaves(values, "replay", values)
        if xp is None:
            xp = get_xp(*values.values())
        wrap = getattr(xp, "wrap", None)
        vals: dict = {}
        for node in self.nodes:
            if node.op is None:
                v = values.get(node, node.data)
                vals[node] = wrap(v) if wrap is not None else v
                continue
            try:
                v = node.op.forward(*(vals[p] for p in node.parents), xp=xp, **node.attrs)
            except (ValueError, TypeError, IndexError) as e:
                raise ValueError(f"replay: {node.op.name} at {node.scope} failed: {e}") from None
            vals[node] = wrap(v) if wrap is not None else v
        if all_values:
            return vals
        outs = tuple(vals[o] for o in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def function(self, inputs: Sequence, *, xp=None) -> Callable:
        """Return ``f(*arrays)`` that replays the graph with ``arrays`` in place of the leaves ``inputs``
        and returns the output value(s). With ``xp=autograd.numpy`` the function is differentiable by
        HIPS autograd."""
        inputs = list(inputs)
        self._check_leaves(inputs, "function")

        def f(*arrays):
            if len(arrays) != len(inputs):
                raise TypeError(f"expected {len(inputs)} arrays, got {len(arrays)}")
            return self.replay(dict(zip(inputs, arrays)), xp=xp)

        return f

    def gradient(self, wrt: Iterable, values: Mapping | None = None, *, g=None, xp=None) -> dict:
        """Reverse mode through the op table on a replay: return {leaf: d output / d leaf} for the
        leaves in ``wrt``, with leaf values ``values`` (the recorded ones by default).

        Works in any namespace the VJPs support (NumPy, CuPy, complex, SymPy object arrays), which is
        what makes symbolic reverse mode a replay rather than a separate implementation.
        """
        if len(self.outputs) != 1:
            raise ValueError("gradient: the graph must have exactly one output")
        wrt = list(wrt)
        for w in wrt:
            if not w.requires_grad:
                raise ValueError(f"gradient: {w!r} does not require a gradient; only such leaves can be asked for")
        values = dict(values or {})
        self._check_leaves(values, "gradient", values)
        vals = self.replay(values, xp=xp, all_values=True)
        out = self.outputs[0]
        if xp is None:
            xp = get_xp(vals[out])
        seed = g if g is not None else xp.ones_like(vals[out])
        order = [n for n in reversed(self.nodes) if n.requires_grad]
        grads = reverse(order, {out: seed}, value=vals.__getitem__, keep=wrt, xp=xp)
        return {w: grads.get(w, xp.zeros_like(vals[w])) for w in wrt}
