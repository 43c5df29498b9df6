r"""Recording context: the scope new nodes are tagged with, the switches ``no_grad`` and anomaly mode,
and which implementation of the engine runs.

A node's *scope* says where in the model it was made: the layer path (``("cell", "W_s")``, printed
``cell.W_s``) and the time step ``t``. Model code sets it with ``with gradlab.scope("cell", t=3):``;
modules push their own name. The state lives in one :class:`contextvars.ContextVar` (per thread and
task); a state remembers the states ``scope`` enters from it, so entering a scope is a lookup.

A faster implementation of recording and reverse mode may plug in through :class:`Engine` and the
:data:`ENGINES` registry (``gradlab.fast`` does, and is then the default); ``with reference():`` runs
this package's own code.

>>> import gradlab
>>> with gradlab.scope("cell", t=2):
...     y = gradlab.tensor([1.0]) * 2
>>> str(y.scope)
'cell (t=2)'
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field, replace
from typing import Protocol

__all__ = ["Scope", "scope", "current", "STATE", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly",
           "Engine", "ENGINES", "use_engine", "reference", "engine_in_force"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a node was recorded: ``path`` is the layer path, ``t`` the time step (``None`` outside any)."""

    path: tuple = ()
    t: int | None = None

    @property
    def layer(self) -> str:
        """The layer path joined with dots, e.g. ``"cell.W_s"`` (``""`` at top level)."""
        return ".".join(self.path)

    def within(self, layer: str) -> bool:
        """Return True when this scope is ``layer`` or nested inside it (``"cell"`` contains ``"cell.W_s"``)."""
        parts = tuple(p for p in layer.split(".") if p)
        return self.path[: len(parts)] == parts

    def __str__(self) -> str:
        where = self.layer or "<top>"
        return where if self.t is None else f"{where} (t={self.t})"


class Engine(Protocol):
    """What recording and reverse mode may hand to a faster implementation (``gradlab.fast`` is one); it
    must give the values and gradients of this package's own code, to rounding. It may also make the op
    functions call its recording step directly (:func:`gradlab.engine.ops.install`)."""

    def apply(self, op, inputs: tuple, attrs: dict, state):
        """Record ``op(*inputs, **attrs)`` in ``state`` (:func:`current`) as ``tensor.apply`` does."""

    def reverse(self, order: list, seeds: dict, keep) -> dict:
        """Return what ``autodiff.reverse(order, seeds, keep=keep)`` returns, as arrays the caller may keep
        (sharing no memory with the seeds, the values or each other)."""


#: name -> implementation; filled at import by the packages that provide one, as OPS is filled by defop
ENGINES: dict[str, Engine] = {}
#: the implementation in force unless one is chosen: the fast path when it has registered itself
DEFAULT_ENGINE = "fast"


@dataclass(frozen=True, slots=True, eq=False)
class _State:
    scope: Scope = Scope()
    grad_enabled: bool = True
    anomaly: bool = False
    engine: str = DEFAULT_ENGINE
    # (names, t) -> the state scope(*names, t=t) enters from here: each is made once and reused, so that
    # entering the scope of a layer at a time step costs a lookup (a state's one mutable part)
    children: dict = field(default_factory=dict, repr=False)


#: the recording state in force (read ``STATE.get()`` where it runs per node; :func:`current` elsewhere)
STATE: contextvars.ContextVar[_State] = contextvars.ContextVar("gradlab_state", default=_State())


def current() -> _State:
    """Return the recording state in force (scope, whether gradients are recorded, anomaly mode, engine)."""
    return STATE.get()


class _Install:
    """Context manager installing a recording state for the duration of a ``with`` block."""

    __slots__ = ("state", "token")

    def __init__(self, state: _State):
        self.state = state

    def __enter__(self):
        self.token = STATE.set(self.state)

    def __exit__(self, *exc):
        STATE.reset(self.token)
        return False


def _with(**changes) -> _Install:
    return _Install(replace(STATE.get(), children={}, **changes))


def scope(*names: str, t: int | None = None) -> _Install:
    """Context manager: nodes recorded inside are tagged with the layer path extended by ``names``
    and, when given, the time step ``t`` (an inner ``t`` overrides an outer one). ``scope()`` and
    ``scope(None)`` change nothing."""
    s = STATE.get()
    child = s.children.get((names, t))
    if child is None:
        child = _child(s, names, t)
    return _Install(child)


def _child(s: _State, names: tuple, t) -> _State:
    """Check the arguments of ``scope(*names, t=t)`` entered from ``s``, and make and remember its state."""
    for n in names:
        if n is not None and (not isinstance(n, str) or not n or "." in n):
            raise ValueError(f"scope: a layer name must be a non-empty string without dots, got {n!r}")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int)):
        raise TypeError(f"scope: t must be an int time step, got {t!r}")
    if len(s.children) >= 4096:      # a bound for very long runs (one entry per layer and time step)
        s.children.clear()
    path = s.scope.path + tuple(n for n in names if n is not None)
    child = s.children[(names, t)] = _State(Scope(path, s.scope.t if t is None else t), s.grad_enabled,
                                           s.anomaly, s.engine)
    return child


def no_grad() -> _Install:
    """Context manager: ops inside compute values but record no graph (results are constants)."""
    return _with(grad_enabled=False)


def enable_grad() -> _Install:
    """Context manager: turn recording back on inside a ``no_grad`` block."""
    return _with(grad_enabled=True)


def is_grad_enabled() -> bool:
    """Return whether ops are being recorded for reverse mode."""
    return STATE.get().grad_enabled


def detect_anomaly(enabled: bool = True) -> _Install:
    """Context manager: raise ``FloatingPointError`` naming the op and scope as soon as a forward value
    or a gradient contains NaN or Inf (opt-in: it costs one finiteness check per op)."""
    return _with(anomaly=bool(enabled))


def use_engine(name: str) -> _Install:
    """Context manager: record and differentiate with the implementation ``name``: ``"reference"`` (this
    package's plain code) or a registered one (``"fast"``, when ``gradlab.fast`` has been imported)."""
    if name != "reference" and name not in ENGINES:
        raise ValueError(f"use_engine: unknown engine {name!r}; choose one of {['reference', *sorted(ENGINES)]}")
    return _with(engine=name)


def reference() -> _Install:
    """Context manager: the reference engine, the plain code a student reads (no buffer pool, no batched
    VJPs); the same values and gradients as the fast path, to rounding, at a few times the cost.

    >>> import gradlab
    >>> with gradlab.reference():
    ...     print(gradlab.engine_in_force())
    reference
    """
    return _with(engine="reference")


def engine_in_force() -> str:
    """Return the name of the implementation that records and differentiates here (``"reference"`` when
    none registered under the chosen name)."""
    name = STATE.get().engine
    return name if name in ENGINES else "reference"
