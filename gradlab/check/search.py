r"""Hypothesis search for the smallest case where a hand-derived gradient is wrong.

:func:`verify` lets Hypothesis draw sequence length, sizes, weights and inputs (from the strategies in
:mod:`gradlab.testing`), runs a fast check on each draw, and when one fails, shrinks it: shorter
sequences, smaller layers, simpler values, until no smaller case fails. The smallest case is then
checked in full mode and reported with its values. The search is reproducible: the same ``seed``
gives the same draws and the same counterexample.
"""
from __future__ import annotations

import random
import time

from .candidate import DerivationError, as_candidate
from .core import DEFAULT_REFERENCES, check_gradient
from .report import Finding, VerifyReport

__all__ = ["verify"]


def verify(candidate, spec=None, *, max_examples: int = 25, seed: int = 0, mode: str = "fast",
           references=("engine", "fd"), max_T: int = 4, max_size: int = 3, dtype=None, name=None) -> VerifyReport:
    r"""Return a :class:`~gradlab.check.report.VerifyReport`: search ``max_examples`` drawn models for
    one where ``candidate`` (a function ``gradient(params, data)`` or a derivation module) is wrong,
    and shrink the first failure to the smallest failing case (e.g. T = 2, H = 1)."""
    import numpy as np
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample, Unsatisfiable

    from ..testing import problems

    t0 = time.perf_counter()
    cand = as_candidate(candidate, spec, name)
    if cand.sizes is not None:
        raise ValueError(f"verify: {cand.name} is written for the fixed sizes {cand.sizes}, so there are no "
                         f"sizes to search; check it with gradlab.check_gradient (and symbolically)")
    spec = spec if spec is not None else cand.spec
    if spec is None:
        raise ValueError("verify: give the model spec (e.g. gradlab.specs.elman()) or a module with MODEL")
    dtype = np.float64 if dtype is None else dtype
    errors: list = []
    first: dict = {}

    def fails(problem) -> bool:
        try:
            r = check_gradient(cand, spec, problem=problem, mode=mode, references=references,
                               localise=False, redo_degenerate=False, dtype=dtype)
        except DerivationError as exc:
            errors.append(exc)
            bad = True
        else:
            bad = r.verdict == "fail"
        if bad and not first:
            first.update(problem.sizes)
        return bad

    strategy = problems(spec, max_T=max_T, max_D=max_size, max_H=max_size, max_O=max(1, min(2, max_size)),
                        dtype=np.float64)
    cfg = settings(max_examples=max_examples, database=None, deadline=None, derandomize=False,
                   phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    report = VerifyReport(cand.name, spec.describe(), seed, max_examples, True)
    try:
        smallest = find(strategy, fails, settings=cfg, random=random.Random(seed))
    except (NoSuchExample, Unsatisfiable):
        report.elapsed = time.perf_counter() - t0
        return report
    except Exception as exc:  # noqa: BLE001 - e.g. Hypothesis' Flaky: the candidate answers differently each time
        report.ok = False
        report.first_failure = dict(first) or None
        report.findings.append(Finding("search", f"the search found failures but could not replay them "
                                       f"({type(exc).__name__}): does your gradient give different numbers for the "
                                       f"same input? First failing sizes: {first or 'unknown'}.", "error"))
        report.elapsed = time.perf_counter() - t0
        return report
    report.ok = False
    report.first_failure = dict(first)
    try:
        ce = check_gradient(cand, spec, problem=smallest, mode="full", references=DEFAULT_REFERENCES, dtype=dtype,
                            redo_degenerate=False)
    except DerivationError as exc:
        report.findings.append(Finding("error", f"on the smallest case ({smallest.describe()}) your gradient "
                                       f"raised: {exc}", "error"))
    else:
        ce.values = {**smallest.params, **smallest.data}
        ce.seed = seed
        report.counterexample = ce
    report.elapsed = time.perf_counter() - t0
    return report
