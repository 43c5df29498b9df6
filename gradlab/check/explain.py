r"""What the wrong gradients of one check have in common, said once — and only when the numbers are
evidence for it (phase 6 of :func:`gradlab.check.check_gradient`).

* **An exact factor**, confirmed on a second draw of other sizes (all different from each other, so that
  1/T is told apart from 1/H): 2, ½, −1, 1/T, T, 1/N, N, 1/O, O, one constant; clipping by global norm
  when the candidate's whole gradient has the same norm on both draws.
* **The output layer at one step**, where ∂E/∂b_y = ∂E_1/∂y_1 and ∂E/∂W_y = ∂E_1/∂y_1 · s_1ᵀ: a wrong
  error term (the state is right; matched against the usual mistakes) or another forward model (the
  numbers are those of another state s_1; a known other convention is named with its ``MODEL``).

A story that explains every wrong gradient replaces the per-parameter guesses (a factor is no clipping,
an error term is no time step's mistake) and the localisation it would contradict.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import pitfalls
from .compare import compare
from .references import engine_gradient
from .report import CheckReport, Finding

__all__ = ["explain_wrong", "own_lines"]


def explain_wrong(run) -> None:
    """ what the wrong gradients have in common, said once, when the numbers are evidence for it:
    the output layer at one step (a wrong error term ∂E_t/∂y_t, or another forward model), or an exact
    factor (the same on a second draw of other sizes: 2, ½, −1, 1/T, 1/N, …, or clipping by norm).
    A story that explains every wrong gradient replaces the per-parameter guesses and the localisation."""
    if not run.report.wrong:
        return
    _factors(run)
    if not run.explained:
        _output_layer(run)


def _output_layer(run) -> bool:
    """The output layer's gradient at one step: a wrong error term or another forward model."""
    spec, report = run.spec, run.report
    if spec.recurrent:
        if run.prefixes is None or run.prefixes.at_one is None:
            return False
        one, (cand, ref) = run.p64.prefix(1), run.prefixes.at_one
    else:
        one, cand, ref = run.p64, run.grads, run.eng
    story = pitfalls.output_layer_story(spec, one, cand, ref, tol=run.tol("exact").rtol)
    if story is None:
        return False
    W, b = pitfalls.OUTPUT_LAYERS.get(spec.kind, ("W_y", "b_y"))
    if story["kind"] == "error_term":
        dy, dy1, at = ("∂E_t/∂y_t", "∂E_1/∂y_1", "at T = 1 ") if spec.recurrent else ("∂E/∂y", "∂E/∂y", "")
        what = (f"your {dy1} is {story['name']}" if story["name"] else
                f"your {dy1} = {_vec(story['yours'])} differs from the reference {_vec(story['right'])}")
        story = (f"the error term {dy} is wrong {at}(read from ∂E/∂{b}, which is {dy1} there, while the state in "
                 f"your ∂E/∂{W} is right): {what}. Every other gradient receives the error term through {W}ᵀ, so "
                 f"all of them are wrong with it.")
        _on_wrong_params(report, Finding("error_term", story, "error"))
    else:
        state = "s_1" if spec.recurrent else "h"
        eqs = "\n".join("    " + line for line in pitfalls.forward_equations(spec))
        hint = _other_convention(run)
        _on_wrong_params(report, Finding(
            "forward", f"your forward model differs from the reference model: at {'T = 1 the' if spec.recurrent else 'the'} "
            f"output layer's gradient is that of the state {state} = {_vec(story['yours'])}, the reference's is "
            f"{state} = {_vec(story['right'])}, so every gradient differs. The reference computes "
            f"{spec.describe()}:\n{eqs}\n{hint}", "error"))
    run.explained = True
    T = run.p64.sizes.get("T")
    if T:
        report.steps = {n: list(range(1, T + 1)) for n in report.wrong}
    return True


def _on_wrong_params(report: CheckReport, finding: Finding) -> None:
    """Put one whole-gradient explanation on every wrong parameter, in place of their own guesses
    (the report says a finding that several parameters share once)."""
    for p in report.params:
        if p.verdict == "wrong":
            p.findings = [f for f in p.findings if f.kind == "shape"] + [finding]


def _other_convention(run) -> str:
    """Name the spec option under which the candidate is right, if one of the known variants is it."""
    for variant, how in pitfalls.variants(run.spec):
        try:
            ref, _ = engine_gradient(dataclasses.replace(run.p64, spec=variant).record())
        except Exception:  # noqa: BLE001 - a variant that cannot be built is not the answer
            continue
        if all(n in run.grads and compare(run.grads[n], ref[n], run.tol("exact")).n_bad == 0 for n in run.names):
            return (f"Your gradient is exactly right for {how}: declare MODEL = {pitfalls.spec_call(variant)} if "
                    f"that is the model you derived for.")
    options = pitfalls.variant_options(run.spec)
    return (f"Check your forward pass against these equations{options}." if options else
            "Check your forward pass against these equations.")


def own_lines(cand):
    """The lines of the candidate's file that are its own: the whole file of a derivation module, the
    function alone when it was handed over by itself (its file may hold anything else)."""
    if cand.module is not None:
        return None
    import inspect

    try:
        src, start = inspect.getsourcelines(cand.fn)
    except (OSError, TypeError):
        return range(0)
    return range(start, start + len(src))


def _vec(v) -> str:
    return np.array2string(np.asarray(v, float), precision=4, separator=", ", max_line_width=10**6)


def _factors(run) -> None:
    """Exact factors shared by the wrong gradients, confirmed on a second draw of other sizes."""
    report = run.report
    k1 = {n: pitfalls.exact_factor(run.grads[n], run.eng[n]) for n in report.wrong if n in run.grads}
    k1 = {n: k for n, k in k1.items() if k is not None}
    if not k1:
        return
    second = _second_draw(run)
    if second is None:
        return
    sizes2, grads2, eng2 = second
    if len(k1) == len(run.names):
        nc = pitfalls.norm_clipping([(run.grads, run.eng), (grads2, eng2)])
        if nc is not None:
            _on_wrong_params(report, nc)
            run.factored, run.explained = set(k1), True
            return
    groups: dict = {}
    for n, k in k1.items():
        k2 = pitfalls.exact_factor(grads2.get(n, np.zeros(0)), eng2[n]) if n in grads2 else None
        label = None if k2 is None else pitfalls.named_factor([k, k2], [run.p64.sizes, sizes2])
        if label is not None:
            groups.setdefault((label, round(k, 12) if label == "c" else label), []).append(n)
    for (label, _), names in groups.items():
        f = pitfalls.factor_finding(names, label, k1[names[0]], [run.p64.sizes, sizes2])
        for n in names:
            pr = report.param(n)
            pr.findings = [x for x in pr.findings if x.kind == "shape"] + [f]
        run.factored |= set(names)
    run.explained = bool(run.factored) and run.factored >= set(report.wrong)


def _second_draw(run):
    """(sizes, candidate gradients, engine gradients) on a second draw — other sizes, all different from
    each other where the candidate allows — or None when the candidate fails there."""
    sizes = dict(run.p64.sizes)
    if run.cand.sizes is None:           # other sizes, all different: 1/T is then told apart from 1/H
        T2 = sizes["T"] + 2 if "T" in sizes else None
        pool = iter(v for v in (2, 4, 3, 5, 6, 7, 8, 9) if v != T2)
        sizes = {k: (T2 if k == "T" else next(pool)) for k in sizes}
    try:
        problem = run.spec.draw(sizes, run.problem.seed + 1)
        out = run.cand(problem.params, problem.data)
    except Exception:  # noqa: BLE001 - the second draw only confirms; a candidate that fails there proves nothing
        return None
    grads = {n: np.asarray(out[n], float) for n in problem.params if n in out and np.shape(out[n]) ==
             np.shape(problem.params[n])}
    eng, _ = engine_gradient(problem.record())
    return problem.sizes, grads, eng
