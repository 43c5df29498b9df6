r"""Finite differences on a replay of the recorded loss graph: central, complex step, Richardson.

All three estimate a directional derivative D_u E(θ) = d/dt E(θ + t u) at t = 0; an element-wise
check takes u = e_i (one element), a projection check takes a random u.

* **central**: (E(θ + hu) − E(θ − hu)) / 2h, error O(h²) truncation + O(ε/h) rounding; the best
  step for float64 is about ε^{1/3} ≈ 6·10⁻⁶ (ε the machine epsilon), giving ~10⁻¹⁰ relative error.
* **complex step**: Im E(θ + i h u) / h. No subtraction, so no cancellation: with h = 10⁻²⁰ it is
  exact to rounding (~10⁻¹⁵). It needs every op on the way to be holomorphic (``Graph.analytic()``):
  tanh, sigmoid, exp, products are; ReLU, max and clip are not.
* **Richardson**: (4 D(h/2) − D(h)) / 3 with D the central difference cancels the h² term of the
  error, leaving O(h⁴); used where complex step is not allowed.

Kinks (ReLU at 0, ties of max, clip bounds) are where a finite difference that steps across them
measures a mix of two slopes. :meth:`LossFunction.crosses_kink` tells when a step crossed one, so
that the mismatch is not blamed on the candidate.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["LossFunction", "estimate", "one_sided", "default_step", "step_sweep", "unit", "METHODS", "EVALS"]

METHODS = ("central", "complex", "richardson")
EVALS = {"central": 2, "complex": 1, "richardson": 4}


def default_step(method: str, dtype=np.float64) -> float:
    r"""Return the step h that balances truncation and rounding error for ``method`` in ``dtype``.

    central: ε^{1/3}; Richardson: ε^{1/5} (its truncation error is O(h⁴)); complex step: 10⁻²⁰
    (no rounding penalty for a small h)."""
    eps = float(np.finfo(dtype).eps)
    if method == "central":
        return eps ** (1 / 3)
    if method == "richardson":
        return 2 * eps ** (1 / 5)
    if method == "complex":
        return 1e-20
    raise ValueError(f"unknown finite-difference method {method!r}; choose one of {METHODS}")


class LossFunction:
    r"""E(θ) evaluated by replaying a recorded graph, with θ = {lecture name: array}.

    ``evaluations`` counts the replays (each costs one forward pass)."""

    def __init__(self, recording, base: dict, dtype=np.float64):
        self.graph = recording.graph
        present = set(self.graph.leaves)
        # a parameter the loss does not depend on (e.g. the four-gate LSTM's W_n when T = 1) is not in the graph
        self.leaves = {k: v for k, v in recording.params.items() if v in present}
        self.base = {k: np.asarray(v, dtype=dtype) for k, v in base.items() if k in self.leaves}
        self.dtype = np.dtype(dtype)
        self.evaluations = 0
        self._complex = None
        self._kink_nodes = [n for n in self.graph.nodes if n.op is not None and n.op.kink is not None]

    def __call__(self, values: dict | None = None, *, all_values: bool = False):
        """Return E at θ = base updated with ``values`` (or every node's value with ``all_values``)."""
        self.evaluations += 1
        theta = dict(self.base)
        theta.update({k: v for k, v in (values or {}).items() if k in self.leaves})
        feed = {self.leaves[k]: v for k, v in theta.items()}
        if any(np.iscomplexobj(v) for v in feed.values()):
            # every leaf complex: a real @ complex product takes NumPy's slow mixed-type path (~30× slower)
            feed = {leaf: np.asarray(v, dtype=np.complex128) for leaf, v in feed.items()}
            feed.update(self._complex_constants())
        out = self.graph.replay(feed, all_values=all_values)
        return out if all_values else out[()] if hasattr(out, "shape") else out

    def _complex_constants(self) -> dict:
        """The graph's other real leaves (inputs, constants) as complex arrays, made once."""
        if self._complex is None:
            params = set(self.leaves.values())
            self._complex = {leaf: np.asarray(leaf.data, dtype=np.complex128) for leaf in self.graph.leaves
                             if leaf not in params and np.asarray(leaf.data).dtype.kind == "f"}
        return self._complex

    def along(self, direction: dict, t, *, all_values: bool = False):
        """Return E(θ + t·u) for the direction u = ``direction`` ({name: array}, missing names are 0)."""
        values = {k: self.base[k] + t * np.asarray(u) for k, u in direction.items() if k in self.base}
        return self(values, all_values=all_values)

    @property
    def has_kinks(self) -> bool:
        """True when the graph has non-smooth ops (ReLU, max, clip)."""
        return bool(self._kink_nodes)

    def kink_distance(self) -> float:
        """Return how close the recorded values are to the nearest kink (inf when there is none)."""
        return min((d for _, d in self.graph.kinks()), default=math.inf)

    def crosses_kink(self, direction: dict, h: float) -> bool:
        r"""Return True when stepping ±h along ``direction`` may cross a kink of some non-smooth op.

        For each non-smooth node the op tells its distance to the kink at θ; a step crosses it where
        the inputs moved by at least that distance."""
        if not self._kink_nodes:
            return False
        base = self.along(direction, 0.0, all_values=True)
        for t in (h, -h):
            moved = self.along(direction, t, all_values=True)
            for node in self._kink_nodes:
                d0 = node.op.kink(*(base[p] for p in node.parents), xp=np, **node.attrs)
                shift = 0
                for p in node.parents:
                    shift = shift + np.abs(np.asarray(moved[p]) - np.asarray(base[p]))
                if np.any(np.asarray(d0) <= shift):
                    return True
        return False


def estimate(E: LossFunction, direction: dict, method: str, h: float | None = None) -> float:
    r"""Return the finite-difference estimate of the directional derivative D_u E(θ) by ``method``."""
    if h is None:
        h = default_step(method, E.dtype)
    if method == "central":
        return float((E.along(direction, h) - E.along(direction, -h)) / (2 * h))
    if method == "complex":
        return float(np.imag(E.along(direction, 1j * h)) / h)
    if method == "richardson":
        d1 = (E.along(direction, h) - E.along(direction, -h)) / (2 * h)
        d2 = (E.along(direction, h / 2) - E.along(direction, -h / 2)) / h
        return float((4 * d2 - d1) / 3)
    raise ValueError(f"unknown finite-difference method {method!r}; choose one of {METHODS}")


def one_sided(E: LossFunction, direction: dict, h: float = 1e-7) -> tuple:
    """Return the backward and forward difference quotients (the two slopes at a kink)."""
    e0 = E.along(direction, 0.0)
    return float((e0 - E.along(direction, -h)) / h), float((E.along(direction, h) - e0) / h)


def step_sweep(E: LossFunction, direction: dict, reference: float, steps=None, method: str = "central") -> list:
    r"""Return [(h, estimate, relative error against ``reference``)] for a range of steps: the V-shaped
    curve of truncation error (large h) against rounding error (small h)."""
    if steps is None:
        steps = [10.0 ** -k for k in range(1, 11)]
    rows = []
    for h in steps:
        est = estimate(E, direction, method, h)
        err = abs(est - reference) / max(abs(est) + abs(reference), 1e-300)
        rows.append((h, est, err))
    return rows


def unit(shapes: dict, name: str, index) -> dict:
    """Return the direction e_i: 1 at ``index`` of parameter ``name``, 0 elsewhere."""
    u = np.zeros(shapes[name])
    u[index] = 1.0
    return {name: u}
