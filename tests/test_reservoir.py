"""Echo-state networks: the reservoir is fixed (scaled to its spectral radius, never given a gradient),
the ridge readout is the minimiser that gradient descent through the engine reaches, the echo state
property holds below the stability limit (with a provable contraction bound) and fails far above it,
memory capacity is at most N and near N for a linear cycle reservoir, feedback and free running
work, bad input is refused by name, and the figures mark the fixed weights."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab
from gradlab.autodiff import requires_grad, toposort
from gradlab.nn.losses import sequence_loss
from gradlab.nn.reservoir import (ReservoirCell, fit_readout, fixed_weights, free_run, memory_capacity,
                                  reservoir_states, ridge_readout, spectral_radius, state_distance, train_readout)
from gradlab.nn.unroll import unroll
from gradlab.render import style


def sine_task(T=400, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, (T, 1))
    return u, np.roll(u, 2, axis=0) + 0.5 * np.roll(u, 1, axis=0) ** 2


# ------------------------------------------------------------------------------ the reservoir
@pytest.mark.parametrize("rho", [0.3, 0.9, 1.7])
def test_recurrent_weights_are_fixed_and_scaled_to_the_requested_spectral_radius(rho):
    cell = ReservoirCell(2, 40, 3, spectral_radius=rho, input_scaling=0.4, connectivity=0.2, rng=5)
    assert spectral_radius(cell.W_s) == pytest.approx(rho, rel=1e-10)
    assert np.abs(cell.W_x.data).max() <= 0.4
    assert 0.1 < np.mean(cell.W_s.data != 0) < 0.3
    assert [p.name for p in cell.parameters()] == ["W_y", "b_y"]        # no optimiser ever sees the reservoir
    assert set(fixed_weights(cell)) == {"W_x", "b_s", "W_s"}
    assert not any(w.requires_grad for w in fixed_weights(cell).values())


def test_cycle_reservoir_is_rho_times_a_cyclic_shift_with_equal_input_magnitudes():
    cell = ReservoirCell(1, 7, None, spectral_radius=0.8, input_scaling=0.3, topology="cycle", rng=0)
    W = cell.W_s.data
    assert np.count_nonzero(W) == 7 and np.allclose(W[np.arange(1, 8) % 7, np.arange(7)], 0.8)
    assert np.allclose(np.abs(cell.W_x.data), 0.3)
    # the input pattern drives the cycle through a full-rank circulant (no wasted units)
    assert np.min(np.abs(np.fft.fft(cell.W_x.data[:, 0]))) > 1e-6


def test_literal_and_fused_unrolling_and_reservoir_states_agree():
    cell = ReservoirCell(2, 12, 1, leak_rate=0.3, bias_scaling=0.2, rng=1)
    xs = np.random.default_rng(0).normal(size=(9, 2))
    lit, fus = unroll(cell, xs), unroll(cell, xs, fused=True)
    S, _ = reservoir_states(cell, xs)
    np.testing.assert_allclose(np.stack([s.data for s in lit.states]), S, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(fus.hidden_sequence.data, S, rtol=1e-13, atol=1e-14)


def test_leaky_update_is_the_convex_combination_of_old_state_and_new_activation():
    cell = ReservoirCell(1, 5, None, leak_rate=0.25, rng=2)
    s0, x = np.random.default_rng(1).normal(size=5), np.array([[0.7]])
    S, _ = reservoir_states(cell, x, state=s0)
    new = np.tanh(cell.W_x.data @ x[0] + cell.W_s.data @ s0 + cell.b_s.data)
    np.testing.assert_allclose(S[0], 0.75 * s0 + 0.25 * new, rtol=1e-13)
    assert cell.effective_spectral_radius == pytest.approx(
        spectral_radius(0.75 * np.eye(5) + 0.25 * cell.W_s.data), rel=1e-12)


# ------------------------------------------------------------------------------------ readouts
def test_ridge_readout_zeroes_the_gradient_of_the_penalised_loss():
    u, d = sine_task()
    cell = ReservoirCell(1, 15, 1, input_scaling=0.5, rng=3)
    S, _ = reservoir_states(cell, u)
    lam = 1e-2
    W, b = ridge_readout(S, d, ridge=lam, washout=20)
    s, dd = S[20:], d[20:]
    r = s @ W.T + b - dd
    assert np.abs(r.T @ s + lam * W).max() < 1e-10 * np.abs(r.T @ s).max() + 1e-12   # ∂E/∂W_y = 0
    assert np.abs(r.sum(axis=0)).max() < 1e-10                                       # ∂E/∂b_y = 0 (no penalty)


def test_gradient_descent_readout_through_the_engine_converges_to_the_ridge_solution():
    u, d = sine_task(seed=1)
    cell = ReservoirCell(1, 20, 1, input_scaling=0.5, rng=4)
    S = fit_readout(cell, u, d, ridge=0.1, washout=20)
    W_ridge, b_ridge = cell.W_y.data.copy(), cell.b_y.data.copy()
    cell.W_y.data[...] = 0.0
    cell.b_y.data[...] = 0.0
    hist = train_readout(cell, S, d, ridge=0.1, washout=20, steps=1500, progress=False)
    assert hist.losses[-1] < hist.losses[0]
    np.testing.assert_allclose(cell.W_y.data, W_ridge, rtol=1e-8, atol=1e-10 * np.abs(W_ridge).max())
    np.testing.assert_allclose(cell.b_y.data, b_ridge, rtol=1e-8, atol=1e-10)


def test_training_the_readout_never_computes_a_gradient_for_the_reservoir():
    u, d = sine_task(T=30)
    cell = ReservoirCell(1, 8, 1, connectivity=0.5, rng=0)
    net = unroll(cell, u)                           # recorded with gradients on, as a figure would be
    E = sequence_loss(net, d)
    E.backward()
    visited = toposort([E], follow=requires_grad)
    assert visited and all("W_s" not in n.scope.layer and "W_x" not in n.scope.layer for n in visited)
    assert all(w.grad is None for w in fixed_weights(cell).values())
    assert cell.W_y.grad is not None and np.abs(cell.W_y.grad).max() > 0
    # no BPTT: reverse mode visits the readout and the loss (a few nodes per step), nothing of the recurrence
    assert len(visited) < 8 * len(u)
    assert not any(n.op is not None and n.op.name == "tanh" for n in visited)


def test_recorded_esn_graph_replays_for_the_checkers_references():
    import autograd
    import autograd.numpy as anp

    u, d = sine_task(T=12)
    cell = ReservoirCell(1, 6, 1, connectivity=0.5, leak_rate=0.5, rng=1)
    E = sequence_loss(unroll(cell, u), d)
    E.backward()
    graph = gradlab.Graph(E)
    readout = [cell.W_y, cell.b_y]
    auto = autograd.grad(lambda ps: graph.function(readout, xp=anp)(*ps))([p.data for p in readout])
    for p, g in zip(readout, auto):
        np.testing.assert_allclose(p.grad, g, rtol=1e-12, atol=1e-14)
    # the reservoir is fixed by choice: E does depend on W_s (autograd on the replay says how), the engine
    # simply never computes it
    g_ws = autograd.grad(lambda w: graph.function([cell.W_s], xp=anp)(w))(cell.W_s.data)
    assert np.abs(g_ws).max() > 1e-6 and cell.W_s.grad is None


# ------------------------------------------------------------------------- echo state property
@given(rho=st.floats(0.05, 0.95), leak=st.floats(0.1, 1.0), seed=st.integers(0, 10_000))
def test_state_distance_contracts_at_least_as_fast_as_the_bound_below_the_limit(rho, leak, seed):
    # a cycle reservoir has ‖W_s‖₂ = ρ; tanh is 1-Lipschitz, so one leaky step shrinks distances by
    # at least L = (1 − α) + α ρ < 1: ‖s_t^a − s_t^b‖ ≤ L^t ‖s_0^a − s_0^b‖ (Jaeger 2001, Prop. 3a)
    cell = ReservoirCell(1, 10, None, spectral_radius=rho, leak_rate=leak, topology="cycle", rng=seed)
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, 10), rng.uniform(-1, 1, 10)
    dist = state_distance(cell, rng.uniform(-1, 1, (40, 1)), a, b)
    L = (1 - leak) + leak * rho
    bound = L ** np.arange(1, 41) * np.linalg.norm(a - b)
    assert np.all(dist <= bound * (1 + 1e-9) + 1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_echo_state_property_holds_below_the_limit_and_fails_far_above_it(seed):
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, (300, 1))
    a, b = rng.uniform(-1, 1, 30), rng.uniform(-1, 1, 30)
    below = ReservoirCell(1, 30, None, spectral_radius=0.9, input_scaling=0.1, rng=seed)
    above = ReservoirCell(1, 30, None, spectral_radius=3.0, input_scaling=0.1, rng=seed)
    assert state_distance(below, u, a, b)[-1] < 1e-8
    assert state_distance(above, u, a, b)[-50:].min() > 0.5


# --------------------------------------------------------------------------- memory capacity
@pytest.mark.parametrize("topology,activation", [("random", "tanh"), ("random", "identity"), ("cycle", "identity")])
def test_memory_capacity_is_at_most_the_number_of_units(topology, activation):
    cell = ReservoirCell(1, 20, None, spectral_radius=0.9, input_scaling=0.1, topology=topology,
                         activation=activation, rng=7)
    mc = memory_capacity(cell, n_train=2000, n_test=1000, rng=8)
    assert 0 < mc.total <= 20 + 0.2
    assert mc.r2.shape == (40,) and np.all((mc.r2 >= 0) & (mc.r2 <= 1))


def test_linear_cycle_reservoir_remembers_nearly_n_steps_and_a_tanh_reservoir_far_fewer():
    lin = ReservoirCell(1, 20, None, spectral_radius=0.9, input_scaling=0.1, topology="cycle",
                        activation="identity", rng=1)
    mc = memory_capacity(lin, n_train=2000, n_test=1000, rng=2)
    # theory for this cycle: r²_k = 1 − ρ^(2N) for k < N, so Σ_{k=1}^{2N} r²_k ≈ N − 1 + ρ^(2N) ≈ 19.0
    assert mc.total > 18.5
    assert np.all(mc.r2[:19] > 0.97)
    tanh = ReservoirCell(1, 20, None, spectral_radius=0.9, input_scaling=0.1, rng=1)
    assert memory_capacity(tanh, n_train=2000, n_test=1000, rng=2).total < 0.8 * mc.total


# ------------------------------------------------------------------------ feedback, free running
def test_teacher_forcing_feeds_back_exactly_the_given_targets():
    cell = ReservoirCell(1, 10, 1, feedback=True, connectivity=0.5, rng=2)
    rng = np.random.default_rng(0)
    x, y_fed = rng.normal(size=(6, 1)), rng.normal(size=(6, 1))
    S, _ = reservoir_states(cell, x, teacher=y_fed)
    s = np.zeros(10)
    for t in range(6):
        y_prev = y_fed[t - 1] if t > 0 else np.zeros(1)
        s = np.tanh(cell.W_x.data @ x[t] + cell.W_s.data @ s + cell.W_fb.data @ y_prev + cell.b_s.data)
        np.testing.assert_allclose(S[t], s, rtol=1e-13, atol=1e-15)


def test_feedback_network_trained_teacher_forced_generates_a_sine_on_its_own():
    t = np.arange(700)
    d = 0.5 * np.sin(2 * np.pi * t / 25)[:, None]
    cell = ReservoirCell(1, 60, 1, spectral_radius=0.9, feedback=True, feedback_scaling=1.0, rng=3)
    x = np.zeros((600, 1))
    fit_readout(cell, x, d[:600], ridge=1e-8, washout=100, teacher_forcing=True)
    _, state = reservoir_states(cell, x, teacher=d[:600])
    state = (state[0], gradlab.tensor(d[599]))               # the last teacher value is fed into step 601
    y = free_run(cell, 50, state)
    assert np.sqrt(np.mean((y - d[600:650]) ** 2)) < 1e-4


def test_closed_loop_free_run_feeds_each_prediction_back_as_the_next_input():
    cell = ReservoirCell(1, 10, 1, connectivity=0.5, rng=4)
    cell.W_y.data = np.random.default_rng(0).normal(size=(1, 10)) * 0.3
    y = free_run(cell, 5, None, first_input=[0.2])
    x, state = np.array([0.2]), None
    for k in range(5):
        S, state = reservoir_states(cell, x[None], state=state)
        x = cell.W_y.data @ S[0] + cell.b_y.data
        np.testing.assert_allclose(y[k], x, rtol=1e-13)


# ----------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    ({"spectral_radius": 0}, r"spectral_radius must be > 0"),
    ({"spectral_radius": -0.5}, r"spectral_radius must be > 0"),
    ({"spectral_radius": float("nan")}, "finite number"),
    ({"leak_rate": 0}, r"leak_rate must be > 0"),
    ({"leak_rate": 1.5}, r"leak_rate must be <= 1"),
    ({"connectivity": 0}, r"connectivity must be > 0"),
    ({"topology": "ring"}, "topology"),
    ({"activation": "softsign"}, "activation"),
    ({"feedback": True, "output_size": None}, "output_size is required"),
])
def test_bad_reservoir_settings_are_refused_by_name(kwargs, match):
    args = {"output_size": 1, **kwargs}
    output_size = args.pop("output_size")
    with pytest.raises((ValueError, TypeError), match=match):
        ReservoirCell(1, 10, output_size, **args)


def test_bad_sequences_and_readout_settings_are_refused_with_the_reason():
    cell = ReservoirCell(1, 10, 1, rng=0)
    with pytest.raises(ValueError, match="empty sequence"):
        reservoir_states(cell, np.zeros((0, 1)))
    with pytest.raises(ValueError, match="NaN"):
        reservoir_states(cell, np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="1 features"):
        reservoir_states(cell, np.zeros((5, 2)))
    S = np.zeros((5, 10))
    with pytest.raises(ValueError, match=r"washout \(5 steps\) leaves none of the 5"):
        ridge_readout(S, np.zeros((5, 1)), washout=5)
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        ridge_readout(S, np.zeros((5, 1)), ridge=-1)
    with pytest.raises(ValueError, match="do not match"):
        ridge_readout(S, np.zeros((4, 1)))
    with pytest.raises(ValueError, match="teacher forcing needs a reservoir with feedback=True"):
        reservoir_states(cell, np.zeros((3, 1)), teacher=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="first_input"):
        free_run(cell, 3, None)
    with pytest.raises(ValueError, match="one input"):
        memory_capacity(ReservoirCell(2, 10, rng=0))


# -------------------------------------------------------------------------------------- figures
def test_unfolded_figure_marks_the_reservoir_weights_fixed_and_the_readout_trained():
    cell = ReservoirCell(1, 4, 1, connectivity=0.5, rng=0)
    src = gradlab.to_dot(cell, T=3).source
    fixed_label = f'<FONT COLOR="{style.FIXED_INK}"><I>W</I><SUB>{{}}</SUB></FONT><FONT COLOR="{style.FIXED_INK}"> ' \
                  f'{style.FIXED_MARK}</FONT>'
    assert src.count(fixed_label.format("s")) == 3 and src.count(fixed_label.format("x")) == 3
    assert src.count(f'<FONT COLOR="{style.PARAM_INK}"><I>W</I><SUB>y</SUB></FONT>') == 3
    assert f"{style.FIXED_MARK}</FONT>> color=\"{style.FIXED_INK}\"" in src     # the fixed-only edges are grey
    once = gradlab.to_dot(cell, T=3, shared="once").source
    assert "fixed" in once and "dashed" in once
    folded = gradlab.to_dot(ReservoirCell(1, 4, 1, feedback=True, connectivity=0.5, rng=0), "folded", T=3).source
    assert folded.count(style.FIXED_MARK) >= 3                       # W_x, W_s and W_fb
    elman = gradlab.to_dot("elman", T=3).source
    assert style.FIXED_MARK not in elman                              # trained weights are not marked


def test_gradient_view_shows_what_bptt_would_send_back_through_a_fixed_reservoir():
    # the engine never computes ∂E/∂s_t for an ESN (nothing there requires a gradient), but the figure
    # of gradient flow must still show its true value, δ_t = W_yᵀ(y_t − d_t) + J_{t+1}ᵀ δ_{t+1}
    from gradlab.render import state_gradients, unfolding_of

    rng = np.random.default_rng(0)
    cell = ReservoirCell(1, 5, 1, connectivity=0.5, leak_rate=0.5, rng=0)
    xs, d = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))
    net = unroll(cell, xs)
    u = unfolding_of(sequence_loss(net, d))
    norms = state_gradients(u)
    shown = [norms[s] for t in u.times for s in u.steps[t].states]
    S = np.stack([s.data for s in net.states])
    Wy, Ws, a = cell.W_y.data, cell.W_s.data, 0.5
    pre = np.tanh(xs @ cell.W_x.data.T + np.vstack([np.zeros(5), S[:-1]]) @ Ws.T)
    delta, back = np.zeros((4, 5)), np.zeros(5)
    for t in range(3, -1, -1):
        delta[t] = Wy.T @ (Wy @ S[t] + cell.b_y.data - d[t]) + back
        back = ((1 - a) * np.eye(5) + a * (1 - pre[t] ** 2)[:, None] * Ws).T @ delta[t]
    np.testing.assert_allclose(shown, np.linalg.norm(delta, axis=1), rtol=1e-12)
    assert all(w.grad is None for w in fixed_weights(cell).values())
