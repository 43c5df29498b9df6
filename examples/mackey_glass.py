r"""Mackey–Glass (τ = 17) with an echo-state network, next to the published numbers, and against networks
trained by gradient descent on the same series: an Elman RNN and an LSTM (BPTT) and a time-delay
network reading the previous 10 samples (backpropagation, no recurrence), all with the same number of
units.

The series is gradlab's own (``gradlab.data.mackey_glass``: RK4 with step 0.1, sampled every time unit,
constant history 1.2), so the numbers are close to, not equal to, those measured on other generators.
Errors: RMSE, and NRMSE = RMSE / std(target) (Jaeger's normalisation; 1 = predicting the mean).

1. **One step ahead**, reservoirpy's README protocol: 2000 samples, the last 20 % for testing, 100
   units, spectral radius 1.25, leak rate 0.3, ridge 1e-5, warm-up 100. Reported there: RMSE 0.0020282,
   R² 0.99992.
2. **84 steps free-running** (Jaeger 2001, §6.4): 400 units, 3000 training steps after a washout,
   then the loop is closed (each prediction is the next input) and the error after 84 steps is taken
   over 20 test trials: NRMSE84 = sqrt(mean_trials (y₈₄ − d₈₄)²) / σ. Reported there: ≈ 2.8e-4.
3. **ESN vs BPTT vs a window**, one step ahead on the z-scored series (1600 training, 400 test steps),
   H units each: the ESN's readout by ridge regression (no gradient), Elman and LSTM by BPTT on windows
   of 50 steps (Adam), the TDNN (10 taps → H tanh units → 1) by backprop (Adam, full batch), and a
   linear 10-tap TDNN (a FIR filter) fitted by least squares. Times are wall-clock on a shared machine:
   compare them within one run.

Run:  python examples/mackey_glass.py [--units 50] [--steps 300] [--seed 0] [--free-units 400]
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads: matrices this small run faster on one BLAS thread
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import time

import numpy as np
from tqdm.auto import tqdm

import gradlab
from gradlab.data import mackey_glass, nrmse, r_squared, rmse
from gradlab.nn.cells import ElmanCell, LSTMCell
from gradlab.nn.losses import mse_half
from gradlab.nn.module import Dense
from gradlab.nn.optim import Adam
from gradlab.nn.reservoir import ReservoirCell, fit_readout, free_run, reservoir_states
from gradlab.nn.tdnn import TDNN
from gradlab.nn.train import fit
from gradlab.nn.unroll import unroll

__all__ = ["LITERATURE", "one_step_reservoirpy_protocol", "free_running_84", "compare_models", "train_bptt",
           "train_tdnn", "run", "main"]

LITERATURE = {"one_step_rmse": 0.0020282, "one_step_r2": 0.99992, "nrmse84": 2.8e-4}


def _bar(total: int, desc: str, progress):
    return tqdm(total=total, desc=desc, leave=False, disable=progress is False, mininterval=0.5)


def _tick(bar):
    """A ``fit`` callback that advances the progress bar and never stops training."""
    def callback(i, loss, history):
        bar.update(1)
        return False
    return callback


# ------------------------------------------------------------------------------ the ESN alone
def one_step_reservoirpy_protocol(*, units: int = 100, seed: int = 0) -> dict:
    """Return RMSE, NRMSE and R² of an ESN predicting the next sample (reservoirpy's README settings)."""
    x = mackey_glass(2000)
    u, d = x[:-1, None], x[1:, None]
    n_train = int(0.8 * len(u))
    cell = ReservoirCell(1, units, 1, spectral_radius=1.25, leak_rate=0.3, connectivity=0.1, rng=seed)
    t0 = time.perf_counter()
    fit_readout(cell, u[:n_train], d[:n_train], ridge=1e-5, washout=100)
    seconds = time.perf_counter() - t0
    states, _ = reservoir_states(cell, u)
    y = states[n_train:] @ cell.W_y.data.T + cell.b_y.data
    target = d[n_train:]
    return {"rmse": rmse(y, target), "nrmse": nrmse(y, target), "r2": r_squared(y, target), "seconds": seconds,
            "units": units}


def free_running_84(*, units: int = 400, n_train: int = 3000, trials: int = 20, seed: int = 0,
                    progress=None) -> dict:
    r"""Return NRMSE84: the ESN trained one step ahead on ``n_train`` steps, then run closed-loop from
    ``trials`` test points (each after 300 steps of the true series to set the state)."""
    x = mackey_glass(n_train + 500 + 400 + trials * 250 + 100, discard=500)
    u, d = x[:-1, None], x[1:, None]
    washout = 500
    cell = ReservoirCell(1, units, 1, spectral_radius=1.25, leak_rate=0.3, bias_scaling=0.5,
                         connectivity=min(1.0, 10 / units), rng=seed)
    t0 = time.perf_counter()
    fit_readout(cell, u[:washout + n_train], d[:washout + n_train], ridge=1e-10, washout=washout)
    seconds = time.perf_counter() - t0
    errors = []
    with _bar(trials, "free runs", progress) as bar:
        for k in range(trials):
            start = washout + n_train + 400 + 250 * k
            _, state = reservoir_states(cell, u[start - 300:start])
            y = free_run(cell, 84, state, first_input=u[start])      # y_84 predicts x[start + 84]
            errors.append(float(y[-1, 0] - x[start + 84]))
            bar.update(1)
    sigma = float(np.std(x))
    return {"nrmse84": float(np.sqrt(np.mean(np.square(errors)))) / sigma, "units": units, "n_train": n_train,
            "trials": trials, "seconds": seconds}


# ------------------------------------------------------------------------- the comparison
def _series(n: int = 2001):
    x = mackey_glass(n, discard=200)
    z = (x - x[:1600].mean()) / x[:1600].std()       # z-scored with the training part's statistics
    return z[:-1, None], z[1:, None]


def train_bptt(cell, u, d, *, n_train: int, steps: int, window: int = 50, batch: int = 32, washout: int = 10,
               lr: float = 3e-3, seed: int = 0, progress=None, desc: str = "BPTT"):
    r"""Train ``cell`` by BPTT on random windows of the training part (loss E = Σ_t ½(y_t − d_t)² over the
    steps after a ``washout``, averaged over the batch); return (seconds, updates)."""
    rng = np.random.default_rng(seed)
    opt = Adam(cell.parameters(), lr=lr)

    def step(_):
        starts = rng.integers(0, n_train - window, size=batch)
        xs = np.stack([u[s:s + window] for s in starts], axis=1)       # (window, batch, 1)
        ds = np.stack([d[s:s + window] for s in starts], axis=1)
        y = unroll(cell, xs, fused=True).output_sequence
        return mse_half(y[washout:], ds[washout:]) * (1.0 / batch)

    with _bar(steps, desc, progress) as bar:
        hist = fit(step, range(steps), opt, clip_norm=5.0, progress=False,
                   callback=_tick(bar))
    return hist.seconds, hist.steps


def predict_recurrent(cell, u) -> np.ndarray:
    """Return y_t for the whole series, the state carried from the first step."""
    with gradlab.no_grad():
        return unroll(cell, u, fused=True).output_sequence.data


def train_tdnn(layer: TDNN, readout: Dense, u, d, *, n_train: int, steps: int, lr: float = 1e-2,
               progress=None):
    r"""Train the TDNN and its linear readout by backprop on all training windows at once (full batch);
    return (seconds, updates). The prediction for d_t reads u_{t−k+1} … u_t."""
    k = layer.window
    opt = Adam(layer.parameters() + readout.parameters(), lr=lr)
    target = d[k - 1:n_train]

    def step(_):
        y = readout(layer(u[:n_train]))
        return mse_half(y, target) * (1.0 / len(target))

    with _bar(steps, "TDNN", progress) as bar:
        hist = fit(step, range(steps), opt, progress=False, callback=_tick(bar))
    return hist.seconds, hist.steps


def fit_fir(layer: TDNN, u, d) -> None:
    r"""Fit a linear TDNN with one output (a finite impulse response filter, d_t ≈ Σ_j w_j u_{t−j} + b) by
    least squares on the training windows and write its taps."""
    k, T = layer.window, len(u)
    X = np.stack([u[k - 1 - j:T - j, 0] for j in range(k)] + [np.ones(T - k + 1)], axis=1)
    coef, *_ = np.linalg.lstsq(X, d[k - 1:, 0], rcond=None)
    layer.set_weights(coef[:k].reshape(k, 1, 1), coef[k:])


def compare_models(*, units: int = 50, steps: int = 300, window: int = 10, seed: int = 0, progress=None) -> list:
    r"""Return rows {model, nrmse, seconds, trained, updates} for ESN, Elman, LSTM and TDNN on the same
    one-step-ahead task (see the module docstring)."""
    u, d = _series()
    n_train = 1600
    test = slice(n_train, len(u))
    rows = []
    esn = ReservoirCell(1, units, 1, spectral_radius=1.25, leak_rate=0.3, input_scaling=0.5, bias_scaling=0.5,
                        connectivity=min(1.0, 10 / units), rng=seed)
    t0 = time.perf_counter()
    fit_readout(esn, u[:n_train], d[:n_train], ridge=1e-8, washout=100)
    seconds = time.perf_counter() - t0
    states, _ = reservoir_states(esn, u)
    y = states @ esn.W_y.data.T + esn.b_y.data
    rows.append({"model": f"ESN ({units} units, ridge)", "nrmse": nrmse(y[test], d[test]), "seconds": seconds,
                 "trained": esn.W_y.size + esn.b_y.size, "updates": 0})
    for name, cell in (("Elman", ElmanCell(1, units, 1, rng=seed)),
                       ("LSTM", LSTMCell(1, units, 1, forget_bias=1.0, rng=seed))):
        seconds, n = train_bptt(cell, u, d, n_train=n_train, steps=steps, seed=seed, progress=progress,
                                desc=f"{name} BPTT")
        y = predict_recurrent(cell, u)
        rows.append({"model": f"{name} ({units} units, BPTT)", "nrmse": nrmse(y[test], d[test]), "seconds": seconds,
                     "trained": sum(p.size for p in cell.parameters()), "updates": n})
    fir = TDNN(1, 1, window, activation="identity", rng=seed, name="fir")
    t0 = time.perf_counter()
    fit_fir(fir, u[:n_train], d[:n_train])
    seconds = time.perf_counter() - t0
    with gradlab.no_grad():
        y = fir(u).data
    rows.append({"model": f"linear {window}-tap filter (lstsq)", "nrmse": nrmse(y[n_train - window + 1:], d[test]),
                 "seconds": seconds, "trained": window + 1, "updates": 0})
    layer = TDNN(1, units, window, rng=seed)
    readout = Dense(units, 1, weight_name="W_y", bias_name="b_y", name="readout", rng=seed)
    seconds, n = train_tdnn(layer, readout, u, d, n_train=n_train, steps=steps * 3, progress=progress)
    with gradlab.no_grad():
        y = readout(layer(u)).data                       # y[i] predicts d[i + window − 1]
    rows.append({"model": f"TDNN ({window} taps, {units} units)", "nrmse": nrmse(y[n_train - window + 1:], d[test]),
                 "seconds": seconds, "trained": sum(p.size for p in layer.parameters() + readout.parameters()),
                 "updates": n})
    return rows


def run(*, units: int = 50, steps: int = 300, seed: int = 0, free_units: int = 400, window: int = 10, out=print,
        progress=None) -> dict:
    """Run the three parts and print them; return their numbers."""
    one = one_step_reservoirpy_protocol(seed=seed)
    out("1. One step ahead, reservoirpy's protocol (100 units, sr 1.25, leak 0.3, ridge 1e-5, 1600/400 steps)")
    out(f"   gradlab:     RMSE {one['rmse']:.4g}   NRMSE {one['nrmse']:.3g}   R² {one['r2']:.5f}   "
        f"(readout fitted in {one['seconds']:.2f} s)")
    out(f"   reservoirpy: RMSE {LITERATURE['one_step_rmse']:.4g}                     R² {LITERATURE['one_step_r2']:.5f}"
        f"   (README; its own Mackey–Glass series)")
    free = free_running_84(units=free_units, seed=seed, progress=progress)
    out("")
    out(f"2. 84 steps free-running ({free['units']} units, {free['n_train']} training steps, {free['trials']} trials)")
    out(f"   gradlab:     NRMSE84 {free['nrmse84']:.2e}")
    out(f"   Jaeger 2001: NRMSE84 ≈ {LITERATURE['nrmse84']:.1e} (400 units, 3000 training steps)")
    rows = compare_models(units=units, steps=steps, window=window, seed=seed, progress=progress)
    out("")
    out(f"3. One step ahead on the same z-scored series, {units} units each (test: 400 steps)")
    out(f"   {'model':30} {'test NRMSE':>10} {'train s':>8} {'trained':>8} {'updates':>8}")
    for r in rows:
        out(f"   {r['model']:30} {r['nrmse']:10.2e} {r['seconds']:8.2f} {r['trained']:8d} {r['updates']:8d}")
    esn, elman, lstm = rows[0], rows[1], rows[2]
    out(f"   training the ESN took {esn['seconds'] / elman['seconds']:.3f} × the time of the Elman network and "
        f"{esn['seconds'] / lstm['seconds']:.3f} × that of the LSTM of the same size (no gradient through time)")
    out(f"   the {window}-sample window holds what one step ahead needs: the linear filter on it scores "
        f"{rows[3]['nrmse']:.1e}")
    return {"one_step": one, "free_run": free, "table": rows}


def main(argv=None) -> int:
    """Parse arguments and run the example; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=50, help="units of every model in the comparison (default 50)")
    ap.add_argument("--steps", type=int, default=300, help="BPTT updates of Elman and LSTM (TDNN: 3×; default 300)")
    ap.add_argument("--free-units", type=int, default=400, help="reservoir size of the free run (default 400)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    run(units=args.units, steps=args.steps, seed=args.seed, free_units=args.free_units)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
