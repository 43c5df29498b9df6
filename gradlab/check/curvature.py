r"""Checking a hand-written curvature product, as gradients are checked: ``gauss_newton(params, data, v)``
or ``hessian(params, data, v)`` in a derivation file beside ``MODEL``.

The contract. The function receives the parameters and data of a drawn model (as ``gradient`` does) and a
vector ``v`` {parameter name: array of that parameter's shape}, and returns {parameter name: array}: the
blocks of G v (G = Jᵀ H_L J, the Gauss–Newton matrix of E with respect to the model's outputs z = (y_t),
:mod:`gradlab.curvature`) or of H v (the Hessian of E). ``EXPECT = "wrong"`` with ``WRONG = (names…)``
or ``"all"`` marks a planted mistake, as for gradients.

The references, each on the same drawn model and random directions v (components from a private seeded
generator):

* ``engine`` — gradlab: J v by forward mode, H_L from the recorded loss, Jᵀ by reverse mode (G v); or
  reverse-over-forward (H v);
* ``autograd`` — HIPS autograd on replays of the graph: its own forward mode for J v, its Hessian of the
  loss as a function of the outputs, its reverse mode for Jᵀ (G v); ``hessian_vector_product`` (H v);
* ``fd`` — differences: the Jacobian J column by column from the recorded outputs (complex step when
  the graph is analytic, else central differences), with H_L from autograd (G v); central differences of
  autograd's gradients along v (H v).

The verdict is per parameter block, element by element, like a gradient's; the report adds what the
theory says a product must be (symmetric: ⟨u, C v⟩ = ⟨C u, v⟩; G also positive semi-definite), whether a
wrong G v is in fact H v (or the reverse), an exact factor, and the first sequence length at which it is wrong.
"""
from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass

import numpy as np

from .candidate import Candidate, DerivationError, _assign_line, _from_namespace, import_derivation
from .compare import compare, rel_error, tolerance
from .report import CheckReport, Element, Finding, ParamResult

__all__ = ["PRODUCTS", "ProductCandidate", "load_product", "check_product", "check_product_file", "is_product_file",
           "product_references"]

#: the products a derivation may define, and what they are called in reports
PRODUCTS = {"gauss_newton": "Gauss–Newton product G v", "hessian": "Hessian product H v"}
_REFERENCES = ("engine", "autograd", "fd")
_V_SEED = 0x4756   # the directions v: a private generator, never the global state


@dataclass
class ProductCandidate(Candidate):
    r"""A hand-written curvature product ``fn(params, data, v) -> dict``: ``product`` is ``"gauss_newton"`` or
    ``"hessian"``."""

    product: str = "gauss_newton"

    def __call__(self, params, data, v=None) -> dict:       # noqa: D102 - Candidate.__call__ with v
        from .candidate import _Data, _Lookup

        handed = {k: np.array(a, copy=True) for k, a in params.items()}
        p, d = _Lookup(handed), _Data({k: np.array(a, copy=True) for k, a in data.items()})
        vv = _Lookup({k: np.array(a, copy=True) for k, a in v.items()})
        vv.what = "v"
        self.calls += 1
        try:
            with np.errstate(all="ignore"):
                out = self.fn(p, d, vv)
        except Exception as exc:  # the user's code: report it at the user's line
            raise self._located(exc) from None
        if not isinstance(out, dict):
            raise self.error(f"{self.product}(params, data, v) returned {type(out).__name__}, expected a dict "
                             f"{{parameter name: array}}", hint='end with e.g. return {"W_x": Gv_x, "W_s": Gv_s, ...}')
        return {k: (np.array(a, dtype=float) if np.asarray(a).dtype.kind in "biuf" else a) for k, a in out.items()}


def is_product_file(path: str) -> bool:
    """True when the file defines ``gauss_newton`` or ``hessian`` at module level (read from its syntax tree)."""
    from .candidate import scan_file

    s = scan_file(path)
    return s.kind != "error" and any(n in s.names for n in PRODUCTS)


def load_product(path: str) -> ProductCandidate:
    r"""Import a curvature-product derivation and return its :class:`ProductCandidate`, checked against the
    contract (``MODEL`` a spec without truncation, one of ``gauss_newton`` / ``hessian`` taking
    ``(params, data, v)``, ``WRONG`` naming real parameters); breaches are :class:`DerivationError`."""
    from ..specs import Spec

    path = os.path.abspath(path)
    module, mod_name = import_derivation(path)
    found = [n for n in PRODUCTS if inspect.isfunction(getattr(module, n, None))]
    if len(found) != 1:
        what = "defines both gauss_newton and hessian" if found else "defines no function gauss_newton or hessian"
        raise DerivationError(f"{what}: a curvature derivation defines exactly one of them", path,
                              _assign_line(path, found[-1]) if found else None,
                              "def gauss_newton(params, data, v): ... returning {\"W_x\": ..., ...}")
    name = found[0]
    fn = getattr(module, name)
    required = [p for p in inspect.signature(fn).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) != 3:
        raise DerivationError(f"{name} must take three arguments (params, data, v), it takes {len(required)}: "
                              f"({', '.join(p.name for p in required)})", path, fn.__code__.co_firstlineno)
    model = getattr(module, "MODEL", None)
    if not isinstance(model, Spec):
        raise DerivationError("MODEL must be a spec from gradlab.specs" if model is not None else
                              "defines no MODEL: say which model the product is for", path,
                              _assign_line(path, "MODEL"), 'e.g. MODEL = gradlab.specs.elman(loss="mse_half")')
    if model.opt("truncate") is not None:
        raise DerivationError("a curvature product is checked for the full E (no truncate= option): the gradient "
                              "of a truncated E is not the derivative of any loss", path, _assign_line(path, "MODEL"))
    base = _from_namespace(module, fn, model, os.path.basename(path))
    cand = ProductCandidate(fn, base.name, spec=model, expect=base.expect, wrong=base.wrong, path=path,
                            doc=base.doc, module=module, product=name)
    if cand.wrong and cand.wrong != ("all",):
        names = list(model.param_shapes())
        bad = [w for w in cand.wrong if w not in names]
        if bad:
            raise DerivationError(f"WRONG names {bad[0]!r}, which is not a parameter of {model.describe()}; its "
                                  f"parameters are {', '.join(names)}", path, _assign_line(path, "WRONG"))
    return cand


# ----------------------------------------------------------------------------------------- references
def _directions(shapes: dict, seed: int, count: int) -> list:
    rng = np.random.default_rng([_V_SEED, int(seed) & 0xFFFFFFFF])
    return [{n: rng.uniform(0.5, 1.5, s) * rng.choice([-1.0, 1.0], s) for n, s in shapes.items()} for _ in range(count)]


class _Products:
    r"""The reference products of one recorded model (``rec``: a :class:`~gradlab.specs.Recording`)."""

    def __init__(self, rec, product: str):
        self.rec, self.product = rec, product
        present = set(rec.graph.leaves)
        self.names = [n for n in rec.params if rec.params[n] in present]
        self.leaves = [rec.params[n] for n in self.names]
        self.shapes = {n: rec.params[n].shape for n in rec.params}
        self._autograd_parts = None
        self._J = None

    def _out(self, values: dict) -> dict:
        return {n: np.asarray(values.get(n, np.zeros(s)), dtype=float) for n, s in self.shapes.items()}

    def _flat(self, v: dict) -> np.ndarray:
        return np.concatenate([np.ravel(v[n]) for n in self.names]) if self.names else np.zeros(0)

    def _split(self, x) -> dict:
        out, k = {}, 0
        for n in self.names:
            size = int(np.prod(self.shapes[n], dtype=int))
            out[n] = np.reshape(x[k:k + size], self.shapes[n])
            k += size
        return out

    def engine(self, v: dict) -> dict:
        """gradlab's product."""
        from ..curvature import gauss_newton_product, hessian_product

        vv = {self.rec.params[n]: v[n] for n in self.names}
        if self.product == "hessian":
            got = hessian_product(self.rec.loss, vv, self.leaves)
        else:
            got = gauss_newton_product(self.rec.loss, self.rec.outputs, vv, self.leaves)
        return self._out({n: got[self.rec.params[n]] for n in self.names})

    # ---- HIPS autograd
    def _functions(self):
        """(θ ↦ E, θ ↦ outputs raveled, z ↦ L) written in autograd.numpy over flat vectors."""
        if self._autograd_parts is None:
            import autograd.numpy as anp

            from ..curvature import _loss_from
            from ..engine.graph import Graph

            rec = self.rec
            loss_f = rec.graph.function(self.leaves, xp=anp)
            outs = rec.outputs

            def unflat(theta):
                parts, k = [], 0
                for n in self.names:
                    size = int(np.prod(self.shapes[n], dtype=int))
                    parts.append(anp.reshape(theta[k:k + size], self.shapes[n]))
                    k += size
                return parts

            def E(theta):
                return loss_f(*unflat(theta))

            parts = None
            if self.product == "gauss_newton":
                out_f = Graph(*outs).function(self.leaves, xp=anp)

                def Z(theta):
                    got = out_f(*unflat(theta))
                    got = got if isinstance(got, tuple) else (got,)
                    return anp.concatenate([anp.ravel(g) for g in got])

                zs, again = _loss_from(rec.loss, outs)
                L_f = Graph(again).function(zs, xp=anp)
                sizes = [int(np.prod(z.shape, dtype=int)) for z in zs]

                def L(zflat):
                    pieces, k = [], 0
                    for z, size in zip(zs, sizes):
                        pieces.append(anp.reshape(zflat[k:k + size], z.shape))
                        k += size
                    return L_f(*pieces)

                z0 = np.concatenate([np.ravel(o.data) for o in outs])
                parts = (Z, L, z0)
            self._autograd_parts = (E, parts)
        return self._autograd_parts

    def autograd(self, v: dict) -> dict:
        """HIPS autograd's product on replays of the graph."""
        import autograd

        E, parts = self._functions()
        theta = self._flat({n: self.rec.params[n].data for n in self.names})
        vf = self._flat(v)
        if self.product == "hessian":
            return self._out(self._split(autograd.hessian_vector_product(E)(theta, vf)))
        Z, L, z0 = parts
        _, Jv = autograd.make_jvp(Z)(theta)(vf)
        HJv = autograd.hessian_vector_product(L)(z0, Jv)
        vjp_fn, _ = autograd.make_vjp(Z)(theta)
        return self._out(self._split(vjp_fn(HJv)))

    # ---- differences
    def method(self) -> str:
        """What the ``fd`` reference does, in words."""
        if self.product == "hessian":
            return "central differences of HIPS autograd's gradients along v (h = 1e-5)"
        how = "complex step (h = 1e-20)" if self.rec.graph.analytic() else "central differences (h = 1e-6)"
        return f"J by {how} of the recorded outputs, H_L by HIPS autograd"

    def _jacobian(self):
        if self._J is None:
            from ..engine.graph import Graph

            g = Graph(*self.rec.outputs)
            complex_step = self.rec.graph.analytic()
            h = 1e-20 if complex_step else 1e-6
            theta = {n: np.asarray(self.rec.params[n].data, dtype=float) for n in self.names}
            cols = []
            for n in self.names:
                for idx in np.ndindex(*self.shapes[n]):
                    def at(step):
                        values = {self.rec.params[m]: theta[m] for m in self.names}
                        shifted = theta[n].astype(complex if complex_step else float)
                        shifted[idx] += step
                        values[self.rec.params[n]] = shifted
                        got = g.replay(values)
                        got = got if isinstance(got, tuple) else (got,)
                        return np.concatenate([np.ravel(x) for x in got])
                    cols.append(np.imag(at(1j * h)) / h if complex_step else (at(h) - at(-h)) / (2 * h))
            self._J = np.stack(cols, axis=1) if cols else np.zeros((0, 0))
        return self._J

    def fd(self, v: dict) -> dict:
        """The product from differences (see :meth:`method`)."""
        import autograd

        E, parts = self._functions()
        theta = self._flat({n: self.rec.params[n].data for n in self.names})
        vf = self._flat(v)
        if self.product == "hessian":
            grad = autograd.grad(E)
            h = 1e-5
            return self._out(self._split((grad(theta + h * vf) - grad(theta - h * vf)) / (2 * h)))
        _, L, z0 = parts
        J = self._jacobian()
        HJv = autograd.hessian_vector_product(L)(z0, J @ vf)
        return self._out(self._split(J.T @ HJv))


def product_references(rec, product: str, v: dict, references=_REFERENCES) -> dict:
    r"""Return {reference: {parameter name: block of the product}} for the recorded model ``rec`` and the vector
    ``v`` {name: array}: ``product`` is ``"gauss_newton"`` (G v) or ``"hessian"`` (H v)."""
    refs = _Products(rec, product)
    return {r: getattr(refs, r)(v) for r in references}


# ----------------------------------------------------------------------------------------- the check
def _validate(cand: ProductCandidate, out: dict, shapes: dict) -> tuple:
    """(the candidate's blocks of valid shape, findings for the missing and misshapen ones)."""
    good, findings = {}, []
    for n, shape in shapes.items():
        if n not in out:
            findings.append(Finding("missing", f"{cand.product}() returned no block for {n} (it returned "
                                    f"{', '.join(map(repr, out)) or 'nothing'})", "error", n))
            continue
        a = np.asarray(out[n])
        if a.dtype.kind not in "biuf" or a.shape != tuple(shape):
            findings.append(Finding("shape", f"the block for {n} has shape {a.shape}, but {n} has shape {tuple(shape)}",
                                    "error", n, data=a.shape))
            continue
        good[n] = a.astype(float)
    return good, findings


def _one_size(cand: ProductCandidate, spec, problem, references, directions: int):
    """(ParamResults, agreement, candidate's products, references' products, directions) on one drawn model."""
    rec = problem.record()
    refs = _Products(rec, cand.product)
    shapes = refs.shapes
    vs = _directions(shapes, problem.seed, directions)
    results = {n: ParamResult(n, tuple(s)) for n, s in shapes.items()}
    per_ref: dict = {r: [] for r in references}
    cands, findings_all = [], []
    best: dict = {}
    for v in vs:
        got, findings = _validate(cand, cand(problem.params, problem.data, v), shapes)
        cands.append(got)
        findings_all += findings
        ref_values = {r: getattr(refs, r)(v) for r in references}
        for r in references:
            per_ref[r].append(ref_values[r])
        for n, pr in results.items():
            if n not in got:
                pr.verdict = "wrong"
                continue
            c = got[n]
            scale = max(float(np.max(np.abs(ref_values[r][n]))) if c.size else 0.0 for r in references)
            for r in references:
                kind = "exact" if r != "fd" else ("central" if cand.product == "hessian" or not rec.graph.analytic()
                                                 else "complex")
                cmp_ = compare(c, ref_values[r][n], tolerance(kind), scale=scale)
                pr.per_reference[r] = max(pr.per_reference.get(r, 0.0), cmp_.max_rel)
                if r != references[0]:
                    if cmp_.n_bad and pr.verdict == "ok":
                        pr.verdict = "inconclusive"       # the primary reference agrees, another does not
                    continue
                pr.n_checked += int(c.size)
                pr.n_bad += cmp_.n_bad
                if cmp_.n_bad:
                    pr.verdict = "wrong"
                if c.size:
                    idx = cmp_.worst()
                    score = (cmp_.n_bad > 0, float(cmp_.rel_err[idx]))
                    if n not in best or score > best[n][0]:
                        best[n] = (score, Element(idx, float(c[idx]), float(ref_values[r][n][idx]),
                                                  float(cmp_.abs_err[idx]), float(cmp_.rel_err[idx]), r),
                                   cmp_.tol.rtol, cmp_.atol_scaled)
    for n, pr in results.items():
        if n in best:
            _, pr.worst, pr.rtol, pr.atol = best[n]
        seen = set()
        for f in findings_all:            # the same missing block is reported once, not once per direction
            if f.param == n and f.message not in seen:
                seen.add(f.message)
                pr.findings.append(f)
        if pr.verdict == "inconclusive":
            pr.findings.append(Finding("references", f"the {PRODUCTS[cand.product]} block for {n} agrees with "
                                       f"{references[0]} but not with every other reference: no verdict. Please "
                                       f"report this case to gradlab.", "warning", n))
    agreement = {}
    for r in references[1:]:
        worst = 0.0
        for a, b in zip(per_ref[references[0]], per_ref[r]):
            for n in a:
                floor = 1e-10 * max(1.0, float(np.max(np.abs(a[n]))) if a[n].size else 1.0)
                diff = np.abs(a[n] - b[n])
                rel = np.where(diff <= floor, 0.0, rel_error(a[n], b[n], floor)) if a[n].size else np.zeros(0)
                worst = max(worst, float(np.max(rel)) if rel.size else 0.0)
        agreement[f"{references[0]} ↔ {'finite differences' if r == 'fd' else r}"] = worst
    return list(results.values()), agreement, cands, per_ref, vs, rec


def _diagnose(cand, spec, problem, params, cands, per_ref, vs, rec) -> list:
    """Plain-words findings about a product: symmetry, semi-definiteness, H v for G v (or the reverse), a factor."""
    names = [p.name for p in params]
    dot = _dot(names)
    out = []
    complete = [c for c in cands if all(n in c for n in names)]
    if len(complete) >= 2:
        a, b = dot(vs[0], complete[1]), dot(complete[0], vs[1])
        if abs(a - b) > 1e-6 * max(abs(a) + abs(b), 1e-12):
            out.append(Finding("symmetry", f"your product is not symmetric: ⟨u, C v⟩ = {a:.6g} but ⟨C u, v⟩ = {b:.6g} "
                               f"for two random directions u, v; {'G' if cand.product == 'gauss_newton' else 'H'} is a "
                               f"symmetric matrix, so they must be equal.", "error"))
    if cand.product == "gauss_newton" and complete:
        q = dot(vs[0], complete[0])
        if q < -1e-9 * max(1.0, abs(q)):
            out.append(Finding("definite", f"vᵀ(your G v) = {q:.4g} < 0, but G = Jᵀ H_L J is positive semi-definite "
                               f"(vᵀ G v = (J v)ᵀ H_L (J v) ≥ 0 for a convex loss).", "error"))
    wrong = [p.name for p in params if p.verdict == "wrong"]
    if not wrong or not complete:
        return out
    other = "hessian" if cand.product == "gauss_newton" else "gauss_newton"
    theirs = _Products(rec, other).engine(vs[0])
    if all(np.allclose(complete[0][n], theirs[n], rtol=1e-7, atol=1e-10 * (1 + np.abs(theirs[n]).max()))
           for n in names):
        out.append(Finding("other_product", (
            "your product is the Hessian product H v, not the Gauss–Newton product G v: it keeps the term "
            "Σ_k (∂L/∂z_k) ∇²z_k (second derivatives of the network, weighted by the residuals) that G drops."
            if cand.product == "gauss_newton" else
            "your product is the Gauss–Newton product G v, not the Hessian product H v: it drops the term "
            "Σ_k (∂L/∂z_k) ∇²z_k (second derivatives of the network, weighted by the residuals)."), "error"))
        return out
    ref = per_ref["engine"][0] if "engine" in per_ref else next(iter(per_ref.values()))[0]
    ratios = [complete[0][n][np.abs(ref[n]) > 1e-8 * (1 + np.abs(ref[n]).max())] /
              ref[n][np.abs(ref[n]) > 1e-8 * (1 + np.abs(ref[n]).max())] for n in wrong]
    ratios = np.concatenate([r.ravel() for r in ratios]) if ratios else np.zeros(0)
    if ratios.size and np.allclose(ratios, ratios[0], rtol=1e-6) and abs(ratios[0] - 1) > 1e-6:
        out.append(Finding("factor", f"the wrong blocks ({', '.join(wrong)}) are the right ones times {ratios[0]:.6g}.",
                           "error"))
    return out


def _dot(names):
    def dot(a, b):
        return float(sum(np.sum(a[n] * b[n]) for n in names))
    return dot


def _first_wrong_T(cand, spec, problem, references) -> int | None:
    """The smallest prefix length T' at which the product is wrong (recurrent models)."""
    if not spec.recurrent:
        return None
    for T in range(1, problem.sizes["T"] + 1):
        params, *_ = _one_size(cand, spec, problem.prefix(T), ("engine",), 1)
        if any(p.verdict == "wrong" for p in params):
            return T
    return None


def check_product(candidate: ProductCandidate, spec=None, *, sizes=None, seed: int = 0, problem=None,
                  references=_REFERENCES, directions: int = 2, localise: bool = True) -> CheckReport:
    r"""Return a :class:`~gradlab.check.report.CheckReport` comparing a hand-written ``gauss_newton`` or
    ``hessian`` product with the references on one drawn model, along ``directions`` random vectors v.

    The report's per-reference columns are the worst relative errors of each block over the directions; its
    findings say what the theory says about a wrong product (see the module docstring)."""
    t0 = time.perf_counter()
    spec = spec if spec is not None else candidate.spec
    refs = tuple(references)
    if not refs or any(r not in _REFERENCES for r in refs):
        raise ValueError(f"check_product: references must be a non-empty subset of {_REFERENCES}, got {refs!r}")
    problem = problem if problem is not None else spec.draw(sizes, seed)
    problem = problem.astype(np.float64)
    calls0 = candidate.calls
    params, agreement, cands, per_ref, vs, rec = _one_size(candidate, spec, problem, refs, directions)
    report = CheckReport(candidate.name, f"{PRODUCTS[candidate.product]} of {spec.describe()}", dict(problem.sizes),
                         problem.seed, "full", _Products(rec, candidate.product).method() if "fd" in refs else "-",
                         refs, params=params, agreement=agreement, kind=spec.kind)
    report.references_agree = all(v <= (1e-4 if "finite" in k else 1e-7) for k, v in agreement.items())
    report.findings.extend(_diagnose(candidate, spec, problem, params, cands, per_ref, vs, rec))
    if report.wrong and localise and not any(f.kind in ("other_product", "factor") for f in report.findings):
        T = _first_wrong_T(candidate, spec, problem, refs)
        if T is not None and T > 1:
            right = "T = 1" if T == 2 else f"T ≤ {T - 1}"
            report.localisation.append(f"the product is right for {right} and wrong from T = {T} on: "
                                       f"the error is in what links the time steps (a tangent or an adjoint carried "
                                       f"from one step to the next).")
        elif T == 1:
            report.localisation.append("the product is wrong already for T = 1, a single step: the error is in the step's "
                                       "own derivatives or in the loss's Hessian H_L, not in the flow through time.")
    if report.wrong or any(f.severity == "error" for f in report.findings):
        report.verdict = "fail"
    elif any(p.verdict == "inconclusive" for p in params) or not report.references_agree:
        report.verdict = "inconclusive"
    else:
        report.verdict = "pass"
    report.counts = {"products": len(vs), "candidate_calls": candidate.calls - calls0}
    report.elapsed = time.perf_counter() - t0
    return report


def _larger(spec) -> dict:
    sizes = dict(spec.default_sizes())
    for k, n in (("T", 6), ("H", 4), ("D", 3), ("O", 3)):
        if k in sizes:
            sizes[k] = max(sizes[k], n)
    return sizes


def check_product_file(path: str, *, seed: int = 0, examples: int = 20, progress=None, **ignored) -> dict:
    r"""Check one curvature-product derivation; return ``gradlab check``'s result dict (``status`` ok / caught /
    FAIL / MISSED / ERROR, ``expect``, ``expected_wrong``, ``found_wrong``, ``elapsed``, ``error``, ``report``,
    ``search`` None). It is checked at the default sizes and, when right there, at larger ones (T = 6, H = 4)
    and on ``min(examples, 3)`` more drawn values; the first failing check is the report."""
    t0 = time.perf_counter()
    result = {"file": path, "status": "ERROR", "report": None, "search": None, "error": None, "expect": "right",
              "expected_wrong": [], "found_wrong": [], "elapsed": 0.0, "mode": "product"}
    try:
        cand = load_product(path)
        result["expect"] = cand.expect
        names = list(cand.spec.param_shapes())
        result["expected_wrong"] = names if cand.wrong == ("all",) else list(cand.wrong)
        runs = [(None, seed), (_larger(cand.spec), seed)] + [(_larger(cand.spec), seed + 1 + k)
                                                               for k in range(min(int(examples), 3))]
        report, coverage = None, []
        for sizes, s in runs:
            if progress:
                progress(f"{os.path.basename(path)}: checking the {cand.product} product at sizes {sizes or 'default'}")
            report = check_product(cand, sizes=sizes, seed=s)
            coverage.append(dict(report.sizes))
            if report.verdict != "pass":
                break
        report.coverage = coverage if report.verdict == "pass" else []
        result["report"] = report
    except DerivationError as exc:
        result["error"] = exc
        result["elapsed"] = time.perf_counter() - t0
        return result
    except Exception as exc:  # noqa: BLE001 - never show a gradlab traceback to a student
        result["error"] = DerivationError(f"the checker could not run this product: {type(exc).__name__}: {exc}", path)
        result["elapsed"] = time.perf_counter() - t0
        return result
    found = [n for n in names if n in report.wrong]
    result["found_wrong"] = found
    if cand.expect == "right":
        result["status"] = "ok" if report.verdict == "pass" else "FAIL"
    else:
        result["status"] = "caught" if found and set(found) == set(result["expected_wrong"]) else "MISSED"
    doc = (cand.doc or "").strip()
    result["title"] = doc.splitlines()[0] if doc else ""
    result["elapsed"] = time.perf_counter() - t0
    return result
