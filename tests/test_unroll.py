"""Unrolling: BPTT gradients of every cell against HIPS autograd and finite differences, the fused path
against the literal one, time-step scopes, per-step contributions, initial states, sequence modes,
gradient norms, and errors that say which and where."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
import reference_cells as ref
from gradlab import nn
from strategies import budget, CELL_KINDS, build_cell, rnn_configs, rnn_sequence, rnn_weights


def build(config, fused=False, rng=None):
    """Cell with fresh weights, inputs, targets, and the mse_half loss of the unrolled network."""
    rng = np.random.default_rng(config["seed"]) if rng is None else rng
    cell = build_cell(config)
    rnn_weights(cell, rng)
    xs = rnn_sequence(config, rng)
    r = nn.unroll(cell, xs, fused=fused)
    d = rng.normal(size=(config["T"],) + r.outputs[0].shape)
    return cell, xs, d, r, nn.sequence_loss(r, d)


def engine_gradients(cell, E):
    cell.zero_grad()
    E.backward()
    # a parameter the loss does not reach keeps grad None (four-gate, T=1: N_1, i_1 only feed LTM_1)
    return {name: np.zeros(p.shape) if p.grad is None else p.grad.copy()
            for name, p in cell.parameters_by_name().items()}


def reached(cell, G):
    """{name: Parameter} for the parameters the loss depends on (the others have zero gradient)."""
    inside = set(G.parameters)
    return {name: p for name, p in cell.parameters_by_name().items() if p in inside}


def autograd_gradients(cell, E):
    G = gradlab.Graph(E)
    names, params = zip(*reached(cell, G).items())
    f = G.function(list(params), xp=anp)
    grads = dict(zip(names, autograd.grad(lambda *a: f(*a), argnum=list(range(len(params))))(
        *[p.data for p in params])))
    return {name: grads.get(name, np.zeros(p.shape)) for name, p in cell.parameters_by_name().items()}


def directional_differences(cell, E, rng, h=1e-5):
    r"""{name: (derivative of E along a random direction v, v)} from replays of the graph: complex step
    Im E(θ + i·10⁻³⁰ v) / 10⁻³⁰ where the graph is analytic (exact to rounding, whatever the scale of
    E), central differences with step ``h`` otherwise (ReLU cells)."""
    G = gradlab.Graph(E)
    analytic = G.analytic()
    out = {}
    for name, p in cell.parameters_by_name().items():
        v = rng.normal(size=p.shape)
        if p not in G.parameters:
            out[name] = (0.0, v)
            continue
        if analytic:
            out[name] = (float(np.imag(G.replay({p: p.data + 1e-30j * v}))) / 1e-30, v)
            continue
        plus = G.replay({p: p.data + h * v})
        minus = G.replay({p: p.data - h * v})
        out[name] = ((float(plus) - float(minus)) / (2 * h), v)
    return out


@pytest.mark.parametrize("kind", CELL_KINDS)
@settings(max_examples=budget(25))
@given(data=st.data())
def test_unrolled_gradients_agree_with_autograd_replay_and_central_differences(kind, data):
    config = data.draw(rnn_configs(kinds=(kind,)), label="config")
    fused = data.draw(st.booleans(), label="fused")
    cell, xs, d, r, E = build(config, fused)
    mine = engine_gradients(cell, E)
    theirs = autograd_gradients(cell, E)
    for name in mine:
        np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-7, atol=1e-12, err_msg=name)
    for name, (fd, v) in directional_differences(cell, E, np.random.default_rng(1)).items():
        np.testing.assert_allclose(np.sum(mine[name] * v), fd, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("kind", CELL_KINDS)
@settings(max_examples=budget(12))
@given(data=st.data())
def test_engine_gradients_agree_with_autograd_on_the_reference_equations(kind, data):
    # independent of gradlab's graph: autograd differentiates the plain-array reference unrolling
    config = data.draw(rnn_configs(kinds=(kind,)), label="config")
    cell, xs, d, r, E = build(config)
    mine = engine_gradients(cell, E)
    names = list(mine)
    batch = () if config["B"] is None else (config["B"],)

    def loss(*arrays):
        P = dict(zip(names, arrays))
        s0 = []
        for part, size in zip(cell.state_names, cell.state_sizes()):
            s0.append(anp.zeros(batch + (size,)) + (P[f"{part}_0"] if f"{part}_0" in P else 0.0))
        _, ys = ref.run(kind, P, xs, s0[0] if len(s0) == 1 else tuple(s0), xp=anp, **config["options"])
        return sum(0.5 * anp.sum((y - d[k]) ** 2) for k, y in enumerate(ys))

    P = cell.parameters_by_name()
    np.testing.assert_allclose(loss(*[P[n].data for n in names]), E.item(), rtol=1e-12)
    grads = autograd.grad(loss, argnum=list(range(len(names))))(*[P[n].data for n in names])
    for name, g in zip(names, grads):
        np.testing.assert_allclose(mine[name], g, rtol=1e-7, atol=1e-12, err_msg=name)


def test_a_wrong_gradient_is_caught_by_both_references():
    config = dict(kind="lstm", options={}, T=3, B=2, D=2, H=3, O=2, learn_initial_state=False, seed=5)
    cell, xs, d, r, E = build(config)
    wrong = engine_gradients(cell, E)
    wrong["W_s"][1, 2] *= 1.01
    theirs = autograd_gradients(cell, E)
    assert not np.allclose(wrong["W_s"], theirs["W_s"], rtol=1e-7, atol=1e-12)
    fd, v = directional_differences(cell, E, np.random.default_rng(1))["W_s"]
    assert not np.isclose(np.sum(wrong["W_s"] * v), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", CELL_KINDS)
@settings(max_examples=budget(12))
@given(data=st.data())
def test_fused_and_literal_unrolling_give_the_same_loss_and_gradients(kind, data):
    config = data.draw(rnn_configs(kinds=(kind,)), label="config")
    cell, _, _, _, E_literal = build(config, fused=False)
    literal = engine_gradients(cell, E_literal)
    cell, _, _, r, E_fused = build(config, fused=True)
    fused = engine_gradients(cell, E_fused)
    assert r.fused
    np.testing.assert_allclose(E_fused.item(), E_literal.item(), rtol=1e-12)
    for name in literal:
        np.testing.assert_allclose(fused[name], literal[name], rtol=1e-10, atol=1e-13, err_msg=name)


def test_fused_unrolling_records_fewer_nodes_than_the_literal_one():
    config = dict(kind="elman", options={}, T=6, B=2, D=3, H=4, O=2, learn_initial_state=False, seed=0)
    sizes = [len(gradlab.Graph(build(config, fused=f)[-1])) for f in (False, True)]
    assert sizes[1] < sizes[0]


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_each_step_is_recorded_in_its_own_time_step_scope(kind):
    config = dict(kind=kind, options={}, T=4, B=2, D=3, H=2, O=2, learn_initial_state=False, seed=0)
    cell, xs, d, r, E = build(config)
    G = gradlab.Graph(E)
    assert G.time_steps == [1, 2, 3, 4]
    assert r.times == [1, 2, 3, 4]
    for t, state in zip(r.times, r.states):
        assert all(part.scope.t == t and part.scope.within("cell") for part in (state if isinstance(state, tuple)
                                                                               else (state,)))
        assert G.select(t=t, layer="cell.W_y", op="linear")


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_shared_weight_step_contributions_sum_to_the_gradient(kind):
    config = dict(kind=kind, options={}, T=4, B=2, D=3, H=3, O=2, learn_initial_state=False, seed=2)
    cell, xs, d, r, E = build(config)
    grads = engine_gradients(cell, E)
    for name, p in cell.parameters_by_name().items():
        parts = nn.step_contributions(E, p)
        if kind == "fourgate" and name in ("W_n", "b_n", "W_i", "b_i"):
            # the learn gate at t=4 only writes LTM_4, which nothing reads: the use gate reads LTM_3 f_4
            assert set(parts) == {1, 2, 3}, name
        else:
            assert set(parts) == {1, 2, 3, 4}, name
        np.testing.assert_allclose(sum(parts.values()), grads[name], rtol=1e-10, atol=1e-14, err_msg=name)
    # W_s acts at t=1 on the zero initial state: that copy contributes nothing
    recurrent = {"jordan": "W_s", "fourgate": "W_u"}.get(kind, "W_s")
    if kind != "fourgate":
        assert np.allclose(nn.step_contributions(E, cell.parameters_by_name()[recurrent])[1], 0.0)


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("fused", [False, True])
def test_learned_initial_state_gets_the_gradient_of_the_loss(kind, fused):
    config = dict(kind=kind, options={}, T=3, B=2, D=2, H=3, O=2, learn_initial_state=True, seed=3)
    cell, xs, d, r, E = build(config, fused)
    grads = engine_gradients(cell, E)
    learned = [n for n in grads if n.endswith("_0")]
    assert learned
    fd = directional_differences(cell, E, np.random.default_rng(0))
    for name in learned:
        assert np.any(grads[name] != 0.0), name
        np.testing.assert_allclose(np.sum(grads[name] * fd[name][1]), fd[name][0], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_an_unbatched_sequence_equals_a_batch_of_one(kind):
    cell = nn.CELLS[kind](3, 4, 2, rng=0, learn_initial_state=True)
    rnn_weights(cell, np.random.default_rng(0))
    xs = np.random.default_rng(1).normal(size=(4, 3))
    single = nn.unroll(cell, xs)
    batched = nn.unroll(cell, xs[:, None, :], fused=True)
    assert single.outputs[0].shape == (2,)
    np.testing.assert_allclose(np.stack([y.data for y in single.outputs]), batched.output_sequence.data[:, 0],
                               rtol=1e-12)


def test_a_list_of_steps_and_a_given_initial_state_are_used():
    cell = nn.LSTMCell(3, 4, 2)
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(3, 2, 3))
    s0 = (rng.normal(size=(2, 4)), rng.normal(size=(2, 4)))
    whole = nn.unroll(cell, xs, s0).final_state[0].data
    listed = nn.unroll(cell, [gradlab.tensor(x) for x in xs], s0, fused=True).final_state[0].data
    np.testing.assert_allclose(listed, whole, rtol=1e-12)
    assert not np.allclose(nn.unroll(cell, xs).final_state[0].data, whole)


# --------------------------------------------------------------------------------------- errors
def test_a_wrong_feature_size_says_which_cell_where_and_what_was_expected():
    cell = nn.GRUCell(3, 4, name="enc")
    with pytest.raises(ValueError) as e:
        nn.unroll(cell, np.zeros((5, 2, 4)))
    assert all(s in str(e.value) for s in ("GRUCell 'enc'", "t=1", "3 features", "got 4", "(5, 2, 4)"))
    steps = [np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 2))]
    with pytest.raises(ValueError, match=r"GRUCell 'enc' at t=3: expected x_t with 3 features .* got 2"):
        nn.unroll(cell, steps)


def test_a_batch_mismatch_between_inputs_and_state_is_reported_with_both_shapes():
    cell = nn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"batch mismatch: state part 's' has batch shape \(3,\) but the inputs "
                                         r"have batch shape \(2,\)"):
        nn.unroll(cell, np.zeros((5, 2, 3)), (np.zeros((3, 4)), np.zeros((3, 4))))


@pytest.mark.parametrize("xs", [np.zeros((0, 2, 3)), []], ids=["array", "list"])
def test_an_empty_sequence_is_rejected(xs):
    with pytest.raises(ValueError, match="empty sequence"):
        nn.unroll(nn.ElmanCell(3, 4), xs)


def test_inputs_without_a_time_axis_are_rejected():
    with pytest.raises(ValueError, match=r"\(T, B, D\) or \(T, D\)"):
        nn.unroll(nn.ElmanCell(3, 4), np.zeros(3))


# ----------------------------------------------------------------------------------------- modes
def test_many_to_one_computes_only_the_last_output_and_it_matches_many_to_many():
    cell = nn.ElmanCell(3, 4, 2)
    xs = np.random.default_rng(0).normal(size=(5, 2, 3))
    last = nn.many_to_one(cell, xs)
    assert last.output_times == [5] and len(last.outputs) == 1
    np.testing.assert_allclose(last.output.data, nn.many_to_many(cell, xs).outputs[-1].data, rtol=1e-12)
    G = gradlab.Graph(last.output)
    assert len(G.select(layer="cell.W_y")) == 1


@pytest.mark.parametrize("feedback", ["zeros", "output"])
def test_one_to_many_reads_one_input_then_zeros_or_its_previous_output(feedback):
    cell = nn.ElmanCell(3, 4, 3)
    P = rnn_weights(cell, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(2, 3))
    r = nn.one_to_many(cell, x, 4, feedback=feedback)
    s, ys = np.zeros((2, 4)), []
    inp = x
    for _ in range(4):
        s = ref.elman_step(P, inp, s)
        ys.append(s @ P["W_y"].T + P["b_y"])
        inp = ys[-1] if feedback == "output" else np.zeros_like(x)
    np.testing.assert_allclose(np.stack([y.data for y in r.outputs]), np.stack(ys), rtol=1e-12)
    with pytest.raises(ValueError, match="feedback='output'"):
        nn.one_to_many(nn.ElmanCell(3, 4, 2), x, 4, feedback="output")


def test_encoder_decoder_starts_the_decoder_from_the_encoder_state_and_continues_the_time_steps():
    rng = np.random.default_rng(0)
    enc, dec = nn.LSTMCell(3, 4, rng=0), nn.LSTMCell(2, 4, 2, rng=1)
    model = nn.EncoderDecoder(enc, dec)
    xs, ys_in = rng.normal(size=(5, 2, 3)), rng.normal(size=(3, 2, 2))
    out = model(xs, ys_in)
    state = nn.unroll(enc, xs).final_state
    direct = nn.unroll(dec, ys_in, state)
    np.testing.assert_allclose(out.output_sequence.data, direct.output_sequence.data, rtol=1e-12)
    assert out.encoder.times == [1, 2, 3, 4, 5] and out.times == [6, 7, 8]
    E = nn.sequence_loss(out, rng.normal(size=(3, 2, 2)))
    G = gradlab.Graph(E)
    assert G.time_steps == list(range(1, 9))
    assert {"encoder.W_s", "decoder.W_s"} <= set(model.parameters_by_name())
    free = model(xs, steps=4)  # feeding back its own outputs
    assert len(free.outputs) == 4 and free.outputs[0].shape == (2, 2)


def test_encoder_decoder_with_different_states_needs_a_bridge():
    enc, dec = nn.GRUCell(3, 4), nn.LSTMCell(2, 5, 2)
    xs = np.zeros((4, 2, 3))
    with pytest.raises(ValueError, match="bridge=True"):
        nn.EncoderDecoder(enc, dec)(xs, steps=2)
    model = nn.EncoderDecoder(nn.GRUCell(3, 4), nn.LSTMCell(2, 5, 2), bridge=True)
    out = model(xs, steps=2)
    assert "W_c" in model.parameters_by_name() and out.final_state[0].shape == (2, 5)


# -------------------------------------------------------------------------------------- analysis
@pytest.mark.parametrize("kind", CELL_KINDS)
def test_gradient_norms_are_the_norms_of_dE_T_ds_t_from_autograd_on_the_reference(kind):
    rng = np.random.default_rng(11)
    cell = nn.CELLS[kind](2, 3, 2, rng=0)
    P = rnn_weights(cell, rng)
    xs, d_T = rng.normal(size=(5, 2, 2)), rng.normal(size=(2, 2))
    norms = nn.gradient_norms(cell, xs, d_T)
    assert list(norms) == [1, 2, 3, 4, 5]
    s0 = tuple(np.zeros((2, n)) for n in cell.state_sizes())
    states, _ = ref.run(kind, P, xs, s0[0] if len(s0) == 1 else s0)
    for t, state in enumerate(states, start=1):
        s_t = ref.REFERENCE[kind]["hidden"](state)
        E_T = lambda s: 0.5 * anp.sum((ref.run_from(kind, P, xs, t, s, state, xp=anp) - d_T) ** 2)  # noqa: E731
        np.testing.assert_allclose(norms[t], np.linalg.norm(autograd.grad(E_T)(s_t)), rtol=1e-8, atol=1e-14)


def test_gradient_norms_accept_a_whole_target_sequence_and_reject_a_wrong_length():
    cell = nn.ElmanCell(2, 3, 2)
    rng = np.random.default_rng(0)
    xs, d = rng.normal(size=(4, 1, 2)), rng.normal(size=(4, 1, 2))
    assert nn.gradient_norms(cell, xs, d) == pytest.approx(nn.gradient_norms(cell, xs, d[-1]))
    with pytest.raises(ValueError, match="targets hold 3 steps but the sequence has 4"):
        nn.gradient_norms(cell, xs, d[:3])


def test_hidden_gradients_match_retain_grad_and_leave_parameter_gradients_alone():
    cell = nn.LSTMCell(2, 3, 2)
    rng = np.random.default_rng(0)
    r = nn.unroll(cell, rng.normal(size=(4, 2, 2)))
    E = nn.sequence_loss(r, rng.normal(size=(4, 2, 2)))
    grads = nn.hidden_gradients(E, r)
    assert all(p.grad is None for p in cell.parameters())
    for h in r.hiddens:
        h.retain_grad()
    E.backward()
    for t, h in zip(r.times, r.hiddens):
        np.testing.assert_allclose(grads[t], h.grad, rtol=1e-12)


def test_elman_gradient_norms_shrink_backwards_in_time_with_small_recurrent_weights():
    cell = nn.ElmanCell(2, 8, 2, rng=0)
    cell.W_s.data *= 0.1
    norms = nn.gradient_norms(cell, np.random.default_rng(0).normal(size=(12, 1, 2)))
    values = list(norms.values())
    assert all(a < b for a, b in zip(values, values[1:]))
    assert values[0] < 1e-6 * values[-1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relu_elman_gradients_agree_with_autograd_away_from_the_kink(seed):
    config = dict(kind="elman", options={"activation": "relu"}, T=4, B=2, D=3, H=4, O=2,
                  learn_initial_state=True, seed=seed)
    cell, xs, d, r, E = build(config)
    G = gradlab.Graph(E)
    assert min(dist for _, dist in G.kinks()) > 1e-6
    mine, theirs = engine_gradients(cell, E), autograd_gradients(cell, E)
    for name in mine:
        np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-7, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_many_to_one_gradients_are_the_same_fused_or_literal(kind):
    rng = np.random.default_rng(5)
    cell = nn.CELLS[kind](3, 4, 2, rng=0)
    rnn_weights(cell, rng)
    xs, labels = rng.normal(size=(4, 2, 3)), np.array([1, 0])
    grads = []
    for fused in (False, True):
        out = nn.many_to_one(cell, xs, fused=fused)
        grads.append(engine_gradients(cell, nn.softmax_cross_entropy(out.output, labels)))
    for name in grads[0]:
        np.testing.assert_allclose(grads[1][name], grads[0][name], rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_inputs_that_require_a_gradient_get_the_same_one_fused_or_literal(kind):
    rng = np.random.default_rng(6)
    cell = nn.CELLS[kind](3, 4, 2, rng=0)
    rnn_weights(cell, rng)
    data, d = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2, 2))
    grads = []
    for fused in (False, True):
        xs = gradlab.tensor(data, requires_grad=True)
        nn.sequence_loss(nn.unroll(cell, xs, fused=fused), d).backward()
        grads.append(xs.grad)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10, atol=1e-13)
    assert np.all(np.abs(grads[0]).sum(axis=-1) > 0)


@pytest.mark.parametrize("bridge", [False, True])
def test_encoder_decoder_gradients_agree_with_autograd(bridge):
    rng = np.random.default_rng(8)
    model = nn.EncoderDecoder(nn.GRUCell(3, 4, rng=0), nn.GRUCell(2, 4, 2, rng=1), bridge=bridge, rng=2)
    for p in model.parameters():
        p.data = rng.normal(0.0, 0.8, p.shape)
    E = nn.sequence_loss(model(rng.normal(size=(3, 2, 3)), rng.normal(size=(2, 2, 2))), rng.normal(size=(2, 2, 2)))
    E.backward()
    names, params = zip(*model.parameters_by_name().items())
    f = gradlab.Graph(E).function(list(params), xp=anp)
    theirs = autograd.grad(lambda *a: f(*a), argnum=list(range(len(params))))(*[p.data for p in params])
    for name, p, g in zip(names, params, theirs):
        np.testing.assert_allclose(p.grad, g, rtol=1e-7, atol=1e-12, err_msg=name)
