"""The gradient checker: planted bugs are caught and named, correct derivations pass (also across
Hypothesis draws, near ReLU kinks and in float32), verdicts are stable, every checker catches a
wrong gradient, pitfalls and BPTT localisation are explained."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab.check import check_gradient, load_derivation, verify
from gradlab.check.curvature import is_product_file
from gradlab.check.layer import is_layer_file
from gradlab.testing import assert_gradient_matches, problems
from strategies import budget

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"
ALL = sorted(p.name for p in DERIVATIONS.glob("*.py")     # layer mode: test_layer_*.py; products: test_curvature_check.py
             if not is_layer_file(p) and not is_product_file(str(p)))
WRONG = [n for n in ALL if n.startswith("wrong_")]
RIGHT = [n for n in ALL if not n.startswith("wrong_")]


def load(name):
    return load_derivation(str(DERIVATIONS / name))


def names_of(cand):
    return list(cand.spec.param_shapes())


# ----------------------------------------------------------------------------- derivations/
@pytest.mark.parametrize("name", WRONG)
def test_every_planted_bug_is_caught_and_the_named_parameters_are_blamed(name):
    cand = load(name)
    report = check_gradient(cand)
    expected = names_of(cand) if cand.wrong == ("all",) else list(cand.wrong)
    assert report.verdict == "fail"
    assert sorted(report.wrong) == sorted(expected)


@pytest.mark.parametrize("name", WRONG)
def test_every_planted_bug_is_caught_in_fast_mode_too(name):
    cand = load(name)
    report = check_gradient(cand, mode="fast", seed=3)
    expected = names_of(cand) if cand.wrong == ("all",) else list(cand.wrong)
    assert sorted(report.wrong) == sorted(expected)


@pytest.mark.parametrize("name", RIGHT)
def test_correct_derivations_pass_against_every_reference(name):
    report = check_gradient(load(name))
    assert report.verdict == "pass", report.format()
    assert report.references_agree
    assert "reverse ↔ forward mode" in report.agreement
    for p in report.params:
        assert set(p.per_reference) == {"engine", "autograd", "fd", "forward"}


@pytest.mark.parametrize("name", ["elman_bptt_sequence.py", "lstm_bptt.py", "gru_bptt.py", "elman_bptt.py"])
def test_correct_derivations_pass_across_hypothesis_examples(name):
    cand = load(name)

    @settings(max_examples=budget(8))
    @given(problems(cand.spec, max_T=3, max_D=2, max_H=3))
    def run(problem):
        report = check_gradient(cand, problem=problem, mode="fast", references=("engine", "fd"))
        assert report.verdict == "pass", report.format()

    run()


def _relu_at_kink(problem, eps):
    """Move b_s so that the first step's pre-activations sit eps from the ReLU kink."""
    p = problem.params
    a1 = p["W_x"] @ problem.data["xs"][0] + p["W_s"] @ problem.data["s_0"]
    return problem.copy(params={"b_s": -a1 + eps})


@settings(max_examples=budget(10))
@given(problems(gradlab.specs.elman(activation="relu"), max_T=3, max_D=2, max_H=2),
       st.sampled_from([0.0, 1e-12, 1e-9, 1e-7, 1e-6, 1e-4]))
def test_relu_cells_near_kinks_raise_no_false_alarm(problem, eps):
    cand = load("elman_relu_bptt.py")
    report = check_gradient(cand, problem=_relu_at_kink(problem, eps))
    assert report.verdict == "pass", report.format()


def test_a_wrong_relu_derivative_is_still_caught_next_to_a_kink():
    cand = load("elman_relu_bptt.py")

    def leaky(params, data):  # uses 1 instead of 0 for units that are off: wrong away from the kink
        g = cand.fn(params, data)
        return {k: (v * 1.5 if k == "W_x" else v) for k, v in g.items()}

    problem = _relu_at_kink(cand.spec.draw(seed=2), 1e-7)
    report = check_gradient(leaky, cand.spec, problem=problem)
    assert report.wrong == ["W_x"]


@settings(max_examples=budget(6))
@given(problems(gradlab.specs.lstm(), max_T=3, max_D=2, max_H=2))
def test_float32_inputs_warn_and_do_not_fail(problem):
    cand = load("lstm_bptt.py")
    seen = []

    def spy(params, data):
        seen.append(params["W_x"].dtype)
        return cand.fn(params, data)

    report = check_gradient(spy, cand.spec, problem=problem.astype(np.float32), mode="fast")
    assert report.verdict == "pass", report.format()
    assert seen and all(d == np.float32 for d in seen)
    kinds = [f.kind for f in report.findings]
    assert "float32" in kinds
    assert report.sweep and len(report.sweep) >= 5
    # the sweep shows why: small steps drown in float32 rounding
    assert max(err for h, _, err in report.sweep if h <= 1e-7) > 1e-2
    assert "float64" in report.format()


def test_float32_does_not_hide_a_planted_bug():
    cand = load("wrong_elman_no_recurrent_term.py")
    report = check_gradient(cand, dtype=np.float32)
    assert sorted(report.wrong) == ["W_s", "W_x", "b_s"]
    assert any(f.kind == "float32" for f in report.findings)


# ------------------------------------------------------------------------- stable verdicts
def _targets_equal_outputs(problem):
    """Feedforward data with d = y, so ∂E/∂y = 0 and every gradient vanishes."""
    p, x = problem.params, problem.data["x"]
    y = p["W_2"] @ np.tanh(p["W_1"] @ x + p["b_1"]) + p["b_2"]
    return problem.copy(data={"d": y})


@pytest.mark.parametrize("name, verdict", [("feedforward_backprop.py", "pass"),
                                           ("wrong_feedforward_missing_half.py", "fail")])
def test_a_zero_upstream_gradient_does_not_change_the_verdict(name, verdict):
    cand = load(name)
    report = check_gradient(cand, problem=_targets_equal_outputs(cand.spec.draw(seed=0)))
    assert report.verdict == verdict
    assert any(f.kind == "degenerate" for f in report.findings)


@pytest.mark.parametrize("name", ["elman_bptt.py", "wrong_elman_no_recurrent_term.py"])
def test_a_repeat_run_gives_the_same_verdict_and_numbers(name):
    a, b = check_gradient(load(name)), check_gradient(load(name))
    assert a.verdict == b.verdict and a.wrong == b.wrong
    for pa, pb in zip(a.params, b.params):
        assert pa.worst.index == pb.worst.index
        assert pa.worst.candidate == pytest.approx(pb.worst.candidate, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", ["elman_bptt_sequence.py", "wrong_elman_no_recurrent_term.py"])
def test_a_shuffled_parameter_order_does_not_change_the_verdict(name):
    cand = load(name)

    def shuffled(params, data):
        order = np.random.default_rng(7).permutation(list(params))
        out = cand.fn({k: params[k] for k in order}, data)
        keys = list(out)
        return {keys[i]: out[keys[i]] for i in np.random.default_rng(8).permutation(len(keys))}

    a, b = check_gradient(cand), check_gradient(shuffled, cand.spec)
    assert a.verdict == b.verdict
    assert sorted(a.wrong) == sorted(b.wrong)


# --------------------------------------------------------------- every checker catches a bug
@pytest.mark.parametrize("references, method, mode", [
    (("engine",), "auto", "full"),
    (("autograd",), "auto", "full"),
    (("fd",), "central", "full"),
    (("fd",), "complex", "full"),
    (("fd",), "richardson", "full"),
    (("fd",), "complex", "fast"),
    (("fd",), "central", "fast"),
])
def test_each_checker_alone_catches_a_wrong_gradient(references, method, mode):
    cand = load("wrong_elman_no_recurrent_term.py")
    report = check_gradient(cand, references=references, method=method, mode=mode)
    assert report.verdict == "fail"
    assert sorted(report.wrong) == ["W_s", "W_x", "b_s"]


def test_each_checker_alone_passes_a_correct_gradient():
    cand = load("elman_bptt_sequence.py")
    for refs, method, mode in [(("fd",), "central", "full"), (("fd",), "richardson", "full"),
                               (("fd",), "complex", "fast"), (("autograd",), "auto", "full")]:
        assert check_gradient(cand, references=refs, method=method, mode=mode).verdict == "pass"


def test_the_sympy_reference_catches_a_wrong_gradient_at_small_sizes():
    cand = load("wrong_elman_no_recurrent_term.py")
    report = check_gradient(cand, sizes={"T": 2, "D": 1, "H": 1, "O": 1}, references=("sympy",))
    assert report.wrong == ["W_x", "b_s", "W_s"] or sorted(report.wrong) == ["W_s", "W_x", "b_s"]


def test_the_projection_check_falls_back_to_elements_to_locate_the_error():
    cand = load("wrong_elman_wx_slip.py")
    report = check_gradient(cand, sizes={"T": 3, "D": 3, "H": 3, "O": 2}, references=("fd",), mode="fast")
    assert report.wrong == ["W_x"]
    wx = report.param("W_x")
    assert wx.projections and not all(r[3] for r in wx.projections)
    assert wx.n_checked_fd == 9 and wx.worst is not None and wx.worst.source == "fd"
    assert report.param("W_s").n_checked_fd == 0       # passing parameters stay at a few projections


def test_fast_mode_costs_a_few_loss_evaluations_whatever_the_size():
    cand = load("lstm_bptt.py")
    small = check_gradient(cand, mode="fast", sizes={"T": 2, "D": 2, "H": 2, "O": 1})
    large = check_gradient(cand, mode="fast", sizes={"T": 2, "D": 8, "H": 16, "O": 4})
    assert small.counts["loss_evaluations"] == large.counts["loss_evaluations"] == 2 * 5
    full = check_gradient(cand, mode="full", sizes={"T": 2, "D": 2, "H": 2, "O": 1})
    assert full.counts["loss_evaluations"] <= 2 * full.counts["elements"]


def test_the_method_is_chosen_automatically_and_named():
    assert "complex step" in check_gradient(load("elman_bptt.py")).method
    relu = check_gradient(load("elman_relu_bptt.py")).method
    assert "central" in relu and "Richardson" in relu and "relu" in relu


def test_complex_step_is_refused_on_a_graph_with_relu():
    with pytest.raises(ValueError, match="analytic"):
        check_gradient(load("elman_relu_bptt.py"), method="complex")


# ------------------------------------------------------------------ pitfalls and localisation
def _spec_fn(name):
    cand = load(name)
    return cand.spec, cand.fn


def test_a_missing_half_is_recognised_as_a_factor_of_two():
    report = check_gradient(load("wrong_feedforward_missing_half.py"))
    for p in report.params:
        assert [f.kind for f in p.findings] == ["factor_2"]
    assert "½" in report.format()


def test_a_transposed_matrix_is_recognised():
    spec, fn = _spec_fn("elman_bptt_sequence.py")
    report = check_gradient(lambda p, d: {**fn(p, d), "W_s": fn(p, d)["W_s"].T}, spec)
    assert report.wrong == ["W_s"]
    assert "transposed" in [f.kind for f in report.param("W_s").findings]


def test_a_transposed_shape_is_reported_with_a_hint():
    spec, fn = _spec_fn("elman_bptt_sequence.py")
    report = check_gradient(lambda p, d: {**fn(p, d), "W_x": fn(p, d)["W_x"].T}, spec)
    assert report.wrong == ["W_x"]
    assert "transpose" in report.format()


def test_clipped_gradients_are_recognised():
    spec, fn = _spec_fn("elman_bptt_sequence.py")
    ref = fn(spec.draw().params, spec.draw().data)
    bound = 0.5 * float(np.max(np.abs(ref["W_y"])))

    def clipped(p, d):
        g = fn(p, d)
        g["W_y"] = np.clip(g["W_y"], -bound, bound)
        return g

    report = check_gradient(clipped, spec)
    assert report.wrong == ["W_y"]
    assert "clipped" in [f.kind for f in report.param("W_y").findings]


def test_clipping_by_global_norm_is_recognised():
    spec, fn = _spec_fn("elman_bptt_sequence.py")

    def by_norm(p, d):
        g = {k: v for k, v in fn(p, d).items() if k in p}
        norm = np.sqrt(sum(float(np.sum(v * v)) for v in g.values()))
        return {k: v * (0.1 / norm) for k, v in g.items()}

    report = check_gradient(by_norm, spec)
    assert report.verdict == "fail"
    # one explanation for the whole gradient, on every parameter it explains (said once in the report)
    assert all("clipped_norm" in [f.kind for f in p.findings] for p in report.params)
    assert report.format().count("clipped by global norm") == 1


def test_a_nondeterministic_candidate_fails_with_an_explanation():
    spec, fn = _spec_fn("elman_bptt_sequence.py")
    rng = np.random.default_rng(0)

    def dropout(p, d):
        g = fn(p, d)
        g["W_s"] = g["W_s"] * (rng.uniform(size=g["W_s"].shape) > 0.1) / 0.9
        return g

    report = check_gradient(dropout, spec)
    assert report.verdict == "fail"
    assert "nondeterministic" in [f.kind for f in report.findings]


def test_degenerate_checks_are_flagged():
    spec, fn = _spec_fn("elman_bptt_sequence.py")
    problem = spec.draw(seed=1)
    zero = check_gradient(fn, spec, problem=problem.copy(params={"W_s": np.zeros_like(problem.params["W_s"])}))
    assert "degenerate" in [f.kind for f in zero.findings]
    big = check_gradient(fn, spec, problem=problem.copy(params={"W_x": 40 * problem.params["W_x"]}))
    assert "saturated" in [f.kind for f in big.findings]


def test_forgetting_the_recurrent_term_is_located_at_t_equals_2_in_words():
    report = check_gradient(load("wrong_elman_no_recurrent_term.py"))
    text = " ".join(report.localisation)
    assert "correct for T = 1, wrong from T = 2" in text
    assert "flows back from s_t into s_{t−1}" in text
    assert "diverges at t = 2" in text          # from the returned delta_s, T = 3


def test_an_error_in_the_local_term_is_located_at_t_equals_1():
    report = check_gradient(load("wrong_elman_wx_slip.py"), sizes={"T": 3, "D": 3, "H": 3, "O": 2})
    assert report.wrong == ["W_x"]
    assert "wrong already for T = 1" in " ".join(report.localisation)


def test_the_report_names_the_worst_element_and_its_reference():
    report = check_gradient(load("wrong_elman_no_recurrent_term.py"))
    p = report.param("W_s")
    assert p.worst.source == "engine" and len(p.worst.index) == 2
    rel = abs(p.worst.candidate - p.worst.reference) / (abs(p.worst.candidate) + abs(p.worst.reference))
    assert p.worst.rel_err == pytest.approx(rel)
    d = report.to_dict()
    assert d["wrong"] == report.wrong and d["counts"]["vjps"] == 1


# ----------------------------------------------------------------------- search and helpers
def test_verify_shrinks_to_the_smallest_failing_case_and_is_reproducible():
    cand = load("wrong_elman_no_recurrent_term.py")
    a = verify(cand, max_examples=budget(15), seed=4)
    b = verify(cand, max_examples=budget(15), seed=4)
    assert not a.ok
    assert a.counterexample.sizes == {"T": 2, "D": 1, "H": 1, "O": 1}
    assert b.counterexample.sizes == a.counterexample.sizes
    for k, v in a.counterexample.values.items():
        np.testing.assert_array_equal(v, b.counterexample.values[k])
    assert "T = 2" in a.format()


def test_verify_finds_no_counterexample_for_a_correct_derivation():
    assert verify(load("gru_bptt.py"), max_examples=budget(8), seed=1).ok


def test_assert_gradient_matches_raises_with_the_report():
    assert_gradient_matches(load("elman_bptt.py"))
    with pytest.raises(AssertionError, match="recurrent term"):
        assert_gradient_matches(load("wrong_elman_no_recurrent_term.py"), mode="full")


def _engine_candidate(spec):
    """A candidate that is right by construction: gradlab's own reverse mode on the same model."""
    def gradient(params, data):
        problem = spec.draw({k: v for k, v in _sizes_of(spec, params, data).items()}).copy(params, data)
        rec = problem.record()
        rec.loss.backward()
        return {k: np.zeros(p.shape) if p.grad is None else p.grad for k, p in rec.params.items()}
    return gradient


def _sizes_of(spec, params, data):
    if not spec.recurrent:
        return {"D": data["x"].shape[0], "H": params["W_1"].shape[0], "O": params["W_2"].shape[0]}
    T, D = data["xs"].shape
    O = (data["ds"] if "ds" in data else data["d"][None]).shape[-1]
    H = params["W_y"].shape[1]
    return {"T": T, "D": D, "H": H, "O": O}


@settings(max_examples=budget(15))
@given(gradlab.testing.rnn_configs(max_T=3, max_size=2))
def test_no_false_alarm_across_cells_losses_modes_and_activations(config):
    spec, problem = config
    report = check_gradient(_engine_candidate(spec), spec, problem=problem, mode="fast")
    assert report.verdict == "pass", report.format()
    assert report.references_agree, report.format()


def test_the_step_sweep_shows_truncation_and_rounding_in_float64():
    report = check_gradient(load("elman_bptt_sequence.py"), sweep=True)
    errs = {h: err for h, _, err in report.sweep}
    best = min(errs, key=errs.get)
    assert 1e-7 <= best <= 1e-3                  # the bottom of the V sits between the two regimes
    assert errs[1e-1] > 100 * errs[best] and errs[1e-10] > 100 * errs[best]
    assert "step sweep" in report.format()


def test_an_output_layer_summed_over_one_step_only_is_explained_as_a_missing_sum():
    spec, fn = _spec_fn("elman_bptt_sequence.py")

    def last_step_only(p, d):
        g = fn(p, d)
        s = [d["s_0"]]
        for x in d["xs"]:
            s.append(np.tanh(p["W_x"] @ x + p["W_s"] @ s[-1] + p["b_s"]))
        e = p["W_y"] @ s[-1] + p["b_y"] - d["ds"][-1]
        return {**g, "W_y": np.outer(e, s[-1]), "b_y": e}

    report = check_gradient(last_step_only, spec)
    assert sorted(report.wrong) == ["W_y", "b_y"]
    text = " ".join(report.localisation)
    assert "sum over t" in text and "agree with the reference at every step" in text
