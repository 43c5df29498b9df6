"""The lecture examples run, in tiny configurations, and show what they claim; binary addition is exact
on numbers longer than any it was trained on."""
import importlib.util
import math
import pathlib
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    key = f"gradlab_example_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


class Lines(list):
    def __call__(self, line=""):
        self.append(str(line))

    @property
    def text(self):
        return "\n".join(self)


# ----------------------------------------------------------------------------------------------- demo
def test_demo_hand_derived_bptt_agrees_with_the_engine_per_parameter_and_per_step():
    out = Lines()
    result = load("demo").run(seed=1, T=4, hidden=3, out=out)
    assert result["max_error"] < 1e-12
    assert result["step_error"] < 1e-12 and result["sum_error"] < 1e-12
    assert "W_s" in out.text and "sum" in out.text


def test_demo_catches_the_missing_recurrent_term():
    result = load("demo").run(seed=2, T=4, hidden=3, out=Lines())
    assert {"W_x", "W_s", "b_s"} <= set(result["slip_caught"])
    assert "W_y" not in result["slip_caught"]       # the output layer does not need the recurrence


def test_demo_main_exits_zero(capsys):
    assert load("demo").main(["--T", "3", "--seed", "4"]) == 0
    assert "Hand-derived BPTT" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ binary addition
def test_binary_addition_batches_encode_the_sum_lsb_first():
    ba = load("binary_addition")
    xs, ds, a, b = ba.make_batch(np.random.default_rng(0), 6, 20)
    assert xs.shape == (7, 20, 2) and ds.shape == (7, 20)
    assert ba.from_bits(xs[..., 0].astype(int)) == a and ba.from_bits(xs[..., 1].astype(int)) == b
    assert ba.from_bits(ds) == [x + y for x, y in zip(a, b)]


def test_binary_addition_is_exact_on_numbers_longer_than_any_trained_on():
    out = Lines()
    result = load("binary_addition").run(seed=0, train_bits=8, lengths=(8, 16, 64), n_test=200, out=out)
    exact = {bits: acc for bits, acc, _ in result["rows"]}
    assert exact == {8: 1.0, 16: 1.0, 64: 1.0}
    a, b, got = result["example"]
    assert got == a + b and a.bit_length() > 8
    assert "longer than any training number" in out.text


# ----------------------------------------------------------------------------------------- char-RNN
def test_char_rnn_default_text_is_the_zen_of_python_read_without_importing_this(capsys):
    text = load("char_rnn").zen_text()
    assert "Beautiful is better than ugly." in text
    assert capsys.readouterr().out == ""           # `import this` would have printed it


def test_char_rnn_streams_are_contiguous_and_targets_are_shifted_by_one():
    cr = load("char_rnn")
    ids = np.arange(41)
    xs, ds = cr.batch_streams(ids, 4)
    assert xs.shape == ds.shape == (10, 4)
    np.testing.assert_array_equal(xs[:, 1], np.arange(10, 20))
    np.testing.assert_array_equal(ds, xs + 1)


def test_char_rnn_trains_with_truncated_bptt_and_samples_in_a_tiny_configuration():
    cr = load("char_rnn")
    out = Lines()
    text = cr.zen_text()[:400]
    result = cr.run(seed=0, text=text, hidden=12, epochs=12, batch=4, k1=10, n_sample=30, prime="The", out=out)
    losses = result["history"].losses
    assert len(losses) == 12 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] < math.log(len(result["vocab"])) + 0.5
    assert result["sample"].startswith("The") and len(result["sample"]) == 33
    assert set(result["sample"]) <= set(text)
    assert result["chars_per_second"] > 0 and "characters (tokens) per second" in out.text


def test_char_rnn_rejects_a_text_too_short_for_its_streams():
    cr = load("char_rnn")
    with pytest.raises(ValueError, match="too short"):
        cr.batch_streams(np.arange(5), 4)


# --------------------------------------------------------------------------------- sine and classes
def test_sine_wave_runs_in_a_tiny_configuration():
    out = Lines()
    result = load("sine_wave").run(seed=0, steps=15, hidden=4, T=12, out=out)
    assert math.isfinite(result["mse"]) and set(result["baselines"]) and "t= 1" in out.text
    assert result["history"].losses[-1] < result["history"].losses[0]


def test_sequence_classification_runs_in_a_tiny_configuration():
    sc = load("sequence_classification")
    out = Lines()
    result = sc.run(seed=0, steps=8, hidden=4, T=10, n_test=40, out=out)
    assert result["confusion"].sum() == 40 and 0.0 <= result["accuracy"] <= 1.0
    assert "confusion matrix" in out.text


def test_sequence_classification_waveforms_have_the_right_shapes_without_noise():
    sc = load("sequence_classification")
    phase = np.linspace(0, 1, 9)[:-1]
    np.testing.assert_allclose(sc._wave(1, phase), [1, 1, 1, 1, -1, -1, -1, -1])
    np.testing.assert_allclose(sc._wave(3, phase), 2 * phase - 1)
    np.testing.assert_allclose(sc._wave(2, np.array([0.0, 0.25, 0.5])), [1.0, 0.0, -1.0])


# -------------------------------------------------------------------------------- long-range memory
def test_long_range_task_hides_the_class_in_the_first_input_only():
    lr = load("long_range_memory")
    xs, labels = lr.make_batch(np.random.default_rng(0), 6, 50)
    assert xs.shape == (7, 50, 2)
    np.testing.assert_array_equal(xs[0, :, 0], 2 * labels - 1)
    np.testing.assert_array_equal(xs[:, :, 1].sum(axis=0), np.ones(50))   # the start flag, once


def test_long_range_memory_prints_both_tables_in_a_tiny_configuration():
    lr = load("long_range_memory")
    out = Lines()
    result = lr.run(seed=0, seeds=1, lags=(2, 4), hidden=4, max_batches=6, out=out)
    assert set(result["table"]) == set(lr.KINDS)
    assert all(len(result["table"][k][lag]) == 1 for k in lr.KINDS for lag in (2, 4))
    for norms in (result["init_norms"], result["trained_norms"]):
        assert set(norms) == set(lr.KINDS)
        assert all(sorted(curve) == list(range(1, 6)) for curve in norms.values())
    assert "at initialisation" in out.text and "k steps back" in out.text


def test_gradients_through_a_tanh_rnn_vanish_over_a_long_lag_at_initialisation():
    lr = load("long_range_memory")
    xs, labels = lr.make_batch(np.random.default_rng(1), 30, 16)
    from gradlab.nn.analysis import gradient_norms

    elman = gradient_norms(lr.build("Elman", 8, 0), xs, labels, loss="softmax_cross_entropy")
    gru = gradient_norms(lr.build("GRU", 8, 0), xs, labels, loss="softmax_cross_entropy")
    assert elman[1] / elman[31] < 1e-4 < gru[1] / gru[31]


# ----------------------------------------------------------------------------- second-order methods
def test_second_order_example_shows_both_modes_agree_and_g_semidefinite_where_h_is_not():
    so = load("second_order")
    assert so.agreement(out=Lines()) < 1e-12
    g_min, h_min, gap = so.curvature(out=Lines())
    assert g_min > -1e-12 and h_min < -1e-3 and gap < 1e-12


def test_second_order_example_trains_with_hessian_free_and_logs_lambda_and_cg_iterations():
    so = load("second_order")
    r = so.train("hf+sd", T=5, steps=3, seed=0, hidden=4, B=40, progress=False)
    assert len(r["reports"]) == 3 and all(rep.cg_iterations >= 1 for rep in r["reports"])
    assert r["losses"][-1] < r["losses"][0]
