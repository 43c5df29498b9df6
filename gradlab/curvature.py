r"""Curvature products on any recorded graph: Hessian–vector products H v and Gauss–Newton–vector
products G v, without ever forming H or G.

Second-order optimisers (Hessian-free, :mod:`gradlab.nn.hessian_free`) need the curvature of the loss
E(θ) only through its products with vectors. Write the network as z = f(θ) (the outputs the loss
reads, e.g. every y_t) and the loss as E = L(z). Then

.. math::
    H = ∇²_θ E = J^\top H_L J + \sum_k \frac{∂L}{∂z_k} ∇²_θ z_k ,
    \qquad J = \frac{∂z}{∂θ}, \quad H_L = ∇²_z L ,

and the **Gauss–Newton matrix** keeps the first term only, G = Jᵀ H_L J. Three facts make G the
curvature of choice (Schraudolph 2002; Martens 2010):

* G is symmetric positive semi-definite whenever L is convex in z (H_L ⪰ 0), as ½‖z − d‖² and the
  softmax cross-entropy are, so conjugate gradient on G + λI is always well posed; H is not;
* G = H where the second term vanishes: a network linear in θ, or zero residuals ∂L/∂z = 0;
* G v costs one forward-mode pass and one reverse pass:

.. math::  G v = J^\top \big(H_L\, (J v)\big) ,

  J v by forward mode (:func:`gradlab.jvp`), H_L applied in the space of the outputs, Jᵀ(·) by reverse
  mode seeded at the outputs (:func:`vjp`).

**Hessian–vector products** H v are computed *reverse-over-forward*: forward mode is run once more with
its rules recorded as graph nodes (``jvp(E, {θ: v}, create_graph=True)`` gives ⟨∇E, v⟩ as a recorded
function of θ), and reverse mode differentiates that, ∇_θ ⟨∇E(θ), v⟩ = H v (v is a constant).
Why this order rather than forward-over-reverse or reverse-over-reverse: both of those must record
the *reverse* pass, i.e. run every VJP rule on Tensors — rules that undo broadcasting, scatter into
zero arrays in place and split gradients — whereas the JVP rules use the operators and four ``xp``
functions only (``ops.py``), which :data:`gradlab.engine.forward.RECORDING` provides as recorded ops.
The cost is of the same order (Pearlmutter 1994: a small multiple of one gradient): the recorded
tangent pass holds about twice the forward's nodes, and one reverse pass runs over both.

The loss's own Hessian H_L is taken from the recorded graph (the part after the outputs is recorded
again from fresh leaves z and differentiated twice: exact for any loss built from gradlab ops, masks
included) or, by name, from its formula (:data:`LOSS_HESSIANS`).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from .engine.autodiff import requires_grad, reverse, toposort
from .engine.backend import get_xp
from .engine.context import ENGINES, STATE, enable_grad
from .engine.forward import forward, jvp
from .engine.graph import Graph
from .engine.tensor import Parameter, Tensor, apply, unwrap

__all__ = ["vjp", "hessian_product", "gauss_newton_product", "GaussNewton", "loss_hessian", "loss_hessian_product",
           "LOSS_HESSIANS", "hessian_matrix", "gauss_newton_matrix", "flatten", "unflatten"]


def _outputs(outputs) -> list:
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"curvature: output {k} is a {type(o).__name__}, not a recorded Tensor")
    return outs


def _leaves(wrt, who: str) -> list:
    leaves = list(wrt)
    for leaf in leaves:
        if not isinstance(leaf, Tensor) or leaf.op is not None:
            raise TypeError(f"{who}: {leaf!r} is not a leaf Tensor (a Parameter); products are taken with respect "
                            f"to leaves")
    return leaves


def _zeros(leaf):
    return get_xp(leaf.data).zeros(leaf.shape, dtype=leaf.dtype)


def vjp(outputs, cotangents, wrt, *, order=None) -> dict:
    r"""Return {leaf: Σ_k (∂z_k/∂leaf)ᵀ u_k} for the leaves in ``wrt``: reverse mode seeded at the outputs
    z_k (a Tensor or a list) with cotangents u_k (arrays of their shapes), Jᵀ u. An output may be an
    ancestor of another (a hidden state and the output computed from it): its seed adds to what reaches
    it from later nodes. Leaves the outputs do not depend on get zeros. ``order`` is the reverse-mode order
    (``toposort(outputs, follow=requires_grad)``), when the caller has it already."""
    outs = _outputs(outputs)
    us = [cotangents] if isinstance(outputs, Tensor) else list(cotangents)
    if len(us) != len(outs):
        raise ValueError(f"vjp: {len(us)} cotangents for {len(outs)} outputs")
    leaves = _leaves(wrt, "vjp")
    seeds = {}
    for o, u in zip(outs, us):
        u = unwrap(u)
        if tuple(np.shape(u)) != tuple(o.shape):
            raise ValueError(f"vjp: the cotangent for {o!r} has shape {np.shape(u)}, the output {tuple(o.shape)}")
        if not o.requires_grad:
            continue
        u = get_xp(o.data).asarray(u, dtype=o.dtype)
        seeds[o] = seeds[o] + u if o in seeds else u
    if not seeds:
        return {leaf: _zeros(leaf) for leaf in leaves}
    if order is None:
        order = toposort(list(seeds), follow=requires_grad)
    impl = ENGINES.get(STATE.get().engine)
    grads = (reverse if impl is None else impl.reverse)(order, seeds, keep=leaves)
    return {leaf: grads[leaf] if leaf in grads else _zeros(leaf) for leaf in leaves}


def _direction(v, who: str) -> dict:
    if not isinstance(v, Mapping) or not v:
        raise TypeError(f"{who}: give the vector as a dict {{leaf: array of its shape}}")
    return dict(v)


def hessian_product(loss, v: Mapping, wrt=None) -> dict:
    r"""Return {leaf: (H v)_leaf}, the Hessian of the scalar ``loss`` with respect to the leaves in ``wrt``
    (default: the keys of ``v``) applied to the vector ``v`` {leaf: array}, reverse-over-forward:
    H v = ∇_θ ⟨∇E(θ), v⟩. Leaves missing from ``v`` have a zero direction.

    >>> import numpy as np, gradlab
    >>> from gradlab.curvature import hessian_product
    >>> w = gradlab.Parameter(np.array([1.0, 2.0]), name="w")
    >>> E = (w * w * w).sum()                      # H = diag(6 w)
    >>> hessian_product(E, {w: np.array([1.0, 1.0])})[w]
    array([ 6., 12.])
    """
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise ValueError("hessian_product: the loss must be a recorded Tensor with a single element")
    v = _direction(v, "hessian_product")
    leaves = _leaves(v if wrt is None else wrt, "hessian_product")
    with enable_grad():
        slope = jvp(loss, v, create_graph=True)           # ⟨∇E, v⟩, recorded as a function of θ
        slope = slope.sum() if slope.ndim else slope
    return vjp(slope, get_xp(slope.data).ones_like(slope.data), leaves)


# ----------------------------------------------------------------------------- the loss's Hessian
def _mse_half(zs, us, scale):
    return [scale * u for u in us]


def _mse(zs, us, scale):
    n = sum(int(z.size) for z in zs)
    return [scale * 2.0 / n * u for u in us]


def _cross_entropy(zs, us, scale):
    out = []
    for z, u in zip(zs, us):
        x = z.data - z.data.max(axis=-1, keepdims=True)
        p = np.exp(x)
        p /= p.sum(axis=-1, keepdims=True)
        out.append(scale * (p * u - p * (p * u).sum(axis=-1, keepdims=True)))   # (diag p − p pᵀ) u, per row
    return out


#: the Hessians of gradlab's losses in their outputs, as products u ↦ H_L u (``scale`` multiplies E):
#: ``mse_half`` ½Σ‖z − d‖²: I; ``mse`` (1/N)Σ(z − d)²: (2/N) I over all N elements; ``softmax_cross_entropy``
#: −Σ_rows log softmax(z)_d: diag(p) − p pᵀ on each row (p = softmax(z); rows whose targets sum to 1, unmasked)
LOSS_HESSIANS = {"mse_half": _mse_half, "mse": _mse, "softmax_cross_entropy": _cross_entropy}


def _loss_from(loss, outs):
    """The part of ``loss``'s graph after the outputs, recorded again from fresh leaves z (copies of the
    outputs); everything else it reads becomes a constant. Returns (leaves z, the new loss)."""
    fresh = {o: Parameter(o.data, name=f"z{k}") for k, o in enumerate(outs)}
    made, constants = dict(fresh), {}
    with enable_grad():
        for node in Graph(loss).nodes:
            if node in made or node.op is None or not any(p in made for p in node.parents):
                continue
            args = []
            for p in node.parents:
                if p not in made and p not in constants:
                    constants[p] = p if not p.requires_grad else Tensor(p.data)
                args.append(made.get(p, constants.get(p)))
            made[node] = apply(node.op, *args, **node.attrs)
    if loss not in made:
        raise ValueError("loss_hessian_product: the loss does not depend on the outputs given")
    return [fresh[o] for o in outs], made[loss]


def loss_hessian(loss, outputs, *, hessian: str | None = None, scale: float = 1.0) -> Callable:
    r"""Return u ↦ H_L u (u and the result: one array per output, in a list): the Hessian of the loss in its
    ``outputs`` z, prepared once for many products. ``hessian=None`` differentiates the recorded loss twice
    (the part after the outputs recorded again from fresh leaves: exact for any loss made of gradlab ops,
    masks and weights included); a name of :data:`LOSS_HESSIANS` uses that loss's formula, for
    E = ``scale`` · loss(z)."""
    outs = _outputs(outputs)
    if hessian is not None:
        if hessian not in LOSS_HESSIANS:
            raise ValueError(f"loss_hessian_product: hessian must be None or one of {sorted(LOSS_HESSIANS)}, "
                             f"got {hessian!r}")
        formula = LOSS_HESSIANS[hessian]
        return lambda us: formula(outs, [unwrap(u) for u in us], scale)
    zs, again = _loss_from(loss, outs)

    def product(us):
        hv = hessian_product(again, {z: unwrap(u) for z, u in zip(zs, us)})
        return [scale * hv[z] for z in zs] if scale != 1.0 else [hv[z] for z in zs]
    return product


def loss_hessian_product(loss, outputs, u, *, hessian: str | None = None, scale: float = 1.0):
    r"""Return H_L u: the Hessian of the loss in its outputs z applied to ``u`` (for a list of outputs, a list
    with one array per output); see :func:`loss_hessian`."""
    single = isinstance(outputs, Tensor)
    us = [u] if single else list(u)
    if len(us) != len(_outputs(outputs)):
        raise ValueError(f"loss_hessian_product: {len(us)} vectors for {len(_outputs(outputs))} outputs")
    out = loss_hessian(loss, outputs, hessian=hessian, scale=scale)(us)
    return out[0] if single else out


class GaussNewton:
    r"""The operator v ↦ G v = Jᵀ H_L J v on one recorded graph, prepared once for many products (conjugate
    gradient takes dozens): the order of the forward- and reverse-mode passes and the loss's Hessian
    (:func:`loss_hessian`). With ``states`` s (other nodes, e.g. an RNN's hidden states) and a
    ``state_weight`` w it is v ↦ G v + w J_sᵀ J_s v: the Gauss–Newton matrix of E + (w/2) Σ‖Δs‖², one
    forward pass giving J v and J_s v together and one reverse pass seeded at both.
    """

    def __init__(self, loss, outputs, wrt, *, hessian: str | None = None, scale: float = 1.0, states=(),
                 state_weight: float = 0.0):
        self.outputs = _outputs(outputs)
        self.states = _outputs(list(states)) if state_weight else []
        self.wrt = _leaves(wrt, "GaussNewton")
        self.weight = float(state_weight)
        self.H_L = loss_hessian(loss, self.outputs, hessian=hessian, scale=scale)
        ends = self.outputs + self.states
        self._forward_order = toposort(ends)[::-1]
        self._reverse_order = toposort([e for e in dict.fromkeys(ends) if e.requires_grad], follow=requires_grad)

    def __call__(self, v: Mapping) -> dict:
        """Return {leaf: (G v)_leaf} for the vector ``v`` {leaf: array}."""
        seeds = {leaf: get_xp(leaf.data).asarray(unwrap(u), dtype=leaf.dtype) for leaf, u in v.items()}
        tangents = forward(self._forward_order, seeds)
        ends = self.outputs + self.states
        Jv = [tangents[o] if o in tangents else get_xp(o.data).zeros_like(o.data) for o in ends]
        cot = list(self.H_L(Jv[:len(self.outputs)])) + [self.weight * t for t in Jv[len(self.outputs):]]
        return vjp(ends, cot, self.wrt, order=self._reverse_order)


def gauss_newton_product(loss, outputs, v: Mapping, wrt=None, *, hessian: str | None = None,
                         scale: float = 1.0) -> dict:
    r"""Return {leaf: (G v)_leaf} with G = Jᵀ H_L J, J = ∂z/∂θ for the ``outputs`` z (a Tensor or a list) the
    ``loss`` reads, H_L the loss's Hessian in z (:func:`loss_hessian_product`: from the graph, or the
    formula named by ``hessian`` with ``scale``): J v by forward mode, H_L, then Jᵀ by reverse mode.
    ``wrt`` defaults to the keys of ``v``.

    >>> import numpy as np, gradlab
    >>> from gradlab.curvature import gauss_newton_product
    >>> w = gradlab.Parameter(np.array([1.0, 2.0]), name="w")
    >>> y = gradlab.tanh(w)
    >>> E = 0.5 * ((y - 3.0) * (y - 3.0)).sum()    # G = diag(tanh'(w)²)
    >>> G = gauss_newton_product(E, y, {w: np.array([1.0, 0.0])})[w]
    >>> bool(np.allclose(G, [(1 - np.tanh(1.0) ** 2) ** 2, 0.0]))
    True
    """
    v = _direction(v, "gauss_newton_product")
    leaves = _leaves(v if wrt is None else wrt, "gauss_newton_product")
    return GaussNewton(loss, outputs, leaves, hessian=hessian, scale=scale)(v)


# ------------------------------------------------------------------------- explicit matrices (small)
def flatten(values: Mapping, leaves) -> np.ndarray:
    """Return the arrays ``values[leaf]`` for ``leaves``, raveled and joined into one vector."""
    return np.concatenate([np.ravel(np.asarray(values[leaf], dtype=float)) for leaf in leaves]) if leaves else \
        np.zeros(0)


def unflatten(vector, leaves) -> dict:
    """Return {leaf: the piece of ``vector`` shaped like the leaf}: the inverse of :func:`flatten`."""
    out, k = {}, 0
    vector = np.asarray(vector, dtype=float)
    for leaf in leaves:
        n = int(np.prod(leaf.shape, dtype=int))
        out[leaf] = vector[k:k + n].reshape(leaf.shape)
        k += n
    if k != vector.size:
        raise ValueError(f"unflatten: a vector of {vector.size} elements for leaves of {k} elements")
    return out


def _columns(product, leaves) -> np.ndarray:
    n = sum(int(np.prod(leaf.shape, dtype=int)) for leaf in leaves)
    M = np.empty((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        M[:, k] = flatten(product(unflatten(e, leaves)), leaves)
    return M


def hessian_matrix(loss, wrt) -> np.ndarray:
    r"""Return the Hessian of ``loss`` with respect to the leaves ``wrt`` (flattened in order) as an
    explicit matrix, built column by column from Hessian–vector products (small models only)."""
    leaves = _leaves(wrt, "hessian_matrix")
    return _columns(lambda v: hessian_product(loss, v, leaves), leaves)


def gauss_newton_matrix(loss, outputs, wrt, *, hessian: str | None = None, scale: float = 1.0) -> np.ndarray:
    r"""Return G = Jᵀ H_L J with respect to the leaves ``wrt`` (flattened in order) as an explicit matrix,
    built column by column from Gauss–Newton–vector products (small models only)."""
    leaves = _leaves(wrt, "gauss_newton_matrix")
    return _columns(lambda v: gauss_newton_product(loss, outputs, v, leaves, hessian=hessian, scale=scale), leaves)
