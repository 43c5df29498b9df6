"""Student mistakes and their diagnoses: every file of tests/corpus/mistakes/ (and the planted derivations
of derivations/) is checked as `gradlab check` checks it, and the exact diagnosis is asserted — which
gradients are wrong (and nothing untouched), what kind of mistake it is, from which time step or size on —
with the explanations that would send a student the wrong way asserted absent."""
import json
from pathlib import Path

import numpy as np
import pytest

import gradlab
from gradlab.check import check_gradient, load_derivation
from gradlab.check.cli import check_file

ROOT = Path(__file__).resolve().parent.parent
MISTAKES = ROOT / "tests" / "corpus" / "mistakes"
DERIVATIONS = ROOT / "derivations"

# what each file must be diagnosed as: status, the gradients found wrong, the sizes of the case shown,
# the finding kinds on the wrong gradients, phrases the report must say and phrases it must not
EXPECTED = {
    "elman_truncated_after_4_steps.py": dict(
        status="caught", wrong=["W_x", "b_s", "W_s"], sizes={"T": 5},
        says=["correct for T = 1 … 4, wrong from T = 5", "truncated after 4 steps"],
        never=["clipped", "constant factor", "wrong already for T = 1"]),
    "elman_recurrent_term_first_3_units.py": dict(
        status="caught", wrong=["W_x", "b_s", "W_s"], sizes={"H": 4},
        says=["right for H ≤ 3 and wrong from H = 4", "correct for T = 1, wrong from T = 2"],
        never=["clipped", "constant factor"]),
    "lstm_output_layer_last_4_steps.py": dict(
        status="caught", wrong=["W_y", "b_y"], sizes={"T": 5},
        says=["∂E/∂W_y, ∂E/∂b_y: correct for T = 1 … 4, wrong from T = 5", "sum over t"],
        never=["clipped", "wrong already for T = 1"]),
    "elman_softmax_derivative_twice.py": dict(
        status="caught", wrong="all", kinds={"error_term"},
        says=["the softmax's derivative applied twice", "∂E_t/∂y_t is wrong"],
        never=["clipped", "clipping", "constant factor", "recurrent term", "cut short", "truncated"]),
    "elman_divided_by_T.py": dict(
        status="caught", wrong="all", kinds={"factor_1/T"},
        says=["exactly 1/T × the reference", "sums over time"],
        never=["recurrent term", "clipped", "wrong from T = 2", "wrong already"]),
    "elman_half_applied_twice.py": dict(
        status="caught", wrong="all", kinds={"factor_half"}, says=["exactly ½ × the reference"],
        never=["recurrent term", "clipped", "1/T"]),
    "elman_float32_inside.py": dict(
        status="ok", wrong=[], says=["cast to float32 inside gradient()", "line 19"],
        never=["truncated", "recurrent term", "wrong from T"]),
    "gru_other_update_convention.py": dict(
        status="caught", wrong="all", kinds={"forward"},
        says=["your forward model differs from the reference model", "s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_{t−1}",
              'MODEL = gradlab.specs.gru(update="replace")'],
        never=["wrong already for T = 1", "clipped", "constant factor"]),
    "gru_reset_forgotten_in_recurrent_candidate.py": dict(
        status="caught", wrong=["W_x", "b_x", "W_s", "b_s"],
        says=["∂E/∂W_s, ∂E/∂b_s (only the candidate (n) rows) are wrong already for T = 1",
              "∂E/∂W_x, ∂E/∂b_x: correct for T = 1, wrong from T = 2"],
        never=["∂E/∂W_x, ∂E/∂b_x, ∂E/∂W_s, ∂E/∂b_s is wrong already", "clipped"]),
    "lstm_forget_gate_without_sigmoid_derivative.py": dict(
        status="caught", wrong=["W_x", "b_s", "W_s"],
        says=["(only the forget gate (f) rows) are wrong already for T = 1", "W_x, forget gate (f) block, row"],
        never=["W_x[", "clipped"]),
    "elman_formulas_unicode.py": dict(
        status="ok", wrong=[], says=["simplifies to 0 for W_x, W_s, b_s, W_y, b_y"], never=["differs"]),
    "elman_formulas_expansion_bomb.py": dict(
        status="caught", wrong=["W_s"], says=["W_s was not expanded", "compared numerically only",
                                              "counterexample: W_s[1,1]"], never=["W_s[0"]),
    # the planted derivations of derivations/
    "wrong_elman_no_recurrent_term.py": dict(
        status="caught", wrong=["W_x", "b_s", "W_s"],
        says=["correct for T = 1, wrong from T = 2", "flows back from s_t into s_{t−1}"], never=["clipped"]),
    "wrong_feedforward_missing_half.py": dict(
        status="caught", wrong="all", kinds={"factor_2"}, says=["exactly 2 × the reference", "½"],
        never=["the error term ∂E/∂y is wrong", "clipped"]),
    "wrong_elman_wx_slip.py": dict(
        status="caught", wrong=["W_x"], kinds={"shape"}, says=["the shape of W_s"], never=["clipped"]),
    "wrong_elman_formulas_missing_tanh_prime.py": dict(
        status="caught", wrong=["W_s"],
        says=["yours − derived = s_0·δ_1·s_1²", "In the term of δ_1 (time step t = 1) yours is s_0·δ_1",
              "yours lacks the factor 1 − s_1², the derivative of tanh at step 1", "W_s[1,1]"],
        never=["W_s[0", "**"]),
    "wrong_lstm_no_cell_path.py": dict(
        status="caught", wrong=["W_x", "b_s", "W_s"],
        says=["correct for T = 1, wrong from T = 2", "through s_{t−1} or c_{t−1}"], never=["clipped"]),
}

_CACHE: dict = {}


def result(name):
    if name not in _CACHE:
        folder = MISTAKES if (MISTAKES / name).exists() else DERIVATIONS
        _CACHE[name] = check_file(str(folder / name), examples=0)
    return _CACHE[name]


def text_of(res) -> str:
    """Everything the report says (the table, the wrong elements, the explanations and where), with its
    line breaks and indents made single spaces."""
    rep, sym = res["report"], res.get("symbolic")
    text = rep.format(verbose=True) + "\n" + "\n".join(rep.localisation)
    if sym is not None:
        text += "\n" + "\n".join(sym.lines())
    return " ".join(text.split())


def test_every_file_of_the_corpus_has_an_expected_diagnosis():
    files = {p.name for p in MISTAKES.glob("*.py")}
    assert files <= set(EXPECTED), f"no expected diagnosis for {sorted(files - set(EXPECTED))}"
    assert len(files) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_student_mistake_gets_its_diagnosis(name):
    want, res = EXPECTED[name], result(name)
    assert res["error"] is None, res["error"]
    rep = res["report"]
    names = list(load_derivation(str((MISTAKES if (MISTAKES / name).exists() else DERIVATIONS) / name))
                 .spec.param_shapes())
    wrong = names if want["wrong"] == "all" else want["wrong"]
    assert res["status"] == want["status"], text_of(res)
    assert sorted(rep.wrong) == sorted(wrong), text_of(res)           # nothing untouched is flagged
    for k, v in want.get("sizes", {}).items():
        assert rep.sizes[k] == v, rep.sizes
    kinds = {f.kind for p in rep.params if p.verdict == "wrong" for f in p.findings}
    assert want.get("kinds", set()) <= kinds, kinds
    text = text_of(res)
    for phrase in want["says"]:
        assert phrase in text, f"{phrase!r} not in\n{text}"
    for phrase in want["never"]:
        assert phrase not in text, f"{phrase!r} in\n{text}"


def test_a_statement_about_T_1_agrees_with_a_check_at_T_1():
    name = "gru_reset_forgotten_in_recurrent_candidate.py"
    rep = result(name)["report"]
    cand = load_derivation(str(MISTAKES / name))
    at_one = check_gradient(cand, problem=cand.spec.draw(rep.sizes, rep.seed).prefix(1))
    said_at_one = [n for n in rep.wrong if rep.steps[n][0] == 1]
    assert sorted(at_one.wrong) == sorted(said_at_one) == ["W_s", "b_s"]
    assert all(rep.steps[n][0] == 2 for n in ("W_x", "b_x"))


def test_a_gru_derived_in_the_other_convention_passes_once_the_model_says_so():
    cand = load_derivation(str(MISTAKES / "gru_other_update_convention.py"))
    report = check_gradient(cand.fn, gradlab.specs.gru(update="replace"))
    assert report.verdict == "pass", report.format()


def test_the_truncation_is_found_only_where_the_sizes_reach_it():
    """--max-T raises the limit: a BPTT truncated after 4 steps is right up to T = 4."""
    from gradlab.check import check_escalating

    cand = load_derivation(str(MISTAKES / "elman_truncated_after_4_steps.py"))
    short = check_escalating(cand, max_T=4, max_size=3)
    assert short.verdict == "pass" and max(s["T"] for s in short.coverage) == 4
    long = check_escalating(cand, max_T=8, max_size=3)
    assert long.verdict == "fail" and long.sizes["T"] == 5


def test_a_correct_derivation_says_which_sizes_it_was_checked_at():
    from gradlab.check import check_escalating

    report = check_escalating(load_derivation(str(DERIVATIONS / "lstm_bptt.py")))
    assert report.verdict == "pass"
    Ts = sorted({s["T"] for s in report.coverage})
    Hs = sorted({s["H"] for s in report.coverage})
    assert Ts[0] == 3 and Ts[-1] == 20 and len(Ts) >= 4 and Hs[-1] == 6
    assert "sizes checked: T = 3, 5, 8, 12, 20" in report.format()
    assert report.coverage_text(brief=True) == "T ≤ 20, H ≤ 6"


def test_a_planted_file_counts_the_search_counterexample(tmp_path):
    """Truncated after 3 steps, checked with the larger sizes capped at T = 3: only the Hypothesis search
    (T up to 4) sees the mistake, and its counterexample decides the file's status."""
    src = (MISTAKES / "elman_truncated_after_4_steps.py").read_text().replace("K = 4", "K = 3")
    path = tmp_path / "truncated_3.py"
    path.write_text(src)
    res = check_file(str(path), examples=25, max_T=3, max_size=3)
    assert res["report"].verdict == "pass"
    assert res["search"].counterexample is not None and res["search"].counterexample.sizes["T"] == 4
    assert res["status"] == "caught" and res["found_wrong"] == ["W_x", "b_s", "W_s"]


def test_relu_with_exploding_states_passes_and_says_what_the_verdict_rests_on():
    cand = load_derivation(str(DERIVATIONS / "elman_relu_bptt.py"))
    for T in (20, 40, 60):
        problem = cand.spec.draw({"T": T, "D": 2, "H": 3, "O": 2}, seed=0)
        problem = problem.copy(params={"W_s": 3 * np.eye(3)})
        report = check_gradient(cand, problem=problem)
        assert report.verdict == "pass", report.format()
        assert "Please report" not in report.format()
        (f,) = [f for f in report.findings if f.kind == "fd_unreliable"]
        assert "rests on gradlab's reverse mode and HIPS autograd" in f.message
    wrong = check_gradient(lambda p, d: {**cand.fn(p, d), "W_y": 1.01 * cand.fn(p, d)["W_y"]}, cand.spec,
                           problem=problem)
    assert wrong.wrong == ["W_y"]         # the exact references still catch a wrong gradient there


def test_errors_of_float32_size_without_float32_in_the_file_stay_wrong_with_a_note():
    cand = load_derivation(str(DERIVATIONS / "elman_bptt_sequence.py"))

    def jittered(params, data):     # 1e-6 relative errors that no float32 explains
        return {k: v * (1 + 1e-6 * np.cos(np.arange(v.size).reshape(v.shape))) for k, v in cand.fn(params, data).items()}

    report = check_gradient(jittered, cand.spec)
    assert report.verdict == "fail"
    assert any(f.kind == "precision" for f in report.findings)
    assert not any(f.kind == "float32" for f in report.findings)


def test_named_factors_need_two_sizes_and_name_the_size():
    from gradlab.check.pitfalls import named_factor

    s1, s2 = {"T": 3, "N": 4, "H": 3, "O": 2}, {"T": 5, "N": 2, "H": 4, "O": 3}
    assert named_factor([1 / 3, 1 / 5], [s1, s2]) == "1/T"
    assert named_factor([1 / 4, 1 / 2], [s1, s2]) == "1/N"
    assert named_factor([2.0, 2.0], [s1, s2]) == "2"
    assert named_factor([0.5, 0.5], [s1, s2]) == "½"
    assert named_factor([0.3, 0.3], [s1, s2]) == "c"
    assert named_factor([0.23, 0.41], [s1, s2]) is None        # a coincidence on one draw is no factor


def test_clipping_is_named_only_when_values_saturate_at_a_bound():
    from gradlab.check.pitfalls import wrong_param_findings

    r = np.array([[0.5, -0.2], [0.1, -0.9]])
    assert [f.kind for f in wrong_param_findings("W", np.clip(r, -0.3, 0.3), r)] == ["clipped"]
    # two values of one magnitude against a larger reference: what a softmax derivative applied twice gives for
    # two classes ((p − d) p (1 − p) with p(1 − p) the same for both), not evidence of a clip ...
    assert wrong_param_findings("b", np.array([0.2137, -0.2137]), np.array([0.7, -0.7])) == []
    # ... unless the bound is a round number, which a computed gradient does not hit exactly by chance
    assert [f.kind for f in wrong_param_findings("b", np.array([1.0, -1.0]), np.array([1.7, -1.4]))] == ["clipped"]
    assert wrong_param_findings("W", 0.5 * r, r) == []


def test_a_placeholder_of_zeros_is_named_as_such_not_as_a_factor():
    cand = load_derivation(str(DERIVATIONS / "elman_bptt_sequence.py"))
    report = check_gradient(lambda p, d: {**cand.fn(p, d), "W_s": np.zeros_like(p["W_s"])}, cand.spec)
    assert report.wrong == ["W_s"]
    assert [f.kind for f in report.param("W_s").findings] == ["zeros"]


def test_a_formula_check_names_elements_one_way_and_the_difference_in_words(tmp_path):
    import subprocess
    import sys

    src = (DERIVATIONS / "wrong_elman_formulas_missing_tanh_prime.py").read_text()
    path = tmp_path / "mine.py"
    path.write_text(src.replace('EXPECT = "wrong"\n', "").replace('WRONG = ("W_s",)\n', ""))
    out = subprocess.run([sys.executable, "-m", "gradlab.cli", "check", str(path), "--examples", "0"],
                         capture_output=True, text=True).stdout
    out = " ".join(out.split())
    assert "W_s[1,1]" in out and "W_s[0,0]" not in out and "W_s[1, 1]" not in out
    assert "yours − derived = s_0·δ_1·s_1²" in out
    assert "yours lacks the factor 1 − s_1², the derivative of tanh at step 1" in out
    assert "**" not in out


def test_unicode_superscripts_and_subscripts_are_accepted_in_formulas():
    from gradlab.symbolic.candidate import check_symbolic_candidate

    formulas = {"W_x": "δ₁·(1 − s₁²)·x₁ + δ₂·(1 − s₂²)·x₂", "W_s": "delta_1*(1 - s_1²)*s_0 + delta_2*(1 - s_2²)*s_1",
                "b_s": r"\delta_{1} (1 - s_{1}²) + \delta_{2} (1 - s_{2}²)", "W_y": "(y_1 - d_1)*s_1 + (y_2 - d_2)*s_2",
                "b_y": "(y_1 - d_1) + (y_2 - d_2)"}
    assert check_symbolic_candidate(formulas, "elman", T=2).ok
    formulas["W_s"] = "delta_1*s_0 + delta_2*(1 - s_2²)*s_1"
    assert not check_symbolic_candidate(formulas, "elman", T=2).ok


def test_an_expansion_bomb_is_compared_numerically_without_expanding():
    from gradlab.symbolic.candidate import check_symbolic_candidate, expansion_size
    from gradlab.symbolic.candidate import _model, vocabulary
    from gradlab.symbolic.parse import parse

    bomb = "(s_0+s_1+s_2+x_1+x_2+d_1+d_2+W_s)^64"
    vocab = vocabulary(_model("elman", T=2))
    assert expansion_size(parse(bomb, vocab)) > 10**9
    formulas = {"W_x": "0", "W_s": bomb, "b_s": "0", "W_y": "0", "b_y": "0"}
    result = check_symbolic_candidate(formulas, "elman", T=2)
    assert result.params["W_s"].symbolic == "too_large" and not result.params["W_s"].ok
    assert any("compared numerically only" in line for line in result.lines())


def vanishing_gradients(problem) -> list:
    """The parameters E depends on whose reference gradient is zero in ``problem`` (a vacuous check)."""
    from gradlab.check.references import engine_gradient

    rec = problem.record()
    grads, _ = engine_gradient(rec)
    leaves = set(rec.graph.leaves)
    return [n for n, leaf in rec.params.items() if leaf in leaves and not np.any(np.abs(grads[n]) > 1e-12)]


def test_the_smallest_failing_case_is_never_vacuous():
    """With O = 2 outputs and equal rows of W_y the softmax's Σ_k e_k = 0 makes W_yᵀ e vanish: the search
    shrank to such a case and reported W_x, W_s, b_s right there."""
    from gradlab.check import verify

    cand = load_derivation(str(MISTAKES / "elman_softmax_derivative_twice.py"))
    ce = verify(cand, max_examples=20, seed=0).counterexample
    base = cand.spec.draw(ce.sizes)
    problem = base.copy({k: ce.values[k] for k in base.params}, {k: ce.values[k] for k in base.data})
    assert vanishing_gradients(problem) == []
    assert sorted(ce.wrong) == sorted(cand.spec.param_shapes())    # the same diagnosis as the main check


def test_drawn_problems_are_never_vacuous():
    """The claim of derivations/README.md and gradlab.testing: a drawn problem is never vacuous."""
    from hypothesis import given, settings

    from gradlab.testing import rnn_configs
    from strategies import budget

    @settings(max_examples=budget(20))
    @given(rnn_configs(max_T=3, max_size=2))
    def run(config):
        assert vanishing_gradients(config[1]) == []

    run()


def test_render_findings_accepts_the_json_that_check_writes(tmp_path, capsys):
    from gradlab.cli import main

    main(["check", str(DERIVATIONS / "wrong_elman_no_recurrent_term.py"), "--json", "--examples", "0"])
    doc = capsys.readouterr().out
    (tmp_path / "check.json").write_text(doc)
    status = main(["render", "elman", "--view", "check", "--T", "3", "--findings", str(tmp_path / "check.json"),
                   "-o", str(tmp_path / "check.dot")])
    assert status == 0
    dot = (tmp_path / "check.dot").read_text()
    assert "gradient wrong" in dot and "W_s[" in dot
    report = json.loads(doc)["files"][0]["report"]
    assert report["params"][2]["worst"]["element"].startswith("W_s[")
