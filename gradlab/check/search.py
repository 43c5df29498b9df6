r"""Searching sizes and values for a case where a hand-derived gradient is wrong.

Two searches, both reproducible from ``seed``:

* :func:`check_escalating` — the main check at the spec's small default sizes, then, if it passes, the
  same check at larger sizes (a ladder up to ``max_T`` time steps and ``max_size`` units, within a
  cost bound), because some mistakes only show there: a BPTT truncated after k steps is exact for
  T ≤ k, code written for three hidden units is exact for H ≤ 3. A failure is shrunk size by size
  (T, then H, D, O) to the smallest failing sizes, and that case is checked in full. The report says
  which sizes were covered.
* :func:`verify` — Hypothesis draws sequence length, sizes, weights and inputs (the strategies of
  :mod:`gradlab.testing`), runs a fast check on each draw, and when one fails, shrinks it: shorter
  sequences, smaller layers, simpler values. The smallest case is then checked in full mode and
  reported with its values.
"""
from __future__ import annotations

import random
import time

import numpy as np

from .candidate import DerivationError, as_candidate
from .core import DEFAULT_REFERENCES, CheckOptions, check_gradient
from .report import Finding, VerifyReport

__all__ = ["verify", "check_escalating", "search_bar", "shrinking", "size_ladder", "MAX_T", "MAX_SIZE", "MAX_COST", "MAX_COST_CAP", "unreplayable"]

#: the escalation's default limits: sequences up to 20 steps, layers up to 6 units
MAX_T, MAX_SIZE = 20, 6
#: the escalation's cost bound at the default limits, in parameter elements × time steps summed over the
#: larger checks (20 000 covers every built-in cell up to T = 20, H = 6 in about 0.1 s of checking); raised
#: limits raise it in proportion (T × H²), up to MAX_COST_CAP (a few seconds)
MAX_COST, MAX_COST_CAP = 20_000, 1_000_000


def _cost_bound(max_T: int, max_size: int) -> int:
    return int(min(MAX_COST_CAP, max(MAX_COST, MAX_COST * (max_T / MAX_T) * (max_size / MAX_SIZE) ** 2)))


def size_ladder(spec, max_T: int = MAX_T, max_size: int = MAX_SIZE, max_cost: int = MAX_COST) -> tuple:
    r"""Return (the sizes to check after the default ones, smallest first; the rungs left out by the cost
    bound). The sequence length grows 5, 8, 12, 20, 32, … up to ``max_T`` and the hidden size 4, 5, 6, …
    up to ``max_size`` (the last rung is at both limits); D and O alternate between 2 and 3, so that
    the sizes differ from each other. A rung costs T × (number of parameter elements)."""
    default = spec.default_sizes()
    steps = [5, 8, 12, 20]
    while steps[-1] < max_T:
        steps.append(int(steps[-1] * 1.6))
    Ts = [T for T in steps if T < max_T] + [max_T] if spec.recurrent else [None] * 4
    rungs, seen = [], {tuple(sorted(default.items()))}
    for i, T in enumerate(Ts):
        H = min(max_size, default["H"] + 1 + i) if i < len(Ts) - 1 else max_size
        other = {"D": min(max_size, 2 + i % 2), "H": H, "O": min(max_size, 3 - i % 2),
                 "V": max(2, min(max_size, 3 + i % 2)), "B": 2 + i % 2}   # V: a vocabulary; B: a batch
        sizes = {k: other[k] for k in spec.size_names if k != "T"}
        if T is not None:
            sizes = {"T": T, **sizes}
        key = tuple(sorted(sizes.items()))
        if key not in seen:
            seen.add(key)
            rungs.append(sizes)
    kept, left, spent = [], [], 0
    for sizes in rungs:
        cost = _cost(spec, sizes)
        if spent + cost > max_cost:
            left.append(sizes)
            continue
        spent += cost
        kept.append(sizes)
    return kept, left


def _cost(spec, sizes) -> int:
    elements = sum(int(np.prod(shape)) for shape in spec.param_shapes(sizes).values())
    return elements * sizes.get("T", 1)


def unreplayable(report: VerifyReport, exc: BaseException, first: dict, who: str, t0: float) -> VerifyReport:
    """Finish ``report`` for a search that found failures but could not replay them (Hypothesis' Flaky:
    ``who`` — the gradient, the backward — gives different numbers for the same input)."""
    report.ok = False
    report.first_failure = dict(first) or None
    report.findings.append(Finding("search", f"the search found failures but could not replay them "
                                   f"({type(exc).__name__}): does {who} give different numbers for the same "
                                   f"input? First failing sizes: {first or 'unknown'}.", "error"))
    report.elapsed = time.perf_counter() - t0
    return report


def check_escalating(candidate, spec=None, *, seed: int = 0, max_T: int = MAX_T, max_size: int = MAX_SIZE,
                     max_cost: int | None = None, options: CheckOptions | None = None, name=None, **how):
    r"""Return the :class:`~gradlab.check.report.CheckReport` of the main check at the spec's default sizes
    when the candidate is right there and at every larger size of :func:`size_ladder` (its ``coverage``
    lists the sizes checked); otherwise the full report of the smallest failing case found, with a
    note saying at which sizes it is right and from which it is wrong. ``options`` / keywords are
    those of :func:`check_gradient` and apply to the main check and the final report; the larger
    sizes are checked in fast mode against gradlab's reverse mode, HIPS autograd and projections. The
    cost bound ``max_cost`` (parameter elements × time steps over the larger checks) defaults to
    :data:`MAX_COST`, raised in proportion to raised limits; rungs beyond it are left out, with a warning."""
    max_cost = _cost_bound(max_T, max_size) if max_cost is None else max_cost
    for what, v in (("max_T", max_T), ("max_size", max_size), ("max_cost", max_cost)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"check_escalating: {what} must be a positive int, got {v!r}")
    cand = as_candidate(candidate, spec, name)
    spec = spec if spec is not None else cand.spec
    opts = (options or CheckOptions()).replace(**how) if how else (options or CheckOptions())
    report = check_gradient(cand, spec, seed=seed, options=opts)
    report.coverage = [dict(report.sizes)]
    if report.verdict != "pass" or cand.sizes is not None:
        return report
    rungs, left = size_ladder(spec, max_T, max_size, max_cost)
    for sizes in rungs:
        try:
            failed = _fails(cand, spec, sizes, seed)
        except DerivationError as exc:     # e.g. code that indexes a fixed number of units
            raise DerivationError(f"at {_sizes_text(sizes)}, a size checked after the default ones passed: "
                                  f"{exc.reason}", exc.path, exc.line, exc.hint) from None
        if failed:
            return _smallest_failure(cand, spec, sizes, seed, opts, report)
        report.coverage.append(dict(sizes))
    if left:
        report.findings.append(Finding("sizes", f"the larger sizes {'; '.join(_sizes_text(s) for s in left)} were "
                                       f"not checked: they exceed the cost bound ({max_cost} parameter elements × "
                                       f"time steps; raise max_cost)", "warning"))
    return report


_QUICK = CheckOptions(mode="fast", references=DEFAULT_REFERENCES, localise=False, redo_degenerate=False)


def _fails(cand, spec, sizes, seed) -> bool:
    return check_gradient(cand, spec, sizes=sizes, seed=seed, options=_QUICK).verdict == "fail"


def _smallest_failure(cand, spec, sizes, seed, opts, passed):
    """Shrink a failing ``sizes`` one size at a time (T, then H, D, O: the smallest value that still
    fails, the others held) and return the full report at the result, with a sentence saying from
    which sizes on the gradient is wrong."""
    sizes = dict(sizes)
    for k in ("T", "H", "D", "O", "V", "B"):
        if k not in sizes:
            continue
        for v in range(2 if k == "V" else 1, sizes[k]):     # a vocabulary has two entries at least
            try:
                failed = _fails(cand, spec, {**sizes, k: v}, seed)
            except DerivationError:      # breaks there instead: not the wrong number we are shrinking
                failed = False
            if failed:
                sizes[k] = v
                break
    report = check_gradient(cand, spec, sizes=sizes, seed=seed, options=opts)
    report.coverage = passed.coverage + [dict(sizes)]
    report.localisation.insert(0, _sizes_sentence(passed.coverage, sizes))
    return report


_WHAT = {"H": "hidden units", "D": "inputs", "O": "outputs", "V": "vocabulary entries", "B": "sequences in a batch"}


def _sizes_sentence(right, smallest) -> str:
    """Where the gradient stops being right, in words: the sizes checked that pass, the smallest that
    fails, and a layer size from which it fails (a hint of code written for one size)."""
    text = (f"your gradient is right at {'; '.join(_sizes_text(s) for s in right)}, but not at larger sizes: the "
            f"smallest failing case found is {_sizes_text(smallest)} (the check shown here).")
    for k, words in _WHAT.items():
        v = smallest.get(k, 1)
        if v > 1:
            others = ", ".join(f"{j} = {w}" for j, w in smallest.items() if j != k)
            text += (f" With {others}, it is right for {k} ≤ {v - 1} and wrong from {k} = {v}: does the code assume "
                     f"a fixed number of {words}?")
    return text


def _sizes_text(sizes) -> str:
    return ", ".join(f"{k} = {v}" for k, v in sizes.items())


def search_bar(name: str, examples: int, progress: bool | None):
    """The ``tqdm`` bar of a Hypothesis search: one step per example checked (shrinking steps counted on)."""
    from ..progress import progress_bar

    return progress_bar(examples, f"searching {name}", enabled=progress, unit="example")


def shrinking(bar, name: str, sizes: dict) -> None:
    """Tell the bar that the search found a failure and now shrinks it (the count goes on without a total)."""
    bar.total = None
    bar.set_description_str(f"shrinking {name}", refresh=False)
    bar.set_postfix_str(f"first failure at {_sizes_text(sizes)}", refresh=False)


def verify(candidate, spec=None, *, max_examples: int = 25, seed: int = 0, mode: str = "fast",
           references=("engine", "fd"), max_T: int = 4, max_size: int = 3, dtype=None, name=None,
           progress: bool | None = None) -> VerifyReport:
    r"""Return a :class:`~gradlab.check.report.VerifyReport`: search ``max_examples`` drawn models for
    one where ``candidate`` (a function ``gradient(params, data)`` or a derivation module) is wrong,
    and shrink the first failure to the smallest failing case (e.g. T = 2, H = 1). ``progress``: a ``tqdm``
    bar of the examples checked on standard error (None: only on a terminal or in a notebook, after a
    second; see :func:`gradlab.progress.progress_bar`)."""
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample, Unsatisfiable

    from ..testing import problems, vacuous

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

    bar = search_bar(cand.name, max_examples, progress)

    def fails(problem) -> bool:
        bar.update(1)
        if vacuous(problem):     # a reference gradient that vanishes (by symmetry) cannot show a mistake
            return False
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
            shrinking(bar, cand.name, first)
        return bad

    strategy = problems(spec, max_T=max_T, max_D=max_size, max_H=max_size, max_O=max(1, min(2, max_size)),
                        dtype=np.float64)
    cfg = settings(max_examples=max_examples, database=None, deadline=None, derandomize=False,
                   phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    report = VerifyReport(cand.name, spec.describe(), seed, max_examples, True)
    report.limits = ({"T": max_T} if spec.recurrent else {}) | {"D": max_size, "H": max_size, "O": max(1, min(2, max_size))}
    try:
        with bar:
            smallest = find(strategy, fails, settings=cfg, random=random.Random(seed))
    except (NoSuchExample, Unsatisfiable):
        report.elapsed = time.perf_counter() - t0
        return report
    except Exception as exc:  # noqa: BLE001 - e.g. Hypothesis' Flaky: the candidate answers differently each time
        return unreplayable(report, exc, first, "your gradient", t0)
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
