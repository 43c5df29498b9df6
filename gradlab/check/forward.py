r"""Does the candidate differentiate the model the file declares? Its forward, not only its backward.

A gradient can be right for another model: code that starts from ``c_0 = 0`` while the spec draws
c_0, that averages E_t over time where the spec sums, that stacks the LSTM gates i, f, o, g. Such a
derivation is wrong *everywhere* against the declared model, and blaming every parameter's backward
would send its author looking in the wrong place. Three questions, asked after the comparison:

* **The loss value.** A derivation may return its E (``"E"`` beside the gradients; ``returns="loss,
  …"`` with :func:`gradlab.check.call`) and its final state (``"s_T"``). When E differs from the
  model's, the report says *your forward computes a different E*, prints the model's equations
  (:meth:`gradlab.specs.Spec.equations`), tries the usual neighbouring models (initial state fixed to
  zero, E averaged instead of summed over time or over the batch, the other gate order) and names the
  one whose E it is, and does not judge the gradients (``"unjudged"``).
* **Another model's gradient.** Without a loss value: when every gradient is exactly that of one of
  those neighbouring models, the same is reported from the gradients alone.
* **Another truncation.** When the wrong gradients are exactly the BPTT gradient truncated after k′
  steps (k′ = 0 is a missing recurrent term), the report says so and names k′ against the declared
  truncation; these stay wrong (the backward is what differs; E is the same).

It also names a factor 1/T (or 1/B) found on single gradients: a mean over time (or over the batch)
applied to some gradients but not to the model.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .compare import compare, tolerance
from .references import engine_gradient
from .report import Finding, fmt

__all__ = ["split_outputs", "forward_keys", "clip_references", "diagnose", "settle", "neighbours"]


def forward_keys(spec) -> tuple:
    """The keys of forward values a candidate may return beside its gradients: ``E``, ``s_T`` …"""
    states = tuple(f"{s[:-2]}_T" for s in spec._state_names()) if spec.recurrent else ()
    return ("E",) + states


def split_outputs(out: dict, spec) -> dict:
    """Remove the forward values (``E``, ``s_T`` …) from a candidate's result and return them."""
    return {k: out.pop(k) for k in forward_keys(spec) if k in out}


def clip_references(bound: float, eng: dict, refs: dict, fd: dict) -> tuple:
    """The references clipped element-wise to [−bound, bound], for a candidate that declares that it
    clips its gradients on purpose (``call(..., clip=bound)``)."""
    def clip(d):
        return {n: np.clip(v, -bound, bound) for n, v in d.items()}

    return clip(eng), {r: clip(v) for r, v in refs.items()}, clip(fd)


def neighbours(spec, aggregation: bool = True) -> list:
    """[(spec, words, cause)]: the models a forward is often written for by mistake, one option changed;
    ``words`` names the option, ``cause`` says what such a forward does. ``aggregation=False`` leaves out
    the models that differ only by a mean instead of a sum (over time, over the batch): their gradients
    are the reference's times a factor, which :func:`gradlab.check.explain.explain_wrong` names on
    evidence from two draws, as a backward's mistake, with the option to declare."""
    out = []

    def add(words, cause, **changes):
        try:
            out.append((spec.with_options(**changes), words, cause))
        except ValueError:
            pass

    if spec.recurrent:
        parts = spec._state_names()
        given = [n for n in parts if n not in spec.zero_states()]
        if len(given) == len(parts):
            add("the initial state fixed to zero (initial_state=\"zero\")",
                f"your forward starts from {' and '.join(n + ' = 0' for n in parts)} where the data give "
                f"{' and '.join(parts)}", initial_state="zero")
        if len(given) > 1 or len(given) < len(parts):
            for n in given:
                zero = {p: "zero" for p in parts if p == n or p not in given}
                add(f"{n} fixed to zero (initial_state={zero!r})",
                    f"your forward starts from {n} = 0 where the data give {n}",
                    initial_state={p: zero.get(p, "given") for p in parts})
    if spec.recurrent and spec.mode == "many_to_many" and aggregation:
        if spec.opt("over_time") == "sum":
            add("E averaged over time, E = (1/T) Σ_t E_t (over_time=\"mean\")",
                "your forward averages E_t over the steps where the model sums them", over_time="mean")
        else:
            add("E summed over time, E = Σ_t E_t (over_time=\"sum\")",
                "your forward sums E_t over the steps where the model averages them", over_time="sum")
    if spec.opt("batch") == "sum" and aggregation:
        add("E averaged over the batch (batch=\"mean\")", "your forward averages over the batch where the model "
            "sums", batch="mean")
    elif spec.opt("batch") == "mean" and aggregation:
        add("E summed over the batch (batch=\"sum\")", "your forward sums over the batch where the model "
            "averages", batch="sum")
    if spec.kind == "lstm" and spec.opt("gates") in ("ifgo", "ifog"):
        other = "ifog" if spec.opt("gates") == "ifgo" else "ifgo"
        add(f"the gate blocks stacked {', '.join(other)} (gates=\"{other}\")",
            f"your forward reads the gate blocks of the stacked weights in the order {', '.join(other)}", gates=other)
    return out


def _problem_for(spec, problem):
    """The same parameters and data as a problem of ``spec`` (data it does not take are dropped)."""
    names = spec.data_names()
    return replace(problem, spec=spec, data={k: v for k, v in problem.data.items() if k in names})


def _all_match(grads: dict, ref: dict) -> bool:
    tol = tolerance("exact")
    for n, r in ref.items():
        c = grads.get(n)
        if c is None or np.shape(c) != np.shape(r):
            return False
        if compare(c, r, tol, scale=float(np.max(np.abs(r))) if r.size else 0.0).n_bad:
            return False
    return True


#: how far a returned loss or state may be from the model's and still be the same forward: far above the
#: rounding of float64 (~1e-15 relative) and of float32 (~1e-7), far below what another model changes
FORWARD_RTOL, FORWARD_ATOL = 1e-6, 1e-9


def _same_value(a: float, b: float) -> bool:
    return abs(a - b) <= FORWARD_ATOL + FORWARD_RTOL * max(abs(a), abs(b))


def _final_states(spec, problem) -> dict:
    """{``s_T`` …: the final state in the code's layout} of the model (None for a feedforward model)."""
    if not spec.recurrent:
        return {}
    full = spec.with_options(truncate=None) if spec.opt("truncate") is not None else spec
    rec = _problem_for(full, problem).record()
    out = {}
    for key, part in zip(rec.adjoints, spec._state_names()):
        value = np.asarray(rec.adjoints[key][-1].data)
        out[f"{part[:-2]}_T"] = spec._to_author_data(part, value)
    return out


def _unjudge(report) -> None:
    """The gradients belong to another model: no verdict, no worst element, no pitfalls for them."""
    for p in report.params:
        if p.verdict == "wrong":
            p.verdict = "unjudged"
            p.worst = None
            p.findings = [f for f in p.findings if f.kind == "shape"]


def diagnose(report, cand, spec, problem, rec, grads: dict, eng: dict, forward: dict, *, explain: bool = True):
    r"""Add to ``report`` what the candidate's forward values and its gradients say about the model it
    differentiates (see the module docstring); ``explain`` also tries neighbouring models and
    truncations (a few more recordings, only when something is wrong)."""
    wrong = [p.name for p in report.params if p.verdict == "wrong"]
    E_ref = float(rec.loss.data)
    E_c = forward.get("E")
    if E_c is not None:
        try:
            E_c = float(np.asarray(E_c, dtype=float).reshape(()))
        except (TypeError, ValueError):
            raise cand.error(f"the loss E returned beside the gradient is {E_c!r}, not one number") from None
    mismatch = []
    if E_c is not None and not _same_value(E_c, E_ref):
        mismatch.append(f"E: yours {fmt(E_c)}, the model's {fmt(E_ref)}")
    states = {k: v for k, v in forward.items() if k != "E"}
    if states:
        ref_states = _final_states(spec, problem)
        for k, v in states.items():
            r = ref_states.get(k)
            if r is None:
                continue
            if np.shape(v) != np.shape(r):
                mismatch.append(f"{k}: yours has shape {np.shape(v)}, the model's {np.shape(r)}")
            elif not np.allclose(v, r, rtol=FORWARD_RTOL, atol=FORWARD_ATOL):
                mismatch.append(f"{k}: yours differs from the model's by up to {fmt(np.max(np.abs(v - r)))}")
    if mismatch:
        _forward_mismatch(report, spec, problem, grads, E_c, mismatch, wrong)
        return
    if not wrong or not explain:
        return
    if len(wrong) >= 2 or len(report.params) == 1:
        for alt, words, cause in neighbours(spec, aggregation=False):
            eng_alt, _ = engine_gradient(_problem_for(alt, problem).record())
            if _all_match(grads, eng_alt):
                report.findings.append(Finding(
                    "model", f"every gradient you return is exactly that of another model: the same with {words}. "
                    f"{cause[0].upper() + cause[1:]}, so it is not your backward that is wrong: declare the "
                    f"option if that model is what you mean, or change the forward. The declared model is:\n"
                    + _indent(spec.equations()), "error", data={"option": words}))
                _unjudge(report)
                return
    _truncation(report, spec, problem, grads, wrong)
    _mean_on_one(report, spec, problem, grads, eng, wrong)
    _clip_hint(report, cand, wrong)


def _clip_hint(report, cand, wrong) -> None:
    """Say how a clip found in the numbers relates to the clip the declaration intends."""
    declared = getattr(cand, "clip", None)
    for p in report.params:
        for f in p.findings:
            if p.name in wrong and f.kind == "clipped":
                f.message += (f" The declaration intends clip={fmt(declared)}; your code clips at a smaller bound."
                              if declared is not None else
                              " If the clip is intended (min-char-rnn clips at ±5), declare it: "
                              "gradlab.check.call(..., clip=b) clips the references the same way.")


def settle(report) -> None:
    """After localisation: drop the time-step sentences that would mislead. A clipped gradient is wrong
    wherever a sum crosses the bound, which says nothing about time steps."""
    bad = [p for p in report.params if p.verdict == "wrong"]
    if bad and all(any(f.kind == "clipped" for f in p.findings) for p in bad):
        report.localisation = [line for line in report.localisation if "T = " not in line]
        report.steps = {}
    # a backward that reaches further back than declared is right on the short prefixes and wrong from
    # T = k + 2 on, which the prefix sentence would read as terms *missing*: the truncation finding says it
    if any(f.kind == "truncation" and (f.data or {}).get("further") for p in bad for f in p.findings):
        report.localisation = [line for line in report.localisation if "T = " not in line]


def _forward_mismatch(report, spec, problem, grads, E_c, mismatch, wrong) -> None:
    text = (f"your forward computes a different E ({'; '.join(mismatch)}), with the same parameters and data. "
            f"The model declared is:\n" + _indent(spec.equations()))
    found = None
    if E_c is not None:
        for alt, words, cause in neighbours(spec):
            alt_problem = _problem_for(alt, problem)
            rec = alt_problem.record()
            if E_c is not None and _same_value(E_c, float(rec.loss.data)):
                eng_alt, _ = engine_gradient(rec)
                found = (words, cause, _all_match(grads, eng_alt), [n for n in eng_alt if not _all_match(
                    {n: grads.get(n)}, {n: eng_alt[n]})])
                break
    if found is not None:
        words, cause, right, bad = found
        text += f"\nYour E is the E of the same model with {words}: {cause}."
        text += (" Against that model your gradient is right: declare the option if it is what you mean."
                 if right else f" Against that model your gradient of {', '.join(bad)} is still wrong.")
    if wrong:
        text += ("\nThe gradients are not judged: compared with another forward's E a right backward would look "
                 "wrong everywhere. Make the forward compute the declared model first.")
    else:
        text += "\nYour gradients agree with the declared model's, so only the loss value you return is off."
    report.findings.append(Finding("forward", text, "error"))
    _unjudge(report)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _truncation(report, spec, problem, grads, wrong) -> None:
    """Name the truncation depth the wrong gradients have, when they are exactly a truncated BPTT's."""
    if not spec.recurrent or problem.sizes["T"] < 2:
        return
    T = problem.sizes["T"]
    declared = spec.opt("truncate")
    for k in [0] + list(range(1, T - 1)) + [None]:
        if k == declared or (declared is not None and declared >= T - 1 and k is None):
            continue
        alt = spec.with_options(truncate=k)
        eng_alt, _ = engine_gradient(_problem_for(alt, problem).record())
        if not _all_match(grads, eng_alt):
            continue
        having = "the full BPTT gradient (no truncation)" if k is None else (
            "the gradient with no recurrent term at all: each E_t reaches back through its own step only "
            "(truncated after 0 steps), so what flows from s_t into s_{t−1} is missing" if k == 0 else
            f"the BPTT gradient truncated after {k} steps: E_t reaches back through steps t … max(1, t − {k})")
        want = "full BPTT (no truncation)" if declared is None else (
            f"truncation after {declared} steps (steps t … max(1, t − {declared}))")
        further = k is None or (declared is not None and k > declared)
        _add(report, wrong[0], Finding(
            "truncation", f"{', '.join('∂E/∂' + n for n in wrong)}: yours is exactly {having}, but the model "
            f"declares {want}" + (f". If you truncate on purpose, declare truncate={k} in the spec" if k else "")
            + ".", "error", wrong[0], {"k": k, "further": further}))
        return


def _mean_on_one(report, spec, problem, grads, eng, wrong) -> None:
    """A factor 1/T or 1/B on some gradients only."""
    factors = {}
    if spec.recurrent and problem.sizes["T"] > 1:
        factors["T"] = problem.sizes["T"]
    if "B" in problem.sizes and problem.sizes["B"] > 1:
        factors["B"] = problem.sizes["B"]
    for n in wrong:
        c, r = np.asarray(grads.get(n, 0.0), float), np.asarray(eng[n], float)
        rr = float(np.vdot(r, r))
        if c.shape != r.shape or rr == 0:
            continue
        k = float(np.vdot(c, r)) / rr
        if np.linalg.norm(c - k * r) > 1e-6 * max(np.linalg.norm(c), 1e-300):
            continue
        for letter, size in factors.items():
            over = "time" if letter == "T" else "the batch"
            averaged = (spec.opt("over_time") if letter == "T" else spec.opt("batch")) == "mean"
            if abs(k * size - 1) < 1e-6:
                found = Finding("mean_one", f"∂E/∂{n} is the model's divided by {letter} = {size}: a mean over {over} "
                                f"applied to this gradient only (the model {'averages' if averaged else 'sums'} over "
                                f"{over}, and so do your other gradients).", "error", n)
            elif abs(k - size) < 1e-6 * size:
                found = Finding("mean_one", f"∂E/∂{n} is the model's times {letter} = {size}: the mean over {over} is "
                                f"missing from this gradient only.", "error", n)
            else:
                continue
            for p in report.params:          # said precisely now: drop the generic "constant factor"
                if p.name == n:
                    p.findings = [f for f in p.findings if f.kind != "scale"]
            _add(report, n, found)
            break


def _add(report, name, finding) -> None:
    for p in report.params:
        if p.name == name:
            p.findings.insert(0, finding)
