"""The TDNN's shift invariance (Waibel et al. 1989's claim) on synthetic formant sweeps: the generator is
seeded and puts each pattern where it says; the Waibel-arrangement classifier's scores move with its
input; trained at some offsets, the TDNN keeps its accuracy at unseen ones while an MLP over the whole
window falls to chance; the example prints its table and comparison and draws its figure."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from gradlab.data import SWEEP_CLASSES, formant_sweeps
from gradlab.nn.tdnn import TDNN, TDNNClassifier

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    key = f"gradlab_example_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


# ---------------------------------------------------------------------------------------- the data
def test_formant_sweeps_are_the_same_for_the_same_seed_and_differ_for_another():
    a = formant_sweeps(20, offsets=(2, 9), rng=7)
    b = formant_sweeps(20, offsets=(2, 9), rng=np.random.default_rng(7))
    c = formant_sweeps(20, offsets=(2, 9), rng=8)
    for field in ("inputs", "labels", "offsets"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.inputs, c.inputs)
    assert a.inputs.dtype == np.float64 and a.inputs.shape == (32, 20, 16)


def test_each_pattern_occupies_exactly_its_frames_inside_the_offset_range():
    batch = formant_sweeps(60, offsets=(3, 11), length=7, noise=0.0, rng=1)
    assert batch.offsets.min() >= 3 and batch.offsets.max() <= 11
    assert len(set(batch.offsets.tolist())) > 3                     # offsets are drawn, not fixed
    for b in range(batch.size):
        energy = np.abs(batch.inputs[:, b]).sum(axis=1)
        frames = np.flatnonzero(energy > 0)
        assert frames.tolist() == list(range(batch.offsets[b], batch.offsets[b] + 7))


def test_the_class_is_the_direction_of_the_second_formant_and_the_first_is_shared():
    batch = formant_sweeps(90, offsets=0, noise=0.0, rng=2)
    channels = np.arange(16)
    for b in range(batch.size):
        x = batch.inputs[:9, b]                                     # (frames, channels) of the pattern
        upper = x[:, 6:]                                           # F2's channels
        f2 = (upper * channels[6:]).sum(axis=1) / upper.sum(axis=1)  # its centroid per frame
        f1_peak = x[:, :5].argmax(axis=1)
        assert f1_peak[0] < f1_peak[-1]                              # F1 rises in every class
        move = f2[-1] - f2[0]
        expected = SWEEP_CLASSES[batch.labels[b]]
        assert {"rising": move > 2, "falling": move < -2, "flat": abs(move) < 0.5}[expected], (expected, move)
    assert set(batch.labels.tolist()) == {0, 1, 2}


def test_start_channel_alone_does_not_give_the_class():
    batch = formant_sweeps(600, offsets=0, noise=0.0, rng=3)
    first = batch.inputs[0, :, 6:].argmax(axis=1)                    # F2's channel in the first frame
    ranges = [set(first[batch.labels == k].tolist()) for k in range(3)]
    assert ranges[0] & ranges[1] and ranges[0] & ranges[2] and ranges[1] & ranges[2]


def test_given_labels_are_used_and_flat_rows_are_time_major():
    labels = np.array([2, 0, 1, 1])
    batch = formant_sweeps(4, offsets=5, labels=labels, rng=0)
    assert np.array_equal(batch.labels, labels) and np.array_equal(batch.offsets, [5, 5, 5, 5])
    rows = batch.flat()
    assert rows.shape == (4, 32 * 16)
    assert np.array_equal(rows[1, 16 * 7: 16 * 8], batch.inputs[7, 1])


@pytest.mark.parametrize("kwargs,match", [
    (dict(offsets=(0, 24)), r"offsets \(0, 24\) must satisfy 0 <= lo <= hi <= frames - length = 23"),
    (dict(offsets=(5, 2)), "lo <= hi"),
    (dict(offsets=-1), "offsets"),
    (dict(offsets="early"), "an int or a pair"),
    (dict(offsets=(0.5, 3)), "must be ints"),
    (dict(length=40), "longer than the window"),
    (dict(length=1), "length must be an int of at least 2"),
    (dict(channels=8), "channels must be an int of at least 12"),
    (dict(noise=-0.1), "noise must be a finite"),
    (dict(labels=[0, 3, 1]), "class indices in 0 .. 2"),
])
def test_bad_generator_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        formant_sweeps(3, **kwargs)


def test_the_generator_never_uses_global_random_state():
    with pytest.raises(TypeError, match="global random state"):
        formant_sweeps(3, rng=None)


# ---------------------------------------------------------------------------------- the classifier
def test_waibel_arrangement_has_a_seven_frame_field_and_515_parameters():
    model = TDNNClassifier(rng=0)
    assert model.receptive_field == 3 + 5 - 1
    assert model.num_parameters == (3 * 16 * 8 + 8) + (5 * 8 * 3 + 3)
    assert [type(layer) for layer in model.layers] == [TDNN, TDNN]
    assert sorted(model.parameters_by_name()) == ["V_0", "V_1", "V_2", "V_3", "V_4", "W_0", "W_1", "W_2", "b", "c"]


def test_classifier_scores_move_with_the_input_and_the_logits_are_their_mean_over_time():
    rng = np.random.default_rng(4)
    model = TDNNClassifier(rng=1)
    x = rng.normal(size=(20, 3, 16))
    shifted = np.concatenate([rng.normal(size=(4, 3, 16)), x])     # the same frames, 4 later
    s, s_shift = model.scores(x).data, model.scores(shifted).data
    np.testing.assert_allclose(s_shift[4:], s, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(model(x).data, s.mean(axis=0), rtol=1e-13, atol=1e-14)


def test_classifier_gradient_of_a_shared_tap_is_the_sum_over_shifts():
    import gradlab

    rng = np.random.default_rng(5)
    model = TDNNClassifier(4, (3,), (2, 2), 2, rng=2)
    x = rng.normal(size=(6, 4))
    gradlab.nn.softmax_cross_entropy(model(x)[None], np.array([1])).backward()
    W0 = model.layers[0].taps[0].weight
    total = W0.grad.copy()
    # rebuild by hand: each shift t contributes δ_t x_tᵀ to W_0 (the layer's newest-input tap)
    layer0, layer1 = model.layers
    h = np.tanh(np.stack([x[t] @ layer0.taps[0].weight.data.T + x[t - 1] @ layer0.taps[1].weight.data.T
                          + layer0.taps[0].bias.data for t in range(1, 6)]))
    z = np.stack([h[t] @ layer1.taps[0].weight.data.T + h[t - 1] @ layer1.taps[1].weight.data.T
                  + layer1.taps[0].bias.data for t in range(1, 5)]).mean(axis=0)
    p = np.exp(z - z.max())
    p /= p.sum()
    dz = (p - np.array([0.0, 1.0])) / 4                              # mean over the 4 output shifts
    dh = np.zeros_like(h)
    for t in range(1, 5):
        dh[t] += layer1.taps[0].weight.data.T @ dz
        dh[t - 1] += layer1.taps[1].weight.data.T @ dz
    da = dh * (1 - h ** 2)
    by_hand = sum(np.outer(da[i], x[i + 1]) for i in range(5))
    np.testing.assert_allclose(total, by_hand, rtol=1e-10, atol=1e-13)
    assert not np.allclose(total, np.outer(da[0], x[1]))            # one shift alone is not the gradient


def test_bad_classifier_shapes_are_refused():
    with pytest.raises(ValueError, match="1 hidden layers need 2 windows"):
        TDNNClassifier(16, (8,), (3,), 3)
    with pytest.raises(ValueError, match="classes must be a positive int"):
        TDNNClassifier(16, (8,), (3, 5), 0)
    with pytest.raises(ValueError, match=r"window \(k = 3\) is longer than the sequence"):
        TDNNClassifier(rng=0)(np.zeros((2, 1, 16)))


# ------------------------------------------------------------------------------- the experiment
def test_trained_at_some_offsets_the_tdnn_keeps_its_accuracy_at_unseen_ones_and_the_mlp_does_not():
    ex = load("tdnn_shift")
    result = ex.shift_experiment((0, 1), n_train=1500, epochs=15, n_test=100, progress=False)
    summary = ex.summarise(result)
    tdnn, mlp = (summary[name] for name in result["models"])
    # Measured over seeds 0-24 with these sizes: TDNN far 0.82-0.93, in-range 0.84-0.94; MLP in-range
    # 0.76-0.86, far 0.30-0.39 (chance 1/3). The bounds leave room on either side.
    assert np.all(mlp["in"] > 0.65)                                # the MLP did learn the task where trained
    assert np.all(tdnn["far"] > 0.75) and np.all(tdnn["far"] > tdnn["in"] - 0.1)
    assert np.all(mlp["far"] < 0.5)                                # near chance where it never saw a pattern
    assert np.all(tdnn["far"] - mlp["far"] > 0.3)
    params = [row["params"] for row in result["models"].values()]
    assert params[1] >= params[0]                                  # the MLP has at least as many parameters


def test_example_prints_the_table_the_papers_numbers_as_context_and_draws_the_figure(tmp_path):
    ex = load("tdnn_shift")
    lines = []
    path = tmp_path / "shift.png"
    result = ex.run(seeds=(0,), n_train=300, epochs=2, n_test=20, figure=str(path), out=lines.append,
                    progress=False)
    text = "\n".join(lines)
    assert "| TDNN (Waibel arrangement) | 515 |" in text and "| MLP, 8 hidden | 4131 |" in text
    assert "not a reproduction" in text and "98.5 %" in text and "93.7 %" in text
    assert "noise frames appended" in text
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    acc = result["models"]["TDNN (Waibel arrangement)"]["acc"]
    assert acc.shape == (1, 24) and np.all((acc >= 0) & (acc <= 1))
