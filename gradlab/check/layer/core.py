r"""One layer-mode check: the author's backward against the VJP of the author's forward.

:func:`check_layer` draws sizes and values (or takes them), runs the forward once untraced and hands its
cache with a random upstream gradient to the backward (twice, to see that it is deterministic),
computes the reference VJP by every route (:mod:`.routes`), compares every returned gradient — inputs
and initial states as well as weights — element by element with the checker's tolerances
(:mod:`gradlab.check.compare`), and explains what it finds: pitfalls in the author's words
(:mod:`.explain`), the exact mistake where a mutated reference matches (:mod:`.mutate`), and where in
time it starts (:mod:`.timeloc`).
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..candidate import DerivationError
from ..compare import compare, tolerance
from ..pitfalls import saturation
from ..report import Element, Finding, ParamResult
from . import explain as words
from .mutate import explain as explain_by_mutation
from .mutate import explain_adjoints
from .report import ROUTE_NAMES, LayerReport
from .routes import AuthorError, Case, autograd_vjp, blackbox_vjp, run_backward, run_forward, trace_forward
from .timeloc import localise

__all__ = ["check_layer", "draw_values", "ROUTES", "agreement"]

ROUTES = ("traced", "blackbox", "autograd")
_MISSING = object()
# findings that explain a gradient as a whole (a factor, a transpose, clipping, zeros, a gate order): such a
# gradient is wrong the same way at every step, so the time-step probes say nothing more about it
_WHOLE = ("scale", "sign", "factor_2", "factor_half", "transposed", "clipped", "zeros", "gate_order", "shape",
          "none", "missing", "type")


def _scale(decl, spec, shape) -> float:
    """Weights ±(0.1 … 0.9)/√fan-in: fan-in is the row count in the row layout (x·W), the column count
    in the column layout (W·a); everything else ±(0.1 … 0.9)."""
    if len(shape) != 2 or (decl.time is not None and spec.axis_of(decl.time) is not None):
        return 1.0
    fan = shape[0] if decl.style == "cs231n" else shape[1]
    return 1.0 / math.sqrt(max(fan, 1))


def draw_values(decl, sizes: dict, rng) -> dict:
    r"""Return {path: array} for every input: floats ±(0.1 … 0.9) (never 0; weights scaled by 1/√fan-in),
    indices uniform in 0 … bound−1, masks true with probability ¾ (at least one true)."""
    vals = {}
    for path, spec in decl.leaves():
        shape = spec.shape(sizes)
        if spec.kind == "int":
            vals[path] = rng.integers(0, spec.bound.value(sizes), size=shape)
        elif spec.kind == "bool":
            m = rng.random(shape) < 0.75
            if m.size and not m.any():
                m.flat[0] = True
            vals[path] = m
        else:
            mag = rng.uniform(0.1, 0.9, shape) * rng.choice([-1.0, 1.0], shape)
            vals[path] = mag * _scale(decl, spec, shape)
    return vals


def _by_name(decl, values: dict) -> dict:
    """Accept {path: array} or {input name: array} (dict entries by their own name)."""
    out = {}
    paths = {p[-1]: p for p, _ in decl.leaves()}
    for k, v in values.items():
        path = k if isinstance(k, tuple) else paths.get(k)
        if path is None:
            raise ValueError(f"check_layer: values gives {k!r}, which is not an input ({', '.join(paths)})")
        out[path] = np.asarray(v)
    return out


def agreement(a: dict, b: dict) -> float:
    r"""Return max over gradients of max|a − b| / max|a| (each gradient's difference relative to its own
    largest entry): the number the references' agreement is stated in."""
    worst = 0.0
    for p in a:
        if p not in b:
            continue
        x, y = np.asarray(a[p], float), np.asarray(b[p], float)
        top = float(np.max(np.abs(x))) if x.size else 0.0
        if top == 0.0:
            top = float(np.max(np.abs(y))) if y.size else 0.0
        if top == 0.0:
            continue
        worst = max(worst, float(np.max(np.abs(x - y))) / top)
    return worst


def _returned(decl, ret, where_fn):
    r"""Map what the backward returned to {input path: value}; raise DerivationError when the structure
    does not fit the style."""
    fname = getattr(where_fn, "__name__", "backward")
    line = words.return_line(where_fn)
    path_file = getattr(getattr(where_fn, "__code__", None), "co_filename", None)
    names = ", ".join(decl.grad_name(p) for p in decl.order)
    if decl.style == "cs231n" or decl.backward is None:
        if len(decl.order) == 1 and not isinstance(ret, (tuple, list)):
            ret = (ret,)
        if not isinstance(ret, (tuple, list)):
            what = "one array" if isinstance(ret, np.ndarray) else type(ret).__name__
            raise DerivationError(f"{fname}() returned {what}; in the cs231n style it returns the {len(decl.order)} "
                                  f"gradients of the float inputs, in input order: {names}", path_file, line)
        if len(ret) != len(decl.order):
            raise DerivationError(f"{fname}() returned {len(ret)} gradient{'s' if len(ret) != 1 else ''}, expected "
                                  f"{len(decl.order)}: one per float input, in input order ({names})", path_file, line,
                                  "declare grads=(…) when the backward returns the gradients of some inputs only")
        return dict(zip(decl.order, ret)), []
    if not isinstance(ret, dict):
        raise DerivationError(f"{fname}() returned {type(ret).__name__}; in the coursera style it returns a dict "
                              f"{{\"d\" + name: gradient}} ({names})", path_file, line)
    out, unknown = {}, []
    for k, v in ret.items():
        if k in decl.grads:
            out[decl.grads[k]] = v
        else:
            unknown.append(k)
    return out, unknown


def _array(value, gname, where, decl, spec, sizes):
    """(float64 array or None, findings) for one returned gradient."""
    if value is None:
        return None, [Finding("none", f"{where}your {gname} is None: not computed.", "error", gname)]
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001
        return None, [Finding("type", f"{where}your {gname} cannot be made an array: {exc}.", "error", gname)]
    if arr.dtype.kind not in "fiu":
        return None, [Finding("type", f"{where}your {gname} has dtype {arr.dtype}; a gradient is an array of real "
                              f"floats.", "error", gname)]
    want = spec.shape(sizes)
    if arr.shape != tuple(want):
        return None, [words.shape_finding(decl, gname, spec, arr.shape, sizes, where)]
    findings = []
    if arr.dtype.kind in "iu":
        findings.append(Finding("type", f"{where}your {gname} has integer dtype {arr.dtype}: a buffer made with an "
                                f"integer dtype truncates the gradient.", "error", gname))
    elif arr.dtype.itemsize < 8:
        findings.append(Finding("float32", f"your {gname} is {arr.dtype}, which carries about 7 significant "
                                f"digits: it is compared with the float64 references under float32 tolerances "
                                f"(rtol 2e-3), which can hide small errors. Compute the backward in float64 for a "
                                f"sharp verdict.", "warning", gname))
    if not np.all(np.isfinite(arr)):
        findings.append(Finding("nan", f"{where}your {gname} contains NaN or Inf.", "error", gname))
    return arr.astype(np.float64), findings


def _candidate_fn(decl, case):
    """``f(upstream) -> {path: array}``: a fresh forward, then the author's backward (or the loss's own gradient)."""
    def run(upstream):
        _, cache, loss_grads = run_forward(decl, case.values)
        ret = loss_grads if decl.backward is None else run_backward(decl, case.with_upstream(upstream), cache)
        got, _ = _returned(decl, ret, decl.backward or decl.forward)
        return {p: np.asarray(v, dtype=float) for p, v in got.items() if v is not None}
    return run


def check_layer(decl, *, sizes: dict | None = None, seed: int = 0, values: dict | None = None,
                upstream: dict | None = None, references=ROUTES, localise_errors: bool = True,
                explain: bool = True, name: str | None = None) -> LayerReport:
    r"""Return a :class:`~gradlab.check.layer.report.LayerReport`: every gradient ``decl``'s backward
    returns, compared with the VJP of its forward by the routes in ``references`` (a subset of
    ``("traced", "blackbox", "autograd")``) on one drawn case.

    ``sizes`` overrides the declaration's default sizes ({letter: int}); ``values`` and ``upstream``
    replace drawn inputs ({name: array}) and the upstream gradient ({output name: array}). Raises
    :class:`~gradlab.check.candidate.DerivationError` (the author's file and line) when the author's
    forward or backward raises or returns something that does not fit the declared style.
    """
    t0 = time.perf_counter()
    references = tuple(references)
    if not references or any(r not in ROUTES for r in references):
        raise ValueError(f"check_layer: references must be a non-empty subset of {ROUTES}, got {references!r}")
    sz = decl.default_sizes()
    if sizes:
        unknown = [k for k in sizes if k not in sz]
        if unknown:
            raise ValueError(f"check_layer: sizes gives {unknown[0]!r}, not a size letter of {decl.label} "
                             f"({', '.join(sz)})")
        sz.update({k: int(v) for k, v in sizes.items()})
    rng = np.random.default_rng(seed)
    vals = draw_values(decl, sz, rng)
    if values:
        given = _by_name(decl, values)
        specs_all = dict(decl.leaves())
        for path, v in given.items():
            want = tuple(specs_all[path].shape(sz))
            if np.shape(v) != want:
                raise ValueError(f"check_layer: values[{path[-1]!r}] has shape {np.shape(v)}, but {path[-1]} is "
                                 f"declared {specs_all[path].letters_text()} = {want} at sizes {sz}")
        vals.update(given)
    case = Case(sz, vals, {}, seed)
    counts = {"forward_calls": 0, "blackbox_calls": 0, "backward_calls": 0, "traced_vjps": 0}
    floats = decl.float_leaves()
    names = {p: decl.grad_name(p) for p, _ in floats}

    # ---- the author's forward and backward, untraced
    try:
        outs, cache, loss_grads = run_forward(decl, vals)
        counts["forward_calls"] += 1
        if upstream is not None:
            up = {k: np.asarray(v, dtype=float) for k, v in upstream.items()}
        elif decl.backward is None:
            up = {"loss": np.array(1.0)}
        else:
            up = {n: rng.uniform(0.1, 0.9, np.shape(outs[n])) * rng.choice([-1.0, 1.0], np.shape(outs[n]))
                  for n in decl.upstream}
        for n in decl.upstream:
            if np.shape(up.get(n)) != np.shape(outs[n]):
                raise ValueError(f"check_layer: the upstream gradient for {n} has shape {np.shape(up.get(n))}, but "
                                 f"{n} has shape {np.shape(outs[n])}")
        case.upstream = up
        ret = loss_grads if decl.backward is None else run_backward(decl, case, cache)
        counts["backward_calls"] += decl.backward is not None
        _, cache2, loss_grads2 = run_forward(decl, vals)
        ret2 = loss_grads2 if decl.backward is None else run_backward(decl, case, cache2)
        counts["forward_calls"] += 1
        counts["backward_calls"] += decl.backward is not None
    except AuthorError as err:
        raise words.author_error(decl, err, sz) from None
    fn = decl.backward or decl.forward
    got, unknown = _returned(decl, ret, fn)
    got2, _ = _returned(decl, ret2, fn)
    report = LayerReport(name or decl.label, decl.describe(), dict(sz), seed, "full", "", references,
                         layer=decl.label, upstream=tuple(decl.upstream))
    where = f"{words.short(fn.__code__.co_filename)}:{words.return_line(fn)}: " if hasattr(fn, "__code__") else ""
    for k in unknown:
        report.notes.append(f"{fn.__name__}() returned {k!r}, which is not \"d\" + an input name "
                            f"({', '.join(names.values())}); it was not checked.")

    # ---- the references
    refs, primary = {}, None
    trace = None
    if "traced" in references:
        trace = trace_forward(decl, vals)
        if not trace.ok:
            at = (f" at {words.short(trace.where.filename)}:{trace.where.lineno} (`{(trace.where.line or '').strip()}`)"
                  if trace.where is not None else "")
            report.routes["traced"] = (f"not usable: the forward cannot be traced — it uses {trace.note}{at}; "
                                       f"gradlab falls back to the black box")
            trace = None
        else:
            diff = _value_mismatch(trace, outs, decl.upstream)
            if diff is not None:
                report.routes["traced"] = (f"not usable: the traced forward computes other values for {diff[0]} "
                                           f"(max difference {diff[1]:.1e}) than your forward, so the trace is not "
                                           f"faithful (writing through a view of an array?); gradlab falls back to "
                                           f"the black box")
                trace = None
            else:
                refs["traced"] = trace.vjp(up)
                counts["traced_vjps"] += 1
                report.routes["traced"] = (f"your forward recorded through gradlab's engine "
                                           f"({len(trace.tracer.sites)} nodes) and differentiated by its reverse mode")
    need_blackbox = "blackbox" in references or "traced" not in refs
    bb = None
    if need_blackbox:
        try:
            bb = blackbox_vjp(decl, case)
        except AuthorError as err:
            raise words.author_error(decl, err, sz) from None
        counts["blackbox_calls"] = bb.evaluations
        counts["forward_calls"] += bb.evaluations
        refs["blackbox"] = bb.grads
        how = ("complex step (h = 1e-20)" if bb.method == "complex" else
               "central differences with two levels of Richardson extrapolation")
        report.routes["blackbox"] = how + (f"; {bb.note}" if bb.note else "")
    if "autograd" in references:
        ag, note = autograd_vjp(decl, case)
        if ag is None:
            report.routes["autograd"] = note.replace("HIPS autograd skipped: ", "skipped: ")
        else:
            refs["autograd"] = ag
            report.routes["autograd"] = "HIPS autograd on your forward with np rebound to autograd.numpy"
    primary = next(r for r in ("traced", "blackbox", "autograd") if r in refs)
    report.method = ("traced" if "traced" in refs else "black box") + (
        "" if bb is None else "+complex" if bb.method == "complex" else "+Richardson")

    # ---- the references against each other
    tol = {"traced": tolerance("exact"), "autograd": tolerance("exact"),
           "blackbox": tolerance("complex" if bb is not None and bb.method == "complex" else "richardson")}
    excused = _kink_excuses(trace, refs, tol["blackbox"], report) if bb is not None and bb.method != "complex" else {}
    for r in ("blackbox", "autograd"):
        if r in refs and primary != r:
            other = refs[r] if r != "blackbox" else {p: np.where(excused[p], refs[primary][p], g) if p in excused
                                                    else g for p, g in refs[r].items()}
            report.agreement[f"{ROUTE_NAMES[primary]} ↔ {ROUTE_NAMES[r]}"] = agreement(refs[primary], other)
    report.references_agree = all(v <= (tol["blackbox"].rtol if "black" in k else 1e-8) * 10
                                  for k, v in report.agreement.items())
    if "traced" in refs and "blackbox" in refs and not report.references_agree:
        worst = max(report.agreement.values())
        report.findings.append(Finding("references", f"the traced reference disagrees with the black box (max "
                                       f"relative difference {worst:.1e}): the trace is not trusted, and the verdict "
                                       f"comes from the black box. Please report this forward to gradlab.", "warning"))
        primary = "blackbox"
        trace = None

    # ---- every returned gradient
    cands, not_returned = {}, []
    for path, spec in floats:
        gname = names[path]
        value = got.get(path, _MISSING)
        r_primary = refs[primary][path]
        if value is _MISSING:
            if not any(np.any(refs[r][path]) for r in refs):
                not_returned.append(gname)
                continue
        pr = ParamResult(gname, tuple(spec.shape(sz)), formula=spec.letters_text())
        report.params.append(pr)
        if value is _MISSING:
            pr.verdict = "wrong"
            pr.findings.append(Finding("missing", f"{fn.__name__}() returns no {gname}, but the reference {gname} is "
                                       f"not 0: return it as \"{gname}\".", "error", gname))
            continue
        arr, found = _array(value, gname, where, decl, spec, sz)
        for f in found:      # a warning (float32) concerns the whole verdict: said at the report's level
            (pr.findings if f.severity == "error" else report.findings).append(f)
        if arr is None:
            pr.verdict = "wrong"
            continue
        cands[path] = arr
        scale = float(np.max(np.abs(r_primary))) if r_primary.size else 0.0
        low = np.asarray(value).dtype.itemsize < 8          # a float32 gradient: float32 tolerances, and a warning
        comps = {r: compare(arr, refs[r][path], tolerance("exact", np.float32) if low else tol[r], scale=scale,
                            excused=excused.get(path) if r == "blackbox" else None)
                 for r in refs}
        for r, cmp_ in comps.items():
            pr.per_reference[r] = cmp_.max_rel
        cp = comps[primary]
        idx = cp.worst()
        rel_idx = float(cp.rel_err[idx]) if (cp.bad[idx] or cp.significant_rel[idx] > 0) else 0.0
        pr.worst = Element(idx, float(arr[idx]), float(r_primary[idx]), float(cp.abs_err[idx]), rel_idx, primary)
        pr.rtol, pr.atol, pr.n_checked, pr.n_bad = cp.tol.rtol, cp.atol_scaled, int(arr.size), cp.n_bad
        bad = [r for r, c in comps.items() if c.n_bad]
        if not bad and not any(f.severity == "error" for f in found):
            pr.verdict = "ok"
        elif primary in bad or len(bad) == len(comps) or any(f.severity == "error" for f in found):
            pr.verdict = "wrong"
        else:
            pr.verdict = "inconclusive"
            pr.findings.append(Finding("references", f"{gname} agrees with {ROUTE_NAMES[primary]} but not with "
                                       f"{', '.join(ROUTE_NAMES[r] for r in bad)}: the references disagree here, so "
                                       f"no verdict. Please report this case to gradlab.", "warning", gname))
        if pr.verdict == "wrong" and cp.n_bad:
            pr.findings.extend(words.value_findings(decl, path, gname, spec, arr, r_primary, sz))
            gate = words.gate_block(decl, spec, idx, sz)
            if gate:
                report.gate_of[gname] = gate
        if not _same(value, got2.get(path)):
            report.findings.append(Finding("nondeterministic", f"your {gname} changed between two calls with the "
                                           f"same inputs and upstream gradient: the forward or backward uses "
                                           f"unseeded randomness or keeps state between calls.", "error", gname))

    if not_returned:
        report.notes.append(f"{fn.__name__}() returns no {', '.join(not_returned)}; with the upstream gradient "
                            f"into {', '.join(decl.upstream)} alone their reference is 0, so nothing is missing.")

    # ---- findings for the whole layer
    wrong = {p for p, _ in floats if any(q.name == names[p] and q.verdict == "wrong" for q in report.params)}
    ref = refs[primary]
    explained = {p for p in wrong if any(q.name == names[p] and any(f.kind in _WHOLE for f in q.findings)
                                         for q in report.params)}
    if wrong and explain:
        wrong_vals = {p: cands[p] for p in wrong if p in cands}
        by_name = {q.name: q for q in report.params}
        for f in words.swap_findings(wrong_vals, ref, names):
            by_name[f.param].findings.insert(0, f)
        if len(wrong) == len(cands) == len(floats) and len(cands) > 1:
            f = words.shared_scale_finding(cands, {p: ref[p] for p in cands}, names)
            if f is not None:
                report.findings.append(f)
                for q in report.params:
                    q.findings = [x for x in q.findings if x.kind != "scale"]
        if trace is not None and len(cands) == len(report.params):
            hit = explain_by_mutation(trace, up, cands, ref, wrong, names)
            if hit is not None:
                f = Finding(f"explained_{hit[0]}", hit[1], "error")
                report.findings.insert(0, f)
                next(q for q in report.params if q.verdict == "wrong").findings.insert(0, f)   # said once
            else:
                for path, sentence in explain_adjoints(decl, trace, up, cands, ref, wrong - explained, names, sz):
                    by_name[names[path]].findings.insert(0, Finding("explained_adjoint", sentence, "error",
                                                                    names[path]))
    explained |= {p for p in wrong if any(f.kind in ("swapped", "clipped_norm") for f in report.findings)
                  or any(q.name == names[p] and any(f.kind == "swapped" for f in q.findings) for q in report.params)}
    if wrong - explained and localise_errors and decl.time is not None and trace is not None:
        lines, steps = localise(decl, case, trace, _candidate_fn(decl, case), cands, ref, wrong, names, outs,
                                skip=explained, probe=report.probe)
        report.localisation.extend(lines)
        report.steps = steps
    if trace is not None:
        sat = saturation(_Graphish(trace))
        if sat is not None:
            report.findings.append(Finding("saturated", sat.message.replace("Use smaller weights or inputs.",
                                                                               "Check with smaller values."), "warning"))

    # ---- verdict
    if wrong or any(f.severity == "error" and f.kind == "nondeterministic" for f in report.findings):
        report.verdict = "fail"
    elif any(q.verdict == "inconclusive" for q in report.params):
        report.verdict = "inconclusive"
    else:
        report.verdict = "pass"
    report.counts = counts
    report.elapsed = time.perf_counter() - t0
    return report


def _kink_excuses(trace, refs, tol, report) -> dict:
    r"""{path: mask} of the black box's elements that differ from the traced reference because central
    differences step across a kink (ReLU, np.maximum, clip) that the forward's values sit close to; those
    elements are judged by the traced reference alone, and the report says so."""
    if trace is None or "traced" not in refs or "blackbox" not in refs:
        return {}
    from ...engine.graph import Graph
    from ...engine.tensor import Tensor

    outs = [t for t in trace.outputs.values() if isinstance(t, Tensor) and t.op is not None]
    if not outs:
        return {}
    near = [(n, d) for n, d in Graph(*outs).kinks() if d < 1e-2]
    if not near:
        return {}
    excused = {}
    for path, g in refs["traced"].items():
        scale = float(np.max(np.abs(g))) if g.size else 0.0
        cmp_ = compare(refs["blackbox"][path], g, tol, scale=scale)
        if cmp_.n_bad:
            excused[path] = cmp_.bad
    if excused:
        node, dist = min(near, key=lambda nd: nd[1])
        site = trace.tracer.sites.get(node)
        where = f" (`{site.text()}` at {words.short(site.file)}:{site.line})" if site is not None else ""
        count = sum(int(m.sum()) for m in excused.values())
        report.notes.append(f"an input of np.{node.op.name}{where} is {dist:.1e} from its kink, and the central "
                            f"differences step across it: {count} element{'s' if count != 1 else ''} of the black "
                            f"box {'are' if count != 1 else 'is'} not counted, and judged by the traced reference "
                            f"alone (the derivative jumps there).")
    return excused


class _Graphish:
    """The traced nodes in the shape :func:`gradlab.check.pitfalls.saturation` reads (``.nodes``)."""

    def __init__(self, trace):
        self.nodes = list(trace.tracer.sites)


def _value_mismatch(trace, outs, upstream):
    """(output name, max difference) when the traced forward's values differ from the real forward's."""
    vals = trace.values()
    for name in upstream:
        a, b = np.asarray(vals.get(name), dtype=float), np.asarray(outs[name], dtype=float)
        if a.shape != b.shape:
            return name, float("inf")
        d = float(np.max(np.abs(a - b))) if a.size else 0.0
        if d > 1e-12 * max(1.0, float(np.max(np.abs(b))) if b.size else 1.0):
            return name, d
    return None


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    try:
        x, y = np.asarray(a), np.asarray(b)
    except Exception:  # noqa: BLE001
        return True
    if x.shape != y.shape or x.dtype.kind not in "fiu" or y.dtype.kind not in "fiu":
        return True
    return bool(np.array_equal(x, y, equal_nan=True))
