r"""Pitfall detectors: the mistakes (and the misleading checks) that students really run into, each
recognised from the numbers and explained in words — and only when the numbers are evidence for it.

On a wrong parameter: an exact factor that the sizes explain (2 or ½: a loss without its ½; −1: the
sign of the error term; 1/T: a mean over time where the loss sums; 1/N: a mean over the batch; 1/O),
checked on two draws of different sizes before it is named; a transposed matrix; a gradient clipped
at a bound (some elements saturate at ±b, the others are exact); a placeholder of zeros.

On the output layer at a single step, where ∂E/∂b_y = ∂E_1/∂y_1 and ∂E/∂W_y = ∂E_1/∂y_1 · s_1ᵀ, a
wrong gradient tells which of two things differs: the *error term* (matched against the usual
mistakes: the softmax's derivative applied twice, the derivative taken with respect to p instead of
y, an activation's derivative on a linear output, …) or the *forward model* (the candidate's
numbers are those of another state s_1: another convention, e.g. the GRU's update gate).

On the whole check: float32 inputs or float32 rounding inside the candidate, a candidate whose numbers
change between two calls, and degenerate checks (all-zero weights, saturated units, a zero reference)
that cannot tell right from wrong.
"""
from __future__ import annotations


import numpy as np

from .report import Finding, fmt

__all__ = ["wrong_param_findings", "exact_factor", "named_factor", "factor_finding", "norm_clipping",
           "degenerate_problem", "saturation", "float32_finding", "float32_rounding", "low_precision_lines",
           "float32_inside_finding", "output_layer_story", "forward_equations", "variants", "variant_options",
           "OUTPUT_LAYERS"]

#: the output layer's weight and bias of each kind of model (its gradient at one step is e sᵀ and e)
OUTPUT_LAYERS = {"feedforward": ("W_2", "b_2")}
_DEFAULT_OUTPUT = ("W_y", "b_y")


def _scale_factor(c, r):
    """Return the least-squares factor k with c ≈ k r and the relative residual, or None."""
    rr = float(np.vdot(r, r))
    if rr == 0 or c.shape != r.shape:
        return None
    k = float(np.vdot(c, r)) / rr
    resid = float(np.linalg.norm(c - k * r)) / max(float(np.linalg.norm(c)), 1e-300)
    return k, resid


def wrong_param_findings(name: str, cand, ref, formula: str = "") -> list:
    """Return the findings that explain why ``cand`` differs from ``ref`` for parameter ``name`` on its
    own: zeros, a transposed matrix, clipping at a bound (factors need two draws: :func:`exact_factor`)."""
    c, r = np.asarray(cand, dtype=float), np.asarray(ref, dtype=float)
    found = []
    if c.shape == r.shape and not np.any(c) and np.any(r):
        return [Finding("zeros", f"∂E/∂{name} is zero everywhere (a placeholder never filled in, or a "
                                 f"term that is never added).", "error", name)]
    if c.shape == r.shape:
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


def exact_factor(cand, ref):
    """Return k when ``cand`` is exactly k × ``ref`` (relative residual below 1e-6, k ∉ {0, 1}), else None."""
    c, r = np.asarray(cand, dtype=float), np.asarray(ref, dtype=float)
    if c.shape != r.shape or not np.all(np.isfinite(c)) or not np.any(c) or not np.any(r):
        return None              # zeros are a placeholder, not a factor
    sf = _scale_factor(c, r)
    if sf is None or sf[1] > 1e-6 or abs(sf[0] - 1) < 1e-6:
        return None
    return sf[0]


# factor label -> (value from the sizes, the words that explain it)
_FACTORS = {
    "2": (lambda s: 2.0, "this is what E = (d − y)² gives; the lecture's loss is E = ½(d − y)², whose ½ cancels "
                         "the 2 from the square. Put the ½ back (or halve the error term)."),
    "½": (lambda s: 0.5, "the 2 from differentiating a square is missing, or a ½ is applied twice."),
    "−1": (lambda s: -1.0, "a sign error, typically (d − y) written where ∂E/∂y = (y − d) belongs."),
    "1/T": (lambda s: 1.0 / s["T"] if "T" in s else None,
            "your gradient averages over time, but the loss sums over time, E = Σ_t E_t: drop the division by T "
            "(or, if the loss is meant to be a mean over time, declare it: over_time=\"mean\" in the spec)."),
    "T": (lambda s: float(s["T"]) if "T" in s else None,
          "the loss averages over time but your gradient sums over time (or adds every term T times)."),
    "1/B": (lambda s: 1.0 / s["B"] if "B" in s else None,
            "you divide by the batch size B, but the loss sums over the batch (or, if it is meant to be a mean, "
            "declare batch=\"mean\" in the spec)."),
    "B": (lambda s: float(s["B"]) if "B" in s else None,
          "the loss averages over the batch of B sequences, but your gradient sums over it."),
    "1/N": (lambda s: 1.0 / s["N"] if "N" in s else None,
            "you divide by the batch size N, but the loss sums over the batch (or multiply where it averages)."),
    "N": (lambda s: float(s["N"]) if "N" in s else None,
          "the loss averages over the batch of N sequences, but your gradient sums over it."),
    "1/O": (lambda s: 1.0 / s["O"] if "O" in s else None,
            "you divide by the number of outputs O, as a mean squared error does; this loss sums over the outputs."),
    "O": (lambda s: float(s["O"]) if "O" in s else None,
          "the loss is a mean over the O outputs (E_t = ‖y_t − d_t‖²/O) but your gradient has no 1/O."),
}


def named_factor(ks, sizes) -> str | None:
    r"""Return the name of the factor (``"2"``, ``"1/T"``, …) that equals ``ks[i]`` at ``sizes[i]`` for
    every i (one factor measured on each of several draws), ``"c"`` for the same unnamed constant on
    every draw, or None when the factor changes in a way no size explains (a coincidence)."""
    for label, (value, _) in _FACTORS.items():
        vals = [value(s) for s in sizes]
        if all(v is not None and abs(k - v) <= 1e-6 * abs(v) for k, v in zip(ks, vals)):
            return label
    if len(ks) > 1 and np.allclose(ks, ks[0], rtol=1e-6, atol=0):
        return "c"
    return None


def factor_finding(names, label: str, k: float, sizes) -> Finding:
    """Return the finding for gradients ``names`` that are exactly ``label`` (value ``k``) × the reference."""
    who = ", ".join(f"∂E/∂{n}" for n in names)
    verb = "is" if len(names) == 1 else "are"
    if label == "c":
        return Finding("scale", f"{who} {verb} the reference times the same constant {fmt(k)} at every size "
                       f"checked: a constant factor inside the gradient (a learning rate, a scale, a wrong "
                       f"constant in the error term?).", "error", names[0] if len(names) == 1 else None)
    kind = {"2": "factor_2", "½": "factor_half", "−1": "sign"}.get(label, f"factor_{label}")
    where = "" if label in ("2", "½", "−1") else \
        f" ({label[-1]} = {', '.join(str(s[label[-1]]) for s in sizes)} in the checks)"
    return Finding(kind, f"{who} {verb} exactly {label} × the reference everywhere{where}: {_FACTORS[label][1]}",
                   "error", names[0] if len(names) == 1 else None)


def _clipped(c, r):
    """Return the bound b when c = clip(r, −b, b) for some b below max |r| — at least two elements
    saturate at exactly ±b with the reference's sign, and at least one element below the bound is exact
    (or every element saturates, each exactly ±b with the reference's sign) — else None. A single saturating element, or a gradient of fewer than three elements, is evidence only when
    b is a round number (two significant digits, as clipping bounds are: 5, 1, 0.5): a gradient element
    is not exactly such a number by chance."""
    if c.size == 0:
        return None
    b = float(np.max(np.abs(c)))
    over = np.abs(r) > b * (1 + 1e-9)
    round_bound = b != 0 and float(f"{b:.1e}") == b
    if b == 0 or over.sum() < (1 if round_bound else 2) or (c.size < 3 and not round_bound):
        return None
    if not np.allclose(c[over], b * np.sign(r[over]), rtol=1e-12, atol=0):
        return None
    if over.all():
        return b
    if not np.allclose(c[~over], r[~over], rtol=1e-7, atol=1e-12):
        return None
    return b


def norm_clipping(draws):
    """Return a finding when, on every draw, every parameter's gradient is the reference times one
    factor k < 1 and the candidate's whole gradient has the same norm (the bound of clipping by global
    norm), else None. ``draws``: [(candidate gradients, reference gradients), …] of two or more draws."""
    norms, ks = [], []
    for cands, refs in draws:
        k = None
        for name, r in refs.items():
            c = cands.get(name)
            if c is None or np.shape(c) != np.shape(r):
                return None
            kn = exact_factor(c, r)
            if kn is None or not 0 < kn < 1 or (k is not None and abs(kn - k) > 1e-6 * k):
                return None
            k = kn
        ks.append(k)
        norms.append(np.sqrt(sum(float(np.sum(np.asarray(c, float) ** 2)) for c in cands.values())))
    if len(norms) < 2 or len(refs) < 2 or not np.allclose(norms, norms[0], rtol=1e-6) \
            or np.allclose(ks, ks[0], rtol=1e-6):
        return None
    return Finding("clipped_norm", f"every parameter's gradient is the reference times one factor below 1 "
                   f"({', '.join(fmt(k) for k in ks)} on the draws checked), and your whole gradient has the "
                   f"same norm {fmt(norms[0])} on each: it is clipped by global norm. Clip in the training step, "
                   f"not in the gradient you check.", "error")


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


def float32_rounding(cands: dict, eng: dict, eng32: dict, names) -> float | None:
    r"""Return the largest relative error of ``cands`` against ``eng`` over ``names`` when it is of the
    size of single-precision rounding — no more than 30 × what gradlab's own reverse mode makes of the
    same model in float32 (``eng32``), and below 1e-4 — else None."""
    worst = 0.0
    for n in names:
        c, r = cands.get(n), eng[n]
        if c is None or np.shape(c) != r.shape or not np.all(np.isfinite(c)):
            return None
        scale = max(float(np.max(np.abs(r))), 1e-300) if r.size else 1.0
        err = float(np.max(np.abs(c - r))) / scale
        own = float(np.max(np.abs(np.asarray(eng32[n], float) - r))) / scale
        if err > 30 * max(own, float(np.finfo(np.float32).eps)) or err > 1e-4:
            return None
        worst = max(worst, err)
    return worst


def float32_inside_finding(worst: float, lines) -> Finding:
    """Return the warning for float32 arithmetic inside a candidate that returned float64 arrays."""
    where = ""
    if lines:
        shown = "; ".join(f"line {i}: {text}" for i, text in lines[:3])
        where = f" ({shown})"
    return Finding("float32", f"your gradient carries single-precision rounding: its largest relative error is "
                   f"{worst:.1e}, the size of float32's ε = {np.finfo(np.float32).eps:.1e}, although it returned "
                   f"float64 arrays, so values are cast to float32 inside gradient(){where}. That is precision, not "
                   f"a wrong derivation: it was compared under float32 tolerances (rtol 2e-3), which can hide small "
                   f"errors; compute in float64 for a sharp verdict.", "warning")


def low_precision_lines(path, lines: range | None = None) -> list:
    """Return [(line number, code)] of the lines of ``path`` (only those in ``lines`` if given) whose code
    (not comments or docstrings) asks for single or half precision: ``float32``, ``float16``, ``single``,
    ``half``, or a dtype string such as ``"f4"``."""
    import io
    import tokenize

    names = {"float32", "float16", "single", "half", "csingle"}
    strings = {"float32", "float16", "f4", "f2", "<f4", "single", "half"}
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        found = set()
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.string in names or \
                    tok.type == tokenize.STRING and tok.string.strip("'\"") in strings:
                found.add(tok.start[0])
    except (OSError, TypeError, UnicodeDecodeError, SyntaxError, tokenize.TokenError):
        return []
    src = text.splitlines()
    return [(i, src[i - 1].strip()) for i in sorted(found) if lines is None or i in lines]


# ---------------------------------------------------------------------------- the output layer
def _loss_gradient(loss: str, y, d):
    """∂E/∂y of one step's loss at output y and target d."""
    if loss == "mse_half":
        return y - d
    if loss == "mse":
        return 2.0 * (y - d) / y.size
    z = np.exp(y - np.max(y))
    return z / z.sum() * np.sum(d) - d


def _error_term_mistakes(loss: str, y, d) -> dict:
    """{what it is: the error term a usual mistake gives} for one step's loss (y the outputs, d the target)."""
    if loss == "softmax_cross_entropy":
        z = np.exp(y - np.max(y))
        p = z / z.sum()
        return {
            "(p − d) ⊙ p ⊙ (1 − p): the softmax's derivative applied twice. For E = −Σ_k d_k log softmax(y)_k, "
            "∂E/∂y = p − d already contains the softmax's Jacobian; drop the factor p ⊙ (1 − p)": (p - d) * p * (1 - p),
            "−d ⊘ p: the derivative with respect to p, not to y; the softmax's Jacobian is missing "
            "(through it, −d ⊘ p becomes p − d)": -d / p,
            "y − d: the raw scores in place of the probabilities p = softmax(y)": y - d,
            "d − p: the sign is flipped (∂E/∂y = p − d)": d - p,
        }
    e = _loss_gradient(loss, y, d)
    out = {
        "(y − d) ⊙ (1 − y²): tanh's derivative applied to the output, but y = W_y s + b_y is linear": e * (1 - y * y),
        "(y − d) ⊙ y ⊙ (1 − y): σ's derivative applied to the output, but y = W_y s + b_y is linear": e * y * (1 - y),
    }
    if loss == "mse":
        out.update({"(y − d) / O: the 2 from the square is missing": (y - d) / y.size,
                    "2 (y − d): the 1/O of the mean is missing": 2 * (y - d),
                    "y − d: both the 2 and the 1/O are missing": y - d})
    return out


def _rank_one_state(W, e):
    """Return s with W = e sᵀ (None when W is not of that form or e is 0)."""
    ee = float(e @ e)
    if ee <= 1e-300:
        return None
    s = W.T @ e / ee
    if not np.allclose(W, np.outer(e, s), rtol=1e-7, atol=1e-12 * max(1.0, float(np.max(np.abs(W))))):
        return None
    return s


def output_layer_story(spec, problem, cand: dict, ref: dict, tol: float = 1e-7) -> dict | None:
    r"""Read the output layer's gradient at a single step (``problem`` has T = 1, or is feedforward) and
    return what differs, or None: ``{"kind": "error_term", "name": mistake or None, "yours", "right"}``
    when the candidate's state is right but its error term ∂E_1/∂y_1 is not; ``{"kind": "forward",
    "yours", "right"}`` (the states s_1) when its numbers are those of another forward pass."""
    W, b = OUTPUT_LAYERS.get(spec.kind, _DEFAULT_OUTPUT)
    if W not in ref or b not in ref or W not in cand or b not in cand:
        return None
    Wc, ec = np.asarray(cand[W], float), np.asarray(cand[b], float)
    Wr, er = ref[W], ref[b]
    if Wc.shape != Wr.shape or ec.shape != er.shape:
        return None
    close = lambda a, r: np.allclose(a, r, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(r)))))  # noqa: E731
    if close(Wc, Wr) and close(ec, er):
        return None
    s_ref = _rank_one_state(Wr, er)
    s_c = _rank_one_state(Wc, ec)
    if s_ref is None or s_c is None:
        return None
    d = problem.data["d"] if "d" in problem.data else problem.data["ds"][-1]
    W_y, b_y = problem.params[W], problem.params[b]
    if close(s_c, s_ref):
        y = W_y @ s_ref + b_y
        name = next((what for what, e in _error_term_mistakes(spec.loss, y, d).items() if close(ec, e)), None)
        return {"kind": "error_term", "name": name, "yours": ec, "right": er}
    if close(ec, _loss_gradient(spec.loss, W_y @ s_c + b_y, d)):
        return {"kind": "forward", "yours": s_c, "right": s_ref}
    return None


def variants(spec) -> list:
    """Return [(spec, words)] of the other published conventions of ``spec``'s model (the GRU's update and
    reset conventions), each a spec the candidate may have derived for."""
    if spec.kind != "gru":
        return []
    from .. import specs

    have = dict(spec.options)
    out = []
    for update in ("keep", "replace"):
        for reset in ("after", "before"):
            if (update, reset) == (have.get("update", "keep"), have.get("reset", "after")):
                continue
            v = specs.gru(spec.loss, spec.mode, update=update, reset=reset)
            words = {"keep": "s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_{t−1}", "replace": "s_t = z_t ⊙ n_t + (1 − z_t) ⊙ s_{t−1}"}
            out.append((v, f"the GRU with {words[update]} and the reset gate applied {reset} the recurrent product"))
    return out


def spec_call(spec) -> str:
    """Return the call that makes ``spec``, as a derivation writes it: ``gradlab.specs.gru(update="replace")``."""
    import inspect

    from .. import specs

    fn = specs.SPECS[spec.kind]
    have = {"loss": spec.loss, "activation": spec.activation, "mode": spec.mode, **dict(spec.options)}
    args = [f"{k}={have[k]!r}".replace("'", '"') for k, p in inspect.signature(fn).parameters.items()
            if k in have and have[k] != p.default]
    return f"gradlab.specs.{spec.kind}({', '.join(args)})"


def variant_options(spec) -> str:
    """Return the words pointing to the options that select another convention of ``spec``'s model."""
    if spec.kind == "gru":
        return ("; the GRU is written in two conventions, selected with gradlab.specs.gru(update=\"keep\" or "
                "\"replace\", reset=\"after\" or \"before\")")
    return ""


def forward_equations(spec) -> list:
    """Return the reference's forward equations in lecture notation, one line each."""
    act = {"tanh": "tanh", "sigmoid": "σ", "relu": "relu", "identity": ""}.get(spec.activation, spec.activation)
    out = "y_t = W_y s_t + b_y"
    opts = dict(spec.options)
    eq = {
        "feedforward": [f"h = {act}(W_1 x + b_1),   y = W_2 h + b_2"],
        "elman": [f"s_t = {act}(W_x x_t + W_s s_{{t−1}} + b_s),   {out}"],
        "jordan": [f"s_t = {act}(W_x x_t + W_s y_{{t−1}} + b_s),   {out}"],
        "lstm": ["[a_i; a_f; a_g; a_o] = W_x x_t + W_s s_{t−1} + b_s   (rows stacked i, f, g, o)",
                 "i_t = σ(a_i), f_t = σ(a_f), g_t = tanh(a_g), o_t = σ(a_o)",
                 f"c_t = f_t ⊙ c_{{t−1}} + i_t ⊙ g_t,   s_t = o_t ⊙ tanh(c_t),   {out}"],
        "peephole_lstm": ["[a_i; a_f; a_g; a_o] = W_x x_t + W_s s_{t−1} + b_s   (rows stacked i, f, g, o)",
                          "i_t = σ(a_i + p_i ⊙ c_{t−1}), f_t = σ(a_f + p_f ⊙ c_{t−1}), g_t = tanh(a_g)",
                          "c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t,   o_t = σ(a_o + p_o ⊙ c_t)",
                          f"s_t = o_t ⊙ tanh(c_t),   {out}"],
        "four_gate_lstm": ["N_t = tanh(W_n [STM_{t−1}, x_t] + b_n), i_t = σ(W_i [STM_{t−1}, x_t] + b_i), "
                           "f_t = σ(W_f [STM_{t−1}, x_t] + b_f)",
                           "LTM_t = LTM_{t−1} ⊙ f_t + N_t ⊙ i_t,   U_t = tanh(W_u (LTM_{t−1} ⊙ f_t) + b_u)",
                           "V_t = σ(W_v [STM_{t−1}, x_t] + b_v),   STM_t = U_t ⊙ V_t,   y_t = W_y STM_t + b_y"],
        "gru": ["[a_r; a_z; a_n] = W_x x_t + b_x,   [h_r; h_z; h_n] = W_s s_{t−1} + b_s   (rows stacked r, z, n)",
                "r_t = σ(a_r + h_r),   z_t = σ(a_z + h_z)",
                ("n_t = tanh(a_n + W_{s,n} (r_t ⊙ s_{t−1}) + b_{s,n})   (reset=\"before\")"
                 if opts.get("reset") == "before" else "n_t = tanh(a_n + r_t ⊙ h_n)   (reset=\"after\")"),
                ("s_t = z_t ⊙ n_t + (1 − z_t) ⊙ s_{t−1}   (update=\"replace\")" if opts.get("update") == "replace"
                 else "s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_{t−1}   (update=\"keep\")") + f",   {out}"],
    }
    return eq.get(spec.kind, [spec.describe()])
