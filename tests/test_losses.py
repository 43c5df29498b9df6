"""Losses: values against their definitions, gradients, stability, masks for padded batches, and the
sequence helper (one target per step, E = Σ_t E_t recorded per step)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab
from gradlab import nn
from strategies import arrays


def log_softmax_ref(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@given(y=arrays((3, 2, 4)), d=arrays((3, 2, 4)))
def test_mse_half_is_half_the_summed_squared_error_and_its_gradient_is_y_minus_d(y, d):
    yt = gradlab.tensor(y, requires_grad=True)
    E = nn.mse_half(yt, d)
    np.testing.assert_allclose(E.item(), 0.5 * np.sum((y - d) ** 2), rtol=1e-12, atol=1e-14)
    E.backward()
    np.testing.assert_allclose(yt.grad, y - d, rtol=1e-12, atol=1e-14)


@given(y=arrays((2, 3)), d=arrays((2, 3)))
def test_mse_is_the_mean_squared_error(y, d):
    np.testing.assert_allclose(nn.mse(gradlab.tensor(y), d).item(), np.mean((y - d) ** 2), rtol=1e-12, atol=1e-14)


@given(z=arrays((4, 2, 5), -20.0, 20.0), classes=st.lists(st.integers(0, 4), min_size=8, max_size=8))
def test_cross_entropy_matches_its_definition_and_its_gradient_is_softmax_minus_one_hot(z, classes):
    c = np.array(classes).reshape(4, 2)
    zt = gradlab.tensor(z, requires_grad=True)
    E = nn.softmax_cross_entropy(zt, c)
    onehot = np.eye(5)[c]
    np.testing.assert_allclose(E.item(), -np.sum(log_softmax_ref(z) * onehot), rtol=1e-12)
    E.backward()
    np.testing.assert_allclose(zt.grad, np.exp(log_softmax_ref(z)) - onehot, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nn.softmax_cross_entropy(gradlab.tensor(z), onehot).item(), E.item(), rtol=1e-12)
    np.testing.assert_allclose(nn.softmax_cross_entropy(gradlab.tensor(z), c, reduction="mean").item(),
                               E.item() / 8, rtol=1e-12)


def test_cross_entropy_is_finite_for_huge_logits():
    z = gradlab.tensor(np.array([[1e4, -1e4, 0.0], [-1e5, 1e5, 3.0]]), requires_grad=True)
    E = nn.softmax_cross_entropy(z, np.array([1, 0]))
    E.backward()
    np.testing.assert_allclose(E.item(), 2e4 + 2e5, rtol=1e-12)
    assert np.all(np.isfinite(z.grad))


def test_a_perturbed_loss_value_would_be_caught():
    # the definitions above are checked tightly enough that the ½ of mse_half matters
    y, d = np.ones((2, 3)), np.zeros((2, 3))
    assert not np.isclose(nn.mse_half(gradlab.tensor(y), d).item(), np.sum((y - d) ** 2))


@pytest.mark.parametrize("loss", ["mse_half", "mse", "softmax_cross_entropy"])
def test_masked_steps_contribute_nothing_to_the_loss_or_its_gradient(loss):
    rng = np.random.default_rng(0)
    T, B, O, keep = 5, 3, 4, 3
    y = rng.normal(size=(T, B, O))
    d = rng.integers(0, O, size=(T, B)) if loss == "softmax_cross_entropy" else rng.normal(size=(T, B, O))
    mask = np.ones((T, B))
    mask[keep:, 1] = 0.0                      # sequence 1 is padded after `keep` steps
    yt = gradlab.tensor(y, requires_grad=True)
    E = nn.sequence_loss(yt, d, loss=loss, mask=mask)
    E.backward()
    assert np.all(yt.grad[keep:, 1] == 0.0)
    # the padding's values do not matter
    y2 = y.copy()
    y2[keep:, 1] = 1e3
    np.testing.assert_allclose(nn.sequence_loss(gradlab.tensor(y2), d, loss=loss, mask=mask).item(), E.item(),
                               rtol=1e-12)
    if loss == "mse":  # the mean is over the counted elements only
        counted = mask[..., None] * (y - d) ** 2
        np.testing.assert_allclose(E.item(), counted.sum() / (mask.sum() * O), rtol=1e-12)


def test_sequence_loss_records_each_E_t_at_its_step_and_equals_the_stacked_loss():
    rng = np.random.default_rng(1)
    cell = nn.ElmanCell(2, 3, 2)
    xs, d = rng.normal(size=(4, 2, 2)), rng.normal(size=(4, 2, 2))
    literal = nn.sequence_loss(nn.unroll(cell, xs), d)
    fused = nn.sequence_loss(nn.unroll(cell, xs, fused=True), d)
    np.testing.assert_allclose(literal.item(), fused.item(), rtol=1e-12)
    G = gradlab.Graph(literal)
    for t in (1, 2, 3, 4):
        assert G.select(t=t, op="sum"), t     # E_t = ½ Σ (y_t − d_t)² is made at step t
    np.testing.assert_allclose(nn.sequence_loss([gradlab.tensor(x) for x in d], d).item(), 0.0, atol=1e-15)


def test_sequence_loss_with_mse_averages_over_all_steps():
    rng = np.random.default_rng(2)
    r = nn.unroll(nn.ElmanCell(2, 3, 2), rng.normal(size=(4, 2, 2)))
    d = rng.normal(size=(4, 2, 2))
    Y = np.stack([y.data for y in r.outputs])
    np.testing.assert_allclose(nn.sequence_loss(r, d, loss="mse").item(), np.mean((Y - d) ** 2), rtol=1e-12)


def test_targets_of_the_wrong_length_say_how_many_and_for_which_steps():
    r = nn.unroll(nn.ElmanCell(2, 3, 2), np.zeros((5, 2, 2)))
    with pytest.raises(ValueError, match=r"4 targets for 5 outputs \(time steps 1\.\.5\); targets shape \(4, 2, 2\)"):
        nn.sequence_loss(r, np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match=r"targets have shape \(2, 3\) but the outputs have shape \(2, 2\)"):
        nn.sequence_loss(r, np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match="mask has shape"):
        nn.sequence_loss(r, np.zeros((5, 2, 2)), mask=np.ones((4, 2)))


def test_cross_entropy_rejects_out_of_range_classes_and_unfit_targets():
    z = gradlab.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"class index 4 at position \(1,\) is outside 0\.\.3"):
        nn.softmax_cross_entropy(z, np.array([0, 4, 1]))
    nn.softmax_cross_entropy(z, np.array([0, 4, 1]), mask=np.array([1, 0, 1]))  # masked: ignored
    with pytest.raises(ValueError, match="fit neither"):
        nn.softmax_cross_entropy(z, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="unknown|must be one of"):
        nn.sequence_loss([z], np.zeros((1, 3, 4)), loss="hinge")
