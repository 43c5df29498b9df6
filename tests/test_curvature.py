"""Curvature products on recorded graphs: H v against finite differences of gradients, G v against
Jacobians built by finite differences, and at tiny sizes the explicit matrices built column by column
(H symmetric; G symmetric positive semi-definite; G = H where the theory says so)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab import Parameter, nn
from gradlab.curvature import (LOSS_HESSIANS, flatten, gauss_newton_matrix, gauss_newton_product, hessian_matrix,
                               hessian_product, loss_hessian_product, unflatten, vjp)

from .strategies import budget, build_cell, rnn_configs, rnn_sequence, rnn_weights

pytestmark = pytest.mark.usefixtures("engine")


def _network(config, loss="mse_half"):
    """A recorded RNN loss on random data: (record(), parameters); record() returns (E, outputs y_t)."""
    rng = np.random.default_rng(config["seed"])
    cell = build_cell(config)
    rnn_weights(cell, rng, scale=0.6)
    xs = rnn_sequence(config, rng)
    batch = () if config["B"] is None else (config["B"],)
    O = config["O"]
    if loss == "softmax_cross_entropy":
        ds = rng.integers(0, O, (config["T"],) + batch)
    else:
        ds = rng.normal(0, 1, (config["T"],) + batch + (O,))

    def record():
        run = nn.unroll(cell, xs)
        return nn.sequence_loss(run, ds, loss=loss), list(run.outputs)

    return record, cell.parameters()


def _gradient_at(record, params, shift):
    saved = [p.data for p in params]
    try:
        for p in params:
            p.data = p.data + shift[p]
        E, _ = record()
        E.backward()
        return {p: (p.grad.copy() if p.grad is not None else np.zeros(p.shape)) for p in params}
    finally:
        for p, s in zip(params, saved):
            p.data, p.grad = s, None


@given(config=rnn_configs(max_T=3, max_size=3, output=True))
@settings(max_examples=budget(12))
def test_hessian_vector_product_matches_finite_differences_of_gradients(config):
    record, params = _network(config)
    rng = np.random.default_rng(config["seed"] + 7)
    v = {p: rng.standard_normal(p.shape) for p in params}
    E, _ = record()
    Hv = hessian_product(E, v)
    h = 1e-5
    plus = _gradient_at(record, params, {p: h * v[p] for p in params})
    minus = _gradient_at(record, params, {p: -h * v[p] for p in params})
    fd = flatten({p: (plus[p] - minus[p]) / (2 * h) for p in params}, params)
    mine = flatten(Hv, params)
    np.testing.assert_allclose(mine, fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd).max()))


def _jacobian_by_differences(record, params, h=1e-6):
    """∂(all outputs, raveled)/∂θ by central differences of the recorded outputs."""
    theta = flatten({p: p.data for p in params}, params)
    cols = []
    for k in range(theta.size):
        outs = []
        for sign in (1, -1):
            e = np.zeros(theta.size)
            e[k] = sign * h
            shift = unflatten(e, params)
            saved = [p.data for p in params]
            for p in params:
                p.data = p.data + shift[p]
            _, ys = record()
            outs.append(np.concatenate([y.data.ravel() for y in ys]))
            for p, s in zip(params, saved):
                p.data = s
        cols.append((outs[0] - outs[1]) / (2 * h))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("loss", ["mse_half", "softmax_cross_entropy"])
@given(config=rnn_configs(kinds=("elman", "gru", "lstm"), max_T=3, max_size=2, max_batch=2, output=True))
@settings(max_examples=budget(6))
def test_gauss_newton_matrix_is_jacobian_transpose_loss_hessian_jacobian(loss, config):
    if loss == "softmax_cross_entropy" and config["O"] < 2:
        config = dict(config, O=2)
    record, params = _network(config, loss)
    E, ys = record()
    G = gauss_newton_matrix(E, ys, params)
    J = _jacobian_by_differences(record, params)
    rows = [LOSS_HESSIANS[loss]([y], [e.reshape(y.shape)], 1.0)[0].ravel()
            for y in ys for e in np.eye(y.size)]
    HL = np.zeros((J.shape[0], J.shape[0]))          # block diagonal: E = Σ_t E_t(y_t)
    k = 0
    for y in ys:
        n = y.size
        HL[k:k + n, k:k + n] = np.stack(rows[k:k + n], axis=1)
        k += n
    expected = J.T @ HL @ J
    np.testing.assert_allclose(G, expected, rtol=1e-6, atol=1e-7 * (1 + np.abs(expected).max()))
    np.testing.assert_allclose(G, G.T, atol=1e-12 * (1 + np.abs(G).max()))
    assert np.linalg.eigvalsh(G).min() >= -1e-10 * (1 + np.abs(G).max())     # positive semi-definite


@given(config=rnn_configs(max_T=3, max_size=2, max_batch=2, output=True))
@settings(max_examples=budget(8))
def test_explicit_matrices_are_symmetric_and_products_are_their_columns(config):
    record, params = _network(config)
    E, ys = record()
    H = hessian_matrix(E, params)
    G = gauss_newton_matrix(E, ys, params)
    scale = 1 + np.abs(H).max()
    np.testing.assert_allclose(H, H.T, atol=1e-10 * scale)
    assert np.linalg.eigvalsh(G).min() >= -1e-10 * (1 + np.abs(G).max())
    rng = np.random.default_rng(config["seed"])
    v = rng.standard_normal(H.shape[0])
    np.testing.assert_allclose(flatten(hessian_product(E, unflatten(v, params)), params), H @ v,
                               rtol=1e-9, atol=1e-10 * scale)
    np.testing.assert_allclose(flatten(gauss_newton_product(E, ys, unflatten(v, params)), params), G @ v,
                               rtol=1e-9, atol=1e-10 * (1 + np.abs(G).max()))


def test_gauss_newton_equals_hessian_when_the_residuals_vanish():
    # H = G + Σ_k (∂L/∂z_k) ∇²z_k: with targets equal to the outputs the second term is zero
    rng = np.random.default_rng(3)
    cell = nn.ElmanCell(2, 3, 2, rng=1)
    xs = rng.standard_normal((3, 2))
    with gradlab.no_grad():
        ds = np.stack([y.data for y in nn.unroll(cell, xs).outputs])
    run = nn.unroll(cell, xs)
    E = nn.sequence_loss(run, ds)
    params = cell.parameters()
    H, G = hessian_matrix(E, params), gauss_newton_matrix(E, run.outputs, params)
    np.testing.assert_allclose(H, G, atol=1e-12)
    run = nn.unroll(cell, xs)
    E = nn.sequence_loss(run, ds + 1.0)                       # nonzero residuals: they differ
    assert np.abs(hessian_matrix(E, params) - gauss_newton_matrix(E, run.outputs, params)).max() > 1e-2


def test_gauss_newton_equals_hessian_for_a_network_linear_in_its_weights():
    rng = np.random.default_rng(0)
    W = Parameter(rng.standard_normal((2, 3)), name="W")
    b = Parameter(rng.standard_normal(2), name="b")
    y = gradlab.linear(gradlab.tensor(rng.standard_normal((4, 3))), W, b)
    E = nn.softmax_cross_entropy(y, rng.integers(0, 2, 4))
    np.testing.assert_allclose(hessian_matrix(E, [W, b]), gauss_newton_matrix(E, y, [W, b]), atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSS_HESSIANS))
def test_each_loss_hessian_formula_agrees_with_the_recorded_loss(name):
    rng = np.random.default_rng(1)
    z = Parameter(rng.standard_normal((3, 4)), name="z")
    y = gradlab.tanh(z) * 2.0
    if name == "softmax_cross_entropy":
        E = nn.softmax_cross_entropy(y, rng.integers(0, 4, 3))
    else:
        E = nn.LOSSES[name](y, rng.standard_normal((3, 4)))
    u = rng.standard_normal((3, 4))
    graph_based = loss_hessian_product(E, y, u)
    formula = loss_hessian_product(E, y, u, hessian=name)
    np.testing.assert_allclose(formula, graph_based, rtol=1e-10, atol=1e-12)


def test_a_wrong_loss_hessian_is_caught_by_the_same_comparison():
    rng = np.random.default_rng(1)
    y = Parameter(rng.standard_normal((3, 4)), name="y")
    E = nn.softmax_cross_entropy(y, rng.integers(0, 4, 3))
    u = rng.standard_normal((3, 4))
    p = np.exp(y.data) / np.exp(y.data).sum(axis=1, keepdims=True)
    without_outer_term = p * u                                  # diag(p) u, forgetting − p pᵀ u
    assert np.abs(without_outer_term - loss_hessian_product(E, y, u)).max() > 1e-2


def test_seeds_at_a_hidden_state_and_at_the_output_computed_from_it_add_up():
    w = Parameter(np.array([0.5, -0.3]), name="w")
    s = gradlab.tanh(w)
    y = s * 3.0
    u_s, u_y = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    got = vjp([y, s], [u_y, u_s], [w])[w]
    np.testing.assert_allclose(got, (1 - s.data ** 2) * (u_s + 3.0 * u_y))


def test_curvature_products_name_what_is_wrong_with_their_arguments():
    w = Parameter(np.ones(2), name="w")
    y = gradlab.tanh(w)
    E = (y * y).sum()
    with pytest.raises(ValueError, match="single element"):
        hessian_product(y, {w: np.ones(2)})
    with pytest.raises(TypeError, match="not a leaf"):
        hessian_product(E, {y: np.ones(2)})
    with pytest.raises(ValueError, match="hessian must be"):
        gauss_newton_product(E, y, {w: np.ones(2)}, hessian="hinge")
    with pytest.raises(TypeError, match="dict"):
        gauss_newton_product(E, y, np.ones(2))


def test_a_loss_that_is_linear_in_the_weights_has_a_zero_hessian():
    w = Parameter(np.array([1.0, -2.0]), name="w")
    E = (w * np.array([3.0, 4.0])).sum()
    np.testing.assert_array_equal(hessian_product(E, {w: np.ones(2)})[w], np.zeros(2))
