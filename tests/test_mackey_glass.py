"""The Mackey–Glass generator (gradlab.data) and the error measures: the equilibrium stays put, the
integration converges as the step shrinks, τ = 17 gives the bounded chaotic series of the literature,
seeds reproduce, bad arguments are refused; NRMSE and R² are normalised as documented."""
import numpy as np
import pytest

from gradlab.data import mackey_glass, nrmse, one_step_pairs, r_squared, rmse


def test_the_equilibrium_history_stays_at_the_fixed_point():
    # a x / (1 + x^n) = b x at x = (a/b − 1)^(1/n) = 1 for a = 0.2, b = 0.1
    x = mackey_glass(200, x0=1.0)
    assert np.max(np.abs(x - 1.0)) < 1e-14


def test_the_integration_converges_as_the_step_shrinks():
    ref = mackey_glass(200, dt=0.00625, sample_every=0.1, discard=60)
    errors = [np.max(np.abs(mackey_glass(200, dt=dt, sample_every=0.1, discard=60) - ref))
              for dt in (0.1, 0.05, 0.025)]
    assert errors[0] < 1e-4
    assert errors[1] < errors[0] / 3 and errors[2] < errors[1] / 3      # at least second order


def test_tau_17_gives_a_bounded_aperiodic_series_in_the_usual_range():
    x = mackey_glass(3000, discard=200)
    assert 0.2 < x.min() and x.max() < 1.45 and 0.18 < x.std() < 0.28
    # chaotic, not periodic: the series does not repeat itself after any lag up to 500 steps
    gaps = [np.max(np.abs(x[lag:lag + 1000] - x[:1000])) for lag in range(1, 500)]
    assert min(gaps) > 0.01
    shorter = mackey_glass(30, tau=2.0)                                  # τ = 2: a stable fixed point
    assert np.abs(np.diff(mackey_glass(100, tau=2.0, discard=300))).max() < 1e-6 < np.abs(np.diff(shorter)).max()


def test_a_seeded_history_reproduces_and_another_seed_gives_another_trajectory():
    a, b, c = mackey_glass(300, rng=1), mackey_glass(300, rng=1), mackey_glass(300, rng=2)
    assert np.array_equal(a, b)
    assert np.max(np.abs(a - c)) > 0.05


@pytest.mark.parametrize("kwargs,match", [
    ({"tau": 17.05}, "whole positive multiple of dt"),
    ({"dt": 0.0}, "dt must be > 0"),
    ({"tau": -1.0}, "tau must be > 0"),
    ({"sample_every": 0.25}, "sample_every must be a whole positive multiple"),
    ({"discard": -5.0}, "discard must be >= 0"),
    ({"tau": 0.1}, "at least 2 steps"),
    ({"a": "0.2"}, "a must be a finite number"),
])
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        mackey_glass(10, **kwargs)
    with pytest.raises(ValueError, match="n_samples"):
        mackey_glass(0)


def test_one_step_pairs_shift_the_series_by_the_horizon():
    x = np.arange(10.0)
    u, d = one_step_pairs(x, horizon=3)
    assert u.shape == d.shape == (7, 1) and np.array_equal(d - u, np.full((7, 1), 3.0))
    with pytest.raises(ValueError, match="too few"):
        one_step_pairs(x[:2], horizon=2)


def test_nrmse_is_the_rmse_over_the_standard_deviation_and_r2_is_one_minus_its_square():
    rng = np.random.default_rng(0)
    d = rng.normal(size=200) * 3.0
    y = d + rng.normal(size=200) * 0.3
    assert nrmse(np.full_like(d, d.mean()), d) == pytest.approx(1.0)     # the mean predictor scores 1
    assert nrmse(y, d) == pytest.approx(rmse(y, d) / d.std())
    assert r_squared(y, d) == pytest.approx(1 - nrmse(y, d) ** 2)
    assert nrmse(d, d) == 0.0
    with pytest.raises(ValueError, match="shape"):
        nrmse(y[:-1], d)
    with pytest.raises(ValueError, match="empty"):
        rmse([], [])
    with pytest.raises(ValueError, match="constant"):
        nrmse(y, np.ones_like(d))
