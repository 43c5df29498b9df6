"""Model specs and the testing helpers: lecture names and shapes, reproducible draws, the recorded
loss equals the loss written out in NumPy, prefixes, and strategies that never draw zeros."""
import numpy as np
import pytest
from hypothesis import given, settings

import gradlab
from gradlab import specs
from gradlab.testing import problems, rnn_configs, sizes
from strategies import budget


def test_elman_parameters_have_lecture_names_and_shapes():
    spec = specs.elman()
    assert spec.param_shapes({"D": 2, "H": 3, "O": 4}) == {
        "W_x": (3, 2), "b_s": (3,), "W_s": (3, 3), "W_y": (4, 3), "b_y": (4,)}
    assert [spec.shape_formula(n) for n in ("W_x", "W_s", "W_y")] == ["(H, D)", "(H, H)", "(O, H)"]
    assert spec.data_names() == ("xs", "ds", "s_0")
    assert specs.elman(mode="many_to_one").data_names() == ("xs", "d", "s_0")


@pytest.mark.parametrize("kind, formula", [("lstm", ("W_x", "(4H, D)")), ("gru", ("W_s", "(3H, H)")),
                                           ("four_gate_lstm", ("W_n", "(H, H + D)")),
                                           ("peephole_lstm", ("p_i", "(H,)"))])
def test_every_cell_spec_names_its_shapes_with_size_letters(kind, formula):
    name, text = formula
    assert specs.SPECS[kind]().shape_formula(name) == text


def test_a_draw_is_reproducible_from_its_seed_and_never_zero():
    a, b = specs.lstm().draw(seed=5), specs.lstm().draw(seed=5)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert np.all(a.params[k] != 0)
    assert not np.array_equal(a.params["W_x"], specs.lstm().draw(seed=6).params["W_x"])


def test_the_recorded_loss_equals_the_lecture_formula():
    p = specs.elman().draw({"T": 4, "D": 2, "H": 3, "O": 2}, seed=1)
    P, xs, ds = p.params, p.data["xs"], p.data["ds"]
    s, E = p.data["s_0"], 0.0
    for t in range(4):
        s = np.tanh(P["W_x"] @ xs[t] + P["W_s"] @ s + P["b_s"])
        E += 0.5 * np.sum((P["W_y"] @ s + P["b_y"] - ds[t]) ** 2)
    rec = p.record()
    assert float(rec.loss.data) == pytest.approx(E, rel=1e-13)
    assert rec.graph.time_steps == [1, 2, 3, 4]
    assert len(rec.adjoints["delta_s"]) == 4


def test_many_to_one_records_only_the_last_error():
    p = specs.elman(mode="many_to_one").draw({"T": 3}, seed=2)
    P, xs = p.params, p.data["xs"]
    s = p.data["s_0"]
    for t in range(3):
        s = np.tanh(P["W_x"] @ xs[t] + P["W_s"] @ s + P["b_s"])
    E_N = 0.5 * np.sum((P["W_y"] @ s + P["b_y"] - p.data["d"]) ** 2)
    assert float(p.record().loss.data) == pytest.approx(E_N, rel=1e-13)


def test_a_prefix_keeps_the_first_steps():
    p = specs.gru().draw({"T": 4}, seed=0)
    q = p.prefix(2)
    assert q.sizes["T"] == 2 and q.data["xs"].shape[0] == 2 and q.data["ds"].shape[0] == 2
    np.testing.assert_array_equal(q.params["W_s"], p.params["W_s"])
    with pytest.raises(ValueError, match="T must be in 1..4"):
        p.prefix(5)


def test_bad_spec_arguments_name_the_choices():
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        specs.elman(loss="l1")
    with pytest.raises(ValueError, match="unknown size 'K'"):
        specs.elman().draw({"K": 2})


@settings(max_examples=budget(10))
@given(rnn_configs(max_T=2, max_size=2))
def test_drawn_configurations_record_a_finite_scalar_loss(config):
    spec, problem = config
    rec = problem.record()
    assert rec.loss.shape == () and np.isfinite(float(rec.loss.data))
    assert all(np.all(v != 0) for v in problem.params.values())


@settings(max_examples=budget(10))
@given(sizes(specs.feedforward()))
def test_feedforward_sizes_have_no_time_axis(sz):
    assert set(sz) == {"D", "H", "O"}


def test_problems_strategy_respects_the_bounds():
    @settings(max_examples=budget(10))
    @given(problems(specs.lstm(), max_T=2, max_D=2, max_H=2, max_O=1))
    def run(p):
        assert 1 <= p.sizes["T"] <= 2 and p.sizes["H"] <= 2 and p.sizes["O"] == 1
        assert np.max(np.abs(p.params["W_s"])) <= 0.9 / np.sqrt(p.sizes["H"]) + 1e-12

    run()


def test_gradlab_exposes_the_checker_at_top_level():
    assert gradlab.check_gradient is gradlab.check.check_gradient
    assert gradlab.verify is gradlab.check.verify
