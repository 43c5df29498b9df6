"""Recording context: the scope new nodes are tagged with, and the switches ``no_grad`` and anomaly mode.

A node's *scope* says where in the model it was made: the layer path (``("cell", "W_s")``, printed
``cell.W_s``) and the time step ``t``. Model code sets it with ``with gradlab.scope("cell", t=3):``;
modules push their own name when called. The state lives in one :class:`contextvars.ContextVar`,
so it is per thread and per task, and nothing is module-level mutable.
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


@dataclass(frozen=True, slots=True)
class _State:
    scope: Scope = Scope()
    grad_enabled: bool = True
    anomaly: bool = False


_STATE: contextvars.ContextVar[_State] = contextvars.ContextVar("gradlab_state", default=_State())


def current() -> _State:
    """Return the recording state in force (scope, whether gradients are recorded, anomaly mode)."""
    return _STATE.get()


@contextlib.contextmanager
def _replace(**changes):
    state = _STATE.get()
    fields = {"scope": state.scope, "grad_enabled": state.grad_enabled, "anomaly": state.anomaly}
    fields.update(changes)
    token = _STATE.set(_State(**fields))
    try:
        yield
    finally:
        _STATE.reset(token)


def scope(*names: str, t: int | None = None):
    """Context manager: nodes recorded inside are tagged with the layer path extended by ``names``
    and, when given, the time step ``t`` (an inner ``t`` overrides an outer one).

    >>> import gradlab
    >>> with gradlab.scope("cell", t=2):
    ...     y = gradlab.tensor([1.0]) * 2
    >>> str(y.scope)
    'cell (t=2)'
    """
    for n in names:
        if not isinstance(n, str) or not n or "." in n:
            raise ValueError(f"scope: a layer name must be a non-empty string without dots, got {n!r}")
    if t is not None and not isinstance(t, int):
        raise TypeError(f"scope: t must be an int time step, got {t!r}")
    old = _STATE.get().scope
    return _replace(scope=Scope(old.path + names, old.t if t is None else t))


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
