r"""Time-delay networks: a fixed window over the last k inputs, read with the same weights at every
shift, against a recurrent state.

1. **The layer.** A TDNN layer is a 1-D convolution over time (checked against ``np.convolve``), built
   from k Dense taps W_0 … W_{k−1} called at every shift; the gradient of a tap is the sum of one
   contribution per shift (printed for W_0), as BPTT sums a shared recurrent weight over time steps.
   Stacked layers see k₁ + k₂ − 1 inputs.
2. **A task the window suffices for**: Mackey–Glass one step ahead from the previous 10 samples, in the
   same table as the ESN, the Elman RNN and the LSTM (the comparison of ``mackey_glass.py``, smaller).
3. **A dependency longer than the window.** Sequences of 25 steps: a marked ±1 sits L steps before the
   end, every other step is noise in ±0.5; the output at the last step must give the marker's sign.
   With L = 5 the marker is inside the TDNN's 10-step window, with L = 15 it is outside: no weights can
   make the window see it, while a state can carry it (ESN: ridge on the last state; Elman and LSTM:
   BPTT). Accuracy on 500 new sequences (chance 50 %).

``--figure PATH`` also writes the unfolded figure of a two-layer TDNN (shared taps coloured per delay).

Run:  python examples/tdnn_window.py [--seed 0] [--units 20] [--lags 5 15] [--figure tdnn.png]
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads: matrices this small run faster on one BLAS thread
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import importlib.util
import sys

import numpy as np
from tqdm.auto import tqdm

import gradlab
from gradlab.nn.cells import ElmanCell, LSTMCell
from gradlab.nn.losses import mse_half
from gradlab.nn.module import Dense
from gradlab.nn.optim import Adam
from gradlab.nn.reservoir import ReservoirCell, reservoir_states, ridge_readout
from gradlab.nn.tdnn import TDNN, receptive_field, tdnn_figure
from gradlab.nn.train import fit
from gradlab.nn.unroll import unroll

__all__ = ["LENGTH", "WINDOW", "layer_facts", "marker_batch", "window_vs_state", "mackey_glass_table", "run", "main"]

LENGTH, WINDOW = 25, 10
HERE = os.path.dirname(os.path.abspath(__file__))


def layer_facts(seed: int = 0) -> dict:
    r"""Return the three facts of part 1: the largest difference from ``np.convolve``, the per-shift
    contributions to ∂E/∂W_0 with their sum and ``W_0.grad``, and the receptive field of a (3, 5) stack."""
    rng = np.random.default_rng(seed)
    layer = TDNN(2, 3, 4, activation="identity", rng=seed)
    x = rng.normal(size=(12, 2))
    W, b = layer.weights(), layer.taps[0].bias.numpy()
    ref = np.stack([sum(np.convolve(x[:, d], W[:, h, d], mode="valid") for d in range(2)) + b[h] for h in range(3)],
                   axis=1)
    conv_diff = float(np.abs(layer(x).data - ref).max())
    times, outs = layer.unfold(x)
    E = mse_half(gradlab.stack(outs, axis=0), rng.normal(size=(len(outs), 3)))
    E.backward()
    W0 = layer.taps[0].weight
    parts = gradlab.contributions(E, W0)
    stack = (TDNN(16, 8, 3, rng=seed), TDNN(8, 3, 5, weight_name="V", bias_name="c", rng=seed))
    return {"conv_diff": conv_diff, "parts": parts, "sum_diff": float(np.abs(sum(parts.values()) - W0.grad).max()),
            "grad_norm": float(np.linalg.norm(W0.grad)), "receptive": receptive_field(*stack)}


def marker_batch(rng, n: int, lag: int, *, length: int = LENGTH, noise: float = 0.5):
    r"""Return (xs (length, n, 2), signs (n, 1)): channel 0 is noise in ±``noise`` with ±1 at step
    length − lag (``lag`` steps before the last), channel 1 flags that step."""
    if not 0 <= lag < length:
        raise ValueError(f"marker_batch: lag must lie in 0 .. {length - 1}, got {lag!r}")
    xs = np.zeros((length, n, 2))
    xs[:, :, 0] = rng.uniform(-noise, noise, (length, n))
    signs = rng.choice([-1.0, 1.0], size=n)
    xs[length - 1 - lag, :, 0] = signs
    xs[length - 1 - lag, :, 1] = 1.0
    return xs, signs[:, None]


def _train(model_out, params, lag: int, *, seed: int, updates: int, desc: str, progress) -> None:
    rng = np.random.default_rng(seed + 1)
    opt = Adam(params, lr=1e-2)

    def step(_):
        xs, d = marker_batch(rng, 32, lag)
        return mse_half(model_out(xs), d) * (1.0 / 32)

    with tqdm(total=updates, desc=desc, leave=False, disable=progress is False, mininterval=0.5) as bar:
        def tick(i, loss, history):
            bar.update(1)
            return False

        fit(step, range(updates), opt, clip_norm=5.0, progress=False, callback=tick)


def window_vs_state(lags=(5, 15), *, units: int = 20, updates: int = 400, n_ridge: int = 2000, seed: int = 0,
                    progress=None) -> dict:
    r"""Return {lag: {model: test accuracy}} for the TDNN (window 10), the ESN (its readout fitted on
    ``n_ridge`` sequences), the Elman RNN and the LSTM (``updates`` batches of 32 each)."""
    results = {}
    for lag in lags:
        rng = np.random.default_rng(seed + 100 * lag)
        xs, d = marker_batch(rng, n_ridge, lag)
        xt, dt = marker_batch(rng, 500, lag)
        row = {}
        layer = TDNN(2, units, WINDOW, rng=seed)
        head = Dense(units, 1, name="readout", rng=seed)
        _train(lambda x: head(layer(x))[-1], layer.parameters() + head.parameters(), lag, seed=seed,
               updates=updates, desc=f"TDNN L={lag}", progress=progress)
        with gradlab.no_grad():
            row["TDNN (window 10)"] = float(np.mean(np.sign(head(layer(xt)).data[-1]) == dt))
        esn = ReservoirCell(2, 50, 1, spectral_radius=0.9, input_scaling=0.1, rng=seed)
        S, _ = reservoir_states(esn, xs)
        W, b = ridge_readout(S[-1], d, ridge=1e-6)
        St, _ = reservoir_states(esn, xt)
        row["ESN (50 units, ridge)"] = float(np.mean(np.sign(St[-1] @ W.T + b) == dt))
        for name, cell in (("Elman (BPTT)", ElmanCell(2, units, 1, rng=seed)),
                           ("LSTM (BPTT)", LSTMCell(2, units, 1, forget_bias=2.0, rng=seed))):
            _train(lambda x, c=cell: unroll(c, x, fused=True, outputs="last").output, cell.parameters(), lag,
                   seed=seed, updates=updates, desc=f"{name.split()[0]} L={lag}", progress=progress)
            with gradlab.no_grad():
                y = unroll(cell, xt, fused=True, outputs="last").output.data
            row[name] = float(np.mean(np.sign(y) == dt))
        results[lag] = row
    return results


def mackey_glass_table(*, units: int = 20, steps: int = 200, seed: int = 0, progress=None) -> list:
    """Return the rows of ``examples/mackey_glass.py``'s comparison (ESN, Elman, LSTM, FIR, TDNN)."""
    name = "gradlab_example_mackey_glass"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "mackey_glass.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module.compare_models(units=units, steps=steps, window=WINDOW, seed=seed, progress=progress)


def run(*, lags=(5, 15), units: int = 20, updates: int = 400, mg_steps: int = 200, seed: int = 0,
        figure: str | None = None, out=print, progress=None) -> dict:
    """Run the three parts and print them (and write the figure if asked); return their numbers."""
    facts = layer_facts(seed)
    out("1. The TDNN layer")
    out(f"   equals a 1-D convolution: largest difference from np.convolve {facts['conv_diff']:.1e}")
    parts = "  ".join(f"t={t}: {np.linalg.norm(v):.3f}" for t, v in sorted(facts["parts"].items()))
    out(f"   dE/dW_0, one contribution per shift (norms): {parts}")
    out(f"   their sum is W_0.grad (norm {facts['grad_norm']:.3f}) to {facts['sum_diff']:.1e}")
    out(f"   two stacked layers with windows 3 and 5 see {facts['receptive']} inputs (3 + 5 − 1)")
    rows = mackey_glass_table(units=units, steps=mg_steps, seed=seed, progress=progress)
    out("")
    out(f"2. The window suffices: Mackey–Glass one step ahead, {units} units each (test NRMSE, 400 steps)")
    for r in rows:
        out(f"   {r['model']:32} {r['nrmse']:9.2e}   ({r['seconds']:.2f} s, {r['updates']} updates)")
    table = window_vs_state(lags, units=units, updates=updates, seed=seed, progress=progress)
    out("")
    out(f"3. A dependency longer than the window: the sign of a marker L steps before the end of {LENGTH} steps "
        f"(test accuracy, chance 50 %)")
    models = list(next(iter(table.values())))
    out("   " + f"{'':24}" + "".join(f"{'L = ' + str(lag) + (' (in window)' if lag < WINDOW else ' (beyond)'):>20}"
                                      for lag in lags))
    for m in models:
        out("   " + f"{m:24}" + "".join(f"{table[lag][m] * 100:19.1f}%" for lag in lags))
    path = None
    if figure:
        fig = tdnn_figure([TDNN(1, 2, 3, rng=seed), TDNN(2, 1, 2, weight_name="V", bias_name="c", rng=seed)], 7,
                          title="two TDNN layers: the taps W<SUB>j</SUB>, V<SUB>j</SUB> are shared by every shift")
        from gradlab.render import write

        path = str(write(fig, figure))
        out(f"wrote {path}")
    return {"facts": facts, "mackey_glass": rows, "marker": table, "figure": path}


def main(argv=None) -> int:
    """Parse arguments and run the example; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--units", type=int, default=20, help="units of every trained model (default 20)")
    ap.add_argument("--lags", type=int, nargs="+", default=[5, 15], help="marker lags (window: 10)")
    ap.add_argument("--updates", type=int, default=400, help="training batches per model on the marker task")
    ap.add_argument("--figure", default=None, help="also write the unfolded TDNN figure here (.png, .svg, .dot)")
    args = ap.parse_args(argv)
    run(lags=tuple(args.lags), units=args.units, updates=args.updates, seed=args.seed, figure=args.figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
