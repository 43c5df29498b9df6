"""Cells: forward values against a separate evaluation of each documented equation on the same weights,
lecture parameter names and shapes, cell options, and clear errors for bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
import reference_cells as ref
from gradlab import nn
from strategies import budget, CELL_KINDS, build_cell, rnn_configs, rnn_sequence, rnn_weights


def reference_initial_state(cell, P, batch):
    """The initial state as plain arrays: zeros, or the learned s_0 (c_0, ...) broadcast over the batch."""
    parts = []
    for part, size in zip(cell.state_names, cell.state_sizes()):
        zeros = np.zeros(batch + (size,))
        parts.append(zeros + P[f"{part}_0"] if f"{part}_0" in P else zeros)
    return parts[0] if len(parts) == 1 else tuple(parts)


def parts(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("kind", CELL_KINDS)
@settings(max_examples=budget(15))
@given(data=st.data())
def test_every_cell_forward_matches_its_documented_equations(kind, data):
    config, fused = data.draw(rnn_configs(kinds=(kind,)), label="config"), data.draw(st.booleans(), label="fused")
    rng = np.random.default_rng(config["seed"])
    cell = build_cell(config)
    P = rnn_weights(cell, rng)
    xs = rnn_sequence(config, rng)
    batch = () if config["B"] is None else (config["B"],)
    r = nn.unroll(cell, xs, fused=fused)
    states, ys = ref.run(config["kind"], P, xs, reference_initial_state(cell, P, batch), **config["options"])
    assert len(r.states) == len(states) == config["T"]
    for k in range(config["T"]):
        for got, want in zip(parts(r.states[k]), parts(states[k])):
            np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(r.outputs[k].data, ys[k], rtol=1e-12, atol=1e-12)
        assert r.outputs[k].shape == batch + ((config["O"] or config["H"]),)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_a_perturbed_reference_weight_is_caught_by_the_forward_comparison(kind):
    # every parameter influences the outputs, so the forward comparison above can fail for each of them
    rng = np.random.default_rng(7)
    cell = nn.CELLS[kind](3, 4, 2, rng=1)
    P = rnn_weights(cell, rng)
    xs = rng.normal(size=(3, 2, 3))
    s0 = tuple(rng.normal(size=(2, size)) for size in cell.state_sizes())
    s0 = s0[0] if len(s0) == 1 else s0
    ys = nn.unroll(cell, xs, s0).outputs
    _, want = ref.run(kind, P, xs, s0)
    np.testing.assert_allclose(np.stack([y.data for y in ys]), np.stack(want), rtol=1e-12)
    for name in P:
        bad = {k: v.copy() for k, v in P.items()}
        bad[name].flat[0] += 1e-3
        _, wrong = ref.run(kind, bad, xs, s0)
        assert not np.allclose(np.stack([y.data for y in ys]), np.stack(wrong), rtol=1e-9, atol=1e-12), name


EXPECTED_SHAPES = {  # D=3, H=4, O=2
    "elman": {"W_x": (4, 3), "W_s": (4, 4), "b_s": (4,), "W_y": (2, 4), "b_y": (2,)},
    "jordan": {"W_x": (4, 3), "W_s": (4, 2), "b_s": (4,), "W_y": (2, 4), "b_y": (2,)},
    "lstm": {"W_x": (16, 3), "W_s": (16, 4), "b_s": (16,), "W_y": (2, 4), "b_y": (2,)},
    "peephole": {"W_x": (16, 3), "W_s": (16, 4), "b_s": (16,), "p_i": (4,), "p_f": (4,), "p_o": (4,),
                 "W_y": (2, 4), "b_y": (2,)},
    "gru": {"W_x": (12, 3), "b_x": (12,), "W_s": (12, 4), "b_s": (12,), "W_y": (2, 4), "b_y": (2,)},
    "fourgate": {"W_n": (4, 7), "b_n": (4,), "W_i": (4, 7), "b_i": (4,), "W_f": (4, 7), "b_f": (4,),
                 "W_u": (4, 4), "b_u": (4,), "W_v": (4, 7), "b_v": (4,), "W_y": (2, 4), "b_y": (2,)},
}

LEARNED = {"elman": ["s_0"], "jordan": ["y_0"], "lstm": ["s_0", "c_0"], "peephole": ["s_0", "c_0"],
           "gru": ["s_0"], "fourgate": ["STM_0", "LTM_0"]}


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_parameters_have_lecture_names_and_documented_shapes(kind):
    cell = nn.CELLS[kind](3, 4, 2)
    by_name = cell.parameters_by_name()
    assert {k: p.shape for k, p in by_name.items()} == EXPECTED_SHAPES[kind]
    assert all(getattr(cell, k) is p for k, p in by_name.items())
    assert all(p.dtype == np.float64 for p in by_name.values())


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_learned_initial_state_parameters_are_named_after_the_state_parts(kind):
    cell = nn.CELLS[kind](3, 4, 2, learn_initial_state=True)
    names = set(cell.parameters_by_name()) - set(EXPECTED_SHAPES[kind])
    assert names == set(LEARNED[kind])
    state = cell.initial_state((5,))
    assert all(p.shape[0] == 5 for p in parts(state))


def test_cells_without_output_layer_emit_their_hidden_state():
    cell = nn.LSTMCell(3, 4)
    r = nn.unroll(cell, np.ones((2, 1, 3)))
    assert "W_y" not in cell.parameters_by_name()
    assert r.outputs[-1] is r.hiddens[-1] is r.final_state[0]


def test_lstm_forget_bias_initialises_only_the_forget_rows():
    cell = nn.LSTMCell(3, 4, forget_bias=1.0)
    b = cell.b_s.data
    np.testing.assert_allclose(b[4:8], 1.0)
    np.testing.assert_allclose(np.r_[b[:4], b[8:]], 0.0)


def test_gru_reset_placements_are_different_functions_each_matching_its_equations():
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(3, 2, 3))
    outs = {}
    for reset in ("after", "before"):
        cell = nn.GRUCell(3, 4, reset=reset, rng=0)
        P = rnn_weights(cell, np.random.default_rng(0))
        got = nn.unroll(cell, xs).final_state.data
        np.testing.assert_allclose(got, ref.run("gru", P, xs, np.zeros((2, 4)), reset=reset)[0][-1], rtol=1e-12)
        outs[reset] = got
    assert not np.allclose(outs["after"], outs["before"])
    assert nn.GRUCell(3, 4).reset == "after"


def test_four_gate_cell_output_is_not_the_standard_lstm_output():
    # STM_t = tanh(W_u (LTM_{t-1} f_t) + b_u) V_t, not V_t tanh(LTM_t): the difference the docstring explains
    rng = np.random.default_rng(4)
    cell = nn.FourGateLSTMCell(3, 4)
    P = rnn_weights(cell, rng)
    xs = rng.normal(size=(2, 1, 3))
    s0 = (rng.normal(size=(1, 4)), rng.normal(size=(1, 4)))
    stm, ltm = nn.unroll(cell, xs, s0).final_state
    joined = np.concatenate([nn.unroll(cell, xs[:1], s0).final_state[0].data, xs[1]], axis=-1)
    V = ref.sigmoid(joined @ P["W_v"].T + P["b_v"])
    assert not np.allclose(stm.data, V * np.tanh(ltm.data))


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_step_rejects_a_wrong_feature_size_naming_cell_time_step_and_sizes(kind):
    cell = nn.CELLS[kind](3, 4, 2, name="rnn")
    state = cell.initial_state((2,))
    with gradlab.scope(t=4), pytest.raises(ValueError) as e:
        cell.step(np.ones((2, 5)), state)
    msg = str(e.value)
    assert type(cell).__name__ in msg and "'rnn'" in msg and "t=4" in msg and "3 features" in msg and "got 5" in msg


def test_constructor_arguments_are_checked():
    with pytest.raises(ValueError, match="activation"):
        nn.ElmanCell(3, 4, activation="softsign")
    with pytest.raises(ValueError, match="reset"):
        nn.GRUCell(3, 4, reset="middle")
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTMCell(3, 0)
    with pytest.raises(ValueError, match="output_size is required"):
        nn.JordanCell(3, 4, None)


def test_a_state_without_its_parts_is_rejected():
    cell = nn.LSTMCell(3, 4)
    with pytest.raises(TypeError, match=r"tuple of 2 parts \('s', 'c'\)"):
        cell.check_state(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="state part 'c' must have 4 features"):
        cell.check_state((np.zeros((2, 4)), np.zeros((2, 3))))
