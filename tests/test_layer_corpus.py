"""Layer mode on course code as it is written (issue 12): the CS231n-style and Coursera-style corpus.

Every correct file passes (and Hypothesis finds no counterexample); every planted copy is caught with
exactly the gradients its mistake touches named — nothing untouched is ever flagged — and the report
states the kind of mistake and the time step in the words the tests look for."""
from pathlib import Path

import pytest

from gradlab.check.layer import check_layer_file, load_layer_file

from .strategies import budget

CORPUS = Path(__file__).resolve().parent / "corpus"
CORRECT = sorted(p for d in ("cs231n", "coursera") for p in (CORPUS / d).glob("*.py") if not p.name.startswith("wrong_"))

# planted file -> (the gradients its mistake touches, phrases the diagnosis must contain)
PLANTED = {
    "cs231n/wrong_rnn_step_no_tanh_derivative.py": (
        {"dx", "dprev_h", "dWx", "dWh", "db"}, ["the derivative of np.tanh", "left out", "1 − tanh²"]),
    "cs231n/wrong_rnn_step_h_for_prev_h.py": (
        {"dWh"}, ["with next_h", "in place of `prev_h` in `prev_h.dot(Wh)`"]),
    "cs231n/wrong_rnn_no_recurrent_term.py": (
        {"dx", "dh0", "dWx", "dWh", "db"},
        ["through `prev_h` in `prev_h.dot(Wh)`", "dx is correct for t ≥ 4 and wrong from t = 3 back",
         "the recurrent term", "First seen in dx (dx[:, τ−1, :])"]),
    "cs231n/wrong_rnn_batch_mean_dWh.py": ({"dWh"}, ["divided by N = 3", "a mean over N"]),
    "cs231n/wrong_rnn_transposed_dWh.py": ({"dWh"}, ["your dWh is the transpose of the reference", "row layout"]),
    "cs231n/wrong_rnn_clipped.py": ({"dWx", "dWh", "db"}, ["exactly ±0.1", "clipped inside the backward"]),
    "cs231n/wrong_rnn_dx_only.py": (
        {"dx"}, ["dx is wrong at every step t = 0 … 4", "at τ itself", "dh0, dWx, dWh, db stay right"]),
    "cs231n/wrong_rnn_dh0_only.py": (
        {"dh0"}, ["your dh0 is the gradient of next_h", "(t = 0)", "instead of the gradient of the input h0",
                  "already for τ = 0"]),
    "cs231n/wrong_lstm_no_cell_path.py": (
        {"dx", "dh0", "dWx", "dWh", "db"},
        ["through `prev_c` in `f * prev_c`", "dx is correct for t ≥ 4 and wrong from t = 3 back", "the recurrent term"]),
    "cs231n/wrong_lstm_step_gate_order.py": (
        {"dx", "dprev_h", "dWx", "dWh", "db"}, ["yours hold (i, f, g, o) where the forward's order is (i, f, o, g)",
                                                 "block of Wx (columns",
                                                 "the gradients of `a[:, 2 * H:3 * H]`", "and `a[:, 3 * H:]`",
                                                 "put back into each other's place"]),
    "coursera/wrong_rnn_cell_no_tanh_derivative.py": (
        {"dxt", "da_prev", "dWax", "dWaa", "dba"}, ["the derivative of np.tanh", "left out"]),
    "coursera/wrong_rnn_cell_a_next_for_a_prev.py": (
        {"dWaa"}, ["with a_next", "in place of `a_prev` in `np.dot(Waa, a_prev)`"]),
    "coursera/wrong_rnn_no_recurrent_term.py": (
        {"dx", "da0", "dWax", "dWaa", "dba"},
        ["through `a_prev` in `np.dot(Waa, a_prev)`", "dx is correct for t ≥ 4 and wrong from t = 3 back",
         "the recurrent term", "First seen in dx (dx[:, :, τ−1])"]),
    "coursera/wrong_rnn_one_over_T.py": ({"dWax"}, ["divided by T_x = 5 (the time axis)"]),
    "coursera/wrong_rnn_transposed_dWaa.py": ({"dWaa"}, ["your dWaa is the transpose of the reference", "column layout"]),
    "coursera/wrong_rnn_clipped.py": ({"dWax", "dWaa", "dba"}, ["exactly ±0.1", "clipped inside the backward"]),
    "coursera/wrong_rnn_dx_only.py": ({"dx"}, ["dx is wrong at every step t = 0 … 4", "at τ itself"]),
    "coursera/wrong_rnn_da0_only.py": (
        {"da0"}, ["your da0 is the gradient of a_next", "(t = 0)", "instead of the gradient of the input a0"]),
    "coursera/wrong_lstm_no_cell_path.py": (
        {"dx", "da0", "dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo"},
        ["through `c_prev` in `ft * c_prev`", "dx is correct for t ≥ 4 and wrong from t = 3 back", "the recurrent term"]),
    "coursera/wrong_lstm_cell_gate_mixup.py": (
        {"dWf", "dbf", "dWi", "dbi"}, ["your dWf equals the reference gradient of Wi", "your dbi equals the reference "
                                                                                    "gradient of bf"]),
}


def test_the_corpus_has_every_planted_mistake_of_the_issue_in_both_conventions():
    files = {p.relative_to(CORPUS).as_posix() for d in ("cs231n", "coursera") for p in (CORPUS / d).glob("wrong_*.py")}
    assert files == set(PLANTED)
    assert {p.relative_to(CORPUS).as_posix() for p in CORRECT} >= {
        "cs231n/rnn_step.py", "cs231n/rnn_sequence.py", "cs231n/lstm_step.py", "cs231n/lstm_sequence.py",
        "coursera/rnn_cell.py", "coursera/rnn_sequence.py", "coursera/lstm_cell.py", "coursera/lstm_sequence.py"}


@pytest.mark.parametrize("path", CORRECT, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_correct_course_code_passes_also_under_the_hypothesis_search(path):
    res = check_layer_file(str(path), examples=budget(4))
    assert res["error"] is None, res["error"]
    assert res["status"] == "ok", res["report"].format(verbose=True)
    assert res["search"].ok and res["search"].examples >= budget(4)
    reports = getattr(res["report"], "reports", [res["report"]])
    for rep in reports:
        assert rep.wrong == [] and rep.verdict == "pass"
        assert rep.params and all(p.n_checked == _size(p.shape) for p in rep.params)   # every element
        # the traced reference and the black box agree to 1e-10 (relative to each gradient's largest entry)
        key = next(k for k in rep.agreement if "black box" in k)
        assert rep.agreement[key] <= 1e-10, rep.agreement


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_mistake_is_caught_with_exactly_its_gradients_and_the_right_diagnosis(name):
    touched, phrases = PLANTED[name]
    res = check_layer_file(str(CORPUS / name), examples=0)
    assert res["error"] is None, res["error"]
    assert set(res["found_wrong"]) == touched          # nothing untouched is flagged, nothing touched missed
    assert res["status"] == "caught"
    text = " ".join(res["report"].format(verbose=True).split())     # the report's line wrapping undone
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in the report of {name}:\n{text}"
    ok = {p.name for p in res["report"].params if p.verdict == "ok"}
    assert ok == {p.name for p in res["report"].params} - touched


def _size(shape):
    n = 1
    for k in shape:
        n *= k
    return n


def test_the_file_says_which_gradients_its_mistake_touches():
    for name, (touched, _) in PLANTED.items():
        lf = load_layer_file(str(CORPUS / name))
        assert lf.expect == "wrong" and set(lf.wrong) == touched, name


@pytest.mark.parametrize("name", ["cs231n/wrong_rnn_no_recurrent_term.py", "coursera/wrong_rnn_one_over_T.py",
                                  "cs231n/wrong_rnn_step_h_for_prev_h.py"])
def test_the_search_shrinks_a_planted_mistake_to_a_small_failing_case(name):
    res = check_layer_file(str(CORPUS / name), examples=budget(10))
    search = res["search"]
    assert not search.ok and search.counterexample is not None
    ce = search.counterexample
    assert set(ce.wrong) == PLANTED[name][0]
    time_letter = load_layer_file(str(CORPUS / name)).decls[0].time
    if time_letter is not None:
        assert ce.sizes[time_letter] <= 2      # a recurrence or an average over time needs only two steps
    assert all(v <= 3 for k, v in ce.sizes.items() if k != time_letter)
    assert ce.values                           # the values of the smallest case are in the report
