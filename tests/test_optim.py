"""Optimisers follow their documented update rules and descend; clipping bounds the gradient norm."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradlab
from gradlab.nn.clip import clip_grad_norm, clip_grad_value, grad_norm
from gradlab.nn.optim import SGD, Adagrad, Adam, Momentum

# E(θ) = ½ (θ − c)ᵀ A (θ − c) with A symmetric positive definite: a convex bowl with minimum 0 at c.
A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]])
C = np.array([1.0, -2.0, 0.5])


def quadratic(theta):
    d = theta - C
    return 0.5 * ((d @ A) * d).sum()


def grad_of_quadratic(theta_data):
    return A @ (theta_data - C)


def make_opt(kind, theta):
    return {
        "sgd": lambda: SGD([theta], lr=0.1),
        "momentum": lambda: Momentum([theta], lr=0.05, momentum=0.9),
        "nesterov": lambda: Momentum([theta], lr=0.05, momentum=0.9, nesterov=True),
        "adagrad": lambda: Adagrad([theta], lr=0.5),
        "adam": lambda: Adam([theta], lr=0.05),
    }[kind]()


KINDS = ["sgd", "momentum", "nesterov", "adagrad", "adam"]


@pytest.mark.parametrize("kind", KINDS)
def test_optimiser_reduces_a_quadratic_loss(kind):
    theta = gradlab.Parameter(np.zeros(3), name="theta")
    opt = make_opt(kind, theta)
    start = float(quadratic(theta).item())
    for _ in range(200):
        opt.zero_grad()
        loss = quadratic(theta)
        loss.backward()
        opt.step()
    end = float(quadratic(theta).item())
    assert end < 1e-2 * start
    np.testing.assert_allclose(theta.data, C, atol=0.1)


def _reference_steps(kind, theta0, n):
    """The documented update equations, written out independently in NumPy, applied n times."""
    th = theta0.copy()
    v = np.zeros_like(th)
    G = np.zeros_like(th)
    m = np.zeros_like(th)
    s = np.zeros_like(th)
    for t in range(1, n + 1):
        g = grad_of_quadratic(th)
        if kind == "sgd":
            th = th - 0.1 * g
        elif kind == "momentum":
            v = 0.9 * v - 0.05 * g
            th = th + v
        elif kind == "nesterov":
            v = 0.9 * v - 0.05 * g
            th = th + 0.9 * v - 0.05 * g
        elif kind == "adagrad":
            G = G + g ** 2
            th = th - 0.5 * g / (np.sqrt(G) + 1e-10)
        elif kind == "adam":
            m = 0.9 * m + 0.1 * g
            s = 0.999 * s + 0.001 * g ** 2
            th = th - 0.05 * (m / (1 - 0.9 ** t)) / (np.sqrt(s / (1 - 0.999 ** t)) + 1e-8)
    return th


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 3])
def test_optimiser_step_matches_its_documented_update(kind, n):
    theta0 = np.array([0.3, -0.7, 2.0])
    theta = gradlab.Parameter(theta0.copy(), name="theta")
    opt = make_opt(kind, theta)
    for _ in range(n):
        opt.zero_grad()
        quadratic(theta).backward()
        opt.step()
    np.testing.assert_allclose(theta.data, _reference_steps(kind, theta0, n), rtol=1e-12, atol=1e-14)


def test_optimiser_skips_parameters_without_gradient_and_updates_shared_ones_once():
    used = gradlab.Parameter(np.array([1.0]), name="used")
    unused = gradlab.Parameter(np.array([5.0]), name="unused")
    opt = SGD([used, unused, used], lr=0.5)
    assert len(opt.params) == 2
    (used * used).sum().backward()        # dE/dθ = 2θ = 2
    opt.step()
    np.testing.assert_allclose(used.data, [0.0])
    np.testing.assert_allclose(unused.data, [5.0])


def test_optimiser_rejects_bad_arguments_with_a_message_naming_them():
    p = gradlab.Parameter(np.zeros(2), name="p")
    with pytest.raises(ValueError, match="lr"):
        SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        Momentum([p], lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="empty"):
        Adam([], lr=0.1)
    with pytest.raises(TypeError, match="item 0"):
        SGD([np.zeros(2)], lr=0.1)


# ----------------------------------------------------------------------------------------- clipping
grad_arrays = st.lists(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
               elements=st.floats(-1e3, 1e3, allow_nan=False, width=64)),
    min_size=1, max_size=4)
limits = st.floats(1e-3, 1e3, allow_nan=False)


def _params_with(grads):
    ps = []
    for i, g in enumerate(grads):
        p = gradlab.Parameter(np.zeros_like(g), name=f"p{i}")
        p.grad = g.copy()
        ps.append(p)
    return ps


@given(grad_arrays, limits)
def test_clip_grad_norm_never_increases_the_norm_and_bounds_it(grads, max_norm):
    ps = _params_with(grads)
    before = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    reported = clip_grad_norm(ps, max_norm)
    after = grad_norm(ps)
    assert math.isclose(reported, before, rel_tol=1e-12, abs_tol=1e-300)
    assert after <= before * (1 + 1e-12) + 1e-300
    assert after <= max_norm * (1 + 1e-12)


@given(grad_arrays, limits)
def test_clip_grad_norm_keeps_the_direction(grads, max_norm):
    ps = _params_with(grads)
    clip_grad_norm(ps, max_norm)
    flat_before = np.concatenate([g.ravel() for g in grads])
    flat_after = np.concatenate([p.grad.ravel() for p in ps])
    scale = flat_after @ flat_before / max(flat_before @ flat_before, 1e-300)
    np.testing.assert_allclose(flat_after, scale * flat_before, rtol=1e-9, atol=1e-12)


@given(grad_arrays)
def test_clip_grad_norm_leaves_small_gradients_alone(grads):
    ps = _params_with(grads)
    norm = grad_norm(ps)
    clip_grad_norm(ps, norm * 1.5 + 1e-6)
    for p, g in zip(ps, grads):
        np.testing.assert_array_equal(p.grad, g)


@given(grad_arrays, limits)
def test_clip_grad_value_bounds_every_element_and_never_increases_the_norm(grads, c):
    ps = _params_with(grads)
    before = grad_norm(ps)
    largest = clip_grad_value(ps, c)
    assert math.isclose(largest, max(float(np.abs(g).max()) for g in grads), rel_tol=1e-12)
    for p, g in zip(ps, grads):
        assert np.all(np.abs(p.grad) <= c)
        small = np.abs(g) <= c
        np.testing.assert_array_equal(p.grad[small], g[small])   # elements inside the box are untouched
    assert grad_norm(ps) <= before * (1 + 1e-12) + 1e-300


def test_clip_grad_norm_names_the_parameter_with_a_non_finite_gradient():
    ps = _params_with([np.array([1.0, 2.0]), np.array([np.inf, 0.0])])
    with pytest.raises(FloatingPointError, match="p1"):
        clip_grad_norm(ps, 1.0)
    assert math.isinf(clip_grad_norm(ps, 1.0, error_if_nonfinite=False))


def test_clip_rejects_non_positive_limits():
    ps = _params_with([np.ones(2)])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(ps, 0.0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value(ps, -1.0)


def test_optimiser_takes_a_modules_parameters_once_each():
    from gradlab.nn.cells import ElmanCell

    cell = ElmanCell(2, 3, 1)
    opt = Adam(cell, lr=0.1)
    assert {id(p) for p in opt.params} == {id(p) for p in cell.parameters()}
    assert len(opt.params) == len(cell.parameters()) == 5
