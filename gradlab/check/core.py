r"""One gradient check: a candidate's gradient against every reference on one drawn model.

:func:`check_gradient` draws (or takes) a concrete model and runs the check in named phases, each
a short function below, in this order:

1. :func:`_call_candidate` — call the candidate twice on the same input (the numbers must not change)
   and validate what it returned against the contract (:mod:`gradlab.check.contract`);
2. :func:`_references` — record the loss graph once and compute the references on it (gradlab
   reverse mode, HIPS autograd, optionally exact SymPy) and the finite-difference set-up;
   :func:`_forward_mode` — gradlab's forward mode along a few random directions per parameter;
3. :class:`_FiniteDifferences` — finite differences, ``full`` (every element) or ``fast`` (random
   projections, falling back to elements for a parameter whose projection fails);
4. :func:`_compare_params` — the per-parameter comparison with every reference, and its verdict
   (elements that finite differences cannot resolve rest on the exact references); :func:`_precision`
   — errors of float32 size in a float32-computing candidate are precision, judged as such;
5. :func:`_reference_agreement` — do the references agree among themselves (forward and reverse mode:
   ⟨∇E, u⟩ both ways)?
6. :func:`~gradlab.check.explain.explain_wrong` — what the wrong gradients have in common, on evidence
   (an exact factor, a wrong error term, another forward model); :func:`_whole_check_pitfalls` —
   warnings about the check itself (degenerate values, saturation, float32, kinks);
7. :func:`_localise` — for each wrong parameter the first sequence length T at which it is wrong, and
   where the returned adjoints diverge;
8. :func:`_verdict` — pass, fail or inconclusive;
9. :func:`_redo_if_degenerate` — a check whose reference gradient is zero cannot tell right from
   wrong, so it is redone once on fresh values.

Modes. ``full``: a finite difference for every element. ``fast``: per parameter, a few random
projections ⟨∂E/∂θ, u⟩ against the directional derivative D_u E (one or two loss evaluations each,
whatever the parameter count), with directions from a private seeded generator and components
bounded away from zero (|u_i| ∈ [0.5, 1.5] before normalising, so no element is ignored); when a
projection fails, that parameter falls back to element-wise differences, which locate the error.
The engine and autograd gradients are full gradients at the cost of one backward pass each, so
they are compared element by element in both modes.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from . import finite, forward, localise, pitfalls
from .candidate import as_candidate
from .contract import formula as _formula
from .contract import same_output, validate
from .explain import explain_wrong, own_lines
from .compare import NEGLIGIBLE, compare, compare_scalars, rel_error, tolerance
from .references import SYMPY_MAX_ELEMENTS, autograd_gradient, engine_gradient, sympy_gradient, vanishing
from .report import CheckReport, Element, Finding, ParamResult

__all__ = ["check_gradient", "CheckOptions", "DEFAULT_REFERENCES", "choose_method"]

DEFAULT_REFERENCES = ("engine", "autograd", "fd", "forward")
_ALL_REFERENCES = ("engine", "autograd", "fd", "sympy", "forward")
_DIRECTION_SEED = 0x6D6C  # fast mode's directions: a private generator, never the global state
_FORWARD_SEED = 0x4A56    # forward mode's directions: another private generator


@dataclass(frozen=True)
class CheckOptions:
    r"""How a check is made (what it is made *on* — candidate, spec, sizes, seed, values — is given to
    :func:`check_gradient` directly).

    ``mode``: ``"full"`` (every element by finite differences) or ``"fast"`` (random projections);
    ``method``: ``"auto"``, ``"central"``, ``"complex"`` or ``"richardson"`` (the finite differences);
    ``references``: a non-empty subset of ``("engine", "autograd", "fd", "sympy", "forward")``; ``dtype``: what the
    candidate receives (default: the dtype of the values; references are always float64);
    ``rtol``/``atol``: tolerances that replace the per-method defaults; ``sweep``: add a step-size
    sweep on the worst element; ``localise``: say where inside BPTT a wrong gradient goes wrong;
    ``directions``: projections per parameter in fast mode, and forward-mode directions per parameter; ``redo_degenerate``: redo a check whose
    reference gradient is zero on fresh values (once).
    """

    mode: str = "full"
    method: str = "auto"
    references: tuple = DEFAULT_REFERENCES
    dtype: object = None
    rtol: float | None = None
    atol: float | None = None
    sweep: bool = False
    localise: bool = True
    directions: int = 2
    redo_degenerate: bool = True

    def __post_init__(self):
        if self.mode not in ("full", "fast"):
            raise ValueError(f"check_gradient: mode must be 'full' or 'fast', got {self.mode!r}")
        refs = tuple(self.references)
        unknown = [r for r in refs if r not in _ALL_REFERENCES]
        if unknown or not refs:
            raise ValueError(f"check_gradient: references must be a non-empty subset of {_ALL_REFERENCES}, "
                             f"got {refs!r}")
        object.__setattr__(self, "references", refs)

    def replace(self, **changes) -> "CheckOptions":
        """Return a copy with ``changes`` (the field names; the old ``localise_errors`` still works, deprecated)."""
        if "localise_errors" in changes:
            import warnings

            warnings.warn("check_gradient(localise_errors=...) is now localise=...", DeprecationWarning, stacklevel=3)
            changes["localise"] = changes.pop("localise_errors")
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(k for k in changes if k not in names)
        if unknown:
            raise TypeError(f"check_gradient: unknown option{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(unknown)}; the options are {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes)


def choose_method(E: finite.LossFunction, method: str = "auto") -> str:
    """Return the finite-difference method: complex step when the graph is analytic, else central
    differences refined by Richardson extrapolation where they disagree (``"auto"``)."""
    if method != "auto":
        if method not in finite.METHODS:
            raise ValueError(f"check_gradient: method must be 'auto' or one of {finite.METHODS}, got {method!r}")
        if method == "complex" and not E.graph.analytic():
            ops = sorted({n.op.name for n in E.graph.nodes if n.op is not None and not n.op.analytic})
            raise ValueError(f"check_gradient: complex step needs an analytic graph, but this one uses {', '.join(ops)}")
        return method
    return "complex" if E.graph.analytic() else "central"


def check_gradient(candidate, spec=None, *, sizes=None, seed: int = 0, problem=None, params=None, data=None,
                   name: str | None = None, options: CheckOptions | None = None, **how) -> CheckReport:
    r"""Return a :class:`~gradlab.check.report.CheckReport` comparing ``candidate``'s gradient with the
    references on one concrete model.

    ``candidate`` is a function ``gradient(params, data)`` or a derivation module; ``spec`` a model
    spec (default: the module's ``MODEL``). The model is ``problem`` if given, else ``spec.draw(sizes,
    seed)``; ``params`` / ``data`` replace drawn values. How the check is made is a
    :class:`CheckOptions` (``options``); its fields may also be given as keywords, which win:
    ``check_gradient(f, spec, mode="fast", references=("engine", "fd"))``. ``mode`` is ``"full"`` or
    ``"fast"``; ``method`` (``"auto"``, ``"central"``, ``"complex"``, ``"richardson"``) the finite
    differences; ``references`` a subset of ``("engine", "autograd", "fd", "sympy", "forward")``; ``dtype`` what
    the candidate receives (references are always float64); ``sweep`` adds a step-size sweep on the
    worst element. Raises :class:`DerivationError` when the candidate breaks the contract (the
    message names file and line).
    """
    opts = (options or CheckOptions()).replace(**how) if how else (options or CheckOptions())
    t0 = time.perf_counter()
    cand = as_candidate(candidate, spec, name)
    spec = spec if spec is not None else cand.spec
    if spec is None:
        raise ValueError("check_gradient: give the model spec (e.g. gradlab.specs.elman()) or a module with MODEL")
    given = problem is not None or params is not None or data is not None
    if cand.sizes is not None:          # formulas written for one size: check there, no prefix localisation
        if sizes is not None and dict(sizes) != cand.sizes:
            raise ValueError(f"check_gradient: {cand.name} is written for sizes {cand.sizes}, not {dict(sizes)}")
        sizes, opts = cand.sizes, opts.replace(localise=False)
    if problem is None:
        problem = spec.draw(sizes, seed)
    if params is not None or data is not None:
        problem = problem.copy(params, data)
    run = _check_once(cand, spec, problem, opts)
    run.report.elapsed = time.perf_counter() - t0
    return _redo_if_degenerate(run, given)


# ---------------------------------------------------------------------------------------- one check
@dataclass
class _Run:
    """What the phases of one check share: the inputs, the candidate's gradient, the references."""

    cand: object
    spec: object
    problem: object                     # as given (its dtype is what the candidate receives by default)
    opts: CheckOptions
    report: CheckReport
    p64: object = None                  # the problem in float64: what every reference is computed on
    in_dtype: object = None
    grads: dict = field(default_factory=dict)       # the candidate's gradient, float64, valid shapes only
    adjoints: dict = field(default_factory=dict)    # the candidate's ∂E/∂s_t (``delta_s`` …) if returned
    shape_findings: list = field(default_factory=list)
    low_precision: bool = False
    rec: object = None
    eng: dict = field(default_factory=dict)         # gradlab's reverse mode (always computed)
    eng_adj: dict = field(default_factory=dict)
    refs: dict = field(default_factory=dict)        # the exact references asked for: engine, autograd, sympy
    fd: object = None                               # the _FiniteDifferences of this check
    fwd_proj: dict = field(default_factory=dict)    # parameter -> [(yours ⟨c,u⟩, forward D_u E, engine ⟨g,u⟩)]
    excused_by: dict = field(default_factory=dict)  # parameter -> elements not counted (kinks)
    prefixes: object = None                         # localise.Prefixes of the wrong parameters
    explained: bool = False                         # a whole-gradient story explains every wrong parameter
    factored: set = field(default_factory=set)      # wrong parameters an exact factor explains
    fd_unreliable: dict = field(default_factory=dict)  # parameter -> elements finite differences cannot judge
    cast_inside: tuple | None = None                # (worst rel error, source lines): float32 inside the candidate
    fwd: dict = field(default_factory=dict)         # forward values returned beside the gradient: E, s_T …

    @property
    def names(self) -> list:
        return list(self.p64.params)

    @property
    def cdtype(self):
        """The dtype whose tolerances apply: float32 when the candidate saw or returned float32."""
        return np.float32 if self.low_precision else np.float64

    def tol(self, kind: str):
        return tolerance(kind, self.cdtype, self.opts.rtol, self.opts.atol)

    def ref_tol(self, reference: str):
        return self.fd.tol if reference == "fd" else self.tol("exact")


def _check_once(cand, spec, problem, opts: CheckOptions) -> _Run:
    """Run the phases of one check on ``problem``; its report is ``.report`` (no redo)."""
    in_dtype = np.dtype(opts.dtype) if opts.dtype is not None else _values_dtype(problem)
    p64 = problem.astype(np.float64)
    report = CheckReport(cand.name, spec.describe(), dict(problem.sizes), problem.seed, opts.mode, "", opts.references,
                         kind=spec.kind)
    run = _Run(cand, spec, problem, opts, report, p64=p64, in_dtype=in_dtype)
    calls0 = cand.calls
    _call_candidate(run)
    _references(run)
    _forward_mode(run)
    run.fd.compute(run.names, opts)
    if getattr(cand, "clip", None) is not None:     # the candidate clips its gradients on purpose
        run.eng, run.refs, run.fd.values = forward.clip_references(cand.clip, run.eng, run.refs, run.fd.values)
    _compare_params(run)
    _precision(run)
    _reference_agreement(run)
    run.prefixes = _prefixes(run)
    _model_differs(run)
    explain_wrong(run)
    _drop_doubles(run)
    _whole_check_pitfalls(run)
    _localise(run)
    forward.settle(report)
    _verdict(run)
    report.method = run.fd.method_text()
    report.counts = {"loss_evaluations": run.fd.E.evaluations, "vjps": 1, "autograd": int("autograd" in run.refs),
                     "jvps": sum(len(rows) for rows in run.fwd_proj.values()),
                     "projections": run.fd.n_projections, "elements_checked": run.fd.n_elements,
                     "elements": sum(int(np.size(v)) for v in p64.params.values()),
                     "candidate_calls": cand.calls - calls0}
    return run


def _call_candidate(run: _Run) -> None:
    """Phase 1: call the candidate twice on the same input and validate what it returned."""
    cin = run.problem.astype(run.in_dtype)
    out1 = run.cand(cin.params, cin.data)
    out2 = run.cand(cin.params, cin.data)
    run.fwd = forward.split_outputs(out1, run.spec)    # a returned loss value E (and final state) beside the gradients
    forward.split_outputs(out2, run.spec)
    run.grads, run.adjoints, run.shape_findings, out_dtype = validate(run.cand, run.spec, run.p64, out1)
    run.low_precision = run.in_dtype.itemsize < 8 or out_dtype.itemsize < 8
    if not same_output(out1, out2):
        run.report.findings.append(Finding(
            "nondeterministic", "your gradient changed between two calls with the same parameters and data: it "
            "uses unseeded randomness (dropout, random initialisation inside the function, an unseeded generator) "
            "or keeps state between calls. A gradient must be a function of (params, data); fix the seed or "
            "remove the randomness.", "error"))


def _references(run: _Run) -> None:
    """Phase 2: record the loss graph once; compute the exact references and set up finite differences."""
    run.rec = run.p64.record()
    run.eng, run.eng_adj = engine_gradient(run.rec)
    refs = run.opts.references
    if "engine" in refs:
        run.refs["engine"] = run.eng
    if "autograd" in refs:
        run.refs["autograd"] = autograd_gradient(run.rec)
    if "sympy" in refs:
        sym = sympy_gradient(run.rec)
        if sym is None:
            n = sum(int(np.size(v)) for v in run.p64.params.values())
            run.report.findings.append(Finding(
                "sympy_skipped", f"the SymPy reference was skipped: {n} parameter elements (it handles up to "
                f"{SYMPY_MAX_ELEMENTS} quickly); check at small sizes for it, e.g. sizes={_smallest(run.spec)}.",
                "note"))
        else:
            run.refs["sympy"] = sym
    run.fd = _FiniteDifferences(run)


def _forward_mode(run: _Run) -> None:
    r"""Phase 2b: forward mode's directional derivatives D_u E = ⟨∇E, u⟩ along ``directions`` random unit
    directions u per parameter (a private seeded generator; every component takes part), set beside the
    candidate's ⟨c, u⟩ and reverse mode's ⟨∇E, u⟩. A candidate that clips its gradient on purpose is not
    compared with them (a clipped gradient is no projection of E's)."""
    if "forward" not in run.opts.references:
        return
    from .references import forward_derivatives, random_directions

    rng = np.random.default_rng([_FORWARD_SEED, int(run.problem.seed) & 0xFFFFFFFF])
    present = set(run.rec.graph.leaves)
    dirs = {n: random_directions(run.eng[n].shape, rng, run.opts.directions) for n in run.names
            if run.rec.params[n] in present and run.eng[n].size}
    derivs = forward_derivatives(run.rec, dirs)
    clipped = getattr(run.cand, "clip", None) is not None
    for n, us in dirs.items():
        run.fwd_proj[n] = [(float(np.sum(run.grads[n] * u)) if n in run.grads and not clipped else float("nan"),
                            d, float(np.sum(run.eng[n] * u))) for u, d in zip(us, derivs[n])]


def _forward_judgement(run: _Run, n, c, excused) -> tuple:
    """(worst relative error, any projection wrong) of the candidate's ⟨c, u⟩ against forward mode's D_u E
    for parameter ``n``; (None, False) when they cannot judge: no projections, or E has a kink where the
    derivative does not exist (the element-wise comparisons excuse it; a projection would mix it in)."""
    rows = [r for r in run.fwd_proj.get(n, []) if r[0] == r[0]]
    if not rows or run.fd.at_kink or (excused is not None and excused.any()):
        return None, False
    tol, scale = run.tol("exact"), run.fd.scale[n]
    checks = [compare_scalars(cp, d, tol, scale) for cp, d, _ in rows]
    return max(rel for _, rel in checks), not all(ok for ok, _ in checks)


# ------------------------------------------------------------------------------ finite differences
class _FiniteDifferences:
    r"""Phase 3: the finite-difference reference of one check, element-wise (``full``) or by random
    projections (``fast``), with Richardson refinement (method ``"auto"`` on a non-analytic graph)
    where a central difference disagrees, and kinks marked where a step crossed one."""

    def __init__(self, run: _Run):
        self.check = run
        self.E = finite.LossFunction(run.rec, run.p64.params)
        self.auto = run.opts.method == "auto"
        self.m = choose_method(self.E, run.opts.method)
        self.refine = self.m == "central" and self.auto
        self.scale = {n: float(np.max(np.abs(g))) if g.size else 0.0 for n, g in run.eng.items()}
        self.at_kink = self.E.has_kinks and self.E.kink_distance() < 1e-9
        self.values: dict = {}          # parameter -> element-wise estimates
        self.kinks: dict = {}           # parameter -> elements whose step crossed a kink
        self.projections: dict = {}     # parameter -> [(candidate ⟨g,u⟩, D_u E, rel, ok, engine ⟨g,u⟩)]
        self.refined = 0
        self.n_projections = 0
        self.n_elements = 0

    @property
    def tol(self):
        """The tolerance of a candidate against these finite differences (per method and dtype)."""
        return self.check.tol("richardson" if self.refine else self.m)

    def compute(self, names, opts: CheckOptions) -> None:
        """Compute the finite differences the options ask for."""
        if "fd" not in opts.references:
            return
        if opts.mode == "full":
            for n in names:
                self.full(n)
            return
        rng = np.random.default_rng([_DIRECTION_SEED, int(self.check.problem.seed) & 0xFFFFFFFF])
        for n in names:
            self.projections[n] = [self.projection(n, rng) for _ in range(opts.directions)]
            if not all(row[3] for row in self.projections[n]):
                self.full(n)  # fall back to element-wise differences to locate the error

    def _agrees(self, est, n, targets, tol) -> bool:
        return any(compare_scalars(est, t, tol, self.scale[n])[0] for t in targets)

    def element(self, n, idx) -> tuple:
        """One element by finite differences: (estimate, crossed a kink). Refined by Richardson where it
        disagrees with both the engine and the candidate."""
        eng, grads = self.check.eng, self.check.grads
        u = finite.unit({n: eng[n].shape}, n, idx)
        est, used = finite.estimate(self.E, u, self.m), self.m
        targets = [eng[n][idx]] + ([float(grads[n][idx])] if n in grads else [])
        if self._agrees(est, n, targets, self.tol):
            return est, False
        if self.refine:
            self.refined += 1
            est, used = finite.estimate(self.E, u, "richardson"), "richardson"
            if self._agrees(est, n, targets, self.tol):
                return est, False
        return est, self.E.has_kinks and self.E.crosses_kink(u, finite.default_step(used))

    def full(self, n) -> None:
        """Every element of parameter ``n``."""
        shape = self.check.eng[n].shape
        arr, kinks = np.empty(shape), np.zeros(shape, dtype=bool)
        for idx in np.ndindex(*shape):
            arr[idx], kinks[idx] = self.element(n, idx)
        self.n_elements += arr.size
        self.values[n], self.kinks[n] = arr, kinks

    def projection(self, n, rng) -> tuple:
        """One random projection of parameter ``n``: (candidate ⟨g,u⟩, D_u E, rel error, ok, engine ⟨g,u⟩)."""
        eng, grads = self.check.eng, self.check.grads
        u = rng.uniform(0.5, 1.5, eng[n].shape) * rng.choice([-1.0, 1.0], eng[n].shape)
        u /= np.linalg.norm(u)
        est, used = finite.estimate(self.E, {n: u}, self.m), self.m
        self.n_projections += 1
        cp = float(np.sum(grads[n] * u)) if n in grads else float("nan")
        ok, rel = compare_scalars(cp, est, self.check.tol("central" if self.m == "central" else self.m), self.scale[n])
        if not ok and self.refine:
            est, used = finite.estimate(self.E, {n: u}, "richardson"), "richardson"
            ok, rel = compare_scalars(cp, est, self.check.tol("richardson"), self.scale[n])
        if not ok and self.E.has_kinks and self.E.crosses_kink({n: u}, finite.default_step(used)):
            ok = True   # the step crossed a kink: this projection cannot judge
        return cp, est, rel, bool(ok), float(np.sum(eng[n] * u))

    def noise(self) -> float:
        r"""The rounding error a difference quotient of this method carries at these values: about
        ε·|E|/h (E(θ ± h u) are each rounded to ε|E|; their difference is divided by h). Complex step
        subtracts nothing, so it has none to speak of; an E that overflows makes it infinite."""
        E0 = abs(float(np.asarray(self.check.rec.loss.data)))
        if not np.isfinite(E0):
            return float("inf")
        if self.m == "complex":
            return 0.0
        return 4 * float(np.finfo(np.float64).eps) * E0 / finite.default_step(self.m)

    def method_text(self) -> str:
        """The method in words, e.g. ``complex step (h = 1e-20; the graph is analytic)``."""
        m, h = self.m, finite.default_step(self.m)
        if m == "complex":
            return f"complex step (h = {h:.0e}{'; the graph is analytic' if self.auto else ''})"
        if m == "central" and self.auto:
            nonsmooth = sorted({n.op.name for n in self.E.graph.nodes if n.op is not None and not n.op.analytic})
            return (f"central (h = {h:.0e}) + Richardson where they disagree ({self.refined} elements); "
                    f"not analytic: {', '.join(nonsmooth)}")
        if m == "central":
            return f"central (h = {h:.0e})"
        return f"Richardson extrapolation of central differences (h = {h:.0e})"


# ------------------------------------------------------------------------------------ comparison
def _element_references(run: _Run, n) -> dict:
    """{reference: full array} for parameter ``n``, in the order engine, autograd, sympy, fd."""
    out = {r: run.refs[r][n] for r in ("engine", "autograd", "sympy") if r in run.refs}
    if n in run.fd.values:
        out["fd"] = run.fd.values[n]
    return out


def _compare_params(run: _Run) -> None:
    """Phase 4: compare each parameter's gradient with every reference and give it a verdict."""
    run.report.params = []
    for n in run.names:
        pr = ParamResult(n, tuple(run.eng[n].shape), formula=_formula(run.spec, n))
        run.report.params.append(pr)
        pr.findings.extend(f for f in run.shape_findings if f.param == n)
        if n not in run.grads:
            pr.verdict = "wrong"
            continue
        _compare_param(run, pr)
        if pr.verdict == "wrong":
            pr.findings.extend(pitfalls.wrong_param_findings(n, run.grads[n], run.eng[n], pr.formula))


def _precision(run: _Run) -> None:
    """Phase 4b: errors of the size of single-precision rounding, in a candidate that returned float64,
    are float32 arithmetic inside it, not a wrong derivation, when the file asks for float32 somewhere or
    its numbers are float32 numbers: the check is then judged under float32 tolerances and says why."""
    wrong = run.report.wrong
    if not wrong or run.low_precision:
        return
    with np.errstate(all="ignore"):      # float32 may overflow where float64 does not: then it explains nothing
        eng32, _ = engine_gradient(run.p64.astype(np.float32).record(dtype=np.float32))
    worst = pitfalls.float32_rounding(run.grads, run.eng, eng32, wrong)
    if worst is None:
        return
    lines = pitfalls.low_precision_lines(run.cand.source_file, own_lines(run.cand))
    worst = max(run.report.param(n).worst.rel_err for n in wrong if run.report.param(n).worst is not None)
    representable = all(np.array_equal(run.grads[n].astype(np.float32).astype(np.float64), run.grads[n])
                        for n in wrong)
    if not lines and not representable:
        run.report.findings.append(Finding(
            "precision", f"the errors are of the size of single-precision rounding (at most {worst:.1e} relative; "
            f"float32 carries about 7 digits): if your gradient uses float32 anywhere (data loaded as float32, an "
            f"astype), that explains them; if not, they are real.", "warning"))
        return
    run.cast_inside = (worst, lines)
    run.low_precision = True
    _compare_params(run)


def _compare_param(run: _Run, pr: ParamResult) -> None:
    """Compare one parameter element by element; set its numbers and its verdict."""
    n, c, fd = pr.name, run.grads[pr.name], run.fd
    element_refs = _element_references(run, n)
    comps, excused = _comparisons(run, n, c, element_refs)
    pr.per_reference = {r: cmp_.max_rel for r, cmp_ in comps.items()}
    pr.projections = fd.projections.get(n, [])
    pr.n_checked_fd = int(fd.values[n].size) if n in fd.values else 0
    if pr.projections and n not in fd.values:
        pr.per_reference["fd"] = max(r[2] for r in pr.projections)
    pr.n_kink = int(excused.sum()) - run.fd_unreliable.get(n, 0) if excused is not None else 0
    pr.n_unjudged = run.fd_unreliable.get(n, 0)
    primary = next(iter(comps), None)
    if primary is not None:
        _worst_element(pr, c, comps[primary], element_refs[primary], primary)
    # a failed projection is settled by the element-wise differences it triggered
    proj_bad = any(not r[3] for r in pr.projections) and n not in fd.values
    fwd_rel, fwd_bad = _forward_judgement(run, n, c, fd.kinks.get(n))
    if fwd_rel is not None:
        pr.per_reference["forward"] = fwd_rel
    _param_verdict(pr, comps, primary, proj_bad or (fwd_bad and primary is None))
    if fwd_bad and pr.verdict == "ok":
        pr.verdict = "inconclusive"
        pr.findings.append(Finding(
            "references", f"∂E/∂{pr.name} agrees with {', '.join(comps)} element by element, but its projections "
            f"⟨∂E/∂{pr.name}, u⟩ on random directions u disagree with forward mode's directional derivatives: the "
            f"references disagree here, so no verdict. Please report this case (sizes and seed) to gradlab.",
            "warning", pr.name))


def _comparisons(run: _Run, n, c, element_refs) -> tuple:
    """Return ({reference: Comparison}, elements excused as kinks or None) for parameter ``n``."""
    fd, scale = run.fd, run.fd.scale[n]
    excused = fd.kinks.get(n)
    if fd.at_kink:
        disagree = np.zeros(c.shape, dtype=bool)
        for r, v in element_refs.items():
            disagree |= compare(c, v, run.ref_tol(r), scale=scale).bad
        excused = _kink_excuse(fd.E, n, c, disagree, excused, scale)
    run.excused_by[n] = excused if fd.at_kink else fd.kinks.get(n)
    comps = {r: compare(c, v, run.ref_tol(r), excused=excused if r == "fd" or fd.at_kink else None, scale=scale)
             for r, v in element_refs.items()}
    unreliable = _fd_unreliable(run, c, comps, element_refs)
    if unreliable is not None:          # the verdict there rests on the exact references
        excused = unreliable if excused is None else excused | unreliable
        run.excused_by[n] = excused if run.excused_by[n] is None else run.excused_by[n] | unreliable
        comps["fd"] = compare(c, element_refs["fd"], run.ref_tol("fd"), excused=excused, scale=scale)
        run.fd_unreliable[n] = int(unreliable.sum())
    return comps, excused


def _fd_unreliable(run: _Run, c, comps, element_refs):
    """Elements where finite differences cannot judge: the candidate disagrees with them by no more than
    their own rounding error (ε·|E|/h: large when E is huge, e.g. exploding states) while every exact
    reference present agrees with the candidate. None when there are none."""
    if "fd" not in comps or not comps["fd"].bad.any():
        return None
    exact = [r for r in comps if r != "fd"]
    if not exact:
        return None
    agree = ~np.logical_or.reduce([comps[r].bad for r in exact])
    mask = comps["fd"].bad & agree & (np.abs(c - element_refs["fd"]) <= 10 * run.fd.noise())
    return mask if mask.any() else None


def _param_verdict(pr: ParamResult, comps: dict, primary, proj_bad: bool) -> None:
    """ok when every reference agrees; wrong when the primary one (or all) disagree; else inconclusive."""
    bad_refs = [r for r, cmp_ in comps.items() if cmp_.n_bad]
    if not bad_refs and not proj_bad:
        pr.verdict = "ok"
    elif primary in bad_refs or (primary is None and proj_bad) or len(bad_refs) == len(comps):
        pr.verdict = "wrong"
    else:
        pr.verdict = "inconclusive"
        pr.findings.append(Finding(
            "references", f"∂E/∂{pr.name} agrees with {', '.join(r for r in comps if r not in bad_refs)} but not "
            f"with {', '.join(bad_refs)}: the references disagree here, so no verdict. Please report this case "
            f"(sizes and seed) to gradlab.", "warning", pr.name))


def _worst_element(pr: ParamResult, c, cmp_, ref, source: str) -> None:
    idx = cmp_.worst()
    noteworthy = cmp_.bad[idx] or cmp_.significant_rel[idx] > 0 or not np.isfinite(cmp_.rel_err[idx])
    pr.worst = Element(idx, float(c[idx]), float(ref[idx]), float(cmp_.abs_err[idx]),
                       float(cmp_.rel_err[idx]) if noteworthy else 0.0, source)
    pr.rtol, pr.atol = cmp_.tol.rtol, cmp_.atol_scaled
    pr.n_checked, pr.n_bad = int(c.size), cmp_.n_bad


def _kink_excuse(E, name, cand, disagree, excused, scale):
    r"""Mark elements where the candidate disagrees with a reference but matches a one-sided slope:
    at a kink the derivative does not exist, and any value between the two slopes is a subgradient."""
    ex = np.zeros(cand.shape, dtype=bool) if excused is None else excused.copy()
    tol = tolerance("central")
    pad = 1e-5 * max(1.0, scale)
    for idx in zip(*np.nonzero(disagree)):
        u = finite.unit({name: cand.shape}, name, idx)
        left, right = finite.one_sided(E, u, 1e-7)
        if abs(left - right) > 1e-6 * max(1.0, scale):
            c = float(cand[idx])
            if (min(left, right) - pad <= c <= max(left, right) + pad
                    or compare_scalars(c, left, tol, scale)[0] or compare_scalars(c, right, tol, scale)[0]):
                ex[idx] = True
    return ex


def _reference_agreement(run: _Run) -> None:
    """Phase 5: the largest relative difference between the engine and every other reference."""
    agreement = {}
    for r in ("autograd", "sympy", "fd"):
        if r not in run.opts.references or (r != "fd" and r not in run.refs):
            continue
        vals = [_agreement_of(run, r, n) for n in run.names
                if (n in run.fd.values if r == "fd" else True)]
        if r == "fd":
            vals += _projection_agreement(run)
        if vals:
            agreement[f"engine ↔ {'finite differences' if r == 'fd' else r}"] = max(vals)
    rows = [r for rs in run.fwd_proj.values() for r in rs]
    if rows:        # ⟨∇E, u⟩ by reverse mode against D_u E by forward mode
        agreement["reverse ↔ forward mode"] = max(_scalar_agreement(r[2], r[1], run.fd.scale[n], run.ref_tol("engine"))
                                                  for n, rs in run.fwd_proj.items() for r in rs)
    run.report.agreement = agreement
    run.report.references_agree = all(v <= (run.fd.tol.rtol if "finite" in k else 1e-8) * 10
                                      for k, v in agreement.items())


def _scalar_agreement(a: float, b: float, scale: float, tol) -> float:
    """The relative difference of two projections (relative to the negligible size when both are smaller)."""
    return float(rel_error(a, b, tol.atol * max(1.0, scale)))


def _agreement_of(run: _Run, r: str, n) -> float:
    eng, scale = run.eng[n], run.fd.scale[n]
    other = run.fd.values[n] if r == "fd" else run.refs[r][n]
    floor = run.ref_tol(r).atol * max(1.0, scale)
    re_ = rel_error(eng, other, floor=floor)
    tiny = (np.abs(eng - other) <= floor) & (np.abs(eng) + np.abs(other) <= NEGLIGIBLE * max(scale, 1e-300))
    re_ = np.where(tiny, 0.0, re_)   # values and difference negligible next to the largest entry
    ex = run.excused_by.get(n) if (r == "fd" or run.fd.at_kink) else None
    if ex is not None:
        re_ = np.where(ex, 0.0, re_)
    return float(np.max(re_)) if re_.size else 0.0


def _projection_agreement(run: _Run) -> list:
    out = []
    for n, rows in run.fd.projections.items():
        if n in run.fd.values:
            continue
        floor = run.fd.tol.atol * max(1.0, run.fd.scale[n])
        out += [0.0 if abs(row[4] - row[1]) <= floor else float(rel_error(row[4], row[1], floor)) for row in rows]
    return out


def _whole_check_pitfalls(run: _Run) -> None:
    """Phase 6, second part: warnings about the check itself (degenerate values, saturation, float32, kinks)."""
    report = run.report
    report.findings.extend(pitfalls.degenerate_problem(run.p64))
    sat = pitfalls.saturation(run.rec.graph)
    if sat is not None:
        report.findings.append(sat)
    low_input = run.in_dtype.itemsize < 8 or (run.low_precision and run.cast_inside is None)
    if low_input or run.opts.sweep:
        report.sweep = _sweep(run.problem, run.eng, report, run.in_dtype if low_input else np.float64)
    if run.cast_inside is not None:
        report.findings.append(pitfalls.float32_inside_finding(*run.cast_inside))
    elif run.low_precision:
        report.findings.append(pitfalls.float32_finding(np.float32, report.sweep))
    if run.fd_unreliable:
        report.findings.append(_fd_unreliable_finding(run))
    if run.fd.at_kink:
        report.findings.append(Finding("kink", "some ReLU/max/clip input sits exactly on its kink, where the "
                                       "derivative is not defined; elements whose value matches one of the two "
                                       "one-sided slopes are not counted as errors.", "note"))


def _fd_unreliable_finding(run: _Run) -> Finding:
    E0 = float(np.asarray(run.rec.loss.data))
    where = ", ".join(f"∂E/∂{n} ({k} element{'s' if k > 1 else ''})" for n, k in run.fd_unreliable.items())
    exact = [r for r in ("engine", "autograd", "sympy") if r in run.refs]
    names = {"engine": "gradlab's reverse mode", "autograd": "HIPS autograd", "sympy": "SymPy"}
    agree = run.report.agreement.get("engine ↔ autograd")
    return Finding("fd_unreliable", f"finite differences cannot judge {where}: at these values E = {E0:.3g} "
                   f"(exploding states?), so rounding alone makes a difference quotient uncertain by about "
                   f"ε·E/h ≈ {run.fd.noise() / 4:.1e}, more than the gradient's tolerance. The verdict there rests on "
                   f"{' and '.join(names[r] for r in exact)}"
                   + (f", which agree with each other to {agree:.1e}" if agree is not None and len(exact) > 1 else "")
                   + ".", "warning")


def _localise(run: _Run) -> None:
    """Phase 7: where inside BPTT the wrong gradients go wrong (from the returned adjoints and from
    checks on the first T' = 1, 2, … steps of the same sequence). Skipped when a whole-gradient
    explanation (a factor on every term) already says what is wrong: no time step is singled out."""
    report, p64, spec = run.report, run.p64, run.spec
    wrong = report.wrong
    if not wrong or not run.opts.localise or run.explained:
        return
    report.localisation.extend(localise.by_adjoints(run.adjoints, run.eng_adj, p64))
    if run.prefixes is None or p64.sizes["T"] <= 1:
        return
    for n in run.factored:       # an exact factor is not a time step's mistake
        run.prefixes.first.pop(n, None)
    parts = tuple(a[len("delta_"):] for a in spec.adjoint_names())
    report.localisation[:0] = localise.prefix_sentences(run.prefixes, parts, kind=spec.kind,
                                                        output_layer=spec.output_layer_names())
    T = p64.sizes["T"]
    report.steps = {n: list(range(t, T + 1)) for n, t in run.prefixes.first.items() if t is not None}


def _model_differs(run: _Run) -> None:
    """Phase 6, the forward first: does the candidate differentiate the declared model? A returned loss E
    (or final state) that is not the model's, or every gradient exactly another model's (c_0 fixed to zero,
    a mean over time, the other gate order …: the option is named) — then the gradients are not judged and
    nothing else is explained; or a truncated BPTT that is not the declared one (:mod:`gradlab.check.forward`)."""
    forward.diagnose(run.report, run.cand, run.spec, run.p64, run.rec, run.grads, run.eng, run.fwd,
                     explain=run.opts.localise)
    if any(f.severity == "error" and f.kind in ("forward", "model") for f in run.report.findings):
        run.explained = True


def _drop_doubles(run: _Run) -> None:
    """A factor found exactly on a second draw (:func:`explain_wrong`) is said once: drop the one-draw
    "mean over time on this gradient only" of the forward phase for the same parameter."""
    for p in run.report.params:
        if p.name in run.factored:
            p.findings = [f for f in p.findings if f.kind != "mean_one"]


def _prefixes(run: _Run):
    """The prefix checks T' = 1 … T of the wrong parameters (recurrent models), or None."""
    if not run.report.wrong or not run.spec.recurrent:
        return None
    return localise.by_prefix(run.cand, run.p64, run.report.wrong, run.tol("exact"), kind=run.spec.kind,
                              hidden=run.p64.sizes.get("H"))


def _verdict(run: _Run) -> None:
    """Phase 8: fail when a parameter is wrong or the candidate is not a function of its input;
    inconclusive when the references disagree; pass otherwise."""
    report = run.report
    if report.wrong or any(f.severity == "error" and f.kind in ("nondeterministic", "forward", "model")
                           for f in report.findings):
        report.verdict = "fail"
    elif any(p.verdict == "inconclusive" for p in report.params):
        report.verdict = "inconclusive"
    else:
        report.verdict = "pass"


def _redo_if_degenerate(run: _Run, given: bool) -> CheckReport:
    """Phase 9: a check whose reference gradient of some parameter is zero cannot tell a right
    derivation from a wrong one; redo it once on freshly drawn values, saying why."""
    report, problem = run.report, run.problem
    zero_ref, absent = vanishing(run.rec, run.eng)
    if absent:
        report.findings.append(Finding("absent", f"E does not depend on {', '.join(absent)} at these sizes (e.g. "
                                       f"T = {problem.sizes.get('T')}): their gradient is zero by construction, "
                                       f"and only a zero is right for them.", "note"))
    if not zero_ref or not run.opts.redo_degenerate:
        return report
    note = Finding("degenerate", f"with the {'given' if given else 'drawn'} values the reference gradient of "
                   f"{', '.join(zero_ref)} is zero (e.g. targets equal to the outputs make ∂E/∂y = 0, and every "
                   f"gradient vanishes): such a check cannot tell a right derivation from a wrong one. The verdict "
                   f"below comes from freshly drawn values (seed {problem.seed + 1}).", "warning")
    t0 = time.perf_counter()
    fresh = run.spec.draw(problem.sizes, problem.seed + 1)
    again = _check_once(run.cand, run.spec, fresh, run.opts.replace(dtype=run.in_dtype)).report
    again.findings.insert(0, note)
    again.elapsed = report.elapsed + time.perf_counter() - t0
    return again


# ----------------------------------------------------------------------------------- helpers
def _smallest(spec) -> dict:
    """The smallest sizes with some recurrence: T = 2 and one unit everywhere (two classes for a vocabulary)."""
    sizes = {n: 1 for n in getattr(spec, "size_names", ("T", "D", "H", "O") if spec.recurrent else ("D", "H", "O"))}
    sizes.update({n: 2 for n in ("T", "V") if n in sizes})
    return sizes


def _values_dtype(problem):
    dts = {np.asarray(v).dtype for v in list(problem.params.values()) + list(problem.data.values())}
    small = [d for d in dts if d.kind == "f" and d.itemsize < 8]
    return np.dtype(small[0]) if small else np.dtype(np.float64)


def _sweep(problem, eng, report, dtype):
    """Central differences over a range of steps on the worst element, in ``dtype``."""
    name, idx = None, None
    worst = -1.0
    for p in report.params:
        if p.worst is not None and p.worst.rel_err > worst:
            worst, name, idx = p.worst.rel_err, p.name, p.worst.index
    if name is None:
        name = next(iter(eng))
        idx = tuple(0 for _ in eng[name].shape)
    low = problem.astype(dtype)
    rec = low.record(dtype=dtype)
    E = finite.LossFunction(rec, low.params, dtype=dtype)
    u = finite.unit({name: eng[name].shape}, name, idx)
    u = {name: u[name].astype(dtype)}
    ref = float(eng[name][idx])
    rows = []
    for k in range(1, 11):
        h = np.dtype(dtype).type(10.0 ** -k)
        est = float((E.along(u, h) - E.along(u, -h)) / (2 * h))
        rows.append((float(h), est, abs(est - ref) / max(abs(est) + abs(ref), 1e-300)))
    return rows
