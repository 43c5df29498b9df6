"""Deprecated, use gradlab.engine.tensor: this module re-exports it (kept so that existing imports work)."""
from .engine.tensor import Parameter, Tensor, apply, as_numpy, as_tensor, explain_failure, record, tensor, to_device

__all__ = ["Tensor", "Parameter", "tensor", "apply", "as_tensor", "record", "explain_failure", "as_numpy", "to_device"]
