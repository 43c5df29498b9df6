r"""Reverse mode: an iterative topological sort and the accumulating backward loop.

BPTT needs nothing more: an unfolded RNN uses the same Parameter at every step, and this loop adds
the gradient arriving from each use (``+=``), so ∂E/∂W = Σ_t (contribution of step t) by construction.
The traversals are loops (no recursion), so a 50 000-step chain is fine: reverse mode collects the
nodes it must visit and sorts them by creation (a node is always made after its inputs); other
walks count each node's consumers.
"""
from __future__ import annotations

from operator import attrgetter

import numpy as np

from .backend import get_xp, unbroadcast
from .context import _STATE
from .memory import is_pooled

__all__ = ["toposort", "backward", "reverse", "contributions"]

_by_creation = attrgetter("seq")


def toposort(outputs, follow=None):
    """Return the nodes reachable from ``outputs``, each listed before every node it consumes
    (outputs first, leaves last). ``follow(node)`` limits which parents are walked (all by default;
    :func:`requires_grad` for reverse mode)."""
    if follow is requires_grad:   # reverse mode: collect, then sort by creation (see Tensor.seq)
        seen = set(outputs)
        stack = list(seen)
        while stack:
            for p in stack.pop().parents:
                if p.requires_grad and p not in seen:
                    seen.add(p)
                    stack.append(p)
        return sorted(seen, key=_by_creation, reverse=True)
    counts: dict = {}           # node -> number of consumers among the reachable nodes (+1 when first seen)
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node in counts:
            counts[node] += 1
            continue
        counts[node] = 1
        for p in node.parents:
            if follow is None or follow(p):
                stack.append(p)
    for out in outputs:  # outputs are not consumed by anything we start from
        counts[out] -= 1
    ready = [n for n in dict.fromkeys(outputs) if counts[n] == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for p in node.parents:
            if p in counts:
                counts[p] -= 1
                if counts[p] == 0:
                    ready.append(p)
    return order


def requires_grad(node) -> bool:
    """Return whether reverse mode must walk into ``node`` (the ``follow`` of :func:`backward`)."""
    return node.requires_grad


def reverse(order, seeds, value=None, *, on_edge=None, keep=None, xp=None, fresh=None):
    r"""Run reverse mode over ``order`` (as returned by :func:`toposort`) and return {node: gradient}
    for the leaves that require a gradient and for the nodes in ``keep``.

    ``seeds`` maps output nodes to their upstream gradients. ``value(node)`` gives the value a node
    had in the forward pass (``node.data`` by default; a replay passes its own values). ``on_edge(parent,
    child, g)`` sees each gradient contribution before it is accumulated. No returned array is a view
    into the buffer pool. A set passed as ``fresh`` receives the nodes whose returned array this call
    made for them alone (a weight's summed gradient), which the caller may keep without copying.
    """
    grads = dict(seeds)
    owned: set = set()          # gradient buffers this loop allocated, safe to update in place
    deferred: dict = {}         # node -> {(op, argnum): ([g, ...], [inputs, ...], [attrs, ...])} summed when reached
    shared: dict = {}           # work the batched sums share within this call (see Op.batch_vjp)
    out: dict = {}
    keep = set(keep) if keep else ()
    if xp is None:
        xp = get_xp(*grads.values())
    wrap = getattr(xp, "wrap", None)
    anomaly = _STATE.get().anomaly
    batching = on_edge is None and wrap is None
    special = wrap is not None or anomaly or on_edge is not None   # the per-edge extras, rarely on
    for node in order:
        g = grads.pop(node, None)
        if deferred and node in deferred:
            g = _sum_deferred(deferred.pop(node), g, xp, shared)
            if fresh is not None and node.op is None:
                fresh.add(node)
        if g is None:
            continue
        op = node.op
        if op is None:
            out[node] = g
            continue
        if keep and node in keep:
            out[node] = g
        parents = node.parents
        if value is None:
            inputs = [p.data for p in parents]
            out_value = node.data
        else:
            inputs = [value(p) for p in parents]
            out_value = value(node)
        vjp = op.vjp
        per_input = vjp if type(vjp) is tuple else None
        attrs = node.attrs
        batch = op.batch_vjp if batching else None
        i = -1
        for p in parents:
            i += 1
            if not p.requires_grad:
                continue
            # an input the VJP reduces or scatters into (a weight, a broadcast bias, a sliced sequence),
            # typically used by many nodes, gets the sum for all of them in one go when it is reached;
            # an input of g's own shape (the projected input of one step) takes the plain path
            if batch is not None and i in batch and inputs[i].shape != g.shape:
                entry = deferred.setdefault(p, {}).setdefault((op, i), ([], [], []))
                entry[0].append(g)
                entry[1].append(inputs)
                entry[2].append(attrs)
                continue
            if i and op.symmetric and p is parents[0]:
                pass                  # r * r: the second input's VJP equals the first's, pg
            else:
                if per_input is not None:
                    f = per_input[i]
                    if f is None:
                        continue
                    pg = f(g, out_value, *inputs, xp=xp, **attrs)
                else:
                    pg = vjp(g, out_value, *inputs, xp=xp, argnum=i, **attrs)
                    if pg is None:
                        continue
                if special and wrap is not None:
                    pg = wrap(pg)
                shape = inputs[i].shape
                if pg.shape != shape:
                    try:
                        pg = unbroadcast(xp, pg, shape)
                    except ValueError as e:
                        raise ValueError(f"{op.name} at {node.scope}: vjp for input {i}: {e}") from None
            if special:
                if anomaly:
                    from .tensor import _check_finite

                    _check_finite(pg, f"gradient of {op.name} at {node.scope} (input {i})")
                if on_edge is not None:
                    on_edge(p, node, pg)
            prev = grads.get(p)
            if prev is None:
                grads[p] = pg
            elif p in owned:
                prev += pg            # in place for arrays; NumPy scalars (0-d results) rebind
                grads[p] = prev
            else:
                # a new array from malloc, not the pool: a sum is usually consumed at once (the δ of
                # the next node), and malloc hands the same warm block back for the next one
                grads[p] = prev + pg
                owned.add(p)
    for node, g in out.items():
        if is_pooled(g):
            out[node] = g.copy()       # results outlive this call; the pool's memory is reused
            if fresh is not None:
                fresh.add(node)
    return out


def _sum_deferred(entries, g, xp, shared):
    for (op, argnum), (gs, inputs_list, attrs_list) in entries.items():
        total = op.batch_vjp[argnum](gs, inputs_list, attrs_list, xp, shared)
        g = total if g is None else g + total
    return g


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
        from .tensor import Tensor

        g = g.data if isinstance(g, Tensor) else xp.asarray(g)
        if tuple(g.shape) != tuple(root.shape):
            raise ValueError(f"backward: g has shape {tuple(g.shape)} but the output has shape {root.shape}")
    order = toposort([root], follow=requires_grad)
    keep = [n for n in order if n.retains_grad]
    fresh: set = set()
    for node, grad in reverse(order, {root: g}, keep=keep, xp=xp, fresh=fresh).items():
        if node.grad is not None:
            node.grad = node.grad + grad
        elif node in fresh:
            node.grad = grad           # made for this node alone (a weight's Σ_t δ_t x_tᵀ): no copy
        else:
            node.grad = grad.copy()


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
    xp = get_xp(root.data)
    seed = xp.ones_like(root.data) if g is None else g
    parts: dict = {}

    def record(parent, child, pg):
        if parent is param:
            k = key(child.scope)
            parts[k] = parts[k] + pg if k in parts else pg.copy()

    reverse(toposort([root], follow=requires_grad), {root: seed}, on_edge=record, xp=xp)
    return parts
