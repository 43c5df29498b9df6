r"""Pitfall detectors: the mistakes (and the misleading checks) that students really run into, each
recognised from the numbers and explained in words.

On a wrong parameter: a constant factor (2 or ½: a loss without its ½; −1: the sign of the error
term), a transposed matrix, a gradient clipped at a constant, a placeholder of zeros. On the whole
check: float32 inputs, a candidate whose numbers change between two calls, and degenerate checks
(all-zero weights, saturated units, a zero reference) that cannot tell right from wrong.
"""
from __future__ import annotations

import numpy as np

from .report import Finding, fmt

__all__ = ["wrong_param_findings", "norm_clipping", "degenerate_problem", "saturation", "float32_finding"]


def _scale_factor(c, r):
    """Return the least-squares factor k with c ≈ k r and the relative residual, or None."""
    rr = float(np.vdot(r, r))
    if rr == 0 or c.shape != r.shape:
        return None
    k = float(np.vdot(c, r)) / rr
    resid = float(np.linalg.norm(c - k * r)) / max(float(np.linalg.norm(c)), 1e-300)
    return k, resid


def wrong_param_findings(name: str, cand, ref, formula: str = "") -> list:
    """Return the findings that explain why ``cand`` differs from ``ref`` for parameter ``name``."""
    c, r = np.asarray(cand, dtype=float), np.asarray(ref, dtype=float)
    found = []
    if c.shape == r.shape and not np.any(c) and np.any(r):
        return [Finding("zeros", f"∂E/∂{name} is zero everywhere (a placeholder never filled in, or a "
                                 f"term that is never added).", "error", name)]
    if c.shape == r.shape:
        sf = _scale_factor(c, r)
        if sf is not None and sf[1] < 1e-6 and abs(sf[0] - 1) > 1e-6:
            k = sf[0]
            if abs(k - 2) < 1e-6:
                found.append(Finding("factor_2", f"∂E/∂{name} is exactly 2 × the reference everywhere: this is what "
                                     f"E = (d − y)² gives; the lecture's loss is E = ½(d − y)², whose ½ cancels "
                                     f"the 2 from the square. Put the ½ back (or halve the error term).",
                                     "error", name))
            elif abs(k - 0.5) < 1e-6:
                found.append(Finding("factor_half", f"∂E/∂{name} is exactly ½ × the reference everywhere: the 2 "
                                     f"from differentiating a square is missing, or a ½ is applied twice.",
                                     "error", name))
            elif abs(k + 1) < 1e-6:
                found.append(Finding("sign", f"∂E/∂{name} is exactly −1 × the reference: a sign error, typically "
                                     f"(d − y) written where ∂E/∂y = (y − d) belongs.", "error", name))
            else:
                found.append(Finding("scale", f"∂E/∂{name} is the reference times {fmt(k)} everywhere: a constant "
                                     f"factor (a missing 1/N of a mean, a learning rate or a clipping factor "
                                     f"applied inside the gradient?).", "error", name))
        if c.ndim == 2 and c.shape[0] == c.shape[1] and c.shape[0] > 1 and np.allclose(c, r.T, rtol=1e-7, atol=1e-12) \
                and not np.allclose(c, r, rtol=1e-7, atol=1e-12):
            found.append(Finding("transposed", f"∂E/∂{name} equals the transpose of the reference: in lecture "
                                 f"notation ∂E/∂W = δ · (input)ᵀ, an outer product with the *output* side "
                                 f"first (rows of W belong to outputs).", "error", name))
        clip = _clipped(c, r)
        if clip is not None:
            found.append(Finding("clipped", f"∂E/∂{name} agrees with the reference except where the reference is "
                                 f"larger than {fmt(clip)} in magnitude, and there yours is exactly ±{fmt(clip)}: the "
                                 f"gradient is clipped. Clipping belongs in the training step, after the check; "
                                 f"compare the unclipped gradient.", "error", name))
    elif c.ndim == 2 and c.shape == r.shape[::-1]:
        found.append(Finding("transposed", f"∂E/∂{name} has shape {c.shape}, the transpose of {name}'s shape "
                             f"{r.shape} {formula}: in lecture notation ∂E/∂W = δ · (input)ᵀ has W's shape "
                             f"(outputs, inputs).", "error", name))
    return found


def _clipped(c, r):
    """Return the clipping bound when c = clip(r, −b, b) for some b below max |r|, else None."""
    if c.size < 2:
        return None
    b = float(np.max(np.abs(c)))
    over = np.abs(r) > b * (1 + 1e-9)
    if not over.any() or b == 0:
        return None
    if not np.allclose(np.abs(c[over]), b, rtol=1e-12, atol=0):
        return None
    if not np.allclose(c[~over], r[~over], rtol=1e-7, atol=1e-12):
        return None
    return b


def norm_clipping(cands: dict, refs: dict):
    """Return a finding when every parameter is the reference times the same factor k < 1 (the whole
    gradient rescaled to a fixed norm: clipping by global norm), else None."""
    ks = []
    for name, r in refs.items():
        c = cands.get(name)
        if c is None or np.shape(c) != np.shape(r) or not np.any(r):
            return None
        sf = _scale_factor(np.asarray(c, float), np.asarray(r, float))
        if sf is None or sf[1] > 1e-6:
            return None
        ks.append(sf[0])
    if len(ks) < 2 or not (0 < ks[0] < 1) or not np.allclose(ks, ks[0], rtol=1e-6):
        return None
    norm = np.sqrt(sum(float(np.sum(np.asarray(c, float) ** 2)) for c in cands.values()))
    return Finding("clipped_norm", f"every parameter's gradient is the reference times the same factor "
                   f"{fmt(ks[0])}, and the whole gradient has norm {fmt(norm)}: it was clipped by global norm. "
                   f"Clip in the training step, not in the gradient you check.", "error")


def degenerate_problem(problem) -> list:
    """Return warnings when the drawn or given values make the check weak (all-zero weights or inputs)."""
    found = []
    zero = [k for k, v in problem.params.items() if np.asarray(v).size and not np.any(v) and np.asarray(v).ndim == 2]
    if zero:
        found.append(Finding("degenerate", f"{', '.join(zero)} {'is' if len(zero) == 1 else 'are'} all zeros: "
                             f"terms multiplied by {'it' if len(zero) == 1 else 'them'} vanish, so a derivation "
                             f"that gets those terms wrong would still match. Check with non-zero weights.",
                             "warning"))
    for k in ("xs", "x"):
        if k in problem.data and np.asarray(problem.data[k]).dtype.kind == "f" and not np.any(problem.data[k]):
            found.append(Finding("degenerate", f"the inputs {k} are all zeros: ∂E/∂W_x-type terms vanish and "
                                 f"cannot be checked.", "warning"))
    return found


def saturation(graph, threshold: float = 0.99, fraction: float = 0.5):
    """Return a warning when most tanh/sigmoid units sit in their flat tails (derivative ≈ 0)."""
    total = flat = 0
    for n in graph.nodes:
        if n.op is None or n.op.name not in ("tanh", "sigmoid"):
            continue
        v = np.asarray(n.data, dtype=float)
        slope = 1 - v * v if n.op.name == "tanh" else 4 * v * (1 - v)   # both scaled to 1 at the centre
        total += v.size
        flat += int(np.sum(slope < 1 - threshold))
    if total and flat / total >= fraction:
        return Finding("saturated", f"{flat} of {total} tanh/sigmoid units are saturated (slope below "
                       f"{1 - threshold:.2f} of its maximum): gradients through them are nearly zero, so errors "
                       f"in those terms are hard to see. Use smaller weights or inputs.", "warning")
    return None


def float32_finding(dtype, sweep_rows) -> Finding:
    """Return the float32 warning with the step sweep's lesson in words."""
    eps = float(np.finfo(dtype).eps)
    name = np.dtype(dtype).name
    txt = (f"the check ran with {name} values. A {name} number carries only ~{int(-np.log10(eps))} significant "
           f"digits (machine epsilon {eps:.1e}), so a finite difference (E(θ + h) − E(θ − h)) / 2h loses "
           f"digits to rounding as h shrinks (the difference of two nearly equal numbers) and to truncation "
           f"as h grows")
    if sweep_rows:
        best = min(sweep_rows, key=lambda r: r[2])
        ruined = [h for h, _, err in sweep_rows if err > 1e-2 and h < best[0]]
        txt += f"; in the step sweep (shown with -v or in the report) the best step is h = {best[0]:.0e}"
        if ruined:
            txt += f", and from h = {max(ruined):.0e} down the estimate is mostly rounding noise"
    txt += (". Your gradient was compared with float64 references under float32 tolerances (rtol 2e-3), "
            "which can hide small errors: check in float64 (numpy.float64 arrays) for a sharp verdict.")
    return Finding("float32", txt, "warning")
