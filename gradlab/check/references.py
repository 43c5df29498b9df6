r"""The references a candidate gradient is compared with, all computed on one recorded loss graph.

* ``engine``: gradlab's reverse mode (the op table's VJPs), one backward pass; it also gives the
  intermediate adjoints ∂E/∂s_t that localise an error inside the recursion.
* ``autograd``: HIPS autograd differentiating a replay of the graph written in ``autograd.numpy``.
  It shares only the forward definitions with the engine, not the VJPs: an independent check.
* ``fd``: finite differences (module :mod:`gradlab.check.finite`), sharing nothing but the forward.
* ``sympy``: exact derivatives of the symbolic replay, evaluated to 30 digits (small sizes only).
* ``forward``: gradlab's forward mode (the op table's JVPs, :mod:`gradlab.engine.forward`): the
  directional derivative D_u E = ⟨∇E, u⟩ along a few random directions u per parameter, one pass each.
  Reverse mode gives ⟨∇E, u⟩ from the full gradient: the two must agree, ⟨v, J u⟩ both ways (v = 1
  for the scalar E), and they share nothing but the forwards' recorded values.
"""
from __future__ import annotations

import numpy as np

from ..engine.autodiff import reverse, toposort

__all__ = ["engine_gradient", "autograd_gradient", "sympy_gradient", "forward_derivatives", "random_directions",
           "vanishing", "SYMPY_MAX_ELEMENTS"]

SYMPY_MAX_ELEMENTS = 40


def engine_gradient(rec) -> tuple:
    r"""Return ({name: ∂E/∂θ}, {adjoint name: array (T, …) of ∂E/∂s_t}) by gradlab's reverse mode."""
    loss = rec.loss
    order = toposort([loss], follow=lambda n: n.requires_grad)
    keep = {t for ts in rec.adjoints.values() for t in ts if t is not None and t.requires_grad}
    out = reverse(order, {loss: np.ones_like(loss.data)}, keep=keep)
    grads = {name: np.array(out.get(leaf, np.zeros_like(leaf.data)), dtype=float) for name, leaf in rec.params.items()}
    adj = {}
    for key, tensors in rec.adjoints.items():
        if tensors and all(t is not None for t in tensors):
            adj[key] = np.stack([np.asarray(out.get(t, np.zeros_like(t.data)), dtype=float) for t in tensors])
    return grads, adj


def random_directions(shape, rng, count: int) -> list:
    r"""Return ``count`` unit directions of ``shape`` whose components all lie, before normalising, in
    ±[0.5, 1.5]: every element takes part, none dominates (a projection then cannot miss an element)."""
    out = []
    for _ in range(count):
        u = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        out.append(u / np.linalg.norm(u))
    return out


def forward_derivatives(rec, directions: dict) -> dict:
    r"""Return {name: [D_u E for u in directions[name]]}: the directional derivatives ⟨∇E, u⟩ of the loss
    along each direction u of parameter ``name``, by forward mode on the recorded graph (one pass each)."""
    from ..engine.forward import jvp

    out = {}
    for name, us in directions.items():
        leaf = rec.params[name]
        out[name] = [float(np.asarray(jvp(rec.loss, {leaf: u}))) for u in us]
    return out


def vanishing(rec, grads: dict, floor: float = 1e-12) -> tuple:
    r"""Return (the parameters E depends on whose gradient is zero at these values, the parameters E
    does not depend on at all). The first make a check vacuous for them — targets equal to the outputs,
    or weights whose equal rows cancel by symmetry; the second are structural (the four-gate LSTM's W_n
    at T = 1 reaches E only through later steps)."""
    present = set(rec.graph.leaves)
    absent = [n for n, leaf in rec.params.items() if leaf not in present]
    zero = [n for n in rec.params if n not in absent and not np.any(np.abs(grads[n]) > floor)]
    return zero, absent


def autograd_gradient(rec, values: dict | None = None) -> dict:
    """Return {name: ∂E/∂θ} computed by HIPS autograd on a replay of the graph."""
    import autograd
    import autograd.numpy as anp

    present = set(rec.graph.leaves)
    names = [n for n in rec.params if rec.params[n] in present]
    leaves = [rec.params[n] for n in names]
    f = rec.graph.function(leaves, xp=anp)
    arrays = [np.asarray((values or {}).get(n, rec.params[n].data), dtype=float) for n in names]
    grads = autograd.grad(lambda ps: f(*ps))(arrays)
    out = {n: np.zeros(rec.params[n].shape) for n in rec.params}   # absent from the graph: E does not depend on it
    out.update({n: np.asarray(g, dtype=float) for n, g in zip(names, grads)})
    return out


def sympy_gradient(rec, max_elements: int = SYMPY_MAX_ELEMENTS, digits: int = 30) -> dict | None:
    r"""Return {name: ∂E/∂θ} from exact symbolic derivatives (the graph replayed on SymPy symbols,
    each parameter element a symbol θ_k; ∂E/∂θ_k by SymPy, evaluated at the recorded values to
    ``digits`` digits), or None when the model has more than ``max_elements`` parameter elements."""
    total = sum(int(p.data.size) for p in rec.params.values())
    if total > max_elements:
        return None
    import sympy

    from ..symbolic.namespace import sympy_namespace

    symbols, subs, feed = {}, {}, {}
    present = set(rec.graph.leaves)
    for name, leaf in rec.params.items():
        if leaf not in present:
            symbols[name] = []
            continue
        arr = np.empty(leaf.shape, dtype=object)
        for idx in np.ndindex(*leaf.shape):
            s = sympy.Symbol(f"{name}[{','.join(map(str, idx))}]", real=True)
            arr[idx] = s
            subs[s] = sympy.Float(repr(float(leaf.data[idx])), digits)
            symbols.setdefault(name, []).append((idx, s))
        feed[leaf] = arr
    for leaf in rec.graph.leaves:
        if leaf not in feed:
            arr = np.empty(leaf.shape, dtype=object)
            for idx in np.ndindex(*leaf.shape):
                arr[idx] = sympy.Float(repr(float(np.asarray(leaf.data)[idx])), digits)
            feed[leaf] = arr
    E = rec.graph.replay(feed, xp=sympy_namespace())
    E = E[()] if isinstance(E, np.ndarray) else E
    grads = {}
    for name, leaf in rec.params.items():
        g = np.zeros(leaf.shape)
        for idx, s in symbols[name]:
            g[idx] = float(sympy.diff(E, s).xreplace(subs).evalf(digits))
        grads[name] = g
    return grads
