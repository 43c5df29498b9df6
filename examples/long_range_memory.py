r"""Long-range memory, measured: the notes say a plain RNN cannot bridge more than about 8–10 steps, while
LSTMs can. Here Elman, LSTM and GRU cells are trained on a task whose answer is the *first* input,
to be given after a lag of L steps of noise, for a range of L; the table reports how many seeds
succeed. Beside it, ‖∂E_T/∂s_t‖ for every t shows why: the gradient that must carry the first input
to the answer shrinks geometrically with the lag in a tanh RNN and much less in the gated cells.

The task (a noisy version of the "latch" problems of Bengio et al. 1994 and Hochreiter & Schmidhuber
1997): x_t = (v_t, f_t) with f_1 = 1 marking the first step and f_t = 0 after it; v_1 = ±1 is the
class, v_2 … v_{L+1} are uniform noise in [−1, 1] in the *same* channel. The network reads all L+1
steps and its last output y_{L+1} (two logits) must name the sign of v_1 (many-to-one, cross-entropy).
Chance is 50 %; a run *succeeds* when it classifies ≥ 90 % of 500 fresh sequences.

Every run: H = 8, SGD with momentum 0.9 (lr 0.1), global-norm clipping at 5, batches of 32, at most ``--max-batches``
batches with early stopping after 5 batches in a row at ≥ 97 % accuracy. The gated cells start with
their memory gates biased towards keeping (LSTM forget-gate bias and GRU update-gate bias
``--gate-bias``, 3 by default), the usual initialisation for long lags; the Elman cell has no gate.

The claim is about networks trained by gradient descent, so that is the default. ``--optimizer adam``
repeats the experiment with Adam (lr 0.03), whose per-parameter step sizes undo much of the shrinking
*scale* of a vanishing gradient: there the tanh RNN's limit moves to longer lags, at the price of many
more batches than the gated cells need (``--lags 5 10 20 40`` shows it).

Run:  python examples/long_range_memory.py [--seed 0] [--seeds 3] [--lags 5 10 20] [--optimizer adam]
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads: matrices this small run faster on one BLAS thread
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import time

import numpy as np

import gradlab
from gradlab.nn.analysis import gradient_norms
from gradlab.nn.cells import ElmanCell, GRUCell, LSTMCell
from gradlab.nn.losses import softmax_cross_entropy
from gradlab.nn.optim import Adam, Momentum
from gradlab.nn.train import fit
from gradlab.nn.unroll import unroll

__all__ = ["KINDS", "OPTIMIZERS", "make_batch", "build", "train_one", "accuracy", "success_table", "gradient_table", "run",
           "main"]

KINDS = ("Elman", "LSTM", "GRU")


def make_batch(rng: np.random.Generator, lag: int, batch: int, noise: float = 1.0):
    r"""Return (xs, labels): xs (lag+1, batch, 2) with the class sign and a start flag at t = 1 and noise
    after it; labels (batch,) in {0, 1} (the sign of v_1)."""
    labels = rng.integers(0, 2, size=batch)
    xs = np.zeros((lag + 1, batch, 2))
    xs[:, :, 0] = rng.uniform(-noise, noise, size=(lag + 1, batch))
    xs[0, :, 0] = 2.0 * labels - 1.0
    xs[0, :, 1] = 1.0
    return xs, labels


def build(kind: str, hidden: int = 8, seed: int = 0, gate_bias: float = 3.0):
    """Return a fresh cell of ``kind`` ("Elman", "LSTM", "GRU") with 2 inputs and 2 output logits."""
    rng = np.random.default_rng(seed)
    if kind == "Elman":
        return ElmanCell(2, hidden, 2, rng=rng)
    if kind == "LSTM":
        return LSTMCell(2, hidden, 2, forget_bias=gate_bias, rng=rng)
    if kind == "GRU":
        cell = GRUCell(2, hidden, 2, rng=rng)
        cell.b_x.data[hidden:2 * hidden] = gate_bias        # z-rows (gate order r, z, n): keep s_{t-1}
        return cell
    raise ValueError(f"long_range_memory: unknown cell kind {kind!r}; choose one of {KINDS}")


def accuracy(cell, xs, labels) -> float:
    """Return the fraction of sequences whose last output names the right class."""
    with gradlab.no_grad():
        y = unroll(cell, xs, fused=True, outputs="last").output.data
    return float(np.mean(np.argmax(y, axis=-1) == labels))


OPTIMIZERS = {
    "adam": lambda params, lr: Adam(params, lr=0.03 if lr is None else lr),
    "sgd": lambda params, lr: Momentum(params, lr=0.1 if lr is None else lr, momentum=0.9),
}


def train_one(kind: str, lag: int, seed: int, *, hidden: int = 8, max_batches: int = 250, gate_bias: float = 3.0,
              optimizer: str = "sgd", lr: float | None = None, batch: int = 32):
    """Train one cell on lag ``lag``; return (cell, test accuracy, batches used)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"long_range_memory: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    cell = build(kind, hidden, seed, gate_bias)
    rng = np.random.default_rng(1000 * seed + lag)
    opt = OPTIMIZERS[optimizer](cell.parameters(), lr)
    streak = [0]

    def step(_):
        xs, labels = make_batch(rng, lag, batch)
        y = unroll(cell, xs, fused=True, outputs="last").output
        acc = np.mean(np.argmax(y.data, axis=-1) == labels)
        streak[0] = streak[0] + 1 if acc >= 0.97 else 0
        return softmax_cross_entropy(y, labels, reduction="mean")

    hist = fit(step, range(max_batches), opt, clip_norm=5.0, progress=False,
               callback=lambda i, loss, h: streak[0] >= 5)
    xs, labels = make_batch(np.random.default_rng(99_999 + lag), lag, 500)
    return cell, accuracy(cell, xs, labels), hist.steps


def success_table(lags, seeds, *, kinds=KINDS, out=print, **kwargs):
    """Train every kind at every lag with every seed, print the success table; return (table, trained cells).

    ``table[kind][lag]`` is a list of (test accuracy, batches) per seed; ``trained[kind]`` is (cell, test
    accuracy) of the best seed at the longest lag.
    """
    table = {k: {} for k in kinds}
    trained = {}
    out(f"{'lag L':>6} " + " ".join(f"{k:>16}" for k in kinds) + "   (successes/seeds, mean batches, mean test acc.)")
    for lag in lags:
        cells = []
        for kind in kinds:
            runs = []
            for seed in seeds:
                cell, acc, n = train_one(kind, lag, seed, **kwargs)
                runs.append((acc, n))
                if lag == max(lags) and (kind not in trained or acc > trained[kind][1]):
                    trained[kind] = (cell, acc)
            table[kind][lag] = runs
            wins = sum(acc >= 0.9 for acc, _ in runs)
            batches = np.mean([n for _, n in runs])
            mean_acc = np.mean([acc for acc, _ in runs])
            cells.append(f"{wins}/{len(runs)} {batches:4.0f}b {mean_acc * 100:3.0f}%")
        out(f"{lag:6d} " + " ".join(f"{c:>16}" for c in cells))
    return table, trained


def gradient_table(cells: dict, lag: int, title: str, *, seed: int = 0, out=print) -> dict:
    r"""Print ‖∂E_T/∂s_{T−k}‖ / ‖∂E_T/∂s_T‖ for k steps back, one row per cell; return {kind: {t: norm}}.

    ``cells`` maps a kind to a cell, or to (cell, row label).
    """
    xs, labels = make_batch(np.random.default_rng(seed + 7), lag, 64)
    T = lag + 1
    backs = [k for k in (0, 1, 2, 5, 10, 20, 40, 60, 80, 120, 160) if k < T]
    if backs[-1] != T - 1:
        backs.append(T - 1)
    out(f"{title}: ||dE_T/ds_(T-k)|| / ||dE_T/ds_T|| on lag-{lag} sequences (T = {T}; k = T-1 is s_1)")
    out(f"{'k steps back':>13} " + " ".join(f"{k:>8d}" for k in backs))
    curves = {}
    for kind, entry in cells.items():
        cell, label = entry if isinstance(entry, tuple) else (entry, kind)
        norms = gradient_norms(cell, xs, labels, loss="softmax_cross_entropy")
        curves[kind] = norms
        top = norms[T] if norms[T] > 0 else 1.0
        out(f"{label:>13} " + " ".join(f"{norms[T - k] / top:8.1e}" for k in backs))
    return curves


def run(seed: int = 0, seeds: int = 3, lags=(5, 10, 20), hidden: int = 8, max_batches: int = 250,
        gate_bias: float = 3.0, optimizer: str = "sgd", lr: float | None = None, out=print) -> dict:
    """Run the experiment and print both tables; return {"table", "init_norms", "trained_norms", "seconds"}."""
    t0 = time.perf_counter()
    seed_list = list(range(seed, seed + seeds))
    opt_name = {"adam": "Adam", "sgd": "SGD with momentum 0.9"}.get(optimizer, optimizer)
    out(f"First-input recall after L steps of noise; H={hidden}, {opt_name}, seeds {seed_list}, at most "
        f"{max_batches} batches of 32; success = test accuracy >= 90% (chance 50%)")
    table, trained = success_table(list(lags), seed_list, hidden=hidden, max_batches=max_batches,
                                   gate_bias=gate_bias, optimizer=optimizer, lr=lr, out=out)
    out("")
    fresh = {k: build(k, hidden, seed, gate_bias) for k in KINDS}
    init_norms = gradient_table(fresh, max(lags), "at initialisation", seed=seed, out=out)
    out("")
    best = {k: (cell, f"{k} {acc * 100:3.0f}%") for k, (cell, acc) in trained.items()}
    trained_norms = gradient_table(best, max(lags), f"after training at L={max(lags)} (best seed, its test acc.)",
                                   seed=seed, out=out)
    out("(for the LSTM, s_t is the hidden output o_t * tanh(c_t); its memory c_t is not in this table)")
    seconds = time.perf_counter() - t0
    other = "adam" if optimizer == "sgd" else "sgd"
    out(f"\n({seconds:.1f} s; rerun with --optimizer {other} to compare the optimiser's part in the limit)")
    return {"table": table, "init_norms": init_norms, "trained_norms": trained_norms, "seconds": seconds}


def main(argv=None) -> int:
    """Parse arguments and run the experiment; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per cell and lag (default 3)")
    ap.add_argument("--lags", type=int, nargs="+", default=[5, 10, 20], help="lags L (default 5 10 20)")
    ap.add_argument("--hidden", type=int, default=8, help="hidden units (default 8)")
    ap.add_argument("--max-batches", type=int, default=250, help="training budget per run (default 250)")
    ap.add_argument("--gate-bias", type=float, default=3.0, help="LSTM forget / GRU update gate bias (default 3)")
    ap.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd",
                    help="sgd (momentum 0.9, lr 0.1; default: the setting of the classic claim) or adam (lr 0.03)")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: per optimizer)")
    args = ap.parse_args(argv)
    run(seed=args.seed, seeds=args.seeds, lags=args.lags, hidden=args.hidden, max_batches=args.max_batches,
        gate_bias=args.gate_bias, optimizer=args.optimizer, lr=args.lr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
