r"""Sequence classification, many-to-one: a GRU reads a noisy waveform sample by sample and, after the
last sample only, says which of four shapes it was: sine, square, triangle or sawtooth.

Each sequence has a random period (8 to 20 samples), phase and amplitude, plus Gaussian noise, so no
single sample gives the class away: the network must gather the shape over time in its state. Only
the last output is scored (y_T: four logits, cross-entropy), so the whole gradient enters at t = T
and reaches the early steps through BPTT alone.

Run:  python examples/sequence_classification.py [--seed 0] [--steps 300]
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
from gradlab.nn.cells import GRUCell
from gradlab.nn.losses import softmax_cross_entropy
from gradlab.nn.optim import Adam
from gradlab.nn.train import fit
from gradlab.nn.unroll import unroll

__all__ = ["CLASSES", "make_batch", "build", "train", "classify", "run", "main"]

CLASSES = ("sine", "square", "triangle", "sawtooth")


def _wave(kind: int, phase: np.ndarray) -> np.ndarray:
    """The unit-amplitude waveform ``kind`` at phases measured in periods."""
    frac = phase % 1.0
    if kind == 0:
        return np.sin(2 * np.pi * frac)
    if kind == 1:
        return np.where(frac < 0.5, 1.0, -1.0)
    if kind == 2:
        return 4 * np.abs(frac - 0.5) - 1
    return 2 * frac - 1


def make_batch(rng: np.random.Generator, batch: int, T: int = 30, noise: float = 0.2):
    """Return (xs, labels): noisy waveforms (T, B, 1) and their class indices (B,)."""
    labels = rng.integers(0, len(CLASSES), size=batch)
    period = rng.uniform(8, 20, size=batch)
    phase0 = rng.uniform(0, 1, size=batch)
    amp = rng.uniform(0.5, 1.0, size=batch)
    t = np.arange(T)[:, None]
    phases = phase0 + t / period
    xs = np.empty((T, batch))
    for k in range(len(CLASSES)):
        cols = labels == k
        xs[:, cols] = amp[cols] * _wave(k, phases[:, cols])
    xs += noise * rng.normal(size=xs.shape)
    return xs[..., None], labels


def build(hidden: int = 16, seed: int = 0) -> GRUCell:
    """Return a GRU with one input, ``hidden`` units and one logit per class."""
    return GRUCell(1, hidden, len(CLASSES), rng=np.random.default_rng(seed))


def classify(cell: GRUCell, xs) -> np.ndarray:
    """Return the predicted class of each sequence in ``xs`` (T, B, 1)."""
    with gradlab.no_grad():
        y = unroll(cell, xs, fused=True, outputs="last").output.data
    return np.argmax(y, axis=-1)


def train(cell: GRUCell, *, steps: int = 300, batch: int = 32, T: int = 30, lr: float = 0.02, seed: int = 0,
          progress=None):
    """Train on fresh random waveforms; return the History (mean cross-entropy per sequence per step)."""
    rng = np.random.default_rng(seed + 1)
    opt = Adam(cell.parameters(), lr=lr)

    def step(_):
        xs, labels = make_batch(rng, batch, T)
        y_T = unroll(cell, xs, fused=True, outputs="last").output
        return softmax_cross_entropy(y_T, labels, reduction="mean")

    return fit(step, range(steps), opt, clip_norm=5.0, progress=progress, desc="classify")


def run(seed: int = 0, steps: int = 300, hidden: int = 16, T: int = 30, n_test: int = 1000, out=print,
        progress=None) -> dict:
    """Train, then print the accuracy and the confusion matrix on new sequences; return the numbers."""
    cell = build(hidden, seed)
    t0 = time.perf_counter()
    hist = train(cell, steps=steps, T=T, seed=seed, progress=progress)
    out(f"GRU H={hidden}, {hist.steps} batches of 32 waveforms of T={T} samples in {time.perf_counter() - t0:.1f} s")
    out("loss (cross-entropy of y_T): " + "  ".join(f"{s}:{v:.3f}" for s, v in hist.curve(6))
        + f"   (chance: ln 4 = {np.log(4):.3f})")
    xs, labels = make_batch(np.random.default_rng(20_000 + seed), n_test, T)
    pred = classify(cell, xs)
    acc = float(np.mean(pred == labels))
    out("")
    out(f"test accuracy on {n_test} new sequences: {acc * 100:.1f}%  (chance 25%)")
    out(f"confusion matrix (rows: true class, columns: predicted)")
    out(f"{'':>10} " + " ".join(f"{c:>9}" for c in CLASSES))
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    for k, name in enumerate(CLASSES):
        out(f"{name:>10} " + " ".join(f"{n:9d}" for n in confusion[k]))
    short = {}
    for t_read in (5, 10, 20):
        if t_read < T:
            short[t_read] = float(np.mean(classify(cell, xs[:t_read]) == labels))
    if short:
        out("reading only the first samples (same network, output after step t): "
            + ", ".join(f"t={t}: {a * 100:.0f}%" for t, a in short.items()) + f", t={T}: {acc * 100:.0f}%")
    return {"history": hist, "accuracy": acc, "confusion": confusion, "prefix_accuracy": short}


def main(argv=None) -> int:
    """Parse arguments and run the example; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=300, help="training batches (default 300)")
    ap.add_argument("--hidden", type=int, default=16, help="GRU units (default 16)")
    args = ap.parse_args(argv)
    run(seed=args.seed, steps=args.steps, hidden=args.hidden)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
