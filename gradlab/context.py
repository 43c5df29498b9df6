"""Recording context: the scope new nodes are tagged with, and the switches ``no_grad`` and anomaly mode.

A node's *scope* says where in the model it was made: the layer path (``("cell", "W_s")``, printed
``cell.W_s``) and the time step ``t``. Model code sets it with ``with gradlab.scope("cell", t=3):``;
modules push their own name when called. The state lives in one :class:`contextvars.ContextVar`,
so it is per thread and per task. The only module-level mutable is a bounded cache of the immutable
child states, so that entering a scope costs a dict lookup.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

__all__ = ["Scope", "scope", "current", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly"]


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


@dataclass(frozen=True, slots=True, eq=False)   # identity hash: a cheap key for the child-state cache
class _State:
    scope: Scope = Scope()
    grad_enabled: bool = True
    anomaly: bool = False


_STATE: contextvars.ContextVar[_State] = contextvars.ContextVar("gradlab_state", default=_State())


def current() -> _State:
    """Return the recording state in force (scope, whether gradients are recorded, anomaly mode)."""
    return _STATE.get()


class _Install:
    """Context manager installing a recording state for the duration of a ``with`` block."""

    __slots__ = ("state", "token")

    def __init__(self, state: "_State"):
        self.state = state

    def __enter__(self):
        self.token = _STATE.set(self.state)

    def __exit__(self, *exc):
        _STATE.reset(self.token)
        return False


# States are immutable and few (layers x time steps), so each child state is built once and reused:
# entering a scope then costs a dict lookup instead of two frozen-dataclass constructions.
_CHILDREN: dict = {}
_CHILDREN_MAX = 1 << 16


def _child(state: "_State", names: tuple, t) -> "_State":
    key = (state, names, t)
    child = _CHILDREN.get(key)
    if child is None:
        if len(_CHILDREN) >= _CHILDREN_MAX:
            _CHILDREN.clear()
        sc = state.scope
        child = _CHILDREN[key] = _State(Scope(sc.path + names, sc.t if t is None else t),
                                        state.grad_enabled, state.anomaly)
    return child


def _replace(**changes):
    state = _STATE.get()
    fields = {"scope": state.scope, "grad_enabled": state.grad_enabled, "anomaly": state.anomaly}
    fields.update(changes)
    return _Install(_State(**fields))


def scope(*names: str, t: int | None = None):
    """Context manager: nodes recorded inside are tagged with the layer path extended by ``names``
    and, when given, the time step ``t`` (an inner ``t`` overrides an outer one).

    >>> import gradlab
    >>> with gradlab.scope("cell", t=2):
    ...     y = gradlab.tensor([1.0]) * 2
    >>> str(y.scope)
    'cell (t=2)'
    """
    state = _STATE.get()
    child = _CHILDREN.get((state, names, t))
    if child is None:  # first time here: check the arguments, then build and remember the state
        for n in names:
            if not isinstance(n, str) or not n or "." in n:
                raise ValueError(f"scope: a layer name must be a non-empty string without dots, got {n!r}")
        if t is not None and not isinstance(t, int):
            raise TypeError(f"scope: t must be an int time step, got {t!r}")
        child = _child(state, names, t)
    return _Install(child)


def no_grad():
    """Context manager: ops inside compute values but record no graph (results are constants)."""
    return _replace(grad_enabled=False)


def enable_grad():
    """Context manager: turn recording back on inside a ``no_grad`` block."""
    return _replace(grad_enabled=True)


def is_grad_enabled() -> bool:
    """Return whether ops are being recorded for reverse mode."""
    return _STATE.get().grad_enabled


def detect_anomaly(enabled: bool = True):
    """Context manager: raise ``FloatingPointError`` naming the op and scope as soon as a forward value
    or a gradient contains NaN or Inf (opt-in: it costs one finiteness check per op)."""
    return _replace(anomaly=enabled)
