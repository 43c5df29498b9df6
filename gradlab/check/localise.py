r"""Where inside the recursion a wrong BPTT gradient goes wrong, said in words.

Every RNN parameter is shared by the T copies of the cell, so its gradient is a sum over time steps.
Two ways to find the first wrong term:

* **prefixes**: check the derivation on the first T' = 1, 2, … steps of the same sequence. At T' = 1
  there is no recurrence; at T' = 2 the gradient first flows back from s_2 into s_1; a derivation
  that is right for T' = 1 and wrong from T' = 2 has the flow through time wrong, not the step.
* **adjoints**: when the derivation also returns ∂E/∂s_t (``delta_s``, an array (T, H)), compare them
  from t = T down to 1; the first (latest) t where they diverge is the step whose backward
  recursion ∂E/∂s_t = ∂E_t/∂s_t + (∂s_{t+1}/∂s_t)ᵀ ∂E/∂s_{t+1} is wrong.
"""
from __future__ import annotations

import numpy as np

from .compare import compare, tolerance
from .references import engine_gradient

__all__ = ["by_prefix", "by_adjoints", "prefix_sentence", "OUTPUT_LAYER"]

#: the output layer's parameters: used at every step, but not part of the recurrence (Elman, LSTM, GRU)
OUTPUT_LAYER = ("W_y", "b_y")


def by_prefix(candidate, problem, names, tol=None):
    """Return (first T' at which one of ``names`` is wrong or None, {T': [wrong names]}) over prefixes."""
    tol = tol or tolerance("exact")
    T = problem.sizes["T"]
    seen = {}
    for Tp in range(1, T + 1):
        sub = problem.prefix(Tp)
        try:
            out = candidate(sub.params, sub.data)
        except Exception:  # noqa: BLE001 - a candidate that fails on a prefix is wrong from there on
            seen[Tp] = list(names)
            return Tp, seen
        ref, _ = engine_gradient(sub.record())
        wrong = []
        for n in names:
            c = out.get(n)
            if c is None or np.shape(c) != ref[n].shape or compare(c, ref[n], tol).n_bad:
                wrong.append(n)
        seen[Tp] = wrong
        if wrong:
            return Tp, seen
    return None, seen


def prefix_sentence(first: int | None, T: int, names, parts=("s",), output_layer=OUTPUT_LAYER) -> str | None:
    """Return the plain-words reading of a prefix search (``parts``: the state's parts, e.g. s and c;
    ``output_layer``: the names of the output layer's parameters, when the code has its own names)."""
    who = ", ".join(f"∂E/∂{n}" for n in names)
    if first is None:
        return None
    if len(parts) == 1:
        p = parts[0]
        into = f"from {p}_t into {p}_{{t−1}}"
        term = f"(the recurrent term of ∂E/∂{p}_{{t−1}})"
    else:
        into = "from step t into step t−1"
        term = "(through " + " or ".join(f"{p}_{{t−1}}" for p in parts) + ")"
    if first == 1:
        return (f"{who} is wrong already for T = 1, a single step with no recurrence: the error is in the "
                f"step's own derivative (the local term ∂{parts[0]}_1/∂W, an activation's derivative or the "
                f"output layer), not in the flow through time.")
    if all(n in output_layer for n in names):
        return (f"{who}: correct for T = 1, wrong from T = {first}: the output layer is used at every step, so "
                f"its gradient is a sum over t, ∂E/∂W_y = Σ_t (y_t − d_t) s_tᵀ; the terms of the other steps are "
                f"missing or wrong.")
    if first == 2:
        return (f"{who}: correct for T = 1, wrong from T = 2: the gradient that flows back {into} is missing "
                f"or wrong {term}.")
    return (f"{who}: correct for T = 1 … {first - 1}, wrong from T = {first}: the terms that reach back "
            f"{first - 1} or more steps are missing or wrong (a product of step-to-step Jacobians cut short "
            f"after {first - 2}?).")


def by_adjoints(cand_adj: dict, ref_adj: dict, problem, tol=None) -> list:
    """Return sentences locating the first (latest) time step whose adjoint ∂E/∂s_t diverges."""
    tol = tol or tolerance("exact")
    out, agreeing, diverging = [], [], []
    for key, ref in ref_adj.items():
        c = cand_adj.get(key)
        if c is None:
            continue
        c = np.asarray(c, dtype=float)
        part = key[len("delta_"):]
        if c.shape != ref.shape:
            out.append(f"{key} has shape {c.shape}, expected {ref.shape} (one row ∂E/∂{part}_t per time step "
                       f"t = 1 … T); it was not used.")
            continue
        if ref.ndim == 1:  # feedforward: one hidden layer
            if compare(c, ref, tol).n_bad:
                out.append(f"your ∂E/∂{part} (the hidden layer's error term) is wrong: the mistake is at or "
                           f"above the hidden layer (∂E/∂y or W_2ᵀ).")
            else:
                out.append(f"your ∂E/∂{part} is right, so the error is in turning it into the weight "
                           f"gradients (the local factor ∂{part}/∂W_1 = f'(a) xᵀ).")
            continue
        T = ref.shape[0]
        bad_t = [t for t in range(T, 0, -1) if compare(c[t - 1], ref[t - 1], tol, scale=float(np.max(np.abs(ref)))).n_bad]
        if not bad_t:
            agreeing.append(part)
            continue
        diverging.append((bad_t[0], part, T))
    if diverging:
        diverging.sort(key=lambda x: -x[0])
        t0, part, T = diverging[0]
        if t0 == T:
            out.append(f"going back from t = T = {T}, ∂E/∂{part}_t is wrong already at the last step, where it is "
                       f"fed only by the output: check ∂E_T/∂y_T and the output layer's Jacobian (W_yᵀ).")
        else:
            agree = f"at the last step t = {T}" if t0 + 1 == T else f"for t = {T} … {t0 + 1}"
            how = (" (W_sᵀ and the activation's derivative at step " + str(t0 + 1) + ")"
                   if part == "s" and len(ref_adj) == 1 else "")
            out.append(f"going back from t = T, the first adjoint to go wrong is ∂E/∂{part}_t: it agrees {agree} "
                       f"and diverges at t = {t0}, so the part of ∂E/∂{part}_{t0} that comes back from step "
                       f"{t0 + 1} is missing or wrong{how}.")
        for t1, other, _ in diverging[1:]:
            out.append(f"∂E/∂{other}_t diverges from t = {t1} on, downstream of that error.")
    if agreeing and not diverging:
        out.append(f"your ∂E/∂{agreeing[0]}_t agree with the reference at every step, so the error is in "
                   f"turning them into the weight gradients (the local factor ∂{agreeing[0]}_t/∂W at each step, "
                   f"or the sum over t).")
    return out
