"""Truncated BPTT agrees with full BPTT where it must, carries the state detached, and the training
loop records losses, stops early on request and shows its progress."""
import io
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab.nn.cells import ElmanCell, GRUCell, LSTMCell
from gradlab.nn.optim import SGD, Adam
from gradlab.nn.train import ProgressBar, fit, train_step, truncated_bptt
from gradlab.nn.unroll import unroll
from strategies import budget

CELLS = {
    "elman": lambda D, H, O, rng: ElmanCell(D, H, O, rng=rng),
    "lstm": lambda D, H, O, rng: LSTMCell(D, H, O, rng=rng),
    "gru": lambda D, H, O, rng: GRUCell(D, H, O, rng=rng),
}


def half_squared_error(outputs, targets):
    """E = Σ_t ½‖y_t − d_t‖² over the given steps."""
    total = 0.0
    for y, d in zip(outputs, targets):
        total = total + 0.5 * ((y - d) ** 2).sum()
    return total


def problem(kind, T, B, seed=0):
    rng = np.random.default_rng(seed)
    cell = CELLS[kind](2, 3, 2, rng)
    xs = rng.normal(size=(T, B, 2))
    ds = rng.normal(size=(T, B, 2))
    return cell, xs, ds


def full_bptt_grads(cell, xs, ds):
    cell.zero_grad()
    run = unroll(cell, xs)
    loss = half_squared_error(run.outputs, ds)
    loss.backward()
    return float(loss.item()), {k: p.grad.copy() for k, p in cell.named_parameters().items()}


def tbptt_grads(cell, xs, ds, k1, k2):
    cell.zero_grad()
    result = truncated_bptt(cell, xs, ds, half_squared_error, k1, k2)
    return result, {k: p.grad.copy() for k, p in cell.named_parameters().items()}


@settings(max_examples=budget(12))
@given(kind=st.sampled_from(sorted(CELLS)), T=st.integers(1, 6), B=st.integers(1, 3), extra=st.integers(0, 3),
       extra2=st.integers(0, 3))
def test_truncated_bptt_with_k_at_least_T_equals_full_bptt(kind, T, B, extra, extra2):
    cell, xs, ds = problem(kind, T, B)
    loss, full = full_bptt_grads(cell, xs, ds)
    k1 = T + extra
    result, trunc = tbptt_grads(cell, xs, ds, k1, k1 + extra2)
    assert result.windows == 1
    assert np.isclose(result.loss, loss, rtol=1e-12)
    for name in full:
        np.testing.assert_allclose(trunc[name], full[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cls", [ElmanCell, LSTMCell])
def test_truncated_bptt_with_k_at_least_T_reaches_a_learned_initial_state(cls):
    rng = np.random.default_rng(5)
    cell = cls(2, 3, 2, rng=rng, learn_initial_state=True)
    xs, ds = rng.normal(size=(4, 2, 2)), rng.normal(size=(4, 2, 2))
    loss, full = full_bptt_grads(cell, xs, ds)
    assert any(name.endswith("s_0") for name in full)
    _, trunc = tbptt_grads(cell, xs, ds, 4, 4)
    for name in full:
        np.testing.assert_allclose(trunc[name], full[name], rtol=1e-10, atol=1e-12, err_msg=name)


@settings(max_examples=budget(12))
@given(kind=st.sampled_from(sorted(CELLS)), T=st.integers(2, 7), k1=st.integers(1, 6))
def test_truncated_windows_reaching_back_to_the_start_sum_to_full_bptt(kind, T, k1):
    # With k2 − k1 >= T every window back-propagates to s_0, and without updates in between the window
    # gradients are ∂(Σ_{t in window} E_t)/∂θ; their sum is ∂E/∂θ.
    cell, xs, ds = problem(kind, T, 2)
    loss, full = full_bptt_grads(cell, xs, ds)
    result, trunc = tbptt_grads(cell, xs, ds, min(k1, T), min(k1, T) + T)
    assert result.windows == -(-T // min(k1, T))
    assert np.isclose(result.loss, loss, rtol=1e-12)
    for name in full:
        np.testing.assert_allclose(trunc[name], full[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_truncated_bptt_stops_the_gradient_at_each_window_start(kind):
    # k1 = k2 = 2 over T = 5: windows {1,2}, {3,4}, {5}, each started from the detached state.
    cell, xs, ds = problem(kind, 5, 2, seed=3)
    result, trunc = tbptt_grads(cell, xs, ds, 2, 2)
    _, full = full_bptt_grads(cell, xs, ds)
    cell.zero_grad()
    state = None
    for a, b in ((0, 2), (2, 4), (4, 5)):
        run = unroll(cell, xs[a:b], state)
        half_squared_error(run.outputs, ds[a:b]).backward()
        state = detached(run.final_state)
    assert result.windows == 3
    differs = False
    for name, p in cell.named_parameters().items():
        np.testing.assert_allclose(trunc[name], p.grad, rtol=1e-10, atol=1e-12, err_msg=name)
        differs = differs or not np.allclose(trunc[name], full[name], rtol=1e-6, atol=1e-9)
    assert differs, "a truncation shorter than T should change the gradient of a recurrent weight"


def detached(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_truncated_bptt_with_k2_above_k1_reaches_k2_steps_back(kind):
    # BPTT(k1=2, k2=3) over T = 6: the losses of steps 3..4 flow back to step 2 (from the detached
    # s_1), those of steps 5..6 back to step 4 (from the detached s_3).
    cell, xs, ds = problem(kind, 6, 2, seed=4)
    result, trunc = tbptt_grads(cell, xs, ds, 2, 3)
    with gradlab.no_grad():
        states = unroll(cell, xs).states
    states = states[-6:]
    cell.zero_grad()
    for (a, b), s0 in (((0, 2), None), ((1, 4), detached(states[0])), ((3, 6), detached(states[2]))):
        run = unroll(cell, xs[a:b], s0)
        n_loss = 2
        half_squared_error(run.outputs[-n_loss:], ds[b - n_loss:b]).backward()
    assert result.windows == 3
    for name, p in cell.named_parameters().items():
        np.testing.assert_allclose(trunc[name], p.grad, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_truncated_bptt_carries_the_state_forward_unchanged(kind):
    cell, xs, ds = problem(kind, 7, 2, seed=1)
    with gradlab.no_grad():
        full = unroll(cell, xs).final_state
    result = truncated_bptt(cell, xs, ds, half_squared_error, 3, 4)
    got = result.final_state if isinstance(result.final_state, tuple) else (result.final_state,)
    want = full if isinstance(full, tuple) else (full,)
    for g, w in zip(got, want):
        assert not g.requires_grad
        np.testing.assert_allclose(g.data, w.data, rtol=1e-12, atol=1e-14)


def test_truncated_bptt_with_an_optimiser_lowers_the_loss():
    cell, xs, ds = problem("elman", 12, 4, seed=2)
    ds = np.sin(np.cumsum(xs, axis=0)) * 0.5
    opt = Adam(cell.parameters(), lr=0.02)
    first = truncated_bptt(cell, xs, ds, half_squared_error, 4, optimizer=opt, clip_norm=5.0)
    for _ in range(60):
        last = truncated_bptt(cell, xs, ds, half_squared_error, 4, optimizer=opt, clip_norm=5.0)
    assert len(last.grad_norms) == 3
    assert last.loss < 0.7 * first.loss


def test_truncated_bptt_errors_say_what_is_wrong():
    cell, xs, ds = problem("elman", 4, 1)
    with pytest.raises(ValueError, match="k2=1 < k1=2"):
        truncated_bptt(cell, xs, ds, half_squared_error, 2, 1)
    with pytest.raises(ValueError, match="empty"):
        truncated_bptt(cell, xs[:0], ds[:0], half_squared_error, 2)
    with pytest.raises(ValueError, match="3 targets .* T=4"):
        truncated_bptt(cell, xs, ds[:3], half_squared_error, 2)
    with pytest.raises(ValueError, match="k1 must be a positive int"):
        truncated_bptt(cell, xs, ds, half_squared_error, 0)


# ------------------------------------------------------------------------------------ the loop
def linear_problem(seed=0):
    rng = np.random.default_rng(seed)
    w = gradlab.Parameter(rng.normal(size=(3,)), name="w")
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]

    def step(batch):
        xb, yb = batch
        return 0.5 * ((gradlab.tensor(xb) @ w - yb) ** 2).mean()

    return w, step, batches


def test_fit_records_every_step_and_lowers_the_loss():
    w, step, batches = linear_problem()
    hist = fit(step, batches, SGD([w], lr=0.2), epochs=20, progress=False)
    assert hist.steps == 80 and len(hist.grad_norms) == 80 and len(hist.epoch_losses) == 20
    assert hist.epoch_losses[-1] < 1e-3 * hist.epoch_losses[0]
    curve = hist.curve(5)
    assert [s for s, _ in curve] == [16, 32, 48, 64, 80]
    assert curve[-1][1] < curve[0][1]


def test_fit_stops_when_the_callback_says_so():
    w, step, batches = linear_problem()
    hist = fit(step, batches, SGD([w], lr=0.2), epochs=50, progress=False,
               callback=lambda i, loss, h: loss < 1e-2)
    assert hist.stopped_early
    assert hist.losses[-1] < 1e-2 and all(v >= 1e-2 for v in hist.losses[:-1])


def test_fit_accepts_steps_that_update_by_themselves():
    seen = []
    hist = fit(lambda b: seen.append(b) or float(b), range(5), progress=False, epochs=2)
    assert seen == [0, 1, 2, 3, 4] * 2 and hist.losses == [0.0, 1.0, 2.0, 3.0, 4.0] * 2


def test_fit_rejects_an_exhausted_iterator_with_a_hint():
    w, step, batches = linear_problem()
    with pytest.raises(ValueError, match="epoch 2 had no batches"):
        fit(step, iter(batches), SGD([w], lr=0.1), epochs=2, progress=False)


def test_train_step_returns_the_norm_before_clipping():
    w = gradlab.Parameter(np.array([3.0, 4.0]), name="w")
    opt = SGD([w], lr=1.0)
    norm = train_step((w * w).sum() * 0.5, opt, clip_norm=1.0)   # g = w, ‖g‖ = 5, clipped to 1
    assert np.isclose(norm, 5.0)
    np.testing.assert_allclose(w.data, [3.0 - 0.6, 4.0 - 0.8])


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_fit_progress_is_a_tqdm_bar_written_to_the_given_stream():
    out = io.StringIO()
    w, step, batches = linear_problem()
    fit(step, batches, SGD([w], lr=0.1), epochs=3, progress=True, stream=out, desc="demo")
    text = out.getvalue()
    final = text.split("\r")[-1]
    # tqdm's own layout: "desc: 100%|##########| n/total [elapsed<remaining, rate, postfix]"
    assert re.match(r"demo: 100%\|#+\| 12/12 \[\d\d:\d\d<\d\d:\d\d, .*step/s, loss [0-9.e+-]+\]", final), final
    assert "it/s]" not in text                  # the former hand-drawn bar's layout is gone


def test_fit_progress_uses_tqdm_auto(monkeypatch):
    import tqdm.auto

    made = []

    class Spy(tqdm.auto.tqdm):
        def __init__(self, *a, **k):
            made.append(k)
            super().__init__(*a, **k)

    monkeypatch.setattr(tqdm.auto, "tqdm", Spy)
    w, step, batches = linear_problem()
    fit(step, batches, SGD([w], lr=0.1), progress=False)
    assert len(made) == 1 and made[0]["total"] == 4 and made[0]["disable"] is True


def test_fit_progress_goes_to_stderr_only_on_a_terminal_by_default(monkeypatch, capsys):
    w, step, batches = linear_problem()
    fit(step, batches, SGD([w], lr=0.1), epochs=2)          # pytest's stderr is not a terminal: silent
    assert capsys.readouterr().err == ""
    tty = FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    fit(step, batches, SGD([w], lr=0.1), epochs=2, progress=True)
    assert "8/8" in tty.getvalue() and capsys.readouterr().out == ""


def test_progress_bar_alias_is_deprecated_and_draws_with_tqdm():
    out = FakeTTY()
    with pytest.warns(DeprecationWarning, match="progress_bar"):
        bar = ProgressBar(3, "x", stream=out, enabled=True)
    with bar:
        for _ in range(3):
            bar.update(1, "loss 1")
    text = out.getvalue()
    assert text.startswith("\r") and "3/3" in text and "loss 1" in text and bar.n == 3


def test_progress_bar_stays_silent_for_short_runs_and_when_disabled():
    for enabled in (None, False):
        out = FakeTTY()
        with pytest.warns(DeprecationWarning):
            bar = ProgressBar(100, stream=out, enabled=enabled)
        with bar:
            bar.update(100)
        assert out.getvalue() == ""
