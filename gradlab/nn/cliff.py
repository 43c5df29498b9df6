r"""Exploding gradients made visible: the one-unit "cliff" of Pascanu, Mikolov & Bengio (2013, Fig. 6) and
the per-step gradient norms of an exploding Elman network, with and without gradient clipping.

**The cliff.** One recurrent unit with no input, a sigmoid and two parameters,

.. math::
    x_t = w\,\sigma(x_{t-1}) + b, \qquad x_0 = 0.5, \qquad E = \big(\sigma(x_{50}) - 0.7\big)^2 ,

has an error surface E(w, b) with wide plateaus and, where the map x ↦ wσ(x) + b changes from one
attracting fixed point to two (w > 4), a wall: crossing it moves x₅₀ from one fixed point to the other,
so E jumps and its gradient is huge on the wall. A gradient-descent step taken there throws the
parameters far away; clipping the step's norm (Pascanu et al., Algorithm 1:
ĝ ← (threshold/‖ĝ‖) ĝ when ‖ĝ‖ ≥ threshold) keeps the direction and bounds the jump.

:func:`cliff_error` computes E on a whole (w, b) grid with NumPy (vectorised: a figure's 40 000 points in
milliseconds); :func:`cliff_loss` records the same network on gradlab's engine, and :func:`descend` takes
gradient-descent steps with the engine's gradients, clipped or not.

**Gradient norms by step.** :func:`gradient_profile` unrolls an Elman network whose recurrent matrix W_s
has spectral radius above 1 and returns ‖∂E/∂s_t‖ for every t (E the last step's loss): the norms grow
going back in time. Norm clipping multiplies the whole gradient by min(1, c/‖g‖) — it is the gradient of
the same loss scaled by that factor — so every ∂E/∂s_t is scaled alike: the profile keeps its shape (the
direction is kept) and the step that is taken is bounded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ops
from ..tensor import Parameter, Tensor
from .analysis import hidden_gradient_norms
from .cells import ElmanCell
from .clip import grad_norm
from .losses import mse_half
from .unroll import unroll

__all__ = ["cliff_error", "cliff_loss", "cliff_gradient", "Trajectory", "descend", "GradientProfile",
           "gradient_profile"]


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))      # = 1/(1+e^{-x}), without overflow for large |x|


def _check(steps: int, who: str) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{who}: steps must be a positive int (the number of recurrent steps), got {steps!r}")
    return int(steps)


def cliff_error(w, b, *, steps: int = 50, x0: float = 0.5, target: float = 0.7) -> np.ndarray:
    r"""Return E(w, b) = (σ(x_steps) − target)² of the one-unit network, element-wise over the broadcast
    arrays ``w`` and ``b`` (a whole grid at once)."""
    steps = _check(steps, "cliff_error")
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    x = np.full(np.broadcast_shapes(w.shape, b.shape), float(x0))
    for _ in range(steps):
        x = w * _sigmoid(x) + b
    return (_sigmoid(x) - target) ** 2


def cliff_loss(w: Tensor, b: Tensor, *, steps: int = 50, x0: float = 0.5, target: float = 0.7) -> Tensor:
    r"""Record the one-unit network on gradlab's engine: return E = (σ(x_steps) − target)² as a Tensor, with
    x_t = w σ(x_{t−1}) + b recorded step by step (``w`` and ``b`` scalar Tensors, usually Parameters)."""
    steps = _check(steps, "cliff_loss")
    for name, p in (("w", w), ("b", b)):
        if not isinstance(p, Tensor) or p.size != 1:
            raise TypeError(f"cliff_loss: {name} must be a one-element gradlab Tensor, got {p!r}")
    x = Tensor(np.array(float(x0)))
    for _ in range(steps):
        x = ops.add(ops.mul(w, ops.sigmoid(x)), b)
    d = ops.sub(ops.sigmoid(x), target)
    return ops.mul(d, d)


def cliff_gradient(w: float, b: float, **options) -> tuple:
    r"""Return ``(E, ∂E/∂w, ∂E/∂b)`` at (w, b), by reverse mode on the recorded one-unit network."""
    W = Parameter(np.array(float(w)), name="w")
    B = Parameter(np.array(float(b)), name="b")
    E = cliff_loss(W, B, **options)
    E.backward()
    return float(E.item()), float(W.grad), float(B.grad)


@dataclass
class Trajectory:
    r"""A gradient-descent path on the cliff: ``points`` ``(n+1, 2)`` the (w, b) after each step (the start
    first), ``errors`` the E at each point, ``grad_norms`` ‖∇E‖ where each step was taken (before clipping),
    ``clip`` the threshold (None: no clipping), ``clipped`` how many steps clipping shortened."""

    points: np.ndarray
    errors: np.ndarray
    grad_norms: np.ndarray
    lr: float
    clip: float | None
    clipped: int

    @property
    def longest_step(self) -> float:
        """The length of the longest step in the (w, b) plane."""
        return float(np.max(np.linalg.norm(np.diff(self.points, axis=0), axis=1)))


def descend(start, *, lr: float, steps: int, clip: float | None = None, **options) -> Trajectory:
    r"""Take ``steps`` gradient-descent steps θ ← θ − η ĝ on the cliff from ``start`` = (w, b), with the
    engine's gradient g and ĝ = g·min(1, clip/‖g‖) when ``clip`` is given (Pascanu et al., Algorithm 1);
    return the :class:`Trajectory`."""
    theta = np.asarray(start, dtype=np.float64).reshape(-1)
    if theta.shape != (2,) or not np.all(np.isfinite(theta)):
        raise ValueError(f"descend: start must be a finite pair (w, b), got {start!r}")
    if not lr > 0:
        raise ValueError(f"descend: lr must be > 0, got {lr!r}")
    if clip is not None and not clip > 0:
        raise ValueError(f"descend: clip must be > 0 or None, got {clip!r}")
    steps = _check(steps, "descend")
    points, errors, norms, clipped = [theta.copy()], [], [], 0
    for _ in range(steps):
        E, gw, gb = cliff_gradient(theta[0], theta[1], **options)
        g = np.array([gw, gb])
        n = float(np.linalg.norm(g))
        errors.append(E)
        norms.append(n)
        if clip is not None and n > clip:
            g = g * (clip / n)
            clipped += 1
        theta = theta - lr * g
        points.append(theta.copy())
    errors.append(float(cliff_error(theta[0], theta[1], **options)))
    return Trajectory(np.array(points), np.array(errors), np.array(norms), float(lr), clip, clipped)


# ------------------------------------------------------------------------------------ gradient norms by step
@dataclass
class GradientProfile:
    r"""‖∂E/∂s_t‖ for t = 1 … T of one Elman network and sequence (``norms``), the global parameter-gradient
    norm ‖g‖ (``grad_norm``), the clipping threshold and the factor min(1, c/‖g‖) clipping applies
    (``scale``): ``clipped`` are the norms of the clipped gradient, ``norms · scale``."""

    times: np.ndarray
    norms: np.ndarray
    grad_norm: float
    threshold: float
    scale: float
    spectral_radius: float

    @property
    def clipped(self) -> np.ndarray:
        """‖∂E/∂s_t‖ after clipping: every step's norm times the same factor."""
        return self.norms * self.scale

    @property
    def growth(self) -> float:
        """How many times larger ‖∂E/∂s_1‖ is than ‖∂E/∂s_T‖."""
        return float(self.norms[0] / self.norms[-1])


def gradient_profile(*, T: int = 30, hidden: int = 16, spectral_radius: float = 3.0, threshold: float = 1.0,
                     seed: int = 0) -> GradientProfile:
    r"""Return the :class:`GradientProfile` of an exploding Elman network: tanh, ``hidden`` units, inputs of
    size 2 and one output, W_s rescaled to ``spectral_radius``, one seeded sequence of T standard-normal
    inputs, E = ½(y_T − d)² on the last step only, and clipping at ``threshold``."""
    T = _check(T, "gradient_profile")
    if not threshold > 0 or not spectral_radius > 0:
        raise ValueError(f"gradient_profile: threshold and spectral_radius must be > 0, got {threshold!r}, "
                         f"{spectral_radius!r}")
    rng = np.random.default_rng(seed)
    cell = ElmanCell(2, hidden, 1, rng=rng)
    W = cell.W_s.data
    cell.W_s.data = W * (spectral_radius / float(np.max(np.abs(np.linalg.eigvals(W)))))
    xs = rng.normal(size=(T, 2))
    run = unroll(cell, xs)
    E = mse_half(run.outputs[-1], rng.normal(size=(1,)))
    norms = hidden_gradient_norms(E, run)
    E.backward()
    g = grad_norm(cell.parameters())
    times = np.array(sorted(norms))
    return GradientProfile(times, np.array([norms[t] for t in times]), g, float(threshold),
                           min(1.0, threshold / g) if g > 0 else 1.0, float(spectral_radius))
