"""Forward mode: every op's JVP rule agrees with HIPS autograd's own forward mode (on a replay of the same
graph) and with central differences, over the per-op strategies the VJP tests use; forward and reverse
mode agree, ⟨v, J u⟩ both ways, on random graphs and on unrolled RNNs of every cell kind; a wrong JVP
rule fails the same check."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab import OPS, Graph, Parameter, apply
from gradlab.engine.ops import LINEAR, Op, mask

from .strategies import OP_CASES, budget, build_cell, rnn_configs, rnn_sequence, rnn_weights

pytestmark = pytest.mark.usefixtures("engine")   # the fast path and the reference engine alike


def _leaves(inputs):
    return [mask(a) if a.dtype == bool else Parameter(a, name=f"x{i}") for i, a in enumerate(inputs)]


def check_op_tangents(op, inputs, attrs, seed=0, rtol=1e-9, fd_rtol=1e-6):
    """Raise AssertionError when ``op``'s JVP rule disagrees with autograd's forward mode or with central
    differences along a random direction."""
    import autograd
    import autograd.numpy as anp

    rng = np.random.default_rng(seed)
    leaves = _leaves(inputs)
    out = apply(op, *leaves, **attrs)          # a planted wrong rule is an Op of its own, with the same forward
    params = [p for p in leaves if p.requires_grad]
    us = [rng.standard_normal(p.shape) for p in params]
    mine = np.asarray(gradlab.jvp(out, dict(zip(params, us))))
    assert np.shape(mine) == out.shape, f"{op.name}: tangent of shape {np.shape(mine)}, output {out.shape}"
    graph = Graph(out)
    f = graph.function(params, xp=anp)
    values = [p.data for p in params]
    ref = sum(autograd.make_jvp(f, i)(*values)(u)[1] for i, u in enumerate(us))
    np.testing.assert_allclose(mine, ref, rtol=rtol, atol=1e-11,
                               err_msg=f"{op.name}: JVP differs from HIPS autograd's forward mode")
    h = 1e-6
    plus = graph.replay({p: p.data + h * u for p, u in zip(params, us)})
    minus = graph.replay({p: p.data - h * u for p, u in zip(params, us)})
    numeric = (np.asarray(plus) - np.asarray(minus)) / (2 * h)
    rounding = 4 * np.finfo(float).eps * (np.abs(plus) + np.abs(minus)) / (2 * h)
    err = np.abs(numeric - mine)
    assert np.all(err <= fd_rtol * (np.abs(numeric) + np.abs(mine)) + rounding + 1e-9), (
        f"{op.name}: central difference {numeric!r} vs JVP {mine!r}")
    return out, params, us, mine


def test_every_registered_op_has_a_jvp_rule_and_a_declared_domain():
    assert [n for n, op in OPS.items() if op.jvp is None] == []
    assert set(OPS) == set(OP_CASES)


@pytest.mark.parametrize("name", sorted(OP_CASES))
@given(data=st.data())
def test_jvp_agrees_with_autograd_forward_mode_and_central_differences(name, data):
    inputs, attrs = data.draw(OP_CASES[name])
    out, params, us, numeric = check_op_tangents(OPS[name], inputs, attrs)
    recorded = gradlab.jvp(out, dict(zip(params, us)), create_graph=True)   # the same rule on Tensors
    np.testing.assert_allclose(recorded.data, numeric, rtol=1e-12, atol=1e-14)


def test_a_wrong_jvp_is_caught():
    tanh = OPS["tanh"]
    wrong = Op("tanh", tanh.forward, tanh.vjp, jvp=(lambda dx, out, x, xp: dx * (1 - out),))   # 1 - s, not 1 - s²
    with pytest.raises(AssertionError, match="forward mode"):
        check_op_tangents(wrong, (np.linspace(-2, 2, 7),), {})


def test_a_product_declared_linear_is_caught():
    mul = OPS["mul"]
    wrong = Op("mul", mul.forward, mul.vjp, jvp=LINEAR)     # dx·dy instead of dx·y + x·dy
    with pytest.raises(AssertionError):
        check_op_tangents(wrong, (np.arange(1.0, 7.0).reshape(2, 3), np.array([0.5, -1.0, 2.0])), {})


# ------------------------------------------------------------------------------ random graphs
_UNARY = ("tanh", "sigmoid", "neg", "exp_tanh", "softmax", "square", "reshape", "getitem")
_BINARY = ("add", "sub", "mul", "matmul", "stack_sum", "maximum", "div")


@st.composite
def _random_graphs(draw):
    """A recipe of 3–12 ops over a pool of (3,)-vectors that grows as it goes: any node may be used again
    (fan-out, as a shared RNN weight is)."""
    n = draw(st.integers(3, 12))
    steps = []
    for k in range(n):
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(_UNARY)), draw(st.integers(0, 10 ** 6)), None))
        else:
            steps.append((draw(st.sampled_from(_BINARY)), draw(st.integers(0, 10 ** 6)), draw(st.integers(0, 10 ** 6))))
    return steps, draw(st.integers(0, 2 ** 16))


def _build(steps, seed):
    rng = np.random.default_rng(seed)
    leaves = [Parameter(rng.uniform(-1.5, 1.5, 3), name=f"p{i}") for i in range(3)]
    M = Parameter(rng.uniform(-1, 1, (3, 3)), name="M")
    pool = list(leaves)
    for name, i, j in steps:
        a = pool[i % len(pool)]
        b = pool[j % len(pool)] if j is not None else None
        if name == "exp_tanh":
            y = gradlab.exp(gradlab.tanh(a))            # bounded: exp of a tanh
        elif name == "square":
            y = a * a
        elif name == "softmax":
            y = gradlab.softmax(a)
        elif name == "reshape":
            y = gradlab.reshape(gradlab.reshape(a, (1, 3)), (3,))
        elif name == "getitem":
            y = gradlab.stack([a[2], a[0], a[1]])
        elif name == "matmul":
            y = M @ gradlab.tanh(a) + b
        elif name == "stack_sum":
            y = gradlab.stack([a, b]).sum(axis=0)
        elif name == "maximum":
            y = gradlab.maximum(a, b + 0.25)
        elif name == "div":
            y = a / (2.0 + gradlab.sigmoid(b))
        elif name in ("add", "sub", "mul"):
            y = getattr(gradlab, name)(a, b)
        else:
            y = getattr(gradlab, name)(a)
        pool.append(y)
    return leaves + [M], pool[-1]


@given(recipe=_random_graphs())
@settings(max_examples=budget(40))
def test_forward_and_reverse_mode_agree_on_random_graphs(recipe):
    steps, seed = recipe
    params, y = _build(steps, seed)
    if not y.requires_grad:
        return
    rng = np.random.default_rng(seed + 1)
    v = rng.standard_normal(y.shape)
    us = {p: rng.standard_normal(p.shape) for p in params}
    (y * v).sum().backward()                                   # Jᵀ v, every parameter at once
    reverse = sum(float(np.sum(p.grad * us[p])) for p in params if p.grad is not None)
    forward = float(np.sum(v * gradlab.jvp(y, us)))            # J u, every output at once
    assert abs(forward - reverse) <= 1e-10 * (1 + abs(forward) + abs(reverse)), (forward, reverse)


@given(config=rnn_configs(max_T=4))
@settings(max_examples=budget(20))
def test_forward_and_reverse_mode_agree_on_unrolled_networks(config):
    rng = np.random.default_rng(config["seed"])
    cell = build_cell(config)
    rnn_weights(cell, rng)
    xs = gradlab.tensor(rnn_sequence(config, rng), requires_grad=True, name="xs")
    run = gradlab.nn.unroll(cell, xs, fused=bool(config["seed"] % 2))
    ys = [run.hiddens[-1]] + ([] if config["O"] is None else list(run.outputs))
    v = [rng.standard_normal(y.shape) for y in ys]
    leaves = cell.parameters() + [xs]
    us = {p: rng.standard_normal(p.shape) for p in leaves}
    total = gradlab.add(gradlab.sum(ys[0] * v[0]), 0.0)
    for y, vy in zip(ys[1:], v[1:]):
        total = total + (y * vy).sum()
    total.backward()
    reverse = sum(float(np.sum(p.grad * us[p])) for p in leaves if p.grad is not None)
    forward = sum(float(np.sum(vy * t)) for vy, t in zip(v, gradlab.jvp(ys, us)))
    assert abs(forward - reverse) <= 1e-10 * (1 + abs(forward) + abs(reverse)), (config, forward, reverse)


# ------------------------------------------------------------------------------- the interface
def test_a_node_given_a_tangent_is_an_independent_input():
    w = Parameter(np.array([0.3, -0.7]), name="w")
    s = gradlab.tanh(w)
    E = (s * s).sum()
    u = np.array([1.0, 2.0])
    # seeded at s: dE = 2 s · u, whatever w's tangent would have made of s
    np.testing.assert_allclose(gradlab.jvp(E, {s: u}), 2 * np.sum(s.data * u))


def test_an_output_that_does_not_depend_on_the_direction_gets_a_zero_tangent():
    a = Parameter(np.ones(3), name="a")
    b = Parameter(np.ones(2), name="b")
    ta, tb = gradlab.jvp([(a * 2).sum(), gradlab.tanh(b)], {a: np.ones(3)})
    assert float(ta) == 6.0
    np.testing.assert_array_equal(tb, np.zeros(2))


def test_jvp_names_what_is_wrong_with_its_arguments():
    a = Parameter(np.ones(3), name="a")
    y = (a * a).sum()
    with pytest.raises(ValueError, match=r"shape \(2,\), the node \(3,\)"):
        gradlab.jvp(y, {a: np.ones(2)})
    with pytest.raises(TypeError, match="dict"):
        gradlab.jvp(y, np.ones(3))
    with pytest.raises(TypeError, match="keys"):
        gradlab.jvp(y, {"a": np.ones(3)})
    with pytest.raises(TypeError, match="not a recorded Tensor"):
        gradlab.jvp(np.ones(3), {a: np.ones(3)})


# ----------------------------------------------------------------- the checker's fifth reference
def _derivation(name):
    from pathlib import Path

    from gradlab.check.candidate import load_derivation

    return load_derivation(str(Path(__file__).resolve().parent.parent / "derivations" / name))


def test_forward_mode_alone_passes_a_right_gradient_and_catches_a_wrong_one():
    from gradlab.check import check_gradient

    cand = _derivation("elman_bptt_sequence.py")
    right = check_gradient(cand, references=("forward",), localise=False)
    assert right.verdict == "pass", right.format()
    assert all("forward" in p.per_reference for p in right.params)

    def wrong(params, data):              # ∂E/∂W_s off by 10 % in one element
        g = cand.fn(params, data)
        g["W_s"] = g["W_s"].copy()
        g["W_s"][0, 0] *= 1.1
        return g

    report = check_gradient(wrong, cand.spec, references=("forward",), localise=False)
    assert report.wrong == ["W_s"], report.format()


def test_a_wrong_jvp_rule_makes_the_references_disagree():
    from gradlab.check import check_gradient

    tanh = OPS["tanh"]
    right_rule = tanh.jvp
    object.__setattr__(tanh, "jvp", (lambda dx, out, x, xp: dx * (1 - out),))    # planted: 1 - s for 1 - s²
    try:
        report = check_gradient(_derivation("elman_bptt_sequence.py"))
    finally:
        object.__setattr__(tanh, "jvp", right_rule)
    assert not report.references_agree
    assert report.agreement["reverse ↔ forward mode"] > 1e-3
    assert report.verdict == "inconclusive", report.format()
