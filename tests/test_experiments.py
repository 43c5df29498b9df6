"""The comparison harness (first-order and objective optimisers through one loop, Hessian-free with structural
damping in its third row, a method that cannot run reported honestly) and the clipping cliff (vectorised surface
vs the engine, clipped vs unclipped steps)."""
from dataclasses import dataclass

import numpy as np
import pytest

import gradlab
from gradlab.data import AddingProblem, TemporalOrderProblem
from gradlab.nn.cliff import cliff_error, cliff_gradient, cliff_loss, descend, gradient_profile
from gradlab.nn.experiments import (NOT_AVAILABLE, Method, Objective, ObjectiveOptimizer, build_model, compare,
                                    standard_methods, train_run)
from gradlab.nn.optim import SGD, Adam


def _methods():
    sgd, clipped, hf, lstm = standard_methods(hidden=16)
    return sgd, clipped, hf, lstm


# ------------------------------------------------------------------------------------------ an objective optimiser
@dataclass
class Report:
    loss: float
    step_size: float


class LineSearchDescent:
    """A small objective optimiser for the tests: a gradient step whose size is halved until the loss falls
    (it uses only what a Hessian-free optimiser uses: the loss at trial points and the gradient)."""

    needs_objective = True

    def __init__(self, params, step_size=1.0):
        self.params = params
        self.step_size = step_size

    def step(self, objective):
        E, grads = objective.gradient()
        eta = self.step_size
        while eta > 1e-6:
            trial = [p.data - eta * g for p, g in zip(objective.params, grads)]
            if objective.loss(trial) < E:
                for p, v in zip(objective.params, trial):
                    p.data = v
                break
            eta /= 2
        return Report(E, eta)


def test_an_objective_optimiser_plugs_into_the_harness_and_its_reports_are_logged():
    problem = AddingProblem(11)
    method = Method("Elman + line search", lambda p: LineSearchDescent(p), hidden=8, batch_size=20, curvature_batch=5)
    assert isinstance(LineSearchDescent([]), ObjectiveOptimizer)
    r = train_run(problem, method, seed=0, max_updates=60, eval_every=60, val_size=50, test_size=50)
    assert r.status in ("solved", "not solved") and r.updates == 60 and len(r.reports) == 60
    assert all(isinstance(rep, Report) and np.isfinite(rep.loss) for rep in r.reports)
    assert r.history.losses == [rep.loss for rep in r.reports]      # the loop logged each report's loss
    fixed = problem.sample(200, rng=99)
    untrained = build_model(problem, method, seed=0)
    before, after = untrained.record(fixed).loss.item(), r.model.record(fixed).loss.item()
    assert after < 0.5 * before                                     # and the optimiser made progress


def test_the_third_row_is_hessian_free_with_structural_damping_and_logs_lambda_and_cg_iterations():
    from gradlab.nn.hessian_free import HessianFree, HFReport

    hf = standard_methods(hidden=8, hf_batch_size=40, hf_curvature_batch=10)[2]
    assert hf.available and hf.curvature_batch == 10 and "structural damping mu=0.3" in hf.settings
    opt = hf.optimizer(build_model(AddingProblem(11), hf).parameters())
    assert isinstance(opt, HessianFree) and opt.structural_damping == 0.3 and isinstance(opt, ObjectiveOptimizer)
    r = train_run(AddingProblem(11), hf, seed=0, max_updates=5, eval_every=5, val_size=20, test_size=20)
    assert len(r.reports) == 5 and r.sequences == 5 * 40
    assert all(isinstance(rep, HFReport) and rep.cg_iterations >= 1 for rep in r.reports)
    assert r.history.losses == [rep.loss for rep in r.reports]


def test_hessian_free_solves_the_adding_problem_at_t_11_in_ci_time():
    # the small version of the comparison's third row: H = 16, 100 sequences per step, curvature on 20
    hf = standard_methods(hidden=16, hf_batch_size=100, hf_curvature_batch=20)[2]
    r = train_run(AddingProblem(11), hf, seed=2, max_updates=400, eval_every=10, val_size=200, test_size=500)
    assert r.solved and r.test_error <= 0.01, (r.stop, r.test_error)


def test_an_objective_optimiser_cannot_be_combined_with_the_loops_clipping():
    method = Method("x", lambda p: LineSearchDescent(p), hidden=4, clip_norm=1.0)
    with pytest.raises(ValueError, match="clip inside the optimiser"):
        train_run(AddingProblem(11), method, max_updates=1)


def test_objective_gives_the_loss_elsewhere_without_moving_the_parameters_and_the_gradient_without_grad():
    problem = TemporalOrderProblem(15)
    model = build_model(problem, Method("m", lambda p: SGD(p, lr=0.1), hidden=4), seed=1)
    batch = problem.sample(12, rng=0)
    obj = Objective(model, batch, curvature_size=5)
    before = [p.data.copy() for p in obj.params]
    E, grads = obj.gradient()
    assert all(p.grad is None for p in obj.params)
    rec = model.record(batch)
    rec.loss.backward()
    for p, g in zip(obj.params, grads):
        np.testing.assert_allclose(g, p.grad, rtol=1e-12, atol=1e-15)
    shifted = [v - 0.5 * g for v, g in zip(before, grads)]
    assert obj.loss(shifted) != pytest.approx(E)
    for p, v in zip(obj.params, before):
        np.testing.assert_array_equal(p.data, v)
    assert obj.loss() == pytest.approx(E, rel=1e-12)
    curv = obj.curvature()
    assert curv.batch.size == 5 and curv.record().outputs.shape == (5, 4)
    rec = obj.record()
    assert rec.loss_name == "softmax_cross_entropy" and rec.scale == pytest.approx(1 / 12)
    assert len(rec.unrolled.hiddens) == batch.inputs.shape[0]
    with pytest.raises(ValueError, match="2 arrays for"):
        obj.loss(before[:2])


# ------------------------------------------------------------------------------------------ the first-order rows
def test_a_method_that_cannot_run_is_reported_not_yet_available_and_never_trained():
    absent = Method("Elman + something new", unavailable="needs what issue 99 adds")
    assert not absent.available
    c = compare("adding", [11], [absent], seeds=[0, 1], progress=False)
    assert [r.status for r in c.results] == [NOT_AVAILABLE, NOT_AVAILABLE]
    assert all(r.seconds == 0 and r.history is None for r in c.results)
    assert NOT_AVAILABLE in c.table() and NOT_AVAILABLE in c.summary()
    assert c.success_rate(absent.name, 11) is None


def test_the_small_comparison_solves_temporal_order_with_clipping_hessian_free_and_the_lstm():
    sgd, clipped, hf, lstm = standard_methods()
    c = compare("temporal_order", [15], [clipped, hf, lstm], seeds=[0], max_updates=1500, eval_every=25,
                val_size=200, test_size=500, progress=False)
    for m in (clipped, hf, lstm):
        (run,) = c.runs(m.name, 15)
        assert run.solved and run.test_error <= 0.01
        assert run.sequences == run.updates * m.batch_size and run.history.steps == run.updates
    assert c.reached(lstm.name) == 15
    lines = c.table().splitlines()
    assert lines[0].startswith("| T | Elman + SGD + clipping | Elman + Hessian-free | LSTM + Adam")
    assert lines[2].startswith("| 15 | 1/1, ") and lines[2].count("1/1, ") == 3


def test_a_run_that_blows_up_is_reported_as_diverged_not_raised():
    wild = Method("Elman + SGD, lr 1e6", lambda p: SGD(p, lr=1e6), hidden=8)
    r = train_run(AddingProblem(11), wild, seed=0, max_updates=200, eval_every=50, val_size=50, test_size=50)
    assert r.status == "diverged" and r.updates < 200 and "loss inf" in r.stop
    assert r.test_error is None


def test_compare_stops_climbing_after_a_T_that_no_seed_solved():
    starved = Method("LSTM + Adam, 2 updates", lambda p: Adam(p, lr=0.01), cell="lstm", hidden=4)
    c = compare("adding", [11, 20, 30], [starved], seeds=[0, 1], max_updates=2, eval_every=1, val_size=20,
                test_size=20, progress=False)
    assert {r.T for r in c.results} == {11}
    assert "no seed solved T = 11" in c.stopped[starved.name]
    assert c.reached(starved.name) is None and "solved none of the T it tried" in c.summary()
    assert c.cell(starved, 20) == "-"


def test_methods_reject_bad_settings_by_name():
    with pytest.raises(ValueError, match="cell must be one of"):
        Method("x", lambda p: SGD(p, lr=0.1), cell="gru")
    with pytest.raises(TypeError, match="optimizer must be a function"):
        Method("x")
    with pytest.raises(ValueError, match="curvature_batch=80 is larger"):
        Method("x", lambda p: SGD(p, lr=0.1), curvature_batch=80)
    with pytest.raises(ValueError, match="max_updates must be a positive int"):
        train_run(AddingProblem(11), _methods()[0], max_updates=0)
    with pytest.raises(TypeError, match="neither a gradlab.nn.optim.Optimizer nor an objective optimiser"):
        train_run(AddingProblem(11), Method("x", lambda p: object()), max_updates=1)


# ------------------------------------------------------------------------------------------ the cliff
def test_the_vectorised_cliff_surface_equals_the_engines_recorded_network():
    points = [(4.5, -3.0), (4.6, -2.32), (6.0, -3.3), (3.0, -1.25), (5.0, 0.0)]
    grid = cliff_error(np.array([w for w, _ in points]), np.array([b for _, b in points]))
    for (w, b), fast in zip(points, grid):
        E = cliff_loss(gradlab.Tensor(np.array(w)), gradlab.Tensor(np.array(b)))
        assert fast == pytest.approx(float(E.item()), rel=1e-12, abs=1e-300)


def test_the_engines_cliff_gradient_matches_central_differences():
    for w, b in [(4.5, -3.0), (3.5, -1.0), (6.0, -2.0)]:
        E, gw, gb = cliff_gradient(w, b)
        h = 1e-6
        fw = (cliff_error(w + h, b) - cliff_error(w - h, b)) / (2 * h)
        fb = (cliff_error(w, b + h) - cliff_error(w, b - h)) / (2 * h)
        assert E == pytest.approx(float(cliff_error(w, b)), rel=1e-12)
        np.testing.assert_allclose([gw, gb], [fw, fb], rtol=1e-5, atol=1e-9)


def test_on_the_wall_an_unclipped_step_jumps_far_and_a_clipped_one_is_at_most_lr_times_the_threshold():
    start, lr = (4.5, -3.0), 0.1
    free = descend(start, lr=lr, steps=120)
    clipped = descend(start, lr=lr, steps=120, clip=0.5)
    assert clipped.longest_step <= lr * 0.5 * (1 + 1e-12) and clipped.clipped > 0
    assert free.longest_step > 100 * clipped.longest_step            # the cliff's gradient
    assert clipped.errors[-1] < 0.01 < free.errors[-1]               # clipped descends, unclipped is thrown off
    np.testing.assert_array_equal(free.points[:10], clipped.points[:10])   # the same path before the wall
    with pytest.raises(ValueError, match="start must be a finite pair"):
        descend((1.0,), lr=0.1, steps=3)


def test_an_exploding_elman_profile_grows_back_in_time_and_clipping_scales_every_step_alike():
    p = gradient_profile(T=30, spectral_radius=3.0, threshold=1.0, seed=0)
    assert p.growth > 100 and list(p.times) == list(range(1, 31))
    assert p.scale == pytest.approx(1.0 / p.grad_norm)
    np.testing.assert_allclose(p.clipped / p.norms, p.scale)
    tame = gradient_profile(T=30, spectral_radius=0.5, threshold=1.0, seed=0)
    assert tame.growth < 1e-3                                        # contracting: it vanishes instead


# ------------------------------------------------------------------------------------------ figures
def test_the_training_figures_are_slides(tmp_path):
    from PIL import Image

    from gradlab.render import plots
    from gradlab.render.training import cliff_figure, comparison_figure, gradient_profile_figure

    W, B = np.meshgrid(np.linspace(3, 7, 40), np.linspace(-4, 0.5, 40))
    paths = [descend((4.5, -3.0), lr=0.1, steps=60), descend((4.5, -3.0), lr=0.1, steps=60, clip=0.5)]
    fig = cliff_figure(W, B, cliff_error(W, B), paths, title="cliff")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("throws it off the plot" in t for t in texts) and any("the cliff" in t for t in texts)
    out = [plots.save(fig, tmp_path / "cliff.png"),
           plots.save(gradient_profile_figure(gradient_profile(T=10)), tmp_path / "profile.png")]
    c = compare("adding", [11], [_methods()[2]], seeds=[0], max_updates=200, progress=False)
    out.append(plots.save(comparison_figure(c), tmp_path / "comparison.png"))
    for path in out:
        with Image.open(path) as im:
            assert im.size == (1280, 720)
