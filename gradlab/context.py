"""Deprecated, use gradlab.engine.context: this module re-exports it (kept so that existing imports work)."""
from .engine.context import (ENGINES, Engine, Scope, current, detect_anomaly, enable_grad, engine_in_force,
                             is_grad_enabled, no_grad, reference, scope, use_engine)

__all__ = ["Scope", "scope", "current", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly",
           "Engine", "ENGINES", "use_engine", "reference", "engine_in_force"]
