r"""The gradient checker: hand-derived gradients against five references, with explanations.

* :func:`check_gradient` — one check on one drawn (or given) model: per-parameter verdicts, the worst
  element, the references' agreement, pitfalls, and where inside BPTT an error starts (how it checks:
  :class:`CheckOptions`);
* :func:`check_escalating` — the same check at the default sizes and then at larger ones (T up to 20,
  H up to 6 by default), a failure shrunk to the smallest failing sizes; the report lists what it covered;
* :func:`verify` — a Hypothesis search over sizes, sequence lengths, weights and inputs that shrinks a
  failure to the smallest counterexample;
* :func:`layer`, :func:`check_layer`, :func:`verify_layer` — layer mode: an author's own forward and
  backward, checked in the author's convention (:mod:`gradlab.check.layer`);
* :func:`load_derivation` — a derivation file (``MODEL``, ``gradient(params, data)``, ``EXPECT``) as a
  candidate, with file-and-line messages for every breach of the contract;
* :func:`check_product`, :func:`load_product` — a hand-written curvature product, ``gauss_newton(params, data, v)``
  or ``hessian(params, data, v)`` beside ``MODEL``, against gradlab, HIPS autograd and differences
  (:mod:`gradlab.check.curvature`);
* :func:`load_function` — one function out of a script that trains at import, or out of a notebook,
  without running the rest; :func:`call` — the author's own function as the gradient, by declarations
  (arguments, globals, attributes and returns mapped to the model's parameters, data and gradients).

The command line ``gradlab check PATH...`` lives in :mod:`gradlab.check.cli`.
"""
from .candidate import Candidate, DerivationError, as_candidate, find_derivations, load_derivation
from .compare import Tolerance, rel_error, tolerance
from .bindings import Call, call
from .core import DEFAULT_REFERENCES, CheckOptions, check_gradient
from .curvature import check_product, load_product
from .loaders import load_function, needed_globals
from . import layer   # the package, callable as the declaration function gradlab.check.layer(...)
from .layer import LayerDecl, check_layer, verify_layer
from .report import CheckReport, Element, Finding, ParamResult, VerifyReport
from .search import check_escalating, verify

__all__ = ["check_gradient", "CheckOptions", "check_escalating", "verify", "load_derivation", "find_derivations", "as_candidate", "Candidate",
           "DerivationError", "CheckReport", "ParamResult", "Element", "Finding", "VerifyReport", "Tolerance",
           "tolerance", "rel_error", "DEFAULT_REFERENCES", "load_function", "needed_globals", "call", "Call",
           "layer", "LayerDecl", "check_layer", "verify_layer", "check_product", "load_product"]
