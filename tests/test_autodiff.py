"""Reverse mode: accumulation (fan-out, shared weights), iteration without recursion, retain_grad,
no_grad, repeated backward, anomaly mode."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab
from gradlab import Parameter, tensor
from gradlab.nn import Dense

from .strategies import arrays

pytestmark = pytest.mark.usefixtures("engine")   # every test here runs on the fast path and the reference engine


@given(st.floats(-3, 3, allow_nan=False))
def test_fan_out_accumulates_w_cubed_gives_3w_squared(w0):
    w = Parameter(np.array(w0), name="w")
    (w * w * w).backward()
    np.testing.assert_allclose(w.grad, 3 * w0 ** 2, rtol=1e-12, atol=1e-12)


def test_a_50000_deep_chain_backpropagates_without_recursion():
    x = Parameter(np.array([0.5]), name="x")
    y = x
    for _ in range(50_000):
        y = y * 0.9999 + 0.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.9999 ** 50_000], rtol=1e-9)


@given(arrays((3, 4)))
def test_zero_upstream_gradient_gives_zero_grads(a):
    W = Parameter(a, name="W")
    out = gradlab.tanh(W) * 2.0
    out.backward(np.zeros(out.shape))
    np.testing.assert_array_equal(W.grad, np.zeros_like(a))


def test_backward_twice_accumulates_twice_and_zero_grad_resets():
    W = Parameter(np.array([[0.3, -0.2], [0.1, 0.4]]), name="W")
    x = tensor(np.array([1.0, 2.0]))
    loss = gradlab.tanh(W @ x).sum()
    loss.backward()
    once = W.grad.copy()
    loss.backward()
    np.testing.assert_allclose(W.grad, 2 * once, rtol=1e-14)
    W.zero_grad()
    assert W.grad is None


def test_retain_grad_keeps_intermediate_adjoints_such_as_dE_ds():
    W = Parameter(np.array([[0.5]]), name="W_s")
    s = tensor(np.array([[0.2]]))
    states = []
    for t in range(1, 4):
        with gradlab.scope(t=t):
            s = gradlab.tanh(s @ W.T + 0.1)
        states.append(s.retain_grad())
    loss = (0.5 * s * s).sum()
    loss.backward()
    # δ_T = s_T; δ_{t-1} = δ_t (1 - s_t²) W
    d = states[-1].data
    np.testing.assert_allclose(states[-1].grad, d)
    expected = states[-1].grad * (1 - states[-1].data ** 2) * W.data[0, 0]
    np.testing.assert_allclose(states[-2].grad, expected, rtol=1e-12)


def test_no_grad_records_nothing():
    W = Parameter(np.ones((2, 2)), name="W")
    with gradlab.no_grad():
        y = (W * 3).sum()
    assert y.op is None and not y.requires_grad
    with pytest.raises(ValueError, match="does not depend on any tensor with requires_grad"):
        y.backward()
    with gradlab.no_grad(), gradlab.enable_grad():
        assert (W * 3).sum().requires_grad


@given(st.integers(1, 6), arrays((2, 3)), arrays((4, 2)))
def test_shared_dense_gradient_is_the_sum_of_its_per_use_contributions(T, x0, w):
    layer = Dense(3, 3, name="W_s", rng=0)
    inp = Dense(2, 3, bias=False, name="W_x", rng=1)
    s = tensor(np.zeros((4, 3)))
    for t in range(1, T + 1):
        with gradlab.scope(t=t):
            s = gradlab.tanh(layer(s) + inp(tensor(w * t)))
    loss = (s * s).sum()
    parts = gradlab.contributions(loss, layer.weight, by="t")
    assert sorted(parts) == list(range(1, T + 1))
    loss.backward()
    np.testing.assert_allclose(sum(parts.values()), layer.weight.grad, rtol=1e-10, atol=1e-12)
    by_layer = gradlab.contributions(loss, layer.weight, by="layer")
    assert list(by_layer) == ["W_s"]


def test_contributions_of_a_weight_used_twice_in_one_step_are_its_two_uses():
    # the lecture's constraint w1 = w2: the gradient is dE/dw1 + dE/dw2
    w = Parameter(np.array(0.7), name="w")
    with gradlab.scope("first"):
        a = w * 2.0
    with gradlab.scope("second"):
        b = w * a
    parts = gradlab.contributions(b, w, by="layer")
    assert set(parts) == {"first", "second"}
    np.testing.assert_allclose(parts["first"], w.data * 2.0)          # through a
    np.testing.assert_allclose(parts["second"], 2.0 * w.data)         # direct
    b.backward()
    np.testing.assert_allclose(w.grad, parts["first"] + parts["second"])


def test_anomaly_mode_names_the_op_and_scope_of_the_first_nan():
    x = Parameter(np.array([1.0, -1.0]), name="x")
    with gradlab.detect_anomaly(), gradlab.scope("cell", t=3):
        with pytest.raises(FloatingPointError, match=r"log at cell \(t=3\) produced NaN"):
            with np.errstate(invalid="ignore"):
                gradlab.log(x)
    with np.errstate(invalid="ignore"):
        y = gradlab.log(x)  # without anomaly mode: no check
    assert np.isnan(y.data[1])


def test_anomaly_mode_traps_infinite_gradients():
    x = Parameter(np.array([0.0, 1.0]), name="x")
    with gradlab.detect_anomaly():
        y = gradlab.power(x, 0.5).sum()
        with np.errstate(divide="ignore"):
            with pytest.raises(FloatingPointError, match="gradient of power"):
                y.backward()


def test_getitem_gradients_accumulate_over_many_slices():
    X = Parameter(np.arange(12.0).reshape(4, 3), name="X")
    total = sum((X[t] * float(t + 1)).sum() for t in range(4)) + X[np.array([0, 0])].sum()
    total.backward()
    expected = np.repeat(np.arange(1.0, 5.0)[:, None], 3, axis=1)
    expected[0] += 2.0
    np.testing.assert_allclose(X.grad, expected)


def test_intermediate_gradient_buffers_are_not_shared_with_user_arrays():
    # an add passes g through unchanged to both inputs; accumulation must not write into it
    a = Parameter(np.ones(3), name="a")
    b = a + 0.0
    c = b + b
    g = np.array([1.0, 2.0, 3.0])
    c.backward(g)
    np.testing.assert_allclose(g, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(a.grad, 2 * g)


def test_a_full_shape_additive_leaf_of_linear_used_many_times_keeps_its_shape():
    # linear(x, W, u) with u a learned (B, H) term, used at every step: its gradient must stay (B, H)
    W = Parameter(np.array([[0.5, -0.2], [0.1, 0.3]]), name="W")
    u = Parameter(np.array([[0.1, 0.2], [0.3, -0.4], [0.0, 0.5]]), name="u")
    s = tensor(np.ones((3, 2)))
    for t in range(1, 4):
        with gradlab.scope(t=t):
            s = gradlab.tanh(gradlab.linear(s, W, u))
    loss = (s * s).sum()
    loss.backward()
    per_use = gradlab.contributions(loss, u, by="t")
    assert u.grad.shape == (3, 2)
    np.testing.assert_allclose(u.grad, sum(per_use.values()), rtol=1e-12)


@given(st.integers(1, 5), st.sampled_from([(), (1,), (3,), (2, 3)]))
def test_a_weight_slice_shared_by_many_linear_nodes_gets_the_sum_of_its_uses(T, batch):
    # a slice of a weight (W_s's gate rows) and of a bias, used at every step, is summed in one go by
    # backward (the batched path); contributions walks edge by edge: both must give the same gradient
    rng = np.random.default_rng(T)
    W = Parameter(rng.standard_normal((5, 3)), name="W")
    b = Parameter(rng.standard_normal(5), name="b")
    rows, bias = W[1:4], b[1:4]
    s = tensor(rng.standard_normal(batch + (3,)))
    for t in range(1, T + 1):
        with gradlab.scope(t=t):
            s = gradlab.tanh(gradlab.linear(s, rows, bias))
    loss = (s * s).sum()
    per_use_W = sum(gradlab.contributions(loss, W, by="t").values())
    per_use_b = sum(gradlab.contributions(loss, b, by="t").values())
    loss.backward()
    np.testing.assert_allclose(W.grad, per_use_W, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad, per_use_b, rtol=1e-10, atol=1e-12)
    assert not W.grad[0].any() and not W.grad[4].any() and W.grad[1:4].any()


def test_single_elements_of_a_vector_accumulate_their_gradients():
    # x[2] of a 1-D array is a NumPy scalar, not a view: the scatter must still write into the buffer
    x = Parameter(np.arange(4.0), name="x")
    y = x[2] * x[2] + 3.0 * x[0] + x[2]
    y.backward()
    np.testing.assert_allclose(x.grad, [3.0, 0.0, 2 * 2.0 + 1.0, 0.0])


@given(st.data())
def test_many_slices_of_one_array_get_the_same_gradient_batched_or_edge_by_edge(data):
    # backward sums the slices' gradients in one go (copied into place when the slices tile the array,
    # zero-filled and added otherwise); contributions walks edge by edge through the plain VJP
    n, m = data.draw(st.integers(1, 4), label="n"), data.draw(st.integers(1, 5), label="m")
    x = Parameter(np.arange(n * m, dtype=float).reshape(n, m) / 7.0, name="x")
    if data.draw(st.booleans(), label="rows"):
        keys = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=2 * n), label="keys")
        if data.draw(st.booleans(), label="tile"):
            keys = list(range(n))
    else:
        cuts = sorted(data.draw(st.lists(st.integers(0, m), max_size=3), label="cuts"))
        bounds = [0] + cuts + [m]
        lead = Ellipsis if data.draw(st.booleans(), label="ellipsis") else slice(None)   # x[..., a:b] or x[:, a:b]
        keys = [(lead, slice(a, b)) for a, b in zip(bounds, bounds[1:])]
        keys += data.draw(st.lists(st.sampled_from(keys), max_size=2), label="repeats")
    loss = tensor(0.0)
    for j, key in enumerate(keys):
        loss = loss + (x[key] * float(j + 1)).sum()
    per_edge = sum(gradlab.contributions(loss, x, by="scope").values())
    loss.backward()
    np.testing.assert_allclose(x.grad, per_edge, rtol=1e-12)
    expected = np.zeros((n, m))
    for j, key in enumerate(keys):
        expected[key] += j + 1
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.booleans()), min_size=1, max_size=25))
def test_reverse_mode_order_lists_every_node_before_its_inputs(recipe):
    from gradlab.autodiff import requires_grad, toposort

    nodes = [Parameter(np.array(1.5), name="a"), tensor(np.array(0.5)), Parameter(np.array(-2.0), name="b")]
    for i, j, use_mul in recipe:       # each new node combines two earlier ones (a random DAG)
        x, y = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(x * y if use_mul else x + y)
    root = nodes[-1]
    for follow in (requires_grad, None):
        order = toposort([root], follow=follow)
        where = {n: k for k, n in enumerate(order)}
        assert len(where) == len(order) and order[0] is root
        for n in order:
            for p in n.parents:
                if p in where:
                    assert where[p] > where[n]
                else:
                    assert follow is requires_grad and not p.requires_grad


def test_leaf_gradients_never_share_memory():
    # add passes one g to both inputs; a weight's batched gradient is handed over without a copy;
    # either way no two .grad arrays (and no user array) may be the same memory
    x = Parameter(np.ones((2, 3)), name="x")
    y = Parameter(np.ones((2, 3)), name="y")
    W = Parameter(np.full((3, 3), 0.5), name="W")
    g = np.arange(6.0).reshape(2, 3)
    h = x + y
    out = gradlab.linear(h, W) + gradlab.linear(x, W)
    out.backward(g)
    grads = [x.grad, y.grad, W.grad]
    for i, a in enumerate(grads):
        assert not np.shares_memory(a, g)
        for b in grads[i + 1:]:
            assert not np.shares_memory(a, b)
    x.grad += 1.0                                     # a user's in-place change touches only x.grad
    np.testing.assert_allclose(y.grad, g @ W.data)
    np.testing.assert_allclose(W.grad, g.T @ (h.data + x.data))
