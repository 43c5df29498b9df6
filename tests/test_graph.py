"""The recorded graph: scopes, selection, and replay with other values and other namespaces
(perturbed NumPy, complex step, autograd, SymPy)."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import sympy
from hypothesis import given

import gradlab
from gradlab import Graph, Parameter, tensor
from gradlab.nn import Dense

from .strategies import arrays

pytestmark = pytest.mark.usefixtures("engine")   # every test here runs on the fast path and the reference engine


def _elman(T=3, seed=0, W_s_value=None):
    rng = np.random.default_rng(seed)
    W_x = Dense(2, 3, bias=False, name="W_x", weight_name="W_x", rng=rng)
    W_s = Dense(3, 3, name="W_s", weight_name="W_s", bias_name="b_s", rng=rng)
    if W_s_value is not None:
        W_s.weight.data = np.array(W_s_value, dtype=float)
    xs = tensor(rng.standard_normal((T, 2)), name="xs")
    s = tensor(np.zeros(3), name="s_0")
    loss = 0.0
    for t in range(1, T + 1):
        with gradlab.scope("cell", t=t):
            s = gradlab.tanh(W_x(xs[t - 1]) + W_s(s))
            loss = loss + 0.5 * (s * s).sum()
    return loss, W_x, W_s, xs


def test_nodes_know_their_layer_and_time_step():
    loss, W_x, W_s, _ = _elman(T=3)
    g = Graph(loss)
    assert g.time_steps == [1, 2, 3]
    at2 = g.select(t=2)
    assert at2 and all(n.scope.t == 2 for n in at2)
    from_ws = g.select(layer="cell.W_s")
    assert {n.op.name for n in from_ws} == {"linear"}
    assert len(g.select(layer="cell.W_s", op="linear")) == 3
    assert all(n.scope.within("cell") for n in g.select(layer="cell"))
    assert len(g.select(op="tanh", t=3)) == 1


@given(arrays((3, 3), -1, 1))
def test_replay_with_new_values_equals_rerunning_the_model(w):
    loss, W_x, W_s, _ = _elman()
    replayed = Graph(loss).replay({W_s.weight: w})
    rerun, *_ = _elman(W_s_value=w)          # the model code run again, with W_s = w from the start
    np.testing.assert_allclose(replayed, rerun.data, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(Graph(loss).replay(), loss.data, rtol=1e-15)   # the record is untouched


def test_replay_with_recorded_values_reproduces_the_forward_pass():
    loss, *_ = _elman()
    np.testing.assert_allclose(Graph(loss).replay(), loss.data, rtol=1e-15)


def test_autograd_differentiates_a_replay_like_the_engine():
    loss, W_x, W_s, _ = _elman(T=4)
    loss.backward()
    params = [W_x.weight, W_s.weight, W_s.bias]
    f = Graph(loss).function(params, xp=anp)
    for i, p in enumerate(params):
        np.testing.assert_allclose(autograd.grad(f, i)(*(q.data for q in params)), p.grad, rtol=1e-10)


def test_complex_step_replay_gives_the_directional_derivative_to_rounding():
    loss, W_x, W_s, _ = _elman(T=5)
    loss.backward()
    g = Graph(loss)
    assert g.analytic()
    E = np.zeros((3, 3))
    E[1, 2] = 1.0
    value = g.replay({W_s.weight: W_s.weight.data + 1e-30j * E})
    np.testing.assert_allclose(value.imag / 1e-30, W_s.weight.grad[1, 2], rtol=1e-13)


def test_graph_with_relu_is_not_analytic_and_reports_its_kinks():
    x = Parameter(np.array([0.5, -1e-3]), name="x")
    y = gradlab.relu(x).sum()
    g = Graph(y)
    assert not g.analytic()
    (node, distance), = g.kinks()
    assert node.op.name == "relu" and distance == pytest.approx(1e-3)


def test_sympy_replay_and_symbolic_reverse_mode_agree_with_the_engine():
    w = Parameter(np.array([[0.3, -0.5]]), name="W")
    x = tensor(np.array([0.7, 0.2]))
    s = gradlab.tanh(w @ x)
    loss = (0.5 * gradlab.sigmoid(s) ** 2).sum()
    loss.backward()
    syms = np.array([[sympy.Symbol("w1"), sympy.Symbol("w2")]], dtype=object)
    sp_xp = gradlab.sympy_namespace()
    g = Graph(loss)
    expr = g.replay({w: syms}, xp=sp_xp)
    subs = {sympy.Symbol("w1"): 0.3, sympy.Symbol("w2"): -0.5}
    assert float(sympy.sympify(expr.item()).subs(subs)) == pytest.approx(loss.item(), rel=1e-12)
    grad = g.gradient([w], {w: syms}, xp=sp_xp)[w]
    numeric = np.array([[float(sympy.sympify(e).subs(subs)) for e in row] for row in grad])
    np.testing.assert_allclose(numeric, w.grad, rtol=1e-12)
    # route (a): SymPy's own diff of the replayed expression agrees with route (b), the op table
    diffed = [float(sympy.diff(expr.item(), sympy.Symbol(n)).subs(subs)) for n in ("w1", "w2")]
    np.testing.assert_allclose(diffed, numeric[0], rtol=1e-12)


def test_replay_rejects_nodes_that_are_not_leaves():
    loss, W_x, W_s, _ = _elman()
    inner = Graph(loss).select(op="tanh")[0]
    with pytest.raises(ValueError, match="not a leaf of this graph"):
        Graph(loss).replay({inner: np.zeros(3)})


def test_gradient_on_replay_matches_backward():
    loss, W_x, W_s, _ = _elman(T=3)
    loss.backward()
    grads = Graph(loss).gradient([W_s.weight, W_x.weight])
    np.testing.assert_allclose(grads[W_s.weight], W_s.weight.grad, rtol=1e-13)
    np.testing.assert_allclose(grads[W_x.weight], W_x.weight.grad, rtol=1e-13)
