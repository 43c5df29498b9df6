r"""Time-series prediction, many-to-many: an Elman RNN reads a noisy sine wave one sample at a time and,
at every step, predicts the next *clean* sample.

Each sequence is x_t = sin(ω t + φ) + ε_t with a random frequency ω, phase φ and noise ε_t ~ N(0, σ²);
the target is d_t = sin(ω (t+1) + φ). One number in, one number out, at every step (synchronous
many-to-many), trained with the lecture's loss E = Σ_t ½ (y_t − d_t)², averaged over the batch.

The network must do two things a single-step rule cannot: average out the noise and infer ω and φ
from what it has seen so far. The printout compares its error with two baselines: repeating the
last noisy sample, and the best linear predictor from the last 3 samples (least squares).

Run:  python examples/sine_wave.py [--seed 0] [--steps 600] [--noise 0.1]
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
from gradlab.nn.cells import ElmanCell
from gradlab.nn.losses import sequence_loss
from gradlab.nn.optim import Adam
from gradlab.nn.train import fit
from gradlab.nn.unroll import unroll

__all__ = ["make_batch", "build", "train", "predict", "baselines", "run", "main"]


def make_batch(rng: np.random.Generator, batch: int, T: int = 40, noise: float = 0.1):
    r"""Return (xs, ds, clean): noisy samples (T, B, 1), next clean samples (T, B, 1) and the clean wave (T+1, B)."""
    omega = rng.uniform(0.15, 0.45, size=batch)
    phi = rng.uniform(0, 2 * np.pi, size=batch)
    t = np.arange(T + 1)[:, None]
    clean = np.sin(omega * t + phi)
    xs = (clean[:-1] + noise * rng.normal(size=(T, batch)))[..., None]
    return xs, clean[1:, :, None], clean


def build(hidden: int = 16, seed: int = 0) -> ElmanCell:
    """Return an Elman cell with one input, ``hidden`` tanh units and one linear output."""
    return ElmanCell(1, hidden, 1, rng=np.random.default_rng(seed))


def predict(cell: ElmanCell, xs) -> np.ndarray:
    """Return the predictions y_t, shape (T, B, 1)."""
    with gradlab.no_grad():
        return unroll(cell, xs, fused=True).output_sequence.data


def train(cell: ElmanCell, *, steps: int = 600, batch: int = 32, T: int = 40, noise: float = 0.1, lr: float = 0.01,
          seed: int = 0, progress=None):
    """Train on fresh random waves every step; return the History (loss per step, per sequence)."""
    rng = np.random.default_rng(seed + 1)
    opt = Adam(cell.parameters(), lr=lr)

    def step(_):
        xs, ds, _ = make_batch(rng, batch, T, noise)
        net = unroll(cell, xs, fused=True)
        return sequence_loss(net.output_sequence, ds, "mse_half") * (1.0 / batch)

    return fit(step, range(steps), opt, clip_norm=10.0, progress=progress, desc="sine")


def baselines(xs, ds, warmup: int) -> dict:
    """Return the mean squared errors of 'repeat the last sample' and of a 3-tap linear predictor fitted by
    least squares on these very waves (a generous baseline: it sees the test targets)."""
    x, d = xs[..., 0], ds[..., 0]
    last = float(np.mean((x[warmup:] - d[warmup:]) ** 2))
    rows = np.stack([x[2:].ravel(), x[1:-1].ravel(), x[:-2].ravel(), np.ones(x[2:].size)], axis=1)
    target = d[2:].ravel()
    coef, *_ = np.linalg.lstsq(rows, target, rcond=None)
    pred = (rows @ coef).reshape(x[2:].shape)
    linear = float(np.mean((pred[warmup - 2:] - d[warmup:]) ** 2))
    return {"repeat last sample": last, "linear, 3 taps (least squares)": linear}


def run(seed: int = 0, steps: int = 600, hidden: int = 16, noise: float = 0.1, T: int = 40, out=print,
        progress=None) -> dict:
    """Train, then print the test error against the baselines and one predicted wave; return the numbers."""
    cell = build(hidden, seed)
    t0 = time.perf_counter()
    hist = train(cell, steps=steps, T=T, noise=noise, seed=seed, progress=progress)
    out(f"Elman RNN H={hidden}, {hist.steps} batches of 32 noisy waves (T={T}, noise sigma={noise}) "
        f"in {time.perf_counter() - t0:.1f} s")
    out("loss E/sequence = sum_t 1/2 (y_t - d_t)^2: " + "  ".join(f"{s}:{v:.3f}" for s, v in hist.curve(6)))
    xs, ds, clean = make_batch(np.random.default_rng(10_000 + seed), 500, T, noise)
    ys = predict(cell, xs)
    warmup = 5
    mse = float(np.mean((ys[warmup:] - ds[warmup:]) ** 2))
    out("")
    out(f"test mean squared error per step (500 new waves, steps {warmup + 1}..{T}):")
    out(f"  {'Elman RNN':34} {mse:.4f}")
    base = baselines(xs, ds, warmup)
    for name, value in base.items():
        out(f"  {name:34} {value:.4f}")
    out(f"  {'noise variance sigma^2 (for scale)':34} {noise ** 2:.4f}")
    out("")
    out("one test wave: '.' noisy input x_t, 'o' target d_t = next clean sample, '*' prediction y_t "
        "('@' where o and * meet)")
    width = 41
    for t in range(0, T, 2):
        line = [" "] * width
        col = lambda v: int(round((np.clip(v, -1.5, 1.5) + 1.5) / 3.0 * (width - 1)))  # noqa: E731
        line[col(xs[t, 0, 0])] = "."
        line[col(ds[t, 0, 0])] = "o"
        c = col(ys[t, 0, 0])
        line[c] = "@" if line[c] == "o" else "*"
        out(f"  t={t + 1:2d} |{''.join(line)}|  d={ds[t, 0, 0]:+.2f} y={ys[t, 0, 0]:+.2f}")
    return {"history": hist, "mse": mse, "baselines": base}


def main(argv=None) -> int:
    """Parse arguments and run the example; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=600, help="training batches (default 600)")
    ap.add_argument("--hidden", type=int, default=16, help="hidden units (default 16)")
    ap.add_argument("--noise", type=float, default=0.1, help="noise standard deviation (default 0.1)")
    args = ap.parse_args(argv)
    run(seed=args.seed, steps=args.steps, hidden=args.hidden, noise=args.noise)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
