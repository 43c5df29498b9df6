r"""Reverse mode: an iterative topological sort and the accumulating backward loop.

BPTT needs nothing more: an unfolded RNN uses the same Parameter at every step, and :func:`reverse`
adds the gradient arriving from each use (``grads[p] + pg``), so ∂E/∂W = Σ_t (contribution of step t)
by construction. Both walks are loops (no recursion), so a 50 000-step chain is fine, and both take
time linear in the number of nodes and edges.

Every interpreter that runs reverse mode runs this loop: :func:`backward` (numbers into ``.grad``),
:func:`contributions` (the per-use parts of a shared weight's gradient), :meth:`Graph.gradient`
(a replay's values), the symbolic derivation (SymPy expressions, adjoints named δ_t) and the
gradient-flow figure (edges cut by truncated BPTT). They differ only in the hooks they pass.
"""
from __future__ import annotations

import operator

from .backend import check_finite, get_xp, unbroadcast
from .context import STATE, ENGINES
from .tensor import Tensor

__all__ = ["toposort", "requires_grad", "reverse", "backward", "contributions"]


def toposort(outputs, follow=None) -> list:
    """Return the nodes reachable from ``outputs``, each listed before every node it consumes
    (outputs first, leaves last). ``follow(node)`` limits which parents are walked (all by default;
    :func:`requires_grad` for reverse mode).

    A depth-first walk over the inputs, written as a loop: a node is finished once all its inputs are,
    so the finished nodes come in forward order, inputs in argument order; reversed, they are an order
    for reverse mode.
    """
    finished, seen = [], set()
    for out in outputs:
        if out in seen:
            continue
        seen.add(out)
        stack = [(out, iter(out.parents))]
        while stack:
            node, inputs = stack[-1]
            for p in inputs:          # the next input not yet seen (reverse mode's follow read inline)
                if p not in seen and (follow is None or (p.requires_grad if follow is requires_grad else follow(p))):
                    seen.add(p)
                    stack.append((p, iter(p.parents)))
                    break
            else:                     # every input is finished: so is this node
                stack.pop()
                finished.append(node)
    return finished[::-1]


def requires_grad(node) -> bool:
    """Return whether reverse mode must walk into ``node`` (the ``follow`` of :func:`backward`)."""
    return node.requires_grad


def reverse(order, seeds: dict, value=None, *, keep=(), skip=None, on_edge=None, on_node=None, accumulate=None,
            xp=None, follow=None) -> dict:
    r"""Run reverse mode over ``order`` (as :func:`toposort` returns it) from ``seeds`` {output: upstream
    gradient}; return {node: gradient} for the leaves that require a gradient and the nodes in ``keep``.

    The hooks let every interpreter run this one loop: ``value(node)`` is the node's forward value
    (``node.data``; a replay passes its own); ``skip(parent, child)`` cuts an edge (truncated BPTT);
    ``on_edge(parent, child, g)`` sees each contribution before it is accumulated; ``on_node(node, g)``
    receives a node's finished gradient and returns the one to propagate (a symbolic adjoint δ_t);
    ``accumulate(total, g)`` adds a contribution (``+`` by default; the symbolic route collects terms);
    ``follow(parent)`` says which inputs receive a gradient (those that require one, by default; the
    gradient-flow figure also follows states computed from fixed weights only).
    """
    value = value or (lambda node: node.data)
    accumulate = accumulate or operator.add
    xp = xp or get_xp(*seeds.values())
    wrap = getattr(xp, "wrap", lambda a: a)
    anomaly = STATE.get().anomaly
    keep = set(keep or ())
    grads, out = dict(seeds), {}
    for node in order:
        g = grads.pop(node, None)
        if g is None:
            continue
        if on_node is not None:
            g = on_node(node, g)
        if node.op is None or node in keep:
            out[node] = g
        if node.op is None:
            continue
        inputs = [value(p) for p in node.parents]
        wanted = [(follow(p) if follow else p.requires_grad) and not (skip and skip(p, node)) for p in node.parents]
        pgs = node.op.vjps(g, value(node), inputs, xp, node.attrs, wanted)
        for i, (p, x, pg) in enumerate(zip(node.parents, inputs, pgs)):
            if pg is None or not wanted[i]:
                continue
            pg = _fit(xp, wrap(pg), x.shape, node, i)
            if anomaly:
                check_finite(pg, f"gradient of {node.op.name} at {node.scope} (input {i})")
            if on_edge is not None:
                on_edge(p, node, pg)
            grads[p] = accumulate(grads[p], pg) if p in grads else pg   # fan-out: accumulate, never assign
    return out


def _fit(xp, g, shape, node, i):
    """``g`` summed down to an input's ``shape`` (the adjoint of broadcasting is a sum)."""
    if g.shape == shape:
        return g
    try:
        return unbroadcast(xp, g, shape)
    except ValueError as e:
        raise ValueError(f"{node.op.name} at {node.scope}: vjp for input {i}: {e}") from None


def backward(root, g=None) -> None:
    """Accumulate d(root)/d(leaf) (contracted with ``g``) into ``leaf.grad`` for every leaf that
    requires a gradient, and into ``.grad`` of nodes that called ``retain_grad()``."""
    if not root.requires_grad:
        raise ValueError("backward: this tensor does not depend on any tensor with requires_grad=True "
                         "(make leaves with gradlab.Parameter or tensor(..., requires_grad=True))")
    xp = get_xp(root.data)
    if g is None:
        if root.data.size != 1:
            raise ValueError(f"backward: the output has shape {root.shape}; an implicit gradient needs a "
                             f"single element. Reduce it first (e.g. .sum()) or call backward(g) with g of "
                             f"shape {root.shape}")
        g = xp.ones_like(root.data)
    else:
        g = g.data if isinstance(g, Tensor) else xp.asarray(g)
        if tuple(g.shape) != tuple(root.shape):
            raise ValueError(f"backward: g has shape {tuple(g.shape)} but the output has shape {root.shape}")
    order = toposort([root], follow=requires_grad)
    keep = [n for n in order if n.retains_grad]
    impl = ENGINES.get(STATE.get().engine)
    if impl is None:       # this loop's gradients may share memory with g and with each other: keep copies
        grads = {node: grad.copy() for node, grad in reverse(order, {root: g}, keep=keep).items()}
    else:                  # a faster implementation hands over arrays of its own (see Engine.reverse)
        grads = impl.reverse(order, {root: g}, keep=keep)
    for node, grad in grads.items():
        node.grad = grad if node.grad is None else node.grad + grad


def contributions(root, param, by: str = "t", g=None) -> dict:
    r"""Return the per-use contributions to ∂root/∂param, keyed by the consuming node's time step
    (``by="t"``), layer (``by="layer"``) or whole scope (``by="scope"``); they sum to the gradient.

    This is the lecture's weight-constraint rule made visible: a weight used at several places gets
    ∂E/∂w₁ + ∂E/∂w₂ + …, and each term is one entry here. It does not touch ``.grad``.
    """
    keys = {"t": lambda s: s.t, "layer": lambda s: s.layer, "scope": lambda s: s}
    if by not in keys:
        raise ValueError(f"contributions: by must be one of {sorted(keys)}, got {by!r}")
    key = keys[by]
    seed = get_xp(root.data).ones_like(root.data) if g is None else g
    parts: dict = {}

    def record(parent, child, pg):
        if parent is param:
            k = key(child.scope)
            parts[k] = parts[k] + pg if k in parts else pg.copy()

    reverse(toposort([root], follow=requires_grad), {root: seed}, on_edge=record)
    return parts


def _backward_method(self, g=None) -> None:
    """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires a gradient.

    ``g`` is the upstream gradient (``ones`` for a one-element tensor). Calling backward twice adds
    the gradients twice, as in the common frameworks; :meth:`zero_grad` or ``Module.zero_grad``
    resets them.
    """
    backward(self, g)


Tensor.backward = _backward_method
