r"""Forward mode: push tangents through the recorded graph, in the order the graph was recorded.

Give some nodes a direction (a *tangent*; usually the parameters θ, with u of their shapes). Each
node downstream then gets its own tangent

.. math::  \dot x = \frac{\partial x}{\partial θ}\, u ,

computed from its inputs' tangents by its op's JVP rule (``jvp=`` beside ``vjp=`` in ``ops.py``):
ẋ = Σ_i J_i ẋ_i, one term per input that has a tangent. For the loss this is the directional
derivative Ė = ⟨∇E, u⟩; for the outputs y it is J u, the Jacobian applied to u, without forming J.

Reverse mode gives vᵀJ for every direction u at once (one pass per output direction v); forward mode
gives J u for every v at once (one pass per input direction u). The same number computed both ways,

.. math::  ⟨v, J u⟩ = ⟨Jᵀ v, u⟩ ,

is the check that the two modes agree (the checker's fifth reference, :mod:`gradlab.check.references`).
With both, J u followed by a VJP gives the Gauss–Newton products of Hessian-free optimisation
(:mod:`gradlab.curvature`).

Forward mode reads the values the graph recorded (it never runs the model code again), so it
applies unchanged to graphs recorded by the fast path. One loop serves two interpreters: on arrays
(the tangents are numbers) and, with ``create_graph=True``, on Tensors, when the JVP rules
themselves are recorded as new nodes, so that reverse mode can differentiate a tangent once more
(reverse-over-forward: Hessian–vector products).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from . import ops
from .autodiff import toposort
from .backend import get_xp
from .context import enable_grad
from .ops import LINEAR
from .tensor import Tensor, apply, unwrap

__all__ = ["forward", "jvp", "RECORDING"]


def _recorded(node):
    return node.data


def _same(node):
    return node


def _numeric_run(xp):
    def run(op, args, attrs):
        return op.forward(*args, xp=xp, **attrs)
    return run


def _recorded_run(op, args, attrs):
    return apply(op, *args, **attrs)


def forward(order, seeds: dict, *, value=None, xp=None, run=None) -> dict:
    r"""Run forward mode over ``order`` (nodes in forward order, every node after its inputs) from
    ``seeds`` {node: tangent}; return {node: tangent} for the seeds and every node that depends on them.

    A seeded node is an independent input: its own tangent is the seed, whatever its inputs' are.
    ``value(node)`` is a node's forward value (``node.data``); ``xp`` the namespace the JVP rules compute
    with; ``run(op, args, attrs)`` applies a linear op to tangents (its forward, by default).
    """
    value = value or _recorded
    xp = xp or get_xp(*seeds.values())
    run = run or _numeric_run(xp)
    tangents = dict(seeds)
    for node in order:
        if node.op is None or node in seeds:
            continue
        ts = [tangents.get(p) for p in node.parents]
        if all(t is None for t in ts):
            continue                 # nothing flows into this node: its tangent is zero
        out, inputs = value(node), [value(p) for p in node.parents]
        try:
            if node.op.jvp is LINEAR:   # the derivative of a linear map is the map: f(u)
                t = run(node.op, [xp.zeros_like(x) if t is None else t for t, x in zip(ts, inputs)], node.attrs)
            else:                      # Σ_i J_i ẋ_i; a term of an input that was broadcast is broadcast too
                t = None
                for c in node.op.jvps(ts, out, inputs, xp, node.attrs):
                    if c is None:
                        continue
                    if tuple(c.shape) != tuple(out.shape):
                        c = xp.broadcast_to(c, out.shape)
                    t = c if t is None else t + c
        except (ValueError, TypeError, IndexError) as e:
            raise ValueError(f"forward mode: {node.op.name} at {node.scope}: {e}") from None
        if t is not None:
            tangents[node] = t
    return tangents


class _Recording:
    r"""The namespace the JVP rules compute with when forward mode is itself recorded
    (``create_graph=True``): their few ``xp`` functions as recorded ops on Tensors. ``heaviside`` (ReLU's
    derivative) is a constant: its own derivative is zero wherever it exists."""

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        """The recorded sum."""
        return ops.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def exp(x):
        """The recorded exp."""
        return ops.exp(x)

    @staticmethod
    def where(cond, x, y):
        """The recorded where (the condition is a constant mask)."""
        return ops.where(unwrap(cond), x, y)

    @staticmethod
    def heaviside(x, h0):
        """The step function of x's values, a constant."""
        x = unwrap(x)
        return get_xp(x).heaviside(x, h0)

    @staticmethod
    def broadcast_to(x, shape):
        """x broadcast to ``shape``, recorded as x + 0 (whose VJP sums the broadcast axes back)."""
        return ops.add(x, get_xp(unwrap(x)).zeros(shape, dtype=unwrap(x).dtype))

    @staticmethod
    def zeros_like(x):
        """A constant zero array shaped like x."""
        x = unwrap(x)
        return get_xp(x).zeros(x.shape, dtype=x.dtype)

    def __repr__(self) -> str:
        return "gradlab.engine.forward.RECORDING"


#: the namespace of recorded forward mode (``jvp(..., create_graph=True)``)
RECORDING = _Recording()


def jvp(outputs, tangents: Mapping, *, create_graph: bool = False):
    r"""Return the tangent of ``outputs`` (a Tensor, or a list of them) in the direction ``tangents``
    {node: array of the node's shape}: J u, the Jacobian of the outputs with respect to those nodes
    applied to u, by forward mode on the recorded graph. For a scalar loss E it is ⟨∇E, u⟩.

    The nodes given a tangent are usually leaves (parameters, inputs); an op node given one counts as an
    independent input (what it was computed from is ignored). An output that does not depend on them
    gets a zero tangent. With ``create_graph=True`` the tangents are recorded Tensors, functions of the
    graph's nodes that reverse mode can differentiate again (∇⟨∇E, u⟩ = H u).

    >>> import numpy as np, gradlab
    >>> w = gradlab.Parameter(np.array([1.0, 2.0]), name="w")
    >>> E = (w * w).sum()
    >>> float(gradlab.jvp(E, {w: np.array([1.0, 0.0])}))     # ∂E/∂w_1 = 2 w_1
    2.0
    """
    single = isinstance(outputs, Tensor)
    outs = [outputs] if single else list(outputs)
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"jvp: output {k} is a {type(o).__name__}, not a recorded Tensor")
    if not isinstance(tangents, Mapping) or not tangents:
        raise TypeError("jvp: give the direction as a dict {node: tangent array}, e.g. {W: np.ones(W.shape)}")
    seeds = {}
    for node, u in tangents.items():
        if not isinstance(node, Tensor):
            raise TypeError(f"jvp: the keys of the direction must be Tensors of the graph, got {type(node).__name__}")
        shape = tuple(np.shape(unwrap(u)))
        if shape != tuple(node.shape):
            raise ValueError(f"jvp: the tangent for {node!r} has shape {shape}, the node {tuple(node.shape)}")
        seeds[node] = u
    order = toposort(outs)[::-1]
    if create_graph:
        with enable_grad():
            seeds = {n: u if isinstance(u, Tensor) else Tensor(u) for n, u in seeds.items()}
            found = forward(order, seeds, value=_same, xp=RECORDING, run=_recorded_run)
            result = [found[o] if o in found else Tensor(get_xp(o.data).zeros_like(o.data)) for o in outs]
    else:
        seeds = {n: unwrap(u) for n, u in seeds.items()}
        xp = get_xp(*(o.data for o in outs), *seeds.values())
        seeds = {n: xp.asarray(u) for n, u in seeds.items()}
        seeds = {n: u.astype(xp.result_type(u, n.data), copy=False) for n, u in seeds.items()}   # ints → floats
        found = forward(order, seeds, xp=xp)
        result = [found[o] if o in found else xp.zeros_like(o.data) for o in outs]
    return result[0] if single else result
