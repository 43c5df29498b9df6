r"""One gradient check: a candidate's gradient against every reference on one drawn model.

:func:`check_gradient` draws (or takes) a concrete model, calls the candidate twice, records the
loss graph once and computes the references on it (gradlab reverse mode, HIPS autograd, finite
differences, optionally exact SymPy), compares element by element, and explains what it found.

Modes. ``full``: a finite difference for every element. ``fast``: per parameter, a few random
projections ⟨∂E/∂θ, u⟩ against the directional derivative D_u E (one or two loss evaluations each,
whatever the parameter count), with directions from a private seeded generator and components
bounded away from zero (|u_i| ∈ [0.5, 1.5] before normalising, so no element is ignored); when a
projection fails, that parameter falls back to element-wise differences, which locate the error.
The engine and autograd gradients are full gradients at the cost of one backward pass each, so
they are compared element by element in both modes.
"""
from __future__ import annotations

import time

import numpy as np

from . import finite, forward, localise, pitfalls
from .candidate import as_candidate
from .compare import NEGLIGIBLE, compare, compare_scalars, rel_error, tolerance
from .references import SYMPY_MAX_ELEMENTS, autograd_gradient, engine_gradient, sympy_gradient
from .report import CheckReport, Element, Finding, ParamResult

__all__ = ["check_gradient", "DEFAULT_REFERENCES", "choose_method"]

DEFAULT_REFERENCES = ("engine", "autograd", "fd")
_ALL_REFERENCES = ("engine", "autograd", "fd", "sympy")
_DIRECTION_SEED = 0x6D6C  # fast mode's directions: a private generator, never the global state


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


def _method_text(m: str, auto: bool, E, refined: int) -> str:
    h = finite.default_step(m)
    if m == "complex":
        return f"complex step (h = {h:.0e}{'; the graph is analytic' if auto else ''})"
    if m == "central" and auto:
        nonsmooth = sorted({n.op.name for n in E.graph.nodes if n.op is not None and not n.op.analytic})
        return (f"central (h = {h:.0e}) + Richardson where they disagree ({refined} elements); "
                f"not analytic: {', '.join(nonsmooth)}")
    if m == "central":
        return f"central (h = {h:.0e})"
    return f"Richardson extrapolation of central differences (h = {h:.0e})"


def check_gradient(candidate, spec=None, *, sizes=None, seed: int = 0, mode: str = "full", method: str = "auto",
                   references=DEFAULT_REFERENCES, problem=None, params=None, data=None, dtype=None,
                   rtol: float | None = None, atol: float | None = None, sweep: bool = False,
                   localise_errors: bool = True, directions: int = 2, name: str | None = None,
                   _retry: bool = True) -> CheckReport:
    r"""Return a :class:`~gradlab.check.report.CheckReport` comparing ``candidate``'s gradient with the
    references on one concrete model.

    ``candidate`` is a function ``gradient(params, data)`` or a derivation module; ``spec`` a model
    spec (default: the module's ``MODEL``). The model is ``problem`` if given, else ``spec.draw(sizes,
    seed)``; ``params`` / ``data`` replace drawn values. ``dtype`` (default: that of the values) is
    what the candidate receives; references are always computed in float64. ``mode`` is ``"full"`` or
    ``"fast"``; ``method`` (``"auto"``, ``"central"``, ``"complex"``, ``"richardson"``) the finite
    differences; ``references`` a subset of ``("engine", "autograd", "fd", "sympy")``; ``sweep`` adds a
    step-size sweep on the worst element. Raises :class:`DerivationError` when the candidate breaks
    the contract (the message names file and line).
    """
    t0 = time.perf_counter()
    cand = as_candidate(candidate, spec, name)
    spec = spec if spec is not None else cand.spec
    if spec is None:
        raise ValueError("check_gradient: give the model spec (e.g. gradlab.specs.elman()) or a module with MODEL")
    if mode not in ("full", "fast"):
        raise ValueError(f"check_gradient: mode must be 'full' or 'fast', got {mode!r}")
    references = tuple(references)
    unknown = [r for r in references if r not in _ALL_REFERENCES]
    if unknown or not references:
        raise ValueError(f"check_gradient: references must be a non-empty subset of {_ALL_REFERENCES}, got {references!r}")
    given_problem = problem is not None or params is not None or data is not None
    if cand.sizes is not None:          # formulas written for one size: check there, no prefix localisation
        if sizes is not None and dict(sizes) != cand.sizes:
            raise ValueError(f"check_gradient: {cand.name} is written for sizes {cand.sizes}, not {dict(sizes)}")
        sizes, localise_errors = cand.sizes, False
    if problem is None:
        problem = spec.draw(sizes, seed)
    if params is not None or data is not None:
        problem = problem.copy(params, data)
    in_dtype = np.dtype(dtype) if dtype is not None else _values_dtype(problem)
    p64 = problem.astype(np.float64)
    report = CheckReport(cand.name, spec.describe(), dict(problem.sizes), problem.seed, mode, "", references)
    counts = {"loss_evaluations": 0, "vjps": 0, "autograd": 0, "projections": 0, "elements_checked": 0,
              "elements": sum(int(np.size(v)) for v in p64.params.values()), "candidate_calls": 0}
    calls0 = cand.calls

    # ---- the candidate, twice (the same input must give the same numbers)
    cin = problem.astype(in_dtype)
    out1 = cand(cin.params, cin.data)
    out2 = cand(cin.params, cin.data)
    fwd = forward.split_outputs(out1, spec)       # a returned loss value E (and final state) beside the gradients
    forward.split_outputs(out2, spec)
    grads, adjoints, shape_findings, out_dtype = _validate(cand, spec, p64, out1)
    if not _same(out1, out2):
        report.findings.append(Finding("nondeterministic", "your gradient changed between two calls with the same "
                                       "parameters and data: it uses unseeded randomness (dropout, random "
                                       "initialisation inside the function, an unseeded generator) or keeps state "
                                       "between calls. A gradient must be a function of (params, data); fix the "
                                       "seed or remove the randomness.", "error"))

    # ---- the references, all on one recording
    rec = p64.record()
    eng, eng_adj = engine_gradient(rec)
    counts["vjps"] += 1
    refs = {}
    if "engine" in references:
        refs["engine"] = eng
    if "autograd" in references:
        refs["autograd"] = autograd_gradient(rec)
        counts["autograd"] += 1
    if "sympy" in references:
        sym = sympy_gradient(rec)
        if sym is None:
            report.findings.append(Finding("sympy_skipped", f"the SymPy reference was skipped: {counts['elements']} "
                                           f"parameter elements (it handles up to {SYMPY_MAX_ELEMENTS} quickly); "
                                           f"check at small sizes for it, e.g. sizes={_smallest(spec)}.", "note"))
        else:
            refs["sympy"] = sym
    E = finite.LossFunction(rec, p64.params)
    m = choose_method(E, method)
    auto = method == "auto"
    low_precision = in_dtype.itemsize < 8 or (out_dtype is not None and out_dtype.itemsize < 8)
    cdtype = np.float32 if low_precision else np.float64
    scale = {n: float(np.max(np.abs(eng[n]))) if eng[n].size else 0.0 for n in eng}
    at_kink = E.has_kinks and E.kink_distance() < 1e-9

    fd = {}
    fd_kink = {}
    refined = [0]

    fd_tol = tolerance("richardson" if m == "central" and auto else m, cdtype, rtol, atol)

    def fd_element(n, idx):
        """One element by finite differences; refined by Richardson (auto) where it disagrees with both
        the engine and the candidate, and marked as a kink where the step crossed one."""
        u = finite.unit({n: eng[n].shape}, n, idx)
        est = finite.estimate(E, u, m)
        used = m
        targets = [eng[n][idx]] + ([float(grads[n][idx])] if n in grads else [])
        if any(compare_scalars(est, t, fd_tol, scale[n])[0] for t in targets):
            return est, False
        if m == "central" and auto:
            refined[0] += 1
            est, used = finite.estimate(E, u, "richardson"), "richardson"
            if any(compare_scalars(est, t, fd_tol, scale[n])[0] for t in targets):
                return est, False
        return est, E.has_kinks and E.crosses_kink(u, finite.default_step(used))

    def fd_full(n):
        arr = np.empty(eng[n].shape)
        kinks = np.zeros(eng[n].shape, dtype=bool)
        for idx in np.ndindex(*arr.shape):
            arr[idx], kinks[idx] = fd_element(n, idx)
        counts["elements_checked"] += arr.size
        fd[n], fd_kink[n] = arr, kinks

    names = list(p64.params)
    if "fd" in references and mode == "full":
        for n in names:
            fd_full(n)
    projections = {}
    if "fd" in references and mode == "fast":
        rng = np.random.default_rng([_DIRECTION_SEED, int(problem.seed) & 0xFFFFFFFF])
        tol_m = tolerance("central" if m == "central" else m, cdtype, rtol, atol)
        for n in names:
            rows = []
            for _ in range(directions):
                u = rng.uniform(0.5, 1.5, eng[n].shape) * rng.choice([-1.0, 1.0], eng[n].shape)
                u /= np.linalg.norm(u)
                est = finite.estimate(E, {n: u}, m)
                counts["projections"] += 1
                cp = float(np.sum(grads[n] * u)) if n in grads else float("nan")
                ok, rel = compare_scalars(cp, est, tol_m, scale[n])
                used = m
                if not ok and m == "central" and auto:
                    est, used = finite.estimate(E, {n: u}, "richardson"), "richardson"
                    ok, rel = compare_scalars(cp, est, tolerance("richardson", cdtype, rtol, atol), scale[n])
                if not ok and E.has_kinks and E.crosses_kink({n: u}, finite.default_step(used)):
                    ok = True   # the step crossed a kink: this projection cannot judge
                ep = float(np.sum(eng[n] * u))
                rows.append((cp, est, rel, bool(ok), ep))
            projections[n] = rows
            if not all(r[3] for r in rows):
                fd_full(n)  # fall back to element-wise differences to locate the error
    report.method = _method_text(m, auto, E, refined[0])
    if getattr(cand, "clip", None) is not None:   # the candidate clips its gradients on purpose
        eng, refs, fd = forward.clip_references(cand.clip, eng, refs, fd)
    counts["loss_evaluations"] = E.evaluations

    # ---- compare, parameter by parameter
    ref_tol = {"engine": tolerance("exact", cdtype, rtol, atol), "autograd": tolerance("exact", cdtype, rtol, atol),
               "sympy": tolerance("exact", cdtype, rtol, atol), "fd": fd_tol}
    order = [r for r in ("engine", "autograd", "sympy", "fd") if r in references]
    excused_by: dict = {}
    for n in names:
        pr = ParamResult(n, tuple(eng[n].shape), formula=_formula(spec, n))
        report.params.append(pr)
        pr.findings.extend(f for f in shape_findings if f.param == n)
        if n not in grads:
            pr.verdict = "wrong"
            continue
        c = grads[n]
        excused = fd_kink.get(n)
        element_refs = {r: refs[r][n] for r in order if r in refs}
        if n in fd:
            element_refs["fd"] = fd[n]
        if at_kink:
            disagree = np.zeros(c.shape, dtype=bool)
            for r, v in element_refs.items():
                disagree |= compare(c, v, ref_tol[r], scale=scale[n]).bad
            excused = _kink_excuse(E, n, c, disagree, excused, scale[n])
        excused_by[n] = excused if at_kink else fd_kink.get(n)
        comps = {r: compare(c, v, ref_tol[r], excused=excused if r == "fd" or at_kink else None, scale=scale[n])
                 for r, v in element_refs.items()}
        for r, cmp_ in comps.items():
            pr.per_reference[r] = cmp_.max_rel
        pr.projections = projections.get(n, [])
        pr.n_checked_fd = int(fd[n].size) if n in fd else 0
        if pr.projections and n not in fd:
            pr.per_reference["fd"] = max(r[2] for r in pr.projections)
        primary = next((r for r in order if r in comps), None)
        pr.n_kink = int(excused.sum()) if excused is not None else 0
        if primary is not None:
            cp_ = comps[primary]
            idx = cp_.worst()
            rel_idx = float(cp_.rel_err[idx]) if (cp_.bad[idx] or cp_.significant_rel[idx] > 0
                                                   or not np.isfinite(cp_.rel_err[idx])) else 0.0
            pr.worst = Element(idx, float(c[idx]), float(element_refs[primary][idx]), float(cp_.abs_err[idx]),
                               rel_idx, primary)
            pr.rtol, pr.atol = cp_.tol.rtol, cp_.atol_scaled
            pr.n_checked, pr.n_bad = int(c.size), cp_.n_bad
        # a failed projection is settled by the element-wise differences it triggered
        proj_bad = any(not r[3] for r in pr.projections) and n not in fd
        bad_refs = [r for r, cmp_ in comps.items() if cmp_.n_bad]
        if not bad_refs and not proj_bad:
            pr.verdict = "ok"
        elif primary in bad_refs or (primary is None and proj_bad) or len(bad_refs) == len(comps):
            pr.verdict = "wrong"
        else:
            pr.verdict = "inconclusive"
            pr.findings.append(Finding("references", f"∂E/∂{n} agrees with {', '.join(r for r in comps if r not in bad_refs)} "
                                       f"but not with {', '.join(bad_refs)}: the references disagree here, so no "
                                       f"verdict. Please report this case (sizes and seed) to gradlab.", "warning", n))
        if pr.verdict == "wrong":
            pr.findings.extend(pitfalls.wrong_param_findings(n, c, eng[n], pr.formula))

    _filter_factor_findings(report.params)
    forward.diagnose(report, cand, spec, p64, rec, grads, eng, fwd, explain=localise_errors)

    # ---- do the references agree among themselves?
    agreement = {}
    for r in order:
        if r == "engine" or r not in refs and r != "fd":
            continue
        vals = []
        for n in names:
            other = fd.get(n) if r == "fd" else refs[r][n]
            if other is None:
                continue
            ex = excused_by.get(n) if (r == "fd" or at_kink) else None
            floor = ref_tol[r].atol * max(1.0, scale[n])
            re_ = rel_error(eng[n], other, floor=floor)
            tiny = (np.abs(eng[n] - other) <= floor) & (np.abs(eng[n]) + np.abs(other) <= NEGLIGIBLE * max(scale[n], 1e-300))
            re_ = np.where(tiny, 0.0, re_)   # values and difference negligible next to the largest entry
            if ex is not None:
                re_ = np.where(ex, 0.0, re_)
            vals.append(float(np.max(re_)) if re_.size else 0.0)
        if r == "fd" and projections:
            vals += [0.0 if abs(row[4] - row[1]) <= ref_tol["fd"].atol * max(1.0, scale[n]) else
                     float(rel_error(row[4], row[1], ref_tol["fd"].atol * max(1.0, scale[n])))
                     for n, rows in projections.items() if n not in fd for row in rows]
        if vals:
            agreement[f"engine ↔ {'finite differences' if r == 'fd' else r}"] = max(vals)
    report.agreement = agreement
    report.references_agree = all(v <= (ref_tol["fd"].rtol if "finite" in k else 1e-8) * 10
                                  for k, v in agreement.items())

    # ---- pitfalls and explanations for the whole check
    wrong = [p.name for p in report.params if p.verdict == "wrong"]
    nc = pitfalls.norm_clipping(grads, eng) if wrong and len(wrong) == len(names) else None
    if nc is not None:
        report.findings.append(nc)
        for p in report.params:
            p.findings = [f for f in p.findings if f.kind != "scale"]
    report.findings.extend(pitfalls.degenerate_problem(p64))
    sat = pitfalls.saturation(rec.graph)
    if sat is not None:
        report.findings.append(sat)
    if low_precision or sweep:
        report.sweep = _sweep(problem, p64, eng, report, in_dtype if low_precision else np.float64)
        if low_precision:
            report.findings.append(pitfalls.float32_finding(np.float32, report.sweep))
    if at_kink:
        report.findings.append(Finding("kink", "some ReLU/max/clip input sits exactly on its kink, where the "
                                       "derivative is not defined; elements whose value matches one of the two "
                                       "one-sided slopes are not counted as errors.", "note"))
    if wrong and localise_errors:
        report.localisation.extend(localise.by_adjoints(adjoints, eng_adj, p64))
        if spec.recurrent and p64.sizes["T"] > 1:
            first, _ = localise.by_prefix(cand, p64, wrong, ref_tol["engine"] if "engine" in refs else tolerance("exact"))
            parts = tuple(a[len("delta_"):] for a in spec.adjoint_names())
            sentence = localise.prefix_sentence(first, p64.sizes["T"], wrong, parts,
                                                output_layer=spec.output_layer_names())
            if sentence:
                report.localisation.insert(0, sentence)
            if first is not None:
                report.steps = {n: list(range(first, p64.sizes["T"] + 1)) for n in wrong}

    forward.settle(report)
    # ---- verdict
    if any(f.severity == "error" and f.kind in ("nondeterministic", "forward", "model") for f in report.findings) \
            or wrong:
        report.verdict = "fail"
    elif any(p.verdict == "inconclusive" for p in report.params):
        report.verdict = "inconclusive"
    else:
        report.verdict = "pass"
    counts["loss_evaluations"] = E.evaluations
    counts["candidate_calls"] = cand.calls - calls0
    report.counts = counts
    report.elapsed = time.perf_counter() - t0

    # ---- a check that cannot tell right from wrong is redone on fresh values
    zero_ref = [n for n in names if not np.any(np.abs(eng[n]) > 1e-12)]
    if zero_ref and _retry:
        note = Finding("degenerate", f"with the {'given' if given_problem else 'drawn'} values the reference "
                       f"gradient of {', '.join(zero_ref)} is zero (e.g. targets equal to the outputs make "
                       f"∂E/∂y = 0, and every gradient vanishes): such a check cannot tell a right derivation "
                       f"from a wrong one. The verdict below comes from freshly drawn values "
                       f"(seed {problem.seed + 1}).", "warning")
        fresh = spec.draw(problem.sizes, problem.seed + 1)
        again = check_gradient(cand, spec, problem=fresh, mode=mode, method=method, references=references,
                               dtype=in_dtype, rtol=rtol, atol=atol, sweep=sweep, localise_errors=localise_errors,
                               directions=directions, name=name, _retry=False)
        again.findings.insert(0, note)
        again.elapsed += report.elapsed
        return again
    return report


def _filter_factor_findings(params):
    """A constant factor on a single element proves nothing, unless several parameters share it."""
    kinds = ("factor_2", "factor_half", "sign", "scale")
    count: dict = {}
    for p in params:
        for f in p.findings:
            if f.kind in kinds:
                count[f.kind] = count.get(f.kind, 0) + 1
    for p in params:
        if int(np.prod(p.shape)) >= 2:
            continue
        p.findings = [f for f in p.findings if f.kind not in kinds or (f.kind != "scale" and count[f.kind] >= 2)]


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


def _smallest(spec) -> dict:
    """The smallest sizes with some recurrence: T = 2 and one unit everywhere (two classes for a vocabulary)."""
    sizes = {n: 1 for n in getattr(spec, "size_names", ("T", "D", "H", "O") if spec.recurrent else ("D", "H", "O"))}
    sizes.update({n: 2 for n in ("T", "V") if n in sizes})
    return sizes


def _values_dtype(problem):
    dts = {np.asarray(v).dtype for v in list(problem.params.values()) + list(problem.data.values())}
    small = [d for d in dts if d.kind == "f" and d.itemsize < 8]
    return np.dtype(small[0]) if small else np.dtype(np.float64)


def _formula(spec, name):
    try:
        return spec.shape_formula(name)
    except Exception:  # noqa: BLE001 - a description only
        return ""


def _small(problem) -> bool:
    return sum(int(np.size(v)) for v in list(problem.params.values()) + list(problem.data.values())) <= 60


def _same(a, b) -> bool:
    if set(a) != set(b):
        return False
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape or x.dtype.kind not in "fiu" or y.dtype.kind not in "fiu":
            continue
        if not np.array_equal(x, y, equal_nan=True):
            return False
    return True


def _validate(cand, spec, p64, out):
    """Return (gradients {name: float array}, adjoints, findings, dtype of the returned arrays), raising
    :class:`DerivationError` for a breach of the contract."""
    import difflib

    names = list(p64.params)
    adj_names = spec.adjoint_names()
    unknown = [k for k in out if k not in names and k not in adj_names]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(str(k), names + list(adj_names), n=1)
        raise cand.error(f"gradient returned {k!r}, which is not a parameter of {spec.describe()}; "
                         f"its parameters are {', '.join(names)}"
                         + (f" (intermediate adjoints: {', '.join(adj_names)})" if adj_names else ""),
                         cand.line_of(str(k)), f"did you mean {close[0]!r}?" if close else None)
    missing = [n for n in names if n not in out]
    if missing:
        shapes = ", ".join(f"{n} {_formula(spec, n)}" for n in missing)
        raise cand.error(f"gradient did not return {', '.join(missing)}; every parameter needs its gradient "
                         f"({shapes})", None, "return a dict with one entry per parameter: "
                         + ", ".join(names))
    grads, findings, dtypes = {}, [], []
    for n in names:
        v = out[n]
        if v is None:
            raise cand.error(f"gradient[{n!r}] is None; return an array of {n}'s shape (zeros if E does not "
                             f"depend on {n})", cand.line_of(n))
        try:
            arr = np.asarray(v)
        except Exception as exc:  # noqa: BLE001
            raise cand.error(f"gradient[{n!r}] cannot be made an array: {exc}", cand.line_of(n)) from None
        if arr.dtype.kind not in "f":
            what = {"i": "integers", "u": "integers", "b": "booleans", "c": "complex numbers",
                    "O": "Python objects", "U": "strings"}.get(arr.dtype.kind, str(arr.dtype))
            raise cand.error(f"gradient[{n!r}] has dtype {arr.dtype} ({what}); a gradient must be an array of "
                             f"real floats (float64)", cand.line_of(n),
                             "e.g. np.zeros_like(params[\"%s\"]) starts a float64 accumulator" % n)
        dtypes.append(arr.dtype)
        want = p64.params[n].shape
        if arr.shape != want:
            where = cand.line_of(n)
            hint = ""
            if arr.ndim == 2 and arr.shape == want[::-1]:
                hint = " (the transpose: ∂E/∂W has W's shape, outputs × inputs)"
            else:
                for other, v2 in p64.params.items():
                    if other != n and np.shape(v2) == arr.shape:
                        hint = f" (the shape of {other}: a term of ∂E/∂{other} used for ∂E/∂{n}?)"
                        break
            findings.append(Finding("shape", f"{_loc(cand, where)}∂E/∂{n} has shape {arr.shape}, but {n} has shape "
                                    f"{want} = {_formula(spec, n)}{hint}.", "error", n, arr.shape))
            continue
        if not np.all(np.isfinite(arr)):
            findings.append(Finding("nan", f"{_loc(cand, cand.line_of(n))}∂E/∂{n} contains NaN or Inf.", "error", n))
        grads[n] = arr.astype(np.float64)
    adjoints = {}
    for k in adj_names:
        if k in out:
            try:
                adjoints[k] = np.asarray(out[k], dtype=np.float64)
            except (TypeError, ValueError):
                pass
    low = [d for d in dtypes if d.itemsize < 8]
    return grads, adjoints, findings, (low[0] if low else np.dtype(np.float64))


def _loc(cand, line):
    import os

    path = cand.source_file
    if not path:
        return ""
    try:
        rel = os.path.relpath(path)
        path = rel if not rel.startswith("..") else path
    except ValueError:
        pass
    return f"{path}:{line}: " if line else f"{path}: "


def _sweep(problem, p64, eng, report, dtype):
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
        h = dtype(10.0 ** -k) if isinstance(dtype, type) else np.dtype(dtype).type(10.0 ** -k)
        est = (E.along(u, h) - E.along(u, -h)) / (2 * h)
        est = float(est)
        rows.append((float(h), est, abs(est - ref) / max(abs(est) + abs(ref), 1e-300)))
    return rows
