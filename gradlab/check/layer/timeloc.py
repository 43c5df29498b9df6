r"""From which time step a layer's backward goes wrong, and which gradient shows it first.

The file names the size letter of the time axis (``time="T"``); the inputs and outputs that carry it
are sequences. Two probes, both computed with the traced reference (one reverse pass each) and the
author's backward:

1. **per-step slices under the full upstream gradient.** With g at every step, compare each step's
   slice of a sequence gradient (``dx[:, t, :]``) on its own. A backward that drops the recurrent term
   still gets the last step right (only that step's own derivative reaches it) and every earlier one
   wrong: "dx is correct for t ≥ 4 and wrong from t = 3 back".
2. **the upstream gradient at one step τ only.** By causality the reference then has dx[:, t] = 0 for
   t > τ; dx[:, τ] holds only step τ's own derivative (lag 0); dx[:, τ − k] holds what travelled k
   steps back through the recursion (lag k). Each weight's (and initial state's) gradient is compared
   as a whole for each τ: at τ = 0 it involves one step and no recursion at all. The smallest lag (for
   sequences) or τ (for the rest) at which a gradient goes wrong says what kind of term is wrong: lag 0
   / τ = 0 — the step's own derivative (an activation's derivative, a product with an input); lag 1 —
   the term that carries the gradient from step t back into step t − 1; lag k > 1 — only terms that reach
   k steps back (a recursion cut short, as in truncated BPTT). The gradient with the smallest of these
   "shows it first"; a candidate that is non-zero at t > τ sends gradient forward in time.
"""
from __future__ import annotations

import numpy as np

from ..compare import compare, tolerance

__all__ = ["time_axes", "localise", "slice_text"]


def _output_axis(decl, name, value, sizes):
    """The time axis of an upstream output: declared, or read off its shape at distinct sizes."""
    for o in decl.outputs:
        if o.name == name and o.dims is not None:
            return o.axis_of(decl.time)
    shape = np.shape(value)
    T = sizes[decl.time]
    hits = [a for a, n in enumerate(shape) if n == T]
    if len(hits) != 1 or list(sizes.values()).count(T) != 1:
        return None
    return hits[0]


def time_axes(decl, outputs: dict, sizes: dict) -> tuple:
    """Return ({input path: time axis}, {upstream output: time axis}) for the sequences of a layer."""
    if decl.time is None:
        return {}, {}
    ins = {}
    for path, spec in decl.float_leaves():
        ax = spec.axis_of(decl.time)
        if ax is not None:
            ins[path] = ax
    outs = {}
    for name in decl.upstream:
        ax = _output_axis(decl, name, outputs.get(name), sizes)
        if ax is not None:
            outs[name] = ax
    return ins, outs


def slice_text(gname: str, ndim: int, axis: int, t: str = "t") -> str:
    """``dx[:, t, :]``: one time step of a gradient in the author's layout."""
    parts = [":"] * ndim
    parts[axis] = t
    return f"{gname}[{', '.join(parts)}]"


def _take(a, axis, t):
    return np.take(a, t, axis=axis)


def _steps_text(ts) -> str:
    return ", ".join(map(str, ts))


def localise(decl, case, trace, candidate, cands: dict, ref: dict, wrong: set, names: dict, outputs: dict,
             skip=(), probe: dict | None = None):
    r"""Return (sentences, {gradient name: wrong steps}) locating the error in time.

    ``candidate(upstream)`` calls the author's backward (after a fresh forward) and returns {path: array};
    ``cands`` / ``ref`` are the gradients of the full-upstream check, ``wrong`` the wrong paths, ``skip``
    wrong paths already explained as a whole (a factor, a transpose, clipping), left out of the probes.
    ``probe``, when given, receives {gradient name: [largest relative error of a wrong element at lag k (a
    sequence gradient) or at τ = k (any other), for k = 0 … T−1]}: the picture of the second probe."""
    skip = set(skip)
    sizes = case.sizes
    T = sizes[decl.time]
    in_axes, out_axes = time_axes(decl, outputs, sizes)
    tol = tolerance("exact")
    sentences, steps = [], {}
    if T < 2:
        return sentences, steps

    # 1. per-step slices of the sequence gradients under the full upstream gradient
    for path in [p for p in in_axes if p in wrong and p in cands and p not in skip]:
        ax = in_axes[path]
        c, r = np.asarray(cands[path], float), ref[path]
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        bad = [t for t in range(T) if compare(_take(c, ax, t), _take(r, ax, t), tol, scale=scale).n_bad]
        steps[names[path]] = bad
        g = names[path]
        st = slice_text(g, c.ndim, ax)
        if not bad:
            continue
        if bad == list(range(bad[-1] + 1)) and bad[-1] < T - 1:
            sentences.append(f"{g} is correct for t ≥ {bad[-1] + 1} and wrong from t = {bad[-1]} back "
                             f"(comparing {st} step by step, time axis {ax}).")
        elif len(bad) == T:
            sentences.append(f"{g} is wrong at every step t = 0 … {T - 1}, the last one included ({st} step by "
                             f"step, time axis {ax}).")
        else:
            sentences.append(f"{g} is wrong at t = {_steps_text(bad)} and right at the other steps ({st} step by "
                             f"step, time axis {ax}).")

    # 2. the upstream gradient at one step only
    if not out_axes or trace is None:
        return sentences, steps
    first_lag: dict = {}
    first_tau: dict = {}
    future: dict = {}
    errors: dict = {}
    for tau in range(T):
        up = {}
        for name in decl.upstream:
            g = np.asarray(case.upstream[name], float)
            if name in out_axes:
                mask = np.zeros(g.shape)
                idx = [slice(None)] * g.ndim
                idx[out_axes[name]] = tau
                mask[tuple(idx)] = 1.0
                up[name] = g * mask
            else:
                up[name] = np.zeros(g.shape)
        r_tau = trace.vjp(up)
        try:
            c_tau = candidate(up)
        except Exception:  # noqa: BLE001 - the main check already reported a failing backward
            return sentences, steps
        for path in cands:
            if path in skip or path not in c_tau or np.shape(c_tau[path]) != np.shape(r_tau[path]):
                continue
            c, r = np.asarray(c_tau[path], float), r_tau[path]
            scale = float(np.max(np.abs(ref[path]))) if np.size(ref[path]) else 0.0
            row = errors.setdefault(path, np.zeros(T))
            if path in in_axes:
                ax = in_axes[path]
                for t in range(T):
                    cmp_ = compare(_take(c, ax, t), _take(r, ax, t), tol, scale=scale)
                    if cmp_.n_bad:
                        if t > tau:
                            future[path] = True
                        else:
                            lag = tau - t
                            first_lag[path] = min(first_lag.get(path, lag), lag)
                            row[lag] = max(row[lag], float(np.max(np.where(cmp_.bad, cmp_.rel_err, 0.0))))
            else:
                cmp_ = compare(c, r, tol, scale=scale)
                if cmp_.n_bad:
                    first_tau.setdefault(path, tau)
                    row[tau] = max(row[tau], float(np.max(np.where(cmp_.bad, cmp_.rel_err, 0.0))))
    if probe is not None:
        probe.update({names[p]: [float(v) for v in row] for p, row in errors.items()})

    measure = {p: first_lag[p] for p in first_lag}
    measure.update({p: first_tau[p] for p in first_tau if p not in measure})
    if not measure and not future:
        return sentences, steps
    for p in future:
        g = names[p]
        sentences.append(f"with the upstream gradient at one step τ only, your {g} is non-zero at steps after τ, "
                         f"where the reference is 0 (the future cannot change the past): the backward sends "
                         f"gradient forward in time.")
    if not measure:
        return sentences, steps
    k = min(measure.values())
    first = [p for p in measure if measure[p] == k]
    seq_first = [p for p in first if p in in_axes]
    rest_first = [p for p in first if p not in in_axes]
    parts = [f"{names[p]} ({slice_text(names[p], np.ndim(cands[p]), in_axes[p], 'τ' if k == 0 else f'τ−{k}')})"
             for p in seq_first]
    if rest_first:
        parts.append(f"{', '.join(names[p] for p in rest_first)} (from τ = {k})")
    what_first = " and ".join(parts)
    later = sorted((p for p in measure if measure[p] > k), key=lambda p: measure[p])
    later_text = "; later " + ", ".join(
        (f"{names[p]} (lag {measure[p]})" if p in in_axes else f"{names[p]} (from τ = {measure[p]})") for p in later) \
        if later else ""
    right = [names[p] for p in cands if p not in measure and p not in future and p not in skip]
    right_text = f"; {', '.join(right)} stay right" if right else ""
    if k == 0:
        where = "at τ itself" if seq_first else "already for τ = 0, a single step"
        sentences.append(f"with the upstream gradient at one step τ only, the error shows {where}, before any flow "
                         f"through time: it is in the step's own terms (an activation's derivative, a product with "
                         f"an input or a weight, how the gradient leaves the step), not in the recurrence. First "
                         f"seen in {what_first}{later_text}{right_text}.")
    elif k == 1:
        sentences.append(f"with the upstream gradient at one step τ only, every gradient is right while it stays "
                         f"within step τ and wrong from one step back: the term that carries the gradient from step "
                         f"t back into step t−1 (the recurrent term) is missing or wrong. First seen in "
                         f"{what_first}{later_text}{right_text}.")
    else:
        sentences.append(f"with the upstream gradient at one step τ only, every gradient is right up to {k - 1} "
                         f"step{'s' if k > 2 else ''} back and wrong from {k} steps back: only the terms that reach "
                         f"back {k} or more steps are missing or wrong (the recursion cut short after {k - 1} "
                         f"step{'s' if k > 2 else ''}, as in truncated BPTT?). First seen in "
                         f"{what_first}{later_text}{right_text}.")
    return sentences, steps
