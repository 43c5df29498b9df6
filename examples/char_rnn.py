r"""Character-level text generation, the notes' script generator in miniature: an LSTM reads a text one
character at a time, learns to predict the next one, and then writes new text by sampling.

Training uses *sequence batching*: the text is cut into B equally long streams that are read side
by side (one column of the batch each), so every step is one (B, V) matrix product instead of B
vector products. It uses *truncated BPTT*: the streams are walked k1 characters at a time, the loss
of each window is back-propagated through the last k2 ≥ k1 steps, and the LSTM state (s, c) is
carried on to the next window detached. The loss is the mean cross-entropy per character, in nats
(log V for a uniform guess).

The default text is the Zen of Python, which every Python install carries in the stdlib module
``this`` (rot13-encoded; it is read from the module's file, not imported, so nothing is printed);
``--text FILE`` trains on any UTF-8 file instead.

Run:  python examples/char_rnn.py [--seed 0] [--epochs 150] [--text FILE]
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads: matrices this small run faster on one BLAS thread
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import ast
import codecs
import importlib.util
import time

import numpy as np

import gradlab
from gradlab.nn.cells import LSTMCell
from gradlab.nn.losses import sequence_loss
from gradlab.nn.optim import Adam
from gradlab.nn.train import fit, truncated_bptt

__all__ = ["zen_text", "Vocabulary", "batch_streams", "build", "train", "sample", "run", "main"]


def zen_text() -> str:
    """Return the Zen of Python, decoded from the source file of the stdlib module ``this``."""
    spec = importlib.util.find_spec("this")
    if spec is None or not spec.origin:
        raise FileNotFoundError("char_rnn: the stdlib module 'this' was not found; pass --text FILE")
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=spec.origin)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "s" for t in node.targets):
            return codecs.decode(ast.literal_eval(node.value), "rot13")
    raise ValueError(f"char_rnn: {spec.origin} has no assignment 's = \"...\"' holding the Zen text")


class Vocabulary:
    """The characters of a text, each with an index; encodes strings and one-hot rows."""

    def __init__(self, text: str):
        if not text:
            raise ValueError("Vocabulary: the text is empty")
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Return the indices of the characters of ``text``."""
        try:
            return np.array([self.index[c] for c in text], dtype=np.int64)
        except KeyError as e:
            raise ValueError(f"Vocabulary: character {e.args[0]!r} is not in the training text") from None

    def decode(self, ids) -> str:
        """Return the string for a sequence of indices."""
        return "".join(self.chars[int(i)] for i in ids)

    def one_hot(self, ids) -> np.ndarray:
        """Return one-hot rows: shape ``ids.shape + (V,)``."""
        return np.eye(len(self.chars))[np.asarray(ids)]


def batch_streams(ids: np.ndarray, batch: int):
    r"""Return (inputs, targets) of shapes (L, B) for B streams read side by side: stream b is the
    b-th contiguous slice of the text, and targets are the inputs shifted by one character."""
    L = (len(ids) - 1) // batch
    if L < 2:
        raise ValueError(f"batch_streams: a text of {len(ids)} characters is too short for {batch} streams")
    xs = ids[: L * batch].reshape(batch, L).T
    ds = ids[1: L * batch + 1].reshape(batch, L).T
    return xs, ds


def build(vocab_size: int, hidden: int = 64, seed: int = 0) -> LSTMCell:
    """Return an LSTM with one-hot inputs and ``vocab_size`` output logits (forget-gate bias 1)."""
    return LSTMCell(vocab_size, hidden, vocab_size, forget_bias=1.0, rng=np.random.default_rng(seed))


def train(cell: LSTMCell, vocab: Vocabulary, text: str, *, epochs: int = 150, batch: int = 16, k1: int = 25,
          k2: int | None = None, lr: float = 0.01, clip_norm: float = 5.0, progress=None):
    r"""Train by truncated BPTT over B batched streams; return (History of mean loss per character per
    epoch, characters processed)."""
    xs_ids, ds = batch_streams(vocab.encode(text), batch)
    xs = vocab.one_hot(xs_ids)                          # (L, B, V)
    opt = Adam(cell.parameters(), lr=lr)

    def loss_fn(outputs, targets):
        return sequence_loss(outputs, targets, "softmax_cross_entropy", reduction="mean")

    def epoch(_):
        r = truncated_bptt(cell, xs, ds, loss_fn, k1, k2, optimizer=opt, clip_norm=clip_norm, fused=True)
        return r.loss / r.windows                      # mean of the windows' per-character losses

    hist = fit(epoch, range(epochs), progress=progress, desc="char-rnn")
    return hist, epochs * xs_ids.size


def sample(cell: LSTMCell, vocab: Vocabulary, prime: str, n: int, *, temperature: float = 0.7, rng=None) -> str:
    r"""Return ``prime`` followed by ``n`` characters drawn one at a time from softmax(y_t / temperature)."""
    rng = np.random.default_rng(0) if rng is None else rng
    with gradlab.no_grad():
        state = None
        ids = list(vocab.encode(prime))
        for i in ids[:-1]:
            state = cell.step(vocab.one_hot(i), cell.initial_state() if state is None else state)
        out = []
        last = ids[-1]
        for _ in range(n):
            state = cell.step(vocab.one_hot(last), cell.initial_state() if state is None else state)
            z = cell.output(cell.hidden(state)).data / temperature
            p = np.exp(z - z.max())
            last = int(rng.choice(len(p), p=p / p.sum()))
            out.append(last)
    return prime + vocab.decode(out)


def run(seed: int = 0, text: str | None = None, hidden: int = 64, epochs: int = 150, batch: int = 16, k1: int = 25,
        k2: int | None = None, lr: float = 0.01, n_sample: int = 300, prime: str = "Beautiful", out=print,
        progress=None) -> dict:
    """Train on ``text`` (the Zen of Python by default), print the loss curve, speed and a sample;
    return {"history", "chars_per_second", "sample", "vocab"}."""
    text = zen_text() if text is None else text
    vocab = Vocabulary(text)
    cell = build(len(vocab), hidden, seed)
    out(f"text: {len(text)} characters, {len(vocab)} distinct; LSTM H={hidden}, {batch} streams, "
        f"truncated BPTT k1={k1} k2={k1 if k2 is None else k2}, Adam lr={lr}")
    out(f"uniform guess: {np.log(len(vocab)):.3f} nats per character")
    t0 = time.perf_counter()
    hist, chars = train(cell, vocab, text, epochs=epochs, batch=batch, k1=k1, k2=k2, lr=lr, progress=progress)
    seconds = time.perf_counter() - t0
    out("loss (nats/char) by epoch: " + "  ".join(f"{e}:{v:.3f}" for e, v in hist.curve(8)))
    out(f"trained on {chars} characters in {seconds:.1f} s: {chars / seconds:,.0f} characters (tokens) per second "
        f"(forward + backward + update)")
    prime = prime if all(c in vocab.index for c in prime) else text[:1]
    generated = sample(cell, vocab, prime, n_sample, rng=np.random.default_rng(seed + 1))
    out("")
    out(f"sample (temperature 0.7, primed with {prime!r}):")
    out(generated)
    return {"history": hist, "chars_per_second": chars / seconds, "sample": generated, "vocab": vocab}


def main(argv=None) -> int:
    """Parse arguments and run the example; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--text", metavar="FILE", help="train on this UTF-8 text file (default: the Zen of Python)")
    ap.add_argument("--hidden", type=int, default=64, help="LSTM units (default 64)")
    ap.add_argument("--epochs", type=int, default=150, help="passes over the text (default 150)")
    ap.add_argument("--batch", type=int, default=16, help="streams read side by side (default 16)")
    ap.add_argument("--k1", type=int, default=25, help="steps per truncated-BPTT window (default 25)")
    ap.add_argument("--k2", type=int, default=None, help="steps back-propagated per window (default k1)")
    ap.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    ap.add_argument("--sample", type=int, default=300, help="characters to generate (default 300)")
    args = ap.parse_args(argv)
    text = None
    if args.text:
        with open(args.text, encoding="utf-8") as f:
            text = f.read()
    run(seed=args.seed, text=text, hidden=args.hidden, epochs=args.epochs, batch=args.batch, k1=args.k1,
        k2=args.k2, lr=args.lr, n_sample=args.sample)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
