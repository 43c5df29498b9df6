"""Every registered op: its VJP agrees with HIPS autograd (differentiating a replay of the same
graph) and with central differences, over Hypothesis-drawn shapes (broadcasting included) and values
inside the op's declared domain. A deliberately wrong VJP must fail the same check."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab
from gradlab import OPS, Graph, Parameter, apply
from gradlab.engine.backend import unbroadcast
from gradlab.engine.ops import Op, mask

from .strategies import OP_CASES

pytestmark = pytest.mark.usefixtures("engine")   # every test here runs on the fast path and the reference engine


def _leaves(inputs):
    return [mask(a) if a.dtype == bool else Parameter(a, name=f"x{i}") for i, a in enumerate(inputs)]


def check_op_gradients(op, inputs, attrs, seed=0, rtol=1e-7, fd_rtol=1e-6):
    """Raise AssertionError when ``op``'s VJPs disagree with autograd or with central differences."""
    rng = np.random.default_rng(seed)
    leaves = _leaves(inputs)
    out = apply(op, *leaves, **attrs)
    v = rng.standard_normal(out.shape)
    loss = (out * v).sum()
    loss.backward()
    params = [p for p in leaves if p.requires_grad]
    graph = Graph(loss)
    f = graph.function(params, xp=anp)
    values = [p.data for p in params]
    for i, p in enumerate(params):
        ref = autograd.grad(f, i)(*values)
        if op.name == "where" and np.shape(ref) != p.shape:
            # HIPS autograd 1.9's own `where` VJP (numpy_vjps.py) does not undo broadcasting and returns
            # a gradient of the broadcast shape; its adjoint is a sum, which we apply here.
            ref = unbroadcast(np, ref, p.shape)
        np.testing.assert_allclose(p.grad, ref, rtol=rtol, atol=1e-10,
                                   err_msg=f"{op.name}: VJP for input {i} differs from HIPS autograd")
    # one random direction through all inputs: <J^T v, u> against (f(x + h u) - f(x - h u)) / 2h
    us = [rng.standard_normal(p.shape) for p in params]
    h = 1e-6
    plus = float(graph.replay({p: p.data + h * u for p, u in zip(params, us)}))
    minus = float(graph.replay({p: p.data - h * u for p, u in zip(params, us)}))
    numeric = (plus - minus) / (2 * h)
    analytic = float(sum(np.sum(p.grad * u) for p, u in zip(params, us)))
    # the central difference carries a rounding error of about eps·|f| / h besides its O(h²) term: when
    # the directional derivative is small next to f itself (log_softmax: 8e-5 next to |f| ≈ 10), that
    # error, not the VJP, dominates, so it is allowed for on top of the relative tolerance
    rounding = 4 * np.finfo(float).eps * (abs(plus) + abs(minus)) / (2 * h)
    err = abs(numeric - analytic)
    rel = err / max(abs(numeric) + abs(analytic), 1e-8)
    assert err <= fd_rtol * (abs(numeric) + abs(analytic)) + rounding, (
        f"{op.name}: central difference {numeric!r} vs VJP {analytic!r} (rel {rel:.2e}, rounding {rounding:.1e})")


def test_every_registered_op_has_a_declared_domain():
    assert set(OPS) == set(OP_CASES), "a new op needs a case in tests/strategies.py:OP_CASES"


@pytest.mark.parametrize("name", sorted(OP_CASES))
@given(data=st.data())
def test_vjp_agrees_with_autograd_and_central_differences(name, data):
    inputs, attrs = data.draw(OP_CASES[name])
    check_op_gradients(OPS[name], inputs, attrs)


@pytest.mark.parametrize("name", sorted(n for n in OP_CASES if OPS[n].analytic))
@given(data=st.data())
def test_ops_marked_analytic_are_exact_under_complex_step(name, data):
    inputs, attrs = data.draw(OP_CASES[name])
    leaves = _leaves(inputs)
    params = [p for p in leaves if p.requires_grad]
    rng = np.random.default_rng(1)
    out = apply(OPS[name], *leaves, **attrs)
    v = rng.standard_normal(out.shape)
    loss = (out * v).sum()
    loss.backward()
    us = [rng.standard_normal(p.shape) for p in params]
    h = 1e-30  # complex step: Im f(x + i h u) / h = <∇f, u> with no subtractive cancellation
    value = Graph(loss).replay({p: p.data + 1j * h * u for p, u in zip(params, us)})
    analytic = sum(np.sum(p.grad * u) for p, u in zip(params, us))
    np.testing.assert_allclose(np.imag(value) / h, analytic, rtol=1e-10, atol=1e-12)


def test_a_wrong_vjp_is_caught():
    tanh = OPS["tanh"]
    wrong = Op("tanh_missing_square", tanh.forward, (lambda g, out, x, xp: g * (1 - out),))  # 1 - s instead of 1 - s²
    x = np.linspace(-2, 2, 7)
    with pytest.raises(AssertionError, match="differs from HIPS autograd"):
        check_op_gradients(wrong, (x,), {})


def test_a_vjp_that_forgets_broadcasting_is_caught():
    mul = OPS["mul"]
    wrong = Op("mul_summing", mul.forward, (lambda g, out, x, y, xp: g * y, lambda g, out, x, y, xp: g))
    with pytest.raises(AssertionError):
        check_op_gradients(wrong, (np.arange(1.0, 7.0).reshape(2, 3), np.array([0.5, -1.0, 2.0])), {})


def test_ops_agree_across_backends(xp):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    results = []
    for module, convert in ((np, np.asarray), (xp, xp.asarray)):
        W = Parameter(convert(b), name="W")
        x = gradlab.tensor(convert(a))
        loss = (gradlab.softmax(gradlab.tanh(x @ W), axis=-1) * gradlab.sigmoid(x @ W)).sum()
        loss.backward()
        assert gradlab.get_xp(W.grad) is module
        results.append((gradlab.as_numpy(loss.data), gradlab.as_numpy(W.grad)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(OP_CASES))
@given(data=st.data())
def test_every_op_gives_the_same_values_and_gradients_on_the_gpu(gpu_xp, name, data):
    inputs, attrs = data.draw(OP_CASES[name])
    results = []
    for convert in (np.asarray, gpu_xp.asarray):
        leaves = _leaves([convert(a) for a in inputs])
        out = apply(OPS[name], *leaves, **attrs)
        out.backward(convert(np.ones(out.shape)))
        results.append([gradlab.as_numpy(out.data)] + [gradlab.as_numpy(p.grad) for p in leaves if p.requires_grad])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", [gradlab.softmax, gradlab.log_softmax])
def test_softmax_family_is_stable_for_huge_inputs(fn):
    x = gradlab.tensor(np.array([[1000.0, 0.0, -1000.0]]), requires_grad=True)
    y = fn(x, axis=-1)
    assert np.all(np.isfinite(y.data))
    (y * np.array([[1.0, 2.0, 3.0]])).sum().backward()
    assert np.all(np.isfinite(x.grad))


def test_sigmoid_saturates_without_overflow():
    x = gradlab.tensor(np.array([-800.0, 0.0, 800.0]))
    with np.errstate(all="raise"):
        y = gradlab.sigmoid(x).data
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0], atol=1e-15)


def test_split_and_chunk_pieces_cover_the_input_and_route_gradients_back():
    x = Parameter(np.arange(12.0).reshape(6, 2), name="x")
    a, b, c = gradlab.chunk(x, 3, axis=0)
    p, q = gradlab.split(x, [1, 1], axis=1)
    (a.sum() + 2 * b.sum() + 3 * c.sum() + 10 * q.sum()).backward()
    expected = np.repeat([[1.0], [2.0], [3.0]], 2, axis=0) * np.ones((6, 2)) + np.array([[0.0, 10.0]])
    np.testing.assert_allclose(x.grad, expected)
    np.testing.assert_allclose(np.concatenate([p.data, q.data], axis=1), x.data)


def test_power_with_tensor_exponent_is_exp_p_log_x():
    x = Parameter(np.array([1.5, 2.0]), name="x")
    p = Parameter(np.array([2.0, 0.5]), name="p")
    (x ** p).sum().backward()
    np.testing.assert_allclose(x.grad, p.data * x.data ** (p.data - 1))
    np.testing.assert_allclose(p.grad, x.data ** p.data * np.log(x.data))


def test_setitem_fills_a_buffer_functionally_and_routes_each_slot_to_its_writer():
    # a course-style buffer h = zeros; h[:, t] = s_t, recorded with setitem: equal to stacking the s_t,
    # the written slots get the upstream gradient, what was overwritten gets none, x itself is unchanged
    from gradlab.ops import setitem

    rng = np.random.default_rng(0)
    steps = [Parameter(rng.standard_normal((2, 3)), name=f"s{t}") for t in range(4)]
    start = Parameter(rng.standard_normal((2, 4, 3)), name="start")
    h = start
    for t, s in enumerate(steps):
        h = setitem(h, (slice(None), t, slice(None)), s)
    np.testing.assert_array_equal(h.data, np.stack([s.data for s in steps], axis=1))
    g = rng.standard_normal(h.shape)
    h.backward(g)
    for t, s in enumerate(steps):
        np.testing.assert_array_equal(s.grad, g[:, t, :])
    np.testing.assert_array_equal(start.grad, np.zeros(start.shape))
    assert not np.array_equal(start.data, h.data)


def test_setitem_refuses_keys_that_write_a_position_twice():
    from gradlab.ops import setitem

    with pytest.raises(ValueError, match="more than once"):
        setitem(gradlab.tensor(np.zeros(4)), np.array([1, 1]), gradlab.tensor(np.ones(2)))
    out = setitem(gradlab.tensor(np.zeros((2, 2))), np.array([[True, False], [False, True]]), 5.0)
    np.testing.assert_array_equal(out.data, [[5.0, 0.0], [0.0, 5.0]])

def test_an_op_declared_the_old_way_still_differentiates():
    # before issue 17 a VJP for any number of inputs took `argnum`, and defop took the fast path's hints;
    # both still work (the hints are ignored: gradlab.fast keeps its own tables)
    from gradlab.engine.ops import defop

    @defop("weighted_sum_old_style", lambda g, out, *xs, xp, argnum: g * (argnum + 1), into=None, symmetric=False)
    def weighted(*xs, xp):
        return sum((k + 1) * x for k, x in enumerate(xs))

    try:
        xs = [Parameter(np.full(2, float(k)), name=f"x{k}") for k in range(3)]
        weighted(*xs).sum().backward()
        for k, x in enumerate(xs):
            np.testing.assert_allclose(x.grad, [k + 1.0, k + 1.0])
    finally:
        del OPS["weighted_sum_old_style"]
