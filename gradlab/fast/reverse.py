r"""The fast path's reverse mode: the engine's loop, with three shortcuts that give the same gradients
to rounding.

* **Deferred, batched sums.** An input that many nodes reduce or scatter into (a shared weight, a
  sequence sliced once per step) collects its upstream gradients until it is reached, then gets their
  sum from one batched VJP (:mod:`gradlab.fast.batched`): BPTT's Σ_t δ_t s_{t-1}ᵀ as one product.
* **Owned buffers and the pool.** A sum this loop made is updated in place when more arrives; the
  per-step element-wise VJPs that wait for the weight sums (δ_t of tanh, σ, exp, ×) write into pooled
  memory (``POOLED_VJP``): the same operations in the same order as the table's, so equal bits.
* **Symmetric ops.** For f(x, y) = f(y, x) applied to one node twice (``r * r`` in ½‖y − d‖²) the two
  VJPs are equal and computed once.

Nodes are visited in the engine's order with the leaves moved last (leaves have no inputs, so the order
stays topological): a weight's batched sum then runs after the op nodes that join its rows.
"""
from __future__ import annotations

import numpy as np

from ..engine.autodiff import reverse as reference_reverse
from ..engine.backend import get_xp, unbroadcast
from ..engine.context import current
from ..engine.ops import OPS
from ..engine.tensor import Tensor
from .batched import BATCH_VJP, NEW_SUMS, RowIndex, note_stacked
from .memory import MIN_BYTES, is_pooled, pooled_like

__all__ = ["reverse", "POOLED_VJP", "SYMMETRIC"]


def _times(g, a, xp):
    r = pooled_like(g, a) if a.nbytes >= MIN_BYTES else None   # the size test first: this is per node
    return g * a if r is None else np.multiply(g, a, out=r)


def _tanh_vjp(g, out, x, xp):          # tanh' = 1 - tanh², as the table writes it
    r = pooled_like(g, out) if out.nbytes >= MIN_BYTES else None
    if r is None:
        return g * (1 - out * out)
    np.multiply(out, out, out=r)
    np.subtract(1, r, out=r)
    return np.multiply(g, r, out=r)


def _sigmoid_vjp(g, out, x, xp):       # σ' = σ (1 - σ)
    r = pooled_like(g, out) if out.nbytes >= MIN_BYTES else None
    if r is None:
        return g * out * (1 - out)
    np.multiply(g, out, out=r)
    return np.multiply(r, 1 - out, out=r)


POOLED_VJP = {OPS["tanh"]: (_tanh_vjp,), OPS["sigmoid"]: (_sigmoid_vjp,),
              OPS["exp"]: (lambda g, out, x, xp: _times(g, out, xp),),
              OPS["mul"]: (lambda g, out, x, y, xp: _times(g, y, xp), lambda g, out, x, y, xp: _times(g, x, xp))}
SYMMETRIC = frozenset((OPS["add"], OPS["mul"]))
_STACK = OPS["stack"]
_value = Tensor.data.fget        # a node's value, read without a Python frame per input


def reverse(order, seeds: dict, keep=()) -> dict:
    """Return what the engine's ``reverse(order, seeds, keep=keep)`` returns, computed with the shortcuts."""
    xp = get_xp(*seeds.values())
    if current().anomaly or getattr(xp, "wrap", None) is not None:
        return reference_reverse(order, seeds, keep=keep, xp=xp)
    grads, owned, deferred, index, out = dict(seeds), set(), {}, RowIndex(), {}
    keep = set(keep or ())
    made = set()              # nodes whose gradient is a new array made for them alone (a weight's sum)
    leaves = []
    for node in order:
        op = node.op
        if op is None:
            leaves.append(node)
            continue
        g = grads.pop(node, None)
        if deferred and node in deferred:
            g, _ = _sum_deferred(deferred.pop(node), g, xp, index)
        if g is None:
            continue
        if keep and node in keep:
            out[node] = g
        if op is _STACK:
            note_stacked(node, index)
        parents, attrs = node.parents, node.attrs
        inputs = list(map(_value, parents))
        vjp, batch, symmetric = _PLANS.get(op) or _plan(op)
        every = None if type(vjp) is tuple else vjp(g, node._data, *inputs, xp=xp, **attrs)   # all inputs at once
        i = -1
        for p in parents:
            i += 1
            if not p.requires_grad:
                continue
            # an input the VJP reduces or scatters into (a weight, a broadcast bias, a sliced sequence),
            # typically used by many nodes, gets the sum for all of them in one go when it is reached;
            # an input of g's own shape (the projected input of one step) takes the plain path
            if batch is not None and i in batch and inputs[i].shape != g.shape:
                # (no setdefault: its default, three lists and a dict, would be made and dropped at every use)
                uses = deferred.get(p)
                if uses is None:
                    uses = deferred[p] = {}
                entry = uses.get((op, i))
                if entry is None:
                    entry = uses[(op, i)] = ([], [], [])
                entry[0].append(g)
                entry[1].append(inputs)
                entry[2].append(attrs)
                continue
            if not (i and symmetric and p is parents[0]):    # r * r: the second VJP is the first's pg
                if every is not None:
                    pg = every[i]
                else:
                    f = vjp[i]
                    pg = None if f is None else f(g, node._data, *inputs, xp=xp, **attrs)
                if pg is None:
                    continue
                if pg.shape != inputs[i].shape:
                    pg = _unbroadcast(xp, pg, inputs[i].shape, node, i)
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
    for node in leaves:
        g = grads.pop(node, None)
        if node in deferred:
            g, new = _sum_deferred(deferred.pop(node), g, xp, index)
            if new:
                made.add(node)
        if g is not None:
            out[node] = g
    for node, g in out.items():    # hand over arrays of the caller's own: no pool views, nothing shared
        if node not in made or is_pooled(g):
            out[node] = g.copy()
    return out


_PLANS: dict = {}      # op -> (its VJPs here, its batched VJPs, whether it is symmetric)


def _plan(op):
    plan = _PLANS[op] = (POOLED_VJP.get(op, op.vjp), BATCH_VJP.get(op), op in SYMMETRIC)
    return plan


def _unbroadcast(xp, g, shape, node, i):
    try:
        return unbroadcast(xp, g, shape)
    except ValueError as e:
        raise ValueError(f"{node.op.name} at {node.scope}: vjp for input {i}: {e}") from None


def _sum_deferred(entries, g, xp, index):
    """Return ``(g + every batched sum, whether that is a new array of its own)``."""
    new = g is not None
    for (op, argnum), (gs, inputs_list, attrs_list) in entries.items():
        batch = BATCH_VJP[op][argnum]
        total = batch(gs, inputs_list, attrs_list, xp, index)
        new = new or batch in NEW_SUMS
        g = total if g is None else g + total
    return g, new
