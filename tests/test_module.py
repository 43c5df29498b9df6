"""Modules: named parameters, de-duplicated sharing, scopes, Dense against its equation."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab
from gradlab import Graph, Parameter, tensor
from gradlab.nn import Dense, Module, ReLU, Sequential, Sigmoid, Tanh, make_rng


class TwoUses(Module):
    def __init__(self):
        super().__init__("net")
        self.shared = Dense(3, 3, name="W_s", weight_name="W_s", bias_name="b_s", rng=0)
        self.alias = self.shared      # the same layer reachable twice
        self.head = Dense(3, 1, name="W_y", weight_name="W_y", bias_name="b_y", rng=1)

    def forward(self, x):
        return self.head(gradlab.tanh(self.alias(self.shared(x))))


def test_parameters_lists_each_shared_parameter_once():
    net = TwoUses()
    names = [p.name for p in net.parameters()]
    assert sorted(names) == ["W_s", "W_y", "b_s", "b_y"]
    assert len(net.parameters()) == 4
    assert set(net.parameters_by_name()) == {"W_s", "b_s", "W_y", "b_y"}
    assert "shared.weight" in net.named_parameters()


def test_duplicate_parameter_names_are_refused_when_asked_by_name():
    class Clash(Module):
        def __init__(self):
            super().__init__()
            self.a = Dense(2, 2, rng=0)
            self.b = Dense(2, 2, rng=1)

    with pytest.raises(ValueError, match="both named 'W'"):
        Clash().parameters_by_name()


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))
def test_dense_computes_W_x_plus_b(n_in, n_out, batch):
    layer = Dense(n_in, n_out, rng=3)
    layer.bias.data = np.linspace(-1, 1, n_out)
    x = np.random.default_rng(4).standard_normal((batch, n_in))
    np.testing.assert_allclose(layer(tensor(x)).data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-14)


def test_module_calls_record_their_layer_path():
    net = TwoUses()
    out = net(tensor(np.ones((2, 3)))).sum()
    layers = {n.scope.layer for n in Graph(out).nodes if n.op is not None}
    assert {"net.W_s", "net.W_y", "net"} <= layers


def test_a_layer_used_twice_gets_the_sum_of_both_uses():
    net = TwoUses()
    out = net(tensor(np.random.default_rng(0).standard_normal((2, 3)))).sum()
    out.backward()
    W = net.shared.weight
    parts = gradlab.contributions(out, W, by="scope")
    assert len(parts) == 1  # both uses are in scope net.W_s; split by consumer node instead
    per_use = {}
    gradlab.autodiff.reverse(gradlab.toposort([out], lambda n: n.requires_grad), {out: np.ones(())},
                             on_edge=lambda p, c, g: per_use.setdefault(id(c), g) if p is W else None)
    assert len(per_use) == 2
    np.testing.assert_allclose(sum(per_use.values()), W.grad, rtol=1e-12)


def test_activation_layers_and_sequential():
    net = Sequential(Dense(2, 3, rng=0), Tanh(), Dense(3, 3, rng=1, weight_name="V", bias_name="c"), ReLU(),
                     Sigmoid())
    y = net(tensor(np.ones((1, 2))))
    assert y.shape == (1, 3) and np.all((y.data > 0) & (y.data < 1))
    assert len(net.parameters()) == 4
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_make_rng_is_seeded_and_never_global():
    a = make_rng(5).standard_normal(3)
    b = make_rng(5).standard_normal(3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        make_rng("seed")


def test_dense_rejects_wrong_feature_size_naming_the_layer():
    layer = Dense(3, 2, name="W_x")
    with pytest.raises(ValueError, match=r"Dense W_x: expected inputs with last axis 3, got shape \(4, 5\)"):
        layer(tensor(np.ones((4, 5))))


def test_parameter_keeps_its_identity_across_uses():
    p = Parameter(np.ones(2), name="p")
    assert (p * 1.0).parents[0] is p
