"""Data generated on the spot for the lecture experiments (nothing is downloaded): chaotic time series,
the pathological long-term-dependency problems, synthetic formant-sweep "spectrograms" (the TDNN's
shift-invariance experiment), and the error measures their literature reports. Each
module cites the source of what it generates; each generator takes a seed or a ``numpy.random.Generator``
and returns float64 arrays."""
from .mackey_glass import mackey_glass, one_step_pairs
from .metrics import nrmse, r_squared, rmse
from .spectrogram import SWEEP_CLASSES, SweepBatch, formant_sweeps, sweep_offsets
from .pathological import (PROBLEMS, AddingProblem, Batch, MultiplicationProblem, PathologicalProblem,
                           TemporalOrderProblem, XORProblem, make_problem)

__all__ = ["mackey_glass", "one_step_pairs", "rmse", "nrmse", "r_squared",
           "Batch", "PathologicalProblem", "AddingProblem", "MultiplicationProblem", "TemporalOrderProblem",
           "XORProblem", "PROBLEMS", "make_problem"]
__all__ += ["SWEEP_CLASSES", "SweepBatch", "formant_sweeps", "sweep_offsets"]
