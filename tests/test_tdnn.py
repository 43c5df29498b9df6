"""The time-delay layer: a 1-D convolution over time built from Dense taps shared across shifts; its
gradient through the engine is the sum over shifts and agrees with finite differences; stacking grows
the context exactly by k − 1 per layer; bad input is refused by name; the figure shows the sharing."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab
from gradlab.nn import Sequential
from gradlab.nn.tdnn import TDNN, receptive_field, tdnn_figure


def conv_reference(x, W, b):
    """y[t] = Σ_j W_j x[t − j] + b for the full windows, with np.convolve (which flips its kernel)."""
    k, H, D = W.shape
    T = x.shape[0]
    y = np.zeros((T - k + 1, H))
    for h in range(H):
        for d in range(D):
            y[:, h] += np.convolve(x[:, d], W[:, h, d], mode="valid")
    return y + b


def central_difference(f, arrays, h=1e-6):
    """∂f/∂a for each array a (modified in place, then restored), by central differences."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + h
            up = f()
            a[idx] = old - h
            down = f()
            a[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


# ------------------------------------------------------------------------------------ the layer
@pytest.mark.parametrize("T,D,H,k", [(12, 3, 4, 5), (6, 1, 2, 1), (7, 2, 3, 7)])
def test_tdnn_equals_a_direct_one_dimensional_convolution(T, D, H, k):
    rng = np.random.default_rng(T + 10 * k)
    layer = TDNN(D, H, k, activation="identity", rng=1)
    W, b = rng.normal(size=(k, H, D)), rng.normal(size=H)
    layer.set_weights(W, b)
    x = rng.normal(size=(T, D))
    y = layer(x).data
    assert y.shape == (T - k + 1, H)
    np.testing.assert_allclose(y, conv_reference(x, W, b), rtol=1e-12, atol=1e-12)
    tanh_layer = TDNN(D, H, k, rng=1)
    tanh_layer.set_weights(W, b)
    np.testing.assert_allclose(tanh_layer(x).data, np.tanh(conv_reference(x, W, b)), rtol=1e-12, atol=1e-12)


def test_batched_tdnn_is_the_layer_applied_to_each_sequence():
    rng = np.random.default_rng(0)
    layer = TDNN(2, 3, 4, rng=2)
    xs = rng.normal(size=(9, 5, 2))
    y = layer(xs).data
    for n in range(5):
        np.testing.assert_allclose(y[:, n], layer(xs[:, n]).data, rtol=1e-13, atol=1e-14)


def test_unfolded_and_fused_tdnn_give_the_same_values_and_gradients():
    rng = np.random.default_rng(1)
    layer = TDNN(2, 3, 3, rng=4)
    x = rng.normal(size=(8, 2))
    d = rng.normal(size=(6, 3))
    fused = layer(x)
    times, steps = layer.unfold(x)
    assert times == list(range(3, 9))
    np.testing.assert_allclose(np.stack([h.data for h in steps]), fused.data, rtol=1e-13, atol=1e-14)
    grads = []
    for out in (fused, gradlab.stack(steps, axis=0)):
        layer.zero_grad()
        gradlab.nn.mse_half(out, d).backward()
        grads.append({name: p.grad.copy() for name, p in layer.parameters_by_name().items()})
    for name in grads[0]:
        np.testing.assert_allclose(grads[1][name], grads[0][name], rtol=1e-12, atol=1e-13)


def test_tap_gradient_is_the_sum_over_shifts_of_one_contribution_per_shift():
    rng = np.random.default_rng(2)
    layer = TDNN(2, 2, 3, rng=5)
    times, steps = layer.unfold(rng.normal(size=(7, 2)))
    E = gradlab.nn.mse_half(gradlab.stack(steps, axis=0), rng.normal(size=(5, 2)))
    E.backward()
    for name in ("W_0", "W_1", "W_2", "b"):
        p = layer.parameters_by_name()[name]
        parts = gradlab.contributions(E, p)
        assert sorted(parts) == times                       # one use of the shared tap per shift
        assert all(np.abs(v).max() > 0 for v in parts.values())
        np.testing.assert_allclose(sum(parts.values()), p.grad, rtol=1e-12, atol=1e-14)


def test_tdnn_gradient_through_the_engine_agrees_with_central_differences():
    rng = np.random.default_rng(3)
    net = Sequential(TDNN(2, 3, 3, rng=6, name="low"), TDNN(3, 2, 2, weight_name="V", bias_name="c", rng=7,
                                                         name="high"))
    x = gradlab.tensor(rng.normal(size=(7, 2)), requires_grad=True)
    d = rng.normal(size=(4, 2))
    gradlab.nn.mse_half(net(x), d).backward()
    params = list(net.parameters_by_name().items())

    def E():
        return float(gradlab.nn.mse_half(net(x.data), d).data)

    numeric = central_difference(E, [p.data for _, p in params] + [x.data])
    for (name, p), g in zip(params, numeric):
        np.testing.assert_allclose(p.grad, g, rtol=1e-7, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(x.grad, numeric[-1], rtol=1e-7, atol=1e-9)


@given(windows=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 10_000))
def test_stacked_context_grows_by_window_minus_one_per_layer_and_ends_there(windows, seed):
    rng = np.random.default_rng(seed)
    layers = [TDNN(2, 2, k, rng=seed + i, weight_name=f"W{i}", bias_name=f"b{i}", name=f"layer{i}")
              for i, k in enumerate(windows)]
    net = Sequential(*layers)
    R = receptive_field(*layers)
    assert R == 1 + sum(k - 1 for k in windows)
    T = R + 3
    x = rng.normal(size=(T, 2))
    last = net(x).data[-1]                               # the output at t = T reads x_{T−R+1} … x_T
    for s in range(T):
        moved = x.copy()
        moved[s] += 1.0
        changed = not np.allclose(net(moved).data[-1], last, rtol=0, atol=1e-15)
        assert changed == (s >= T - R), (s, T, R)


# ----------------------------------------------------------------------------------- bad input
def test_a_window_longer_than_the_sequence_is_refused_naming_both():
    layer = TDNN(1, 2, 5, rng=0)
    with pytest.raises(ValueError, match=r"window \(k = 5\) is longer than the sequence \(T = 3"):
        layer(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="window"):
        layer.unfold([np.zeros(1)] * 4)


@pytest.mark.parametrize("xs,match", [(np.zeros((0, 1)), "empty sequence"), (np.zeros((6, 2)), "1 features"),
                                      (np.zeros(6), r"shape \(T, D\)")])
def test_bad_sequences_are_refused_with_the_reason(xs, match):
    with pytest.raises(ValueError, match=match):
        TDNN(1, 2, 3, rng=0)(xs)


def test_bad_sizes_and_activations_are_refused():
    with pytest.raises(ValueError, match="window must be a positive int"):
        TDNN(1, 2, 0)
    with pytest.raises(ValueError, match="activation"):
        TDNN(1, 2, 2, activation="softsign")
    with pytest.raises(ValueError, match=r"set_weights needs W of shape \(2, 2, 1\)"):
        TDNN(1, 2, 2).set_weights(np.zeros((2, 1, 2)), np.zeros(2))


# -------------------------------------------------------------------------------------- figure
def test_unfolded_tdnn_figure_labels_every_shift_with_the_same_shared_taps():
    layer = TDNN(1, 2, 3, rng=0)
    src = tdnn_figure(layer, 6).source
    for j in range(3):
        label = f"<I>W</I><SUB>{j}</SUB>"
        assert src.count(label) == 4                      # T − k + 1 = 4 shifts, the same tap at each
        colours = set(re.findall(rf'color="(#[0-9A-Fa-f]+)"[^\n]*{re.escape(label)}|{re.escape(label)}[^\n]*'
                                 rf'color="(#[0-9A-Fa-f]+)"', src))
        assert len({c for pair in colours for c in pair if c}) == 1   # one colour per tap
    for t in range(1, 7):
        assert f"x_t{t}" in src
    assert len(re.findall(r"x_t\d -> y_t\d", src)) == 12    # 4 outputs × 3 taps


def test_stacked_tdnn_figure_draws_hidden_rows_and_both_layers_taps():
    low = TDNN(1, 2, 3, rng=0, name="low")
    high = TDNN(2, 1, 2, weight_name="V", bias_name="c", rng=1, name="high")
    src = tdnn_figure([low, high], 7).source
    assert src.count("<I>V</I><SUB>1</SUB>") == 4 and src.count("<I>W</I><SUB>2</SUB>") == 5
    assert "h_t3" in src and "y_t4" in src and "y_t3" not in src
    with pytest.raises(ValueError, match="receptive field"):
        tdnn_figure([low, high], 3)
