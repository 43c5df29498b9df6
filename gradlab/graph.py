"""Deprecated, use gradlab.engine.graph: this module re-exports it (kept so that existing imports work)."""
from .engine.graph import Graph

__all__ = ["Graph"]
