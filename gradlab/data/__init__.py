"""Data generated on the fly (nothing is downloaded): the pathological long-term-dependency problems,
and more. Each module cites the source of what it generates and takes a seed."""
__all__: list = []

from .pathological import (PROBLEMS, AddingProblem, Batch, MultiplicationProblem, PathologicalProblem,
                           TemporalOrderProblem, XORProblem, make_problem)

__all__ += ["Batch", "PathologicalProblem", "AddingProblem", "MultiplicationProblem", "TemporalOrderProblem",
            "XORProblem", "PROBLEMS", "make_problem"]
