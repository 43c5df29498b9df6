r"""Gradient clipping, the standard cure for exploding gradients in BPTT (Pascanu et al. 2013).

Both functions change ``p.grad`` of the given Parameters in place (between ``backward`` and the
optimiser's ``step``) and return what they measured before clipping, so a training loop can log
how often and how hard clipping acted.
"""
from __future__ import annotations

import math

from ..engine.backend import get_xp
from ..engine.tensor import Parameter

__all__ = ["clip_grad_norm", "clip_grad_value", "grad_norm"]


def _with_grads(who: str, params) -> list:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Parameter):
        params = [params]
    out, seen = [], set()
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"{who}: item {i} is {type(p).__name__}, not a gradlab.Parameter")
        if p.grad is not None and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _limit(who: str, what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{who}: {what} must be a number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{who}: {what} must be > 0, got {value!r}")
    return float(value)


def grad_norm(params) -> float:
    r"""Return the global gradient norm ‖g‖ = √(Σ_p Σ_i g_{p,i}²) over the parameters that have a gradient."""
    total = 0.0
    for p in _with_grads("grad_norm", params):
        xp = get_xp(p.grad)
        total += float(xp.sum(xp.abs(p.grad) ** 2))
    return math.sqrt(total)


def clip_grad_norm(params, max_norm: float, *, error_if_nonfinite: bool = True) -> float:
    r"""Rescale all gradients together so that their global norm is at most ``max_norm``; return the
    global norm measured *before* clipping.

    .. math::  g ← g \cdot \min\left(1, \frac{\text{max\_norm}}{‖g‖}\right), \qquad
               ‖g‖ = \sqrt{\textstyle\sum_p \sum_i g_{p,i}^2}

    The direction of the joint gradient is kept; gradients with ‖g‖ ≤ max_norm are left untouched.
    A NaN or infinite norm cannot be rescaled: it raises ``FloatingPointError`` naming the parameter
    (pass ``error_if_nonfinite=False`` to return the norm and leave the gradients as they are).
    """
    max_norm = _limit("clip_grad_norm", "max_norm", max_norm)
    params = _with_grads("clip_grad_norm", params)
    norm = grad_norm(params)
    if not math.isfinite(norm):
        if error_if_nonfinite:
            bad = [p.name for p in params if not bool(get_xp(p.grad).all(get_xp(p.grad).isfinite(p.grad)))]
            raise FloatingPointError(f"clip_grad_norm: the gradient norm is {norm}; non-finite gradients in "
                                     f"{bad!r} (the gradient exploded before clipping could act: lower the "
                                     f"learning rate or clip earlier)")
        return norm
    if norm > max_norm:
        scale = max_norm / norm
        for p in params:
            p.grad = p.grad * scale
    return norm


def clip_grad_value(params, clip_value: float) -> float:
    r"""Clip every gradient element into [−clip_value, clip_value]; return the largest |g_i| before clipping.

    .. math::  g_i ← \max(−c, \min(c, g_i))

    Unlike :func:`clip_grad_norm` this changes the gradient's direction when it acts.
    """
    clip_value = _limit("clip_grad_value", "clip_value", clip_value)
    largest = 0.0
    for p in _with_grads("clip_grad_value", params):
        xp = get_xp(p.grad)
        if p.grad.size:
            m = float(xp.max(xp.abs(p.grad)))
            largest = m if (m > largest or math.isnan(m)) and not math.isnan(largest) else largest
        p.grad = xp.clip(p.grad, -clip_value, clip_value)
    return largest
