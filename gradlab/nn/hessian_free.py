r"""Hessian-free optimisation (Martens 2010; Martens & Sutskever 2011), with structural damping for RNNs.

A Hessian-free ("truncated Newton") step minimises a local quadratic model of the loss instead of following
the gradient. At the parameters θ, with gradient g = ∇E(θ) and the Gauss–Newton matrix G
(:mod:`gradlab.curvature`; positive semi-definite), the damped model of a change δ is

.. math::
    M(δ) = E(θ) + g^\top δ + \tfrac12 δ^\top G δ
           \;+\; \tfrac{λ}{2} \lVert δ \rVert^2
           \;+\; λ μ \, S(δ) ,
    \qquad
    S(δ) = \tfrac{c}{2} \sum_{t} \lVert J_{s_t} δ \rVert^2 ,

and its minimiser solves the linear system

.. math::  (G + λ I + λ μ c\, J_s^\top J_s)\, δ = -g ,

solved approximately by conjugate gradient (CG), which needs only products of the matrix with vectors:
G v = Jᵀ H_L J v and J_sᵀ J_s v each cost one forward-mode pass (J v, J_s v together) and one reverse pass.
Nothing of size n × n is ever formed: hence "Hessian-free".

Every ingredient is a named option of :class:`HessianFree`:

* **CG on G + λI with a relative-progress stopping rule** (``cg_tol``, ``cg_max_iter``; Martens 2010 §4.4):
  with φ(x) = ½ xᵀA x + gᵀx the model's value at iterate x_i, CG stops at iteration i when
  i > k, φ(x_i) < 0 and (φ(x_i) − φ(x_{i−k})) / φ(x_i) < k ε, k = max(10, ⌈0.1 i⌉): when the last k
  iterations together improved the model by less than a fraction kε. It also stops when the residual
  vanishes (an exact solution: for a matrix with n distinct eigenvalues, after at most n iterations).
* **Warm start** (``cg_decay`` ζ, 0.95): CG starts from ζ times the previous step's final CG iterate, since
  successive systems are alike.
* **Levenberg–Marquardt adjustment of λ** (``damping``, ``lm_bounds`` (1/4, 3/4), ``lm_factors`` (3/2, 2/3)):
  from the reduction ratio

  .. math::  ρ = \frac{E(θ + δ) − E(θ)}{q(δ)}, \qquad q(δ) = g^\top δ + \tfrac12 δ^\top G δ

  (the *undamped* model, which the damping is there to keep trustworthy): λ ← 3/2 λ when ρ < 1/4 (the model
  promised more than E gave: trust it less), λ ← 2/3 λ when ρ > 3/4.
* **Backtracking over stored CG iterates** (``backtracking``, γ = 1.3): CG keeps x_i at i = ⌈γ^j⌉ and at its
  last iteration; the step is the one among them, searched from the last back, after which E stops
  decreasing (later iterates fit the curvature batch ever better, earlier ones generalise better).
  A step that still increases E is shortened (``line_search``: δ ← 0.8 δ while E does not decrease by
  at least 1 % of what gᵀδ promises, at most 20 times) or, failing that, not taken.
* **Structural damping** (``structural_damping`` μ): the penalty λ μ S(δ) above, S(δ) the squared change of
  the hidden states s_t that δ makes to first order (J_{s_t} δ), summed over steps (and sequences) and
  scaled like the loss (c = the recorded loss's ``scale``, e.g. 1/B; 1 when it has none). Its Gauss–Newton
  term is λ μ c J_sᵀ J_s: it keeps a step from changing the hidden dynamics much, where a small change of
  W_s can change the states a lot (Martens & Sutskever 2011). Their distance between states is the loss
  matching the units' nonlinearity; this one is the squared distance ½‖·‖².
* **Gradient on large batches, curvature on smaller ones**: the gradient and E come from the objective's
  minibatch, the products from ``objective.curvature()`` (a subset; e.g. ``Method.curvature_batch`` in
  :mod:`gradlab.nn.experiments`).

The objective (``step(objective)``) provides ``params`` (Parameters), ``gradient()`` → (E, [∂E/∂θ]),
``loss(values=None)`` → E at the current or given parameter arrays, and ``curvature()`` → an objective whose
``record()`` returns the recorded loss: ``.loss`` (scalar Tensor), ``.outputs`` (the z of E = L(z), a Tensor
or a list), optionally ``.loss_name`` and ``.scale`` (the formula of H_L, :data:`gradlab.curvature.LOSS_HESSIANS`;
else H_L comes from the graph), and the hidden states ``.hiddens`` or ``.unrolled.hiddens`` (structural damping).
:class:`FunctionObjective` makes one from a function that records the loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..curvature import GaussNewton
from ..engine.context import no_grad
from ..engine.tensor import Parameter, Tensor

__all__ = ["HessianFree", "HFReport", "CGResult", "conjugate_gradient", "FunctionObjective", "ParameterObjective", "Recorded"]


# ------------------------------------------------------------------------------------------------ CG
@dataclass
class CGResult:
    r"""What :func:`conjugate_gradient` did: ``x`` the last iterate, ``iterations``, ``stored`` the backtracking
    candidates [(iteration, x_i)] (the last one included), ``values`` φ(x_i) for i = 0 … iterations, and why it
    stopped (``"progress"``, ``"residual"``, ``"max_iter"`` or ``"curvature"`` for pᵀAp ≤ 0)."""

    x: np.ndarray
    iterations: int
    stored: list
    values: list
    stop: str


def conjugate_gradient(A: Callable, b: np.ndarray, x0: np.ndarray | None = None, *, max_iter: int = 250,
                       tol: float = 5e-4, min_iter: int = 1, gamma: float = 1.3, residual_tol: float = 1e-10) -> CGResult:
    r"""Minimise φ(x) = ½ xᵀA x − bᵀx (i.e. solve A x = b for a symmetric positive definite A, given as the
    product ``A(v)``) by conjugate gradient from ``x0``, with Martens' relative-progress rule (``tol`` = ε) and
    a stop at ‖r‖ ≤ ``residual_tol`` ‖b‖. Keeps x_i at i = ⌈γ^j⌉ for backtracking."""
    b = np.asarray(b, dtype=float)
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=float)
    r = b - A(x) if np.any(x) else b.copy()
    p = r.copy()
    rr = float(r @ r)
    values = [-0.5 * float(x @ (r + b))]                 # φ(x) = ½xᵀAx − bᵀx = −½ xᵀ(r + b), as A x = b − r
    stored, next_store, j = [], 1, 0
    stop, i = "max_iter", 0
    bnorm = max(float(np.linalg.norm(b)), 1e-300)
    for i in range(1, max_iter + 1):
        if math.sqrt(rr) <= residual_tol * bnorm:
            i -= 1
            stop = "residual"
            break
        Ap = A(p)
        pAp = float(p @ Ap)
        if pAp <= 0:
            i -= 1
            stop = "curvature"
            break
        alpha = rr / pAp
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = float(r @ r)
        values.append(-0.5 * float(x @ (r + b)))
        if i >= next_store:
            stored.append((i, x.copy()))
            while next_store <= i:
                j += 1
                next_store = math.ceil(gamma ** j)
        k = max(10, math.ceil(0.1 * i))
        if i > k and i >= min_iter and values[i] < 0 and (values[i] - values[i - k]) / values[i] < k * tol:
            stop = "progress"
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    if not stored or stored[-1][0] != i:
        stored.append((i, x.copy()))
    return CGResult(x, i, stored, values, stop)


# -------------------------------------------------------------------------------------------- objective
@dataclass
class Recorded:
    r"""A recorded loss for curvature products: ``loss`` E, the ``outputs`` z of E = L(z), optionally the
    ``hiddens`` s_t (structural damping), ``loss_name`` and ``scale`` (E = scale · loss_name(z))."""

    loss: Tensor
    outputs: object
    hiddens: list = field(default_factory=list)
    loss_name: str | None = None
    scale: float = 1.0


class ParameterObjective:
    r"""What every objective of :class:`HessianFree` shares: ``params`` and a ``record()`` of the loss at their
    current values give :meth:`loss` (also at other values, restored afterwards) and :meth:`gradient`."""

    params: list

    def record(self) -> Recorded:   # pragma: no cover - supplied by the subclasses
        raise NotImplementedError

    def loss(self, values=None) -> float:
        """Return E at the current parameters, or with ``values`` (one array per parameter, in
        :attr:`params` order) put in their place for this evaluation only."""
        who = type(self).__name__
        saved = [p.data for p in self.params]
        if values is not None:
            values = list(values)
            if len(values) != len(self.params):
                raise ValueError(f"{who}.loss: {len(values)} arrays for {len(self.params)} parameters")
        try:
            for p, v in zip(self.params, values or ()):
                v = np.asarray(v, dtype=p.data.dtype)
                if v.shape != p.data.shape:
                    raise ValueError(f"{who}.loss: the value for {p.name!r} has shape {v.shape}, the parameter "
                                     f"{p.data.shape}")
                p.data = v
            with no_grad():
                return float(self.record().loss.item())
        finally:
            for p, v in zip(self.params, saved):
                p.data = v

    def gradient(self) -> tuple:
        """Return ``(E, [∂E/∂θ per parameter])`` at the current parameters (copies; ``.grad`` is left as it
        was)."""
        saved = [p.grad for p in self.params]
        try:
            for p in self.params:
                p.grad = None
            rec = self.record()
            rec.loss.backward()
            return float(rec.loss.item()), [np.zeros_like(p.data) if p.grad is None else np.array(p.grad, copy=True)
                                            for p in self.params]
        finally:
            for p, g in zip(self.params, saved):
                p.grad = g


class FunctionObjective(ParameterObjective):
    r"""The objective of :class:`HessianFree` from a function: ``record()`` records the loss at the current
    parameters and returns a :class:`Recorded` (or a tuple ``(loss, outputs[, hiddens])``); ``curvature_record``
    (default: ``record``) does so on the smaller batch used for curvature products."""

    def __init__(self, params, record: Callable, curvature_record: Callable | None = None):
        self.params = list(params.parameters() if hasattr(params, "parameters") else params)
        self._record = record
        self._curvature = curvature_record

    def record(self) -> Recorded:
        """Record the loss at the current parameters."""
        got = self._record()
        return got if not isinstance(got, tuple) else Recorded(*got)

    def curvature(self) -> "FunctionObjective":
        """The objective on the curvature batch."""
        return self if self._curvature is None else FunctionObjective(self.params, self._curvature)


# ------------------------------------------------------------------------------------------------- HF
@dataclass
class HFReport:
    r"""One Hessian-free step: ``loss`` E before it and ``new_loss`` after; ``damping`` the λ it used and
    ``next_damping`` the λ for the next step; ``rho`` the reduction ratio; ``cg_iterations`` and ``cg_stop``;
    ``iterate`` the CG iteration of the step taken (backtracking); ``step_scale`` the line search's factor;
    ``accepted`` whether the parameters changed; ``step_norm`` ‖δ‖."""

    loss: float
    new_loss: float
    damping: float
    next_damping: float
    rho: float
    cg_iterations: int
    cg_stop: str
    iterate: int
    step_scale: float = 1.0
    accepted: bool = True
    step_norm: float = 0.0

    def summary(self) -> str:
        """The step in one line for a progress bar: λ, CG iterations, ρ."""
        return f"λ {self.damping:.3g}, CG {self.cg_iterations}, ρ {self.rho:.2f}" + ("" if self.accepted else ", rejected")


def _hiddens(rec) -> list:
    hs = getattr(rec, "hiddens", None)
    if hs is None and getattr(rec, "unrolled", None) is not None:
        hs = rec.unrolled.hiddens
    return list(hs or [])


class HessianFree:
    r"""The Hessian-free optimiser (see the module docstring for the maths and each option's source).

    ``params``: the Parameters (or a Module); ``damping``: the initial λ; ``structural_damping``: μ (0 turns
    it off); ``cg_max_iter``, ``cg_tol`` (ε of the progress rule), ``cg_decay`` (ζ of the warm start; 0: start
    from zero); ``lm_bounds`` and ``lm_factors``: the Levenberg–Marquardt rule (None: λ stays fixed);
    ``backtracking``: search the stored CG iterates; ``line_search``: shorten a step that increases E;
    ``min_damping``, ``max_damping``: bounds on λ.
    """

    needs_objective = True

    def __init__(self, params, *, damping: float = 1.0, structural_damping: float = 0.0, cg_max_iter: int = 250,
                 cg_tol: float = 5e-4, cg_decay: float = 0.95, lm_bounds: tuple | None = (0.25, 0.75),
                 lm_factors: tuple = (1.5, 2.0 / 3.0), backtracking: bool = True, line_search: bool = True,
                 min_damping: float = 1e-8, max_damping: float = 1e8):
        self.params = list(params.parameters() if hasattr(params, "parameters") else params)
        if not self.params or not all(isinstance(p, Parameter) for p in self.params):
            raise TypeError("HessianFree: give a non-empty list of gradlab Parameters (or a Module)")
        for what, value in (("damping", damping), ("structural_damping", structural_damping), ("cg_tol", cg_tol)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"HessianFree: {what} must be a number >= 0, got {value!r}")
        if not 0 <= cg_decay < 1:
            raise ValueError(f"HessianFree: cg_decay must lie in [0, 1), got {cg_decay!r}")
        if lm_bounds is not None and not 0 < lm_bounds[0] < lm_bounds[1]:
            raise ValueError(f"HessianFree: lm_bounds must be (low, high) with 0 < low < high, got {lm_bounds!r}")
        self.damping, self.structural_damping = float(damping), float(structural_damping)
        self.cg_max_iter, self.cg_tol, self.cg_decay = int(cg_max_iter), float(cg_tol), float(cg_decay)
        self.lm_bounds, self.lm_factors = lm_bounds, tuple(lm_factors)
        self.backtracking, self.line_search = bool(backtracking), bool(line_search)
        self.min_damping, self.max_damping = float(min_damping), float(max_damping)
        self.previous = None          # the last CG solution, for the warm start
        self.steps = 0

    def __repr__(self) -> str:
        return (f"HessianFree(λ={self.damping:.3g}, μ={self.structural_damping:g}, {len(self.params)} parameters, "
                f"{self.steps} steps)")

    # ---------------------------------------------------------------------------- products
    def _flat(self, arrays) -> np.ndarray:
        return np.concatenate([np.ravel(a) for a in arrays])

    def _split(self, x) -> list:
        out, k = [], 0
        for p in self.params:
            out.append(x[k:k + p.data.size].reshape(p.shape))
            k += p.data.size
        return out

    def curvature_product(self, rec, damping: float | None = None, structural: bool = True) -> Callable:
        r"""Return v ↦ (G + λ I + λ μ c J_sᵀ J_s) v on flat vectors for the recorded loss ``rec`` (λ = ``damping``,
        0 for the plain G v; ``structural=False`` leaves out the structural term)."""
        lam = self.damping if damping is None else damping
        outs = rec.outputs if isinstance(rec.outputs, (list, tuple)) else [rec.outputs]
        mu = self.structural_damping if structural and lam > 0 else 0.0
        hid = _hiddens(rec) if mu > 0 else []
        if mu > 0 and not hid:
            raise ValueError("HessianFree: structural damping needs the hidden states s_t: the recorded loss must "
                             "have .hiddens (or .unrolled.hiddens)")
        name, scale = getattr(rec, "loss_name", None), float(getattr(rec, "scale", 1.0))
        G = GaussNewton(rec.loss, outs, self.params, hessian=name, scale=scale if name is not None else 1.0,
                        states=hid, state_weight=lam * mu * scale)

        def A(x):
            got = G(dict(zip(self.params, self._split(x))))     # Jᵀ H_L J x + λμc J_sᵀ J_s x
            return self._flat([got[p] for p in self.params]) + lam * x
        return A

    # ---------------------------------------------------------------------------------- step
    def step(self, objective) -> HFReport:
        r"""Take one Hessian-free step on ``objective``; change the parameters' ``.data``; return the :class:`HFReport`."""
        E0, grads = objective.gradient()
        order = list(objective.params)             # the objective's parameter order (gradient, loss(values))
        unknown = [p for p in self.params if p not in set(order)]
        if unknown:
            raise ValueError(f"HessianFree: {unknown[0]!r} is not among the objective's parameters")
        by_param = dict(zip(order, grads))
        g = self._flat([by_param[p] for p in self.params])
        theta = [p.data for p in self.params]
        rec = objective.curvature().record()
        lam = self.damping
        A = self.curvature_product(rec, lam)
        x0 = None
        if self.cg_decay > 0 and self.previous is not None and self.previous.shape == g.shape:
            x0 = self.cg_decay * self.previous
        cg = conjugate_gradient(A, -g, x0, max_iter=self.cg_max_iter, tol=self.cg_tol)
        self.previous = cg.x

        def loss_at(delta, scale=1.0):
            moved = {p: t + scale * d for p, t, d in zip(self.params, theta, self._split(delta))}
            return objective.loss([moved.get(p, p.data) for p in order])

        # backtracking: from the last stored iterate back, while E keeps decreasing
        candidates = cg.stored if self.backtracking else cg.stored[-1:]
        it, delta = candidates[-1]
        best = loss_at(delta)
        for i, x in reversed(candidates[:-1]):
            E = loss_at(x)
            if not E < best:
                break
            it, delta, best = i, x, E
        scale, E_new = 1.0, best
        if not best < E0 and self.line_search:
            slope = float(g @ delta)
            trial = 1.0
            for _ in range(20):
                trial *= 0.8
                E = loss_at(delta, trial)
                if E < E0 and E <= E0 + 0.01 * trial * slope:
                    scale, E_new = trial, E
                    break
        accepted = E_new < E0 and math.isfinite(E_new)
        step = scale * delta
        # ρ against the undamped model q(δ) = gᵀδ + ½ δᵀGδ (G on the curvature batch)
        G = self.curvature_product(rec, 0.0, structural=False)
        q = float(g @ step) + 0.5 * float(step @ G(step))
        rho = (E_new - E0) / q if q < 0 and math.isfinite(E_new) else -math.inf
        if self.lm_bounds is not None:
            if rho < self.lm_bounds[0]:
                self.damping *= self.lm_factors[0]
            elif rho > self.lm_bounds[1]:
                self.damping *= self.lm_factors[1]
            self.damping = min(max(self.damping, self.min_damping), self.max_damping)
        if accepted:
            for p, t, d in zip(self.params, theta, self._split(step)):
                p.data = t + d
        self.steps += 1
        return HFReport(E0, E_new if accepted else E0, lam, self.damping, rho, cg.iterations, cg.stop, it, scale,
                        accepted, float(np.linalg.norm(step)) if accepted else 0.0)
