"""Data generated on the spot for the lecture experiments (no downloads): chaotic time series and
synthetic sequence tasks, and the error measures their literature reports. Each generator takes a
seed or a ``numpy.random.Generator`` and returns float64 arrays."""
from .mackey_glass import mackey_glass, one_step_pairs
from .metrics import nrmse, r_squared, rmse

__all__ = ["mackey_glass", "one_step_pairs", "rmse", "nrmse", "r_squared"]
