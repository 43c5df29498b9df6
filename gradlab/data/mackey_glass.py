r"""The Mackey–Glass series: a delay differential equation whose solution is chaotic for τ = 17, the
standard benchmark of echo-state networks (Jaeger 2001) and of time-delay networks.

.. math::
    \frac{dx}{dt} = a\,\frac{x(t-\tau)}{1 + x(t-\tau)^{n}} - b\,x(t),
    \qquad a = 0.2,\; b = 0.1,\; n = 10,\; \tau = 17 .

**Integration scheme.** Classical fourth-order Runge–Kutta with a fixed step ``dt`` (default 0.1) on a
grid that contains the history: the delayed value at the start and end of a step, x(t − τ) and
x(t − τ + dt), are grid values (τ / dt must be a whole number), and the one at the half step,
x(t − τ + dt/2), is the cubic through the four nearest grid values,
(−x_{j−1} + 9 x_j + 9 x_{j+1} − x_{j+2}) / 16 (fourth order where the solution is smooth). The
history on [−τ, 0] is the constant ``x0`` (1.2), or ``x0`` plus uniform noise in ±0.1 when an ``rng`` is
given. The solution's derivative jumps at t = 0 (and higher derivatives at τ, 2τ, …), which brings the
measured global order down to 2: over t = 60 … 80 the largest deviation from a run with dt = 0.00625 is
2.5e-5 at dt = 0.1 and 6.2e-6 at dt = 0.05.
The returned series is the solution sampled every ``sample_every`` time units (default 1), after
``discard`` time units of transient have been dropped.

This differs from reservoirpy's ``mackey_glass`` (RK4 with step h = 1 that holds the delayed value
fixed within a step, random history), so the two series, and errors measured on them, are close in
character but not identical.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["mackey_glass", "one_step_pairs"]


def _whole(who: str, what: str, ratio: float) -> int:
    k = round(ratio)
    if k < 1 or abs(ratio - k) > 1e-9 * max(1.0, ratio):
        raise ValueError(f"{who}: {what} must be a whole positive multiple of dt, got a ratio of {ratio!r}")
    return int(k)


def mackey_glass(n_samples: int, *, tau: float = 17.0, a: float = 0.2, b: float = 0.1, n: float = 10.0,
                 x0: float = 1.2, dt: float = 0.1, sample_every: float = 1.0, discard: float = 0.0,
                 rng=None) -> np.ndarray:
    r"""Return ``n_samples`` values of the Mackey–Glass series (float64, shape ``(n_samples,)``).

    ``tau``, ``a``, ``b``, ``n``: the equation's constants; ``dt``: the Runge–Kutta step (τ and
    ``sample_every`` must be whole multiples of it, τ at least 2 steps); ``sample_every``: time units
    between returned samples; ``discard``: time units integrated and dropped first (the transient);
    ``rng``: None for the constant history ``x0``, or a seed / ``numpy.random.Generator`` for ``x0``
    plus uniform noise in ±0.1 (another trajectory of the same attractor). See the module docstring
    for the scheme.

    >>> x = mackey_glass(300)
    >>> x.shape, bool(0.2 < x.min() < x.max() < 1.5)
    ((300,), True)
    """
    who = "mackey_glass"
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"{who}: n_samples must be a positive int, got {n_samples!r}")
    for what, v in (("tau", tau), ("a", a), ("b", b), ("n", n), ("x0", x0), ("dt", dt),
                    ("sample_every", sample_every), ("discard", discard)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise TypeError(f"{who}: {what} must be a finite number, got {v!r}")
    if dt <= 0:
        raise ValueError(f"{who}: the step dt must be > 0, got {dt!r}")
    if tau <= 0:
        raise ValueError(f"{who}: the delay tau must be > 0, got {tau!r}")
    if discard < 0:
        raise ValueError(f"{who}: discard must be >= 0 time units, got {discard!r}")
    m = _whole(who, "tau", tau / dt)
    if m < 2:
        raise ValueError(f"{who}: tau must span at least 2 steps of dt (the half-step interpolation needs 4 "
                         f"grid values), got tau={tau!r}, dt={dt!r}")
    every = _whole(who, "sample_every", sample_every / dt)
    skip = _whole(who, "discard", discard / dt) if discard > 0 else 0
    steps = skip + every * (int(n_samples) - 1)
    x = np.empty(m + 1 + steps)
    if rng is None:
        x[: m + 1] = x0
    else:
        from ..nn.module import make_rng

        x[: m + 1] = x0 + make_rng(rng).uniform(-0.1, 0.1, m + 1)
    a, b, n, h = float(a), float(b), float(n), float(dt)

    def f(xt, xd):
        return a * xd / (1.0 + xd ** n) - b * xt

    # x[i] is x at time (i - m) dt; the history fills i = 0 .. m (t = -tau .. 0)
    for i in range(m, m + steps):
        j = i - m                                   # grid index of t - tau
        lo = x[j - 1] if j >= 1 else x[j]           # the history is constant before -tau
        d0, d1 = x[j], x[j + 1]
        dh = (-lo + 9.0 * d0 + 9.0 * d1 - x[j + 2]) / 16.0
        xi = x[i]
        k1 = f(xi, d0)
        k2 = f(xi + 0.5 * h * k1, dh)
        k3 = f(xi + 0.5 * h * k2, dh)
        k4 = f(xi + h * k3, d1)
        x[i + 1] = xi + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
    return x[m + skip:: every][:n_samples].copy()


def one_step_pairs(series, horizon: int = 1):
    r"""Return ``(inputs, targets)`` for predicting ``horizon`` steps ahead: ``inputs[t] = series[t]``,
    ``targets[t] = series[t + horizon]``, each shaped ``(T - horizon, 1)``."""
    s = np.asarray(series, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"one_step_pairs: the series must be one-dimensional, got shape {s.shape}")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"one_step_pairs: horizon must be a positive int, got {horizon!r}")
    if len(s) <= horizon:
        raise ValueError(f"one_step_pairs: the series has {len(s)} values, too few for a horizon of {horizon}")
    return s[:-horizon, None].copy(), s[horizon:, None].copy()
