r"""Symbolic BPTT: the recorded graph replayed on SymPy symbols, with per-step states kept as named
symbols, gradients derived by two independent routes (the op table's VJPs, SymPy ``diff``), and the
derivation printed in lecture notation (backward recursion, sum of paths, expanded).

>>> import gradlab
>>> d = gradlab.derive("elman", T=2)                 # doctest: +SKIP
>>> print(d.markdown(form="recursion"))              # doctest: +SKIP
"""
from .candidate import (ParamVerdict, SymbolicCheck, candidate_symbols, check_symbolic_candidate, parse_candidate,
                        to_numeric)
from .derivation import FORMS, Derivation, derive
from .functions import sigma
from .matrix import MatrixForm, matrix_form
from .model import CELL_KINDS, SymbolicModel, symbolic_model
from .parse import Vocabulary, parse, parse_latex, parse_text
from .program import Definition, Program, SymbolicTrace, diff_reverse, op_table_reverse, trace

__all__ = ["derive", "Derivation", "FORMS", "MatrixForm", "matrix_form", "sigma", "check_symbolic_candidate", "to_numeric", "parse_candidate",
           "candidate_symbols", "SymbolicCheck", "ParamVerdict", "Vocabulary", "parse", "parse_text", "parse_latex",
           "CELL_KINDS", "SymbolicModel", "symbolic_model", "Definition", "Program", "SymbolicTrace",
           "diff_reverse", "op_table_reverse", "trace"]
