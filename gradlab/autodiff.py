"""Deprecated, use gradlab.engine.autodiff: this module re-exports it (kept so that existing imports work)."""
from .engine.autodiff import backward, contributions, requires_grad, reverse, toposort

__all__ = ["toposort", "backward", "reverse", "contributions", "requires_grad"]
