"""Hessian-free optimisation: CG converges in as many steps as the matrix has distinct eigenvalues (a convex
quadratic, a least-squares network); λ moves the way the Levenberg–Marquardt rule says on planted good, middling
and bad steps; structural damping adds exactly λ μ c J_sᵀ J_s and shrinks the change of the hidden states; the
stored iterates, the warm start and the training loop do what the documentation says."""
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab import nn
from gradlab.curvature import gauss_newton_matrix
from gradlab.nn.hessian_free import FunctionObjective, HessianFree, Recorded, conjugate_gradient

from .strategies import budget


def _matrix_with_eigenvalues(eigs, rng):
    Q, _ = np.linalg.qr(rng.standard_normal((len(eigs), len(eigs))))
    return (Q * eigs) @ Q.T


@given(k=st.integers(1, 5), n=st.integers(5, 12), seed=st.integers(0, 2 ** 16))
@settings(max_examples=budget(20))
def test_cg_converges_in_as_many_steps_as_the_matrix_has_distinct_eigenvalues(k, n, seed):
    rng = np.random.default_rng(seed)
    distinct = rng.permutation(np.arange(1.0, 2.0 * k + 1.0, 2.0))[:k]      # k values, 2 apart, ≥ 1
    eigs = np.concatenate([distinct, rng.choice(distinct, n - k)])
    A = _matrix_with_eigenvalues(eigs, rng)
    b = rng.standard_normal(n)
    result = conjugate_gradient(lambda v: A @ v, b, max_iter=50, residual_tol=1e-10)
    assert result.stop == "residual" and result.iterations == k
    np.testing.assert_allclose(A @ result.x, b, atol=1e-8 * np.linalg.norm(b))


def _quadratic(eigs, rng):
    """E(θ) = ½‖C θ − d‖² with CᵀC having the eigenvalues ``eigs``: G = H = CᵀC."""
    n = len(eigs)
    C = np.diag(np.sqrt(eigs)) @ np.linalg.qr(rng.standard_normal((n, n)))[0].T
    d = rng.standard_normal(n)
    theta = gradlab.Parameter(rng.standard_normal(n), name="theta")

    def record():
        z = gradlab.matmul(gradlab.tensor(C), theta)
        r = z - d
        return Recorded(0.5 * (r * r).sum(), z, loss_name="mse_half")

    return theta, record, np.linalg.solve(C, d)


def test_an_undamped_hf_step_on_a_convex_quadratic_lands_on_the_minimum_after_as_many_cg_steps_as_eigenvalues():
    rng = np.random.default_rng(0)
    theta, record, minimum = _quadratic(np.repeat([1.0, 4.0, 9.0], [3, 3, 2]), rng)
    hf = HessianFree([theta], damping=0.0, lm_bounds=None, cg_decay=0.0)
    report = hf.step(FunctionObjective([theta], record))
    assert report.cg_iterations == 3 and report.cg_stop == "residual"
    np.testing.assert_allclose(theta.data, minimum, atol=1e-10)
    assert report.rho == pytest.approx(1.0, abs=1e-8)      # the model is E itself


def test_hf_on_a_least_squares_network_needs_d_plus_one_cg_steps_whatever_the_number_of_outputs():
    # y = W x + b: G = I_O ⊗ Σ_n [x_n; 1][x_n; 1]ᵀ has the D + 1 eigenvalues of that (D+1)×(D+1) matrix,
    # each O times, so CG is exact after D + 1 steps although there are O (D + 1) parameters
    rng = np.random.default_rng(1)
    N, D, O = 30, 3, 4
    X, Y = rng.standard_normal((N, D)), rng.standard_normal((N, O))
    layer = nn.Dense(D, O, rng=2)

    def record():
        y = layer(gradlab.tensor(X))
        return Recorded(nn.mse_half(y, Y), y, loss_name="mse_half")

    hf = HessianFree(layer, damping=0.0, lm_bounds=None, cg_decay=0.0)
    report = hf.step(FunctionObjective(layer, record))
    assert report.cg_iterations == D + 1
    Xb = np.hstack([X, np.ones((N, 1))])
    solution = np.linalg.lstsq(Xb, Y, rcond=None)[0]
    W, b = (layer.parameters_by_name()[n].data for n in ("W", "b"))
    np.testing.assert_allclose(np.hstack([W, b[:, None]]), solution.T, atol=1e-9)


class _Planted(FunctionObjective):
    """A quadratic whose reported loss at trial points is E0 + r (E(θ + δ) − E0): every step's reduction
    ratio is r (the model is exact, so ρ would be 1)."""

    def __init__(self, theta, record, r):
        super().__init__([theta], record)
        self.r = r

    def loss(self, values=None):
        E0, E = super().loss(), super().loss(values)
        return E0 + self.r * (E - E0)


@pytest.mark.parametrize("r, factor, accepted", [(1.0, 2 / 3, True), (0.5, 1.0, True), (0.1, 1.5, True),
                                                 (-1.0, 1.5, False)])
def test_damping_moves_the_way_the_reduction_ratio_says(r, factor, accepted):
    rng = np.random.default_rng(2)
    theta, record, _ = _quadratic(np.array([1.0, 2.0, 5.0, 7.0]), rng)
    before = theta.data.copy()
    hf = HessianFree([theta], damping=2.0, line_search=False)
    report = hf.step(_Planted(theta, record, r))
    assert report.rho == pytest.approx(r, rel=1e-6) if accepted else report.rho < 0
    assert hf.damping == pytest.approx(2.0 * factor)
    assert report.accepted is accepted
    assert np.array_equal(theta.data, before) is not accepted     # a rejected step leaves θ as it was


def _rnn(seed=0, B=6, T=5):
    rng = np.random.default_rng(seed)
    cell = nn.ElmanCell(2, 3, 1, rng=seed)
    xs, ds = rng.standard_normal((T, B, 2)), rng.standard_normal((T, B, 1))

    def record():
        run = nn.unroll(cell, xs, fused=True)
        return Recorded(nn.sequence_loss(run, ds) * (1.0 / B), run.output_sequence, run.hiddens, None, 1.0 / B)

    return cell, record, (xs, ds)


def _hidden_jacobian(cell, record, h=1e-6):
    """∂(all s_t, raveled)/∂θ by central differences (independent of forward mode)."""
    params = cell.parameters()
    cols = []
    for p in params:
        for idx in np.ndindex(*p.shape):
            out = []
            for sign in (1, -1):
                saved = p.data.copy()
                moved = saved.copy()
                moved[idx] += sign * h
                p.data = moved
                with gradlab.no_grad():
                    out.append(np.concatenate([s.data.ravel() for s in record().hiddens]))
                p.data = saved
            cols.append((out[0] - out[1]) / (2 * h))
    return np.stack(cols, axis=1)


def test_structural_damping_adds_lambda_mu_c_js_transpose_js_to_the_cg_matrix():
    cell, record, _ = _rnn()
    params = cell.parameters()
    rec = record()
    lam, mu, c = 0.7, 0.3, rec.scale
    hf = HessianFree(cell, damping=lam, structural_damping=mu)
    A = hf.curvature_product(rec)
    n = sum(p.size for p in params)
    A_columns = np.stack([A(e) for e in np.eye(n)], axis=1)
    G = gauss_newton_matrix(rec.loss, rec.outputs, params)
    Js = _hidden_jacobian(cell, record)
    np.testing.assert_allclose(A_columns, G + lam * np.eye(n) + lam * mu * c * Js.T @ Js, rtol=1e-6, atol=1e-8)


def test_more_structural_damping_changes_the_hidden_states_less():
    cell, record, _ = _rnn(seed=3)
    params = cell.parameters()
    Js = _hidden_jacobian(cell, record)
    changes = []
    for mu in (0.0, 0.3, 3.0, 30.0):
        rec = record()
        hf = HessianFree(cell, damping=0.5, structural_damping=mu, cg_max_iter=500, cg_tol=1e-12)
        _, grads = FunctionObjective(cell, record).gradient()
        g = np.concatenate([a.ravel() for a in grads])
        step = conjugate_gradient(hf.curvature_product(rec), -g, max_iter=500, tol=0.0, residual_tol=1e-12).x
        changes.append(float(np.linalg.norm(Js @ step)))
    assert changes == sorted(changes, reverse=True) and changes[-1] < 0.5 * changes[0], changes


def test_backtracking_takes_an_earlier_cg_iterate_when_later_ones_do_worse():
    rng = np.random.default_rng(4)
    theta, record, _ = _quadratic(np.linspace(1.0, 50.0, 12), rng)
    start = theta.data.copy()

    class LongStepsHurt(FunctionObjective):
        def loss(self, values=None):     # the true E plus a penalty on long steps: the final iterate overshoots
            E = super().loss(values)
            return E if values is None else E + 5.0 * float(np.sum((values[0] - start) ** 2)) ** 2

    hf = HessianFree([theta], damping=1e-3, cg_decay=0.0)
    report = hf.step(LongStepsHurt([theta], record))
    assert report.accepted and report.iterate < report.cg_iterations


def test_the_warm_start_begins_from_the_decayed_previous_solution():
    rng = np.random.default_rng(5)
    theta, record, _ = _quadratic(np.geomspace(1.0, 1e3, 80), rng)
    start = theta.data.copy()
    counts, reached = {}, {}
    for decay in (0.0, 0.95):
        hf = HessianFree([theta], damping=0.1, lm_bounds=None, cg_decay=decay)
        theta.data = start
        hf.step(FunctionObjective([theta], record))
        theta.data = start                  # the same system again: a warm start begins at 0.95 × its solution
        report = hf.step(FunctionObjective([theta], record))
        counts[decay], reached[decay] = report.cg_iterations, report.new_loss
    assert counts[0.95] < counts[0.0], counts
    assert reached[0.95] <= reached[0.0] * 1.05, reached


def test_hf_trains_through_fit_with_lambda_and_cg_iterations_in_the_progress_bar():
    cell, record, _ = _rnn(seed=6, B=8, T=6)
    hf = HessianFree(cell, damping=1.0, structural_damping=0.3)
    objective = FunctionObjective(cell, record)
    stream = io.StringIO()
    history = nn.fit(lambda _: hf.step(objective), range(6), progress=True, stream=stream)
    assert len(history.reports) == 6 and all(r.cg_iterations >= 1 for r in history.reports)
    assert history.losses[-1] < 0.8 * history.losses[0]
    assert "λ" in stream.getvalue() and "CG" in stream.getvalue()


def test_hessian_free_names_what_is_wrong_with_its_options():
    cell, record, _ = _rnn()
    with pytest.raises(ValueError, match="damping"):
        HessianFree(cell, damping=-1.0)
    with pytest.raises(ValueError, match="cg_decay"):
        HessianFree(cell, cg_decay=1.0)
    with pytest.raises(TypeError, match="Parameters"):
        HessianFree([np.ones(3)])
    rec = record()
    no_states = Recorded(rec.loss, rec.outputs)
    with pytest.raises(ValueError, match="hidden states"):
        HessianFree(cell, structural_damping=0.5).curvature_product(no_states)


def test_the_gradient_comes_from_the_whole_batch_and_the_curvature_from_the_smaller_one():
    rng = np.random.default_rng(7)
    cell = nn.ElmanCell(2, 3, 1, rng=7)
    xs, ds = rng.standard_normal((4, 12, 2)), rng.standard_normal((4, 12, 1))
    calls = {"whole": 0, "part": 0}

    def on(batch, who):
        def record():
            calls[who] += 1
            run = nn.unroll(cell, xs[:, :batch], fused=True)
            return Recorded(nn.sequence_loss(run, ds[:, :batch]) * (1.0 / batch), run.output_sequence, run.hiddens,
                            None, 1.0 / batch)
        return record

    hf = HessianFree(cell, structural_damping=0.1)
    hf.step(FunctionObjective(cell, on(12, "whole"), curvature_record=on(3, "part")))
    assert calls["part"] == 1                  # one recorded graph on 3 sequences serves every CG product
    assert calls["whole"] >= 2                 # the gradient and the trial losses on all 12
