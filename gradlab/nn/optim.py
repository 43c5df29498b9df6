r"""Optimisers: update rules that read ``p.grad`` and change ``p.data`` of a list of Parameters.

Each rule is written once in its class docstring in the notation used below: θ a parameter, g its
gradient ∂E/∂θ (as left in ``θ.grad`` by ``backward``), η the learning rate, and t the number of
``step()`` calls so far (1 at the first step). All products, squares and square roots are element-wise.

An optimiser never calls ``backward`` and never clears gradients by itself: the loop is

    opt.zero_grad(); loss.backward(); opt.step()

so gradients from several losses (e.g. the windows of truncated BPTT) can be accumulated first. A
Parameter whose ``grad`` is None (not reached by the loss) is left unchanged, and its state is not
advanced.
"""
from __future__ import annotations

import math

from ..engine.backend import get_xp
from ..engine.tensor import Parameter

__all__ = ["Optimizer", "SGD", "Momentum", "Adagrad", "Adam"]


def _positive(who: str, what: str, value, *, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{who}: {what} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{who}: {what} must be {'>= 0' if zero_ok else '> 0'}, got {value!r}")
    return float(value)


def _fraction(who: str, what: str, value) -> float:
    value = _positive(who, what, value, zero_ok=True)
    if value >= 1:
        raise ValueError(f"{who}: {what} must lie in [0, 1), got {value!r}")
    return value


class Optimizer:
    """Base class: keeps the parameter list, per-parameter state and the step count ``t``.

    Subclasses implement :meth:`update`, the rule for one parameter.
    """

    def __init__(self, params, lr: float):
        name = type(self).__name__
        if hasattr(params, "parameters") and callable(params.parameters):
            params = params.parameters()          # a Module: take its (deduplicated) parameters
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        seen, unique = set(), []
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{name}: item {i} of the parameter list is {type(p).__name__}, not a "
                                f"gradlab.Parameter")
            if id(p) not in seen:                  # a shared parameter is updated once per step
                seen.add(id(p))
                unique.append(p)
        self.params = unique
        self.lr = _positive(name, "lr", lr)
        self.t = 0
        self.state: dict = {id(p): {} for p in unique}

    def zero_grad(self) -> None:
        """Forget the accumulated gradient of every parameter (sets ``grad`` to None)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        self.t += 1
        for p in self.params:
            if p.grad is None:
                continue
            g = p.grad
            if tuple(g.shape) != tuple(p.shape):
                raise ValueError(f"{type(self).__name__}: gradient of {p.name!r} has shape {tuple(g.shape)}, "
                                 f"the parameter {tuple(p.shape)}")
            p.data = self.update(p, g, self.state[id(p)], get_xp(p.data))

    def update(self, p, g, state: dict, xp):
        """Return the new value of ``p.data`` given its gradient ``g`` and its state dict."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters, t={self.t})"


class SGD(Optimizer):
    r"""Plain gradient descent.

    .. math::  θ ← θ − η g
    """

    def update(self, p, g, state, xp):
        """Return θ − η g."""
        return p.data - self.lr * g


class Momentum(Optimizer):
    r"""Gradient descent with classical (heavy-ball) momentum μ, or Nesterov's accelerated gradient.

    Classical:

    .. math::  v ← μ v − η g, \qquad θ ← θ + v

    Nesterov (``nesterov=True``; the form of Sutskever et al. 2013 written for the current θ):

    .. math::  v ← μ v − η g, \qquad θ ← θ + μ v − η g

    v starts at zero, so the first step is θ − η g in the classical form.
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, nesterov: bool = False):
        super().__init__(params, lr)
        self.momentum = _fraction("Momentum", "momentum", momentum)
        self.nesterov = bool(nesterov)

    def update(self, p, g, state, xp):
        """Return θ + v (classical) or θ + μ v − η g (Nesterov) after v ← μ v − η g."""
        v = state.get("v")
        v = -self.lr * g if v is None else self.momentum * v - self.lr * g
        state["v"] = v
        if self.nesterov:
            return p.data + self.momentum * v - self.lr * g
        return p.data + v


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al. 2011): each element's step shrinks with its squared-gradient history.

    .. math::  G ← G + g^2, \qquad θ ← θ − η \, g / (\sqrt{G} + ε)

    G starts at ``initial_accumulator`` (0 by default).
    """

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-10, initial_accumulator: float = 0.0):
        super().__init__(params, lr)
        self.eps = _positive("Adagrad", "eps", eps, zero_ok=True)
        self.initial_accumulator = _positive("Adagrad", "initial_accumulator", initial_accumulator, zero_ok=True)

    def update(self, p, g, state, xp):
        """Return θ − η g / (√G + ε) after G ← G + g²."""
        G = state.get("G")
        if G is None:
            G = xp.full_like(p.data, self.initial_accumulator)
        G = G + g * g
        state["G"] = G
        return p.data - self.lr * g / (xp.sqrt(G) + self.eps)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015): momentum on g and a running scale from g², both bias-corrected.

    .. math::
        m ← β_1 m + (1 − β_1) g, \qquad v ← β_2 v + (1 − β_2) g^2,

        \hat m = m / (1 − β_1^{t}), \qquad \hat v = v / (1 − β_2^{t}), \qquad
        θ ← θ − η \, \hat m / (\sqrt{\hat v} + ε)

    m and v start at zero; t counts this parameter's updates.
    """

    def __init__(self, params, lr: float = 0.001, betas: tuple = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (β₁, β₂), got {betas!r}")
        self.betas = (_fraction("Adam", "betas[0]", betas[0]), _fraction("Adam", "betas[1]", betas[1]))
        self.eps = _positive("Adam", "eps", eps, zero_ok=True)

    def update(self, p, g, state, xp):
        """Return θ − η m̂ / (√v̂ + ε) after updating the moment estimates m and v."""
        b1, b2 = self.betas
        t = state.get("t", 0) + 1
        m = state.get("m")
        v = state.get("v")
        m = (1 - b1) * g if m is None else b1 * m + (1 - b1) * g
        v = (1 - b2) * g * g if v is None else b2 * v + (1 - b2) * g * g
        state.update(t=t, m=m, v=v)
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        return p.data - self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)
