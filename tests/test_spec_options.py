"""The data and model options of the derivation contract: each one changes the model, the data and the
parameters exactly as documented. Every option is checked against a forward written here, directly in
the layout the option describes (HIPS autograd differentiates it into a candidate that is right by
construction), so the spec's recording, its references and the checker agree with code written that way,
and a planted mistake in that code is caught."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings

import gradlab
from gradlab import specs
from gradlab.check import check_gradient, verify
from gradlab.testing import problems
from strategies import budget


def _sigmoid(a):
    return 0.5 * anp.tanh(0.5 * a) + 0.5


def _log_softmax(z, axis):
    m = anp.max(z, axis=axis, keepdims=True)
    return z - m - anp.log(anp.sum(anp.exp(z - m), axis=axis, keepdims=True))


# ---------------------------------------------------------- forwards written in each layout
def charnn_column(P, data):
    """min-char-rnn's layout: column vectors, index inputs and targets."""
    xs, ds, h = data["xs"], data["ds"], data["s_0"]
    V = P["Wxh"].shape[1]
    E = 0.0
    for t in range(len(xs)):
        x = np.zeros((V, 1))
        x[xs[t]] = 1.0
        h = anp.tanh(anp.dot(P["Wxh"], x) + anp.dot(P["Whh"], h) + P["bh"])
        y = anp.dot(P["Why"], h) + P["by"]
        E = E - _log_softmax(y, 0)[ds[t], 0]
    return E


def elman_row_batch_mean(P, data):
    """CS231n's layout: weights (in, out) used as x W, batch-first sequences (B, T, D), E averaged over B."""
    xs, ds, h = data["xs"], data["ds"], data["s_0"]
    B, T, _ = xs.shape
    E = 0.0
    for t in range(T):
        h = anp.tanh(anp.dot(xs[:, t], P["Wx"]) + anp.dot(h, P["Wh"]) + P["b"])
        y = anp.dot(h, P["Wy"]) + P["by"]
        E = E + 0.5 * anp.sum((y - ds[:, t]) ** 2)
    return E / B


def elman_column_batch_sum(P, data):
    """Column vectors with a batch side by side: x_t (D, B), s (H, B), targets (T, O, B)."""
    xs, ds, h = data["xs"], data["ds"], data["s_0"]
    E = 0.0
    for t in range(xs.shape[0]):
        h = anp.tanh(anp.dot(P["W_x"], xs[t]) + anp.dot(P["W_s"], h) + P["b_s"])
        y = anp.dot(P["W_y"], h) + P["b_y"]
        E = E + 0.5 * anp.sum((y - ds[t]) ** 2)
    return E


def lstm_ifog_zero_state(P, data):
    """Stacked gate blocks i, f, o, g and a state that starts at zero."""
    H = P["W_s"].shape[1]
    s = c = anp.zeros(H)
    E = 0.0
    for t in range(len(data["xs"])):
        a = anp.dot(P["W_x"], data["xs"][t]) + anp.dot(P["W_s"], s) + P["b_s"]
        i, f, o, g = _sigmoid(a[:H]), _sigmoid(a[H:2 * H]), _sigmoid(a[2 * H:3 * H]), anp.tanh(a[3 * H:])
        c = f * c + i * g
        s = o * anp.tanh(c)
        E = E + 0.5 * anp.sum((anp.dot(P["W_y"], s) + P["b_y"] - data["ds"][t]) ** 2)
    return E


def lstm_concat(P, data):
    """Per-gate weights on the concatenation [s_{t-1}; x_t] (the Coursera style), the code's own names."""
    s, c = data["s_0"], data["c_0"]
    E = 0.0
    for t in range(len(data["xs"])):
        z = anp.concatenate([s, data["xs"][t]])
        i = _sigmoid(anp.dot(P["Wi"], z) + P["bi"])
        f = _sigmoid(anp.dot(P["Wf"], z) + P["bf"])
        g = anp.tanh(anp.dot(P["Wc"], z) + P["bc"])
        o = _sigmoid(anp.dot(P["Wo"], z) + P["bo"])
        c = f * c + i * g
        s = o * anp.tanh(c)
        E = E - anp.sum(data["ds"][t] * _log_softmax(anp.dot(P["Wy"], s) + P["by"], 0))
    return E


def elman_no_bias_time_mean(P, data):
    """No biases, E averaged over the steps."""
    s, T = data["s_0"], len(data["xs"])
    E = 0.0
    for t in range(T):
        s = anp.tanh(anp.dot(P["W_x"], data["xs"][t]) + anp.dot(P["W_s"], s))
        E = E + 0.5 * anp.sum((anp.dot(P["W_y"], s) - data["ds"][t]) ** 2)
    return E / T


def feedforward_row_batch(P, data):
    h = anp.tanh(anp.dot(data["x"], P["W_1"]) + P["b_1"])
    return 0.5 * anp.sum((anp.dot(h, P["W_2"]) + P["b_2"] - data["d"]) ** 2)


CASES = {
    "index inputs and targets, column vectors": (
        specs.elman(loss="softmax_cross_entropy", inputs="index", targets="index", layout="column",
                    names={"Wxh": "W_x", "Whh": "W_s", "bh": "b_s", "Why": "W_y", "by": "b_y"}), charnn_column),
    "row vectors, batch mean": (
        specs.elman(layout="row", batch="mean", names={"Wx": "W_x", "Wh": "W_s", "b": "b_s", "Wy": "W_y", "by": "b_y"}),
        elman_row_batch_mean),
    "column vectors, batch sum": (specs.elman(layout="column", batch="sum"), elman_column_batch_sum),
    "LSTM gates i, f, o, g, zero state": (specs.lstm(gates="ifog", initial_state="zero"), lstm_ifog_zero_state),
    "LSTM per-gate weights on [s; x]": (
        specs.lstm(loss="softmax_cross_entropy", gates="concat",
                   names={"Wi": "W_i", "Wf": "W_f", "Wc": "W_g", "Wo": "W_o", "bi": "b_i", "bf": "b_f", "bc": "b_g",
                          "bo": "b_o", "Wy": "W_y", "by": "b_y"}), lstm_concat),
    "no biases, E averaged over time": (specs.elman(biases=False, over_time="mean"), elman_no_bias_time_mean),
    "feedforward, row vectors, batch": (specs.feedforward(layout="row", batch="sum"), feedforward_row_batch),
}


def _candidate(forward):
    grad = autograd.grad(forward)

    def gradient(params, data):
        return grad({k: np.asarray(v, float) for k, v in params.items()}, dict(data))
    return gradient


@pytest.mark.parametrize("case", list(CASES))
def test_each_option_records_the_loss_the_code_computes(case):
    spec, forward = CASES[case]
    for seed in (0, 1):
        p = spec.draw(seed=seed)
        assert set(p.params) == set(spec.param_shapes()) and set(p.data) == set(spec.data_names())
        assert {k: v.shape for k, v in p.params.items()} == spec.param_shapes(p.sizes)
        assert float(p.record().loss.data) == pytest.approx(float(forward(p.params, p.data)), rel=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_code_written_in_each_layout_passes_and_a_changed_gradient_is_named(case):
    spec, forward = CASES[case]
    right = _candidate(forward)
    assert check_gradient(right, spec, mode="fast").verdict == "pass"
    name = list(spec.param_shapes())[1]

    def wrong(params, data):
        g = right(params, data)
        g[name] = g[name] * 1.5
        return g
    report = check_gradient(wrong, spec, mode="fast")
    assert report.wrong == [name]


def test_the_search_draws_index_data_batches_and_layouts_and_passes_right_code():
    for case in ("index inputs and targets, column vectors", "row vectors, batch mean"):
        spec, forward = CASES[case]
        report = verify(_candidate(forward), spec, max_examples=budget(8), seed=3)
        assert report.ok, report.format()


def test_the_search_shrinks_a_batch_mean_missing_from_one_gradient():
    spec, forward = CASES["row vectors, batch mean"]
    right = _candidate(forward)

    def wrong(params, data):
        g = right(params, data)
        g["Wy"] = g["Wy"] * data["xs"].shape[0]     # the 1/B forgotten in one gradient
        return g
    report = verify(wrong, spec, max_examples=budget(20), seed=0)
    assert not report.ok and report.counterexample.wrong == ["Wy"]
    assert report.counterexample.sizes["B"] == 2
    assert any(f.kind in ("mean_one", "factor_B") and "B = 2" in f.message
               for f in report.counterexample.param("Wy").findings)


@settings(max_examples=budget(10))
@given(problems(CASES["index inputs and targets, column vectors"][0], max_T=3))
def test_drawn_class_indices_are_in_range_and_the_layout_is_the_codes(p):
    V = p.sizes["V"]
    assert p.data["xs"].dtype.kind == "i" and 0 <= p.data["xs"].min() and p.data["xs"].max() < V
    assert p.data["s_0"].shape == (p.sizes["H"], 1) and p.params["bh"].shape == (p.sizes["H"], 1)
    assert np.isfinite(float(p.record().loss.data))


def _tutorial_bptt(U, V, W, x, y, k):
    """The word-level tutorial's truncated BPTT, 0-based: each t goes back over t, t-1, ..., max(0, t-k)."""
    T = len(x)
    s = np.zeros((T + 1, W.shape[0]))
    o = np.zeros((T, V.shape[0]))
    for t in range(T):
        s[t] = np.tanh(U[:, x[t]] + W @ s[t - 1])
        z = V @ s[t]
        o[t] = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    dU, dV, dW = np.zeros_like(U), np.zeros_like(V), np.zeros_like(W)
    o[np.arange(T), y] -= 1.0
    for t in range(T - 1, -1, -1):
        dV += np.outer(o[t], s[t])
        delta = (V.T @ o[t]) * (1 - s[t] ** 2)
        for step in range(t, max(0, t - k) - 1, -1):
            dW += np.outer(delta, s[step - 1])
            dU[:, x[step]] += delta
            delta = (W.T @ delta) * (1 - s[step - 1] ** 2)
    return {"U": dU, "V": dV, "W": dW}


def test_truncate_k_is_the_tutorials_truncated_gradient_for_every_k():
    from gradlab.check.references import engine_gradient

    names = {"U": "W_x", "W": "W_s", "V": "W_y"}
    base = dict(loss="softmax_cross_entropy", inputs="index", targets="index", biases=False, initial_state="zero",
                names=names)
    p = specs.elman(**base).draw({"T": 5, "V": 4, "H": 3}, seed=2)
    full, _ = engine_gradient(p.record())
    for k in range(0, 6):
        spec = specs.elman(truncate=k, **base)
        q = spec.draw({"T": 5, "V": 4, "H": 3}, seed=2)
        rec = q.record()
        assert float(rec.loss.data) == pytest.approx(float(p.record().loss.data), rel=1e-13)  # E is unchanged
        ref, _ = engine_gradient(rec)
        want = _tutorial_bptt(q.params["U"], q.params["V"], q.params["W"], q.data["xs"], q.data["ds"], k)
        for n in want:
            np.testing.assert_allclose(ref[n], want[n], rtol=1e-12, atol=1e-14)
        if k >= 4:          # k ≥ T − 1 is full BPTT
            for n in want:
                np.testing.assert_allclose(ref[n], full[n], rtol=1e-12, atol=1e-14)
        else:           # (with s_0 = 0 the first step adds nothing to W, but it does to U)
            assert not np.allclose(ref["U"], full["U"])
    assert specs.elman(truncate=4, **base).default_sizes()["T"] == 7


def test_the_codes_names_are_used_in_params_reports_and_wrong():
    spec, forward = CASES["row vectors, batch mean"]
    right = _candidate(forward)

    def wrong(params, data):
        g = right(params, data)
        g["Wh"] = g["Wh"].T
        return g
    report = check_gradient(wrong, spec)
    assert report.wrong == ["Wh"] and "∂E/∂Wh" in report.format()
    assert spec.shape_formula("Wx") == "(D, H)" and spec.lecture_name("Wh") == "W_s"
    assert spec.output_layer_names() == ("Wy", "by")


def test_a_per_part_initial_state_fixes_only_that_part():
    spec = specs.lstm(initial_state={"c_0": "zero"})
    assert spec.data_names() == ("xs", "ds", "s_0") and spec.zero_states() == ("c_0",)
    assert "c_0 = 0 (fixed); s_0 given in the data" in spec.equations()
    assert specs.lstm(initial_state={"s_0": "zero", "c_0": "zero"}) == specs.lstm(initial_state="zero")


def test_the_equations_apply_the_options():
    eq = specs.elman(loss="softmax_cross_entropy", inputs="index", targets="index", biases=False,
                     initial_state="zero", truncate=4, names={"U": "W_x", "W": "W_s", "V": "W_y"}).equations()
    assert "s_t = tanh(W_x x_t + W_s s_{t−1})" in eq and "b_s" not in eq
    assert "E_t = −log softmax(y_t)_{d_t}" in eq and "s_0 = 0 (fixed)" in eq
    assert "max(1, t−4)" in eq and "your names: U = W_x, W = W_s, V = W_y" in eq


@pytest.mark.parametrize("kwargs, message", [
    (dict(inputs="onehot"), "inputs must be one of 'vector', 'index'"),
    (dict(targets="index"), "index targets need loss=\"softmax_cross_entropy\""),
    (dict(truncate=-1), "truncate must be None"),
    (dict(gates="ifog"), "gates= is an option of gradlab.specs.lstm"),
    (dict(over_time="mean", mode="many_to_one"), "needs mode=\"many_to_many\""),
    (dict(names={"Wxh": "W_q"}), "names maps 'Wxh' to 'W_q', which is not a parameter"),
    (dict(names={"W_s": "W_x"}), "already the name of another parameter"),
    (dict(bias=False), "unknown option 'bias' \\(did you mean 'biases'\\?\\)"),
    (dict(initial_state={"h_0": "zero"}), "initial_state maps the parts"),
])
def test_a_bad_option_is_a_value_error_naming_the_choices(kwargs, message):
    with pytest.raises(ValueError, match=message):
        specs.elman(**kwargs)


def test_data_of_the_wrong_shape_or_class_out_of_range_is_named():
    spec = CASES["index inputs and targets, column vectors"][0]
    p = spec.draw(seed=0)
    with pytest.raises(ValueError, match="data\\['xs'\\]: class index 9 at position \\(1,\\) is outside 0..3"):
        p.copy(data={"xs": np.array([0, 9, 1])}).record()
    with pytest.raises(ValueError, match="data\\['s_0'\\] has shape \\(3,\\), expected \\(3, 1\\)"):
        p.copy(data={"s_0": np.zeros(3)}).record()


def test_default_specs_are_unchanged_by_the_options_machinery():
    spec = specs.elman()
    assert spec.options == () and repr(spec) == "gradlab.specs.elman(loss='mse_half', activation='tanh', " \
                                                "mode='many_to_many')"
    p = spec.draw(seed=0)
    rec = p.record()
    assert rec.params["W_s"] is not None and rec.params["W_s"].name == "W_s"
    assert gradlab.specs.lstm().param_shapes() == {"W_x": (12, 2), "b_s": (12,), "W_s": (12, 3), "W_y": (2, 3),
                                                   "b_y": (2,)}


def test_a_prefix_cuts_the_time_axis_where_the_layout_keeps_it():
    spec = CASES["row vectors, batch mean"][0]
    p = spec.draw({"T": 4, "B": 3}, seed=0)
    q = p.prefix(2)
    assert q.data["xs"].shape == (3, 2, 2) and q.data["ds"].shape == (3, 2, 2) and q.data["s_0"].shape == (3, 3)
    np.testing.assert_array_equal(q.data["xs"], p.data["xs"][:, :2])
    assert float(q.record().loss.data) == pytest.approx(float(elman_row_batch_mean(q.params, q.data)), rel=1e-12)
