"""Deprecated, use gradlab.engine.tensor: this module re-exports it (kept so that existing imports work)."""
from .engine.tensor import Parameter, Tensor, apply, as_tensor, explain_failure, record, tensor

__all__ = ["Tensor", "Parameter", "tensor", "apply", "as_tensor", "record", "explain_failure"]
