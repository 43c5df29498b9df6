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

from dataclasses import dataclass, field

import numpy as np

from .compare import compare, tolerance
from .elements import GATES, gate_block
from .references import engine_gradient

__all__ = ["Prefixes", "by_prefix", "by_adjoints", "prefix_sentences", "prefix_sentence", "OUTPUT_LAYER"]

#: the output layer's parameters: used at every step, but not part of the recurrence (Elman, LSTM, GRU)
OUTPUT_LAYER = ("W_y", "b_y")


@dataclass
class Prefixes:
    r"""What checks on the first T' = 1 … T steps found: ``first`` {parameter: the first T' at which it is
    wrong, None if never}, ``blocks`` {parameter: the gate letters of the wrong rows at that T' (stacked
    parameters only)}, and the candidate's gradient and the engine's at T' = 1 (``at_one``)."""

    T: int
    first: dict = field(default_factory=dict)
    blocks: dict = field(default_factory=dict)
    at_one: tuple | None = None


def by_prefix(candidate, problem, names, tol=None, *, kind: str = "", hidden: int | None = None) -> Prefixes:
    """Check ``names`` on every prefix T' = 1 … T of ``problem`` and return the :class:`Prefixes`: each
    parameter's own first wrong T' (a statement about T' = 1 is the result of a check at T' = 1)."""
    tol = tol or tolerance("exact")
    T = problem.sizes["T"]
    out = Prefixes(T, {n: None for n in names})
    for Tp in range(1, T + 1):
        todo = [n for n in names if out.first[n] is None]
        if not todo:
            break
        sub = problem.prefix(Tp)
        try:
            got = candidate(sub.params, sub.data)
        except Exception:  # noqa: BLE001 - a candidate that fails on a prefix is wrong from there on
            out.first.update({n: Tp for n in todo})
            break
        ref, _ = engine_gradient(sub.record())
        if Tp == 1:
            out.at_one = (got, ref)
        for n in todo:
            c = got.get(n)
            if c is None or np.shape(c) != ref[n].shape:
                out.first[n] = Tp
                continue
            bad = compare(np.asarray(c, dtype=float), ref[n], tol).bad
            if bad.any():
                out.first[n] = Tp
                gates = gate_block(kind, ref[n].shape, hidden)
                if gates is not None:
                    rows = bad.reshape(len(gates), hidden, -1).any(axis=(1, 2))
                    out.blocks[n] = tuple(g for (g, _), r in zip(gates, rows) if r)
    return out


def _who(names, blocks=None, kind: str = "") -> str:
    text = ", ".join(f"∂E/∂{n}" for n in names)
    parts = {blocks[n] for n in names if blocks and n in blocks}
    if len(parts) == 1:
        letters = next(iter(parts))
        words = dict(GATES.get(kind, ()))
        if letters and len(letters) < len(GATES.get(kind, ())):
            named = [f"{'the ' if len(letters) > 1 else ''}{words.get(g, g)} ({g})" for g in letters]
            listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
            text += f" (only the rows of {listed})" if len(letters) > 1 else f" (only the {listed} rows)"
    return text


def prefix_sentences(prefixes: Prefixes, parts=("s",), *, kind: str = "", output_layer=None) -> list:
    """Return the plain-words reading of a prefix search, one sentence per group of parameters that
    go wrong from the same T' (``parts``: the state's parts, e.g. s and c)."""
    output_layer = OUTPUT_LAYER if output_layer is None else tuple(output_layer)
    groups: dict = {}
    for n, t in prefixes.first.items():
        if t is not None:
            groups.setdefault(t, []).append(n)
    at_one = groups.get(1, [])
    out = []
    for first in sorted(groups):
        names = groups[first]
        who = _who(names, prefixes.blocks, kind)
        if first == 1:
            out.append(_sentence_at_one(names, who, parts, output_layer))
        elif all(n in output_layer for n in names):
            out.append(f"{who}: correct for T = 1{_upto(first)}, wrong from T = {first}: the output layer is used "
                       f"at every step, so its gradient is a sum over t, ∂E/∂W_y = Σ_t (y_t − d_t) s_tᵀ; the terms of "
                       f"some steps are missing or wrong" + (f" (the sum covers at most {first - 1} steps?)."
                                                               if first > 2 else "."))
        elif at_one:
            out.append(f"{who}: correct for T = 1, wrong from T = {first}: they receive the gradient that flows "
                       f"back from the next step, which passes through what is already wrong at T = 1 "
                       f"({', '.join('∂E/∂' + n for n in at_one)}).")
        else:
            out.append(_sentence_recurrence(first, who, parts))
    return out


def _upto(first: int) -> str:
    return f" … {first - 1}" if first > 2 else ""


def _sentence_at_one(names, who, parts, output_layer) -> str:
    if all(n in output_layer for n in names):
        return (f"{who} {'is' if len(names) == 1 else 'are'} wrong already for T = 1: at a single step the output "
                f"layer's gradient is ∂E_1/∂y_1 times s_1ᵀ, so either the error term ∂E_1/∂y_1 or the state s_1 "
                f"your forward pass computes differs from the reference.")
    return (f"{who} {'is' if len(names) == 1 else 'are'} wrong already for T = 1, a single step with no "
            f"recurrence: the error is in the step's own derivative (the local term ∂{parts[0]}_1/∂W, an "
            f"activation's or a gate's derivative, or the output layer), not in the flow through time.")


def _sentence_recurrence(first, who, parts) -> str:
    if len(parts) == 1:
        p = parts[0]
        into, term = f"from {p}_t into {p}_{{t−1}}", f"(the recurrent term of ∂E/∂{p}_{{t−1}})"
    else:
        into, term = "from step t into step t−1", "(through " + " or ".join(f"{p}_{{t−1}}" for p in parts) + ")"
    if first == 2:
        return f"{who}: correct for T = 1, wrong from T = 2: the gradient that flows back {into} is missing or wrong {term}."
    return (f"{who}: correct for T = 1 … {first - 1}, wrong from T = {first}: the terms that reach back {first - 1} "
            f"or more steps (from E_t to {parts[0]}_{{t−{first - 1}}} and earlier) are missing or wrong: is the "
            f"backward loop truncated after {first - 1} steps?")


def prefix_sentence(first: int | None, T: int, names, parts=("s",), output_layer=None) -> str | None:
    """Return the reading of a prefix search in which every one of ``names`` goes wrong from ``first``
    (kept for callers of the one-group form; :func:`prefix_sentences` handles groups; ``output_layer``: the
    names of the output layer's parameters, when the code has its own names)."""
    if first is None:
        return None
    return prefix_sentences(Prefixes(T, {n: first for n in names}), parts, output_layer=output_layer)[0]


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
