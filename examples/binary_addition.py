r"""The lecture's toy problem: an Elman RNN learns to add two binary numbers, one bit per time step,
least significant bit first, and then adds numbers far longer than any it saw in training, exactly.

At step t the input is x_t = (a_t, b_t), the t-th bits of the two numbers, and the target d_t is the
t-th bit of a + b. One extra step with x = (0, 0) reads out the final carry. The network must find
the carry on its own and keep it in s_t:

    s_t = tanh(W_x x_t + W_s s_{t-1} + b_s),   y_t = W_y s_t + b_y (two logits: bit 0 / bit 1),
    E = Σ_t −log softmax(y_t)[d_t]

Training uses only numbers of up to ``--train-bits`` bits; the table then adds random numbers of
many more bits. Since the rule (sum bit = a ⊕ b ⊕ carry) is the same at every step, a network that
has learnt it with clean, saturated states applies it to any length.

Run:  python examples/binary_addition.py [--seed 0] [--hidden 6] [--steps 1500]
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

__all__ = ["make_batch", "to_bits", "from_bits", "build", "train", "evaluate", "run", "main"]


def to_bits(numbers, n_bits: int) -> np.ndarray:
    """Return the bits of non-negative integers as a (n_bits, len(numbers)) 0/1 array, LSB first."""
    numbers = np.asarray(numbers, dtype=object)
    return np.array([[(int(v) >> i) & 1 for v in numbers] for i in range(n_bits)], dtype=np.int64)


def from_bits(bits) -> list:
    """Return the integers whose LSB-first bits are the rows of ``bits`` (shape (T, B))."""
    bits = np.asarray(bits)
    return [sum(int(bits[i, j]) << i for i in range(bits.shape[0])) for j in range(bits.shape[1])]


def make_batch(rng: np.random.Generator, n_bits: int, batch: int):
    r"""Return (xs, ds, a, b): inputs (n_bits+1, batch, 2) of bits a_t, b_t (a final (0, 0) step), target
    bits (n_bits+1, batch) of a + b, and the Python integers a, b."""
    a = [int(v) for v in rng.integers(0, 2, size=(batch, n_bits)) @ (1 << np.arange(n_bits, dtype=object))]
    b = [int(v) for v in rng.integers(0, 2, size=(batch, n_bits)) @ (1 << np.arange(n_bits, dtype=object))]
    T = n_bits + 1
    xs = np.stack([to_bits(a, T), to_bits(b, T)], axis=-1).astype(np.float64)
    ds = to_bits([x + y for x, y in zip(a, b)], T)
    return xs, ds, a, b


def build(hidden: int = 6, seed: int = 0) -> ElmanCell:
    """Return an Elman cell with 2 inputs, ``hidden`` tanh units and 2 output logits."""
    return ElmanCell(2, hidden, 2, rng=np.random.default_rng(seed))


def predict(cell: ElmanCell, xs) -> np.ndarray:
    """Return the predicted sum bits (T, B) for inputs ``xs`` (T, B, 2)."""
    with gradlab.no_grad():
        net = unroll(cell, xs, fused=True)
        logits = net.output_sequence.data
    return np.argmax(logits, axis=-1)


def train(cell: ElmanCell, *, steps: int = 1500, train_bits: int = 8, batch: int = 32, lr: float = 0.03,
          seed: int = 0, patience: int = 150, progress=None):
    r"""Train ``cell`` on random numbers of 1..``train_bits`` bits; return the :class:`~gradlab.nn.train.History`.

    Stops early once ``patience`` consecutive batches are added exactly (every bit of every sum).
    """
    rng = np.random.default_rng(seed + 1)
    opt = Adam(cell.parameters(), lr=lr)
    streak = [0]

    def step(i):
        n_bits = int(rng.integers(1, train_bits + 1))
        xs, ds, _, _ = make_batch(rng, n_bits, batch)
        net = unroll(cell, xs, fused=True)
        loss = sequence_loss(net.output_sequence, ds, "softmax_cross_entropy", reduction="mean")
        exact = bool(np.all(np.argmax(net.output_sequence.data, axis=-1) == ds))
        streak[0] = streak[0] + 1 if exact and n_bits >= train_bits // 2 else (0 if not exact else streak[0])
        return loss

    return fit(step, range(steps), opt, clip_norm=5.0, progress=progress, desc="binary addition",
               callback=lambda i, loss, h: streak[0] >= patience)


def evaluate(cell: ElmanCell, lengths=(4, 8, 16, 32, 64, 128, 256), n: int = 500, seed: int = 123) -> list:
    """Return rows (bits, exact-sum accuracy, bit accuracy) on ``n`` random additions per length."""
    rng = np.random.default_rng(seed)
    rows = []
    for n_bits in lengths:
        xs, ds, a, b = make_batch(rng, n_bits, n)
        bits = predict(cell, xs)
        sums = from_bits(bits)
        exact = float(np.mean([s == x + y for s, x, y in zip(sums, a, b)]))
        rows.append((n_bits, exact, float(np.mean(bits == ds))))
    return rows


def run(seed: int = 0, hidden: int = 6, steps: int = 1500, train_bits: int = 8,
        lengths=(4, 8, 16, 32, 64, 128, 256), n_test: int = 500, patience: int = 150, out=print,
        progress=None) -> dict:
    """Train and evaluate, print the accuracy table by length; return {"rows", "history", "example"}."""
    cell = build(hidden, seed)
    t0 = time.perf_counter()
    hist = train(cell, steps=steps, train_bits=train_bits, seed=seed, patience=patience, progress=progress)
    train_s = time.perf_counter() - t0
    out(f"Elman RNN, H={hidden}, trained on numbers of at most {train_bits} bits: {hist.steps} batches of 32 "
        f"in {train_s:.1f} s ({'stopped early: ' + str(patience) + ' exactly added batches in a row' if hist.stopped_early else 'no early stop'})")
    out("loss (mean cross-entropy per bit): " + "  ".join(f"{s}:{v:.3f}" for s, v in hist.curve(6)))
    rows = evaluate(cell, lengths, n_test)
    out("")
    out(f"{'bits':>5} {'exact sums':>11} {'bit accuracy':>13}   ({n_test} random additions per length)")
    for n_bits, exact, bit_acc in rows:
        mark = "  <- longer than any training number" if n_bits > train_bits else ""
        out(f"{n_bits:5d} {exact * 100:10.1f}% {bit_acc * 100:12.2f}%{mark}")
    rng = np.random.default_rng(seed + 7)
    a, b = int(rng.integers(1 << 40, 1 << 41)), int(rng.integers(1 << 40, 1 << 41))
    T = max(a, b).bit_length() + 1
    xs = np.stack([to_bits([a], T), to_bits([b], T)], axis=-1).astype(np.float64)
    got = from_bits(predict(cell, xs))[0]
    out("")
    out(f"example: {a} + {b} = {got} ({'correct' if got == a + b else 'WRONG, true sum ' + str(a + b)}), "
        f"{T} steps")
    return {"rows": rows, "history": hist, "example": (a, b, got)}


def main(argv=None) -> int:
    """Parse arguments and run the example; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=6, help="hidden units (default 6)")
    ap.add_argument("--steps", type=int, default=1500, help="at most this many training batches (default 1500)")
    ap.add_argument("--train-bits", type=int, default=8, help="longest training numbers in bits (default 8)")
    args = ap.parse_args(argv)
    run(seed=args.seed, hidden=args.hidden, steps=args.steps, train_bits=args.train_bits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
