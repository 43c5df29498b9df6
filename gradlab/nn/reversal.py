r"""The classic toy comparison for attention: reverse (or copy) a string of digits with an
encoder–decoder, with and without attention, and score it free-running on strings it never saw.

Task. A string :math:`x_1 \dots x_L` of digits 0–9 (length L drawn from ``lengths``, 10–20 by default)
is read by the encoder as one-hot rows; the decoder must write :math:`x_L \dots x_1` (``"reverse"``)
or :math:`x_1 \dots x_L` (``"copy"``). Strings of one batch are padded at the end to the longest and
masked (the encoder's final state is taken at each string's last digit, attention ignores the padding,
the loss counts only real digits). The decoder writes exactly L digits; there is no end symbol.

Models (:func:`build`): an Elman (tanh) encoder and decoder of the same hidden size H; the decoder reads
the previous digit as a one-hot row of 11 features (10 digits and the start symbol ``GO``) and scores
the 10 digits (:math:`y_t = W_y s_t + b_y`, softmax cross-entropy). Variants (:data:`VARIANTS`):
``"none"`` (the decoder starts from the encoder's final state and sees nothing else), ``"additive"``
(Bahdanau's score, query :math:`s_{t-1}`, context into the step), ``"dot"`` (dot-product score in the
same wiring: the model of the literature point below) and ``"luong"`` (dot score, query :math:`s_t`,
context into the output).

Measurement (:func:`evaluate`). Training is teacher-forced (the decoder reads the true previous digit);
testing is **free-running**: the decoder reads its own previous prediction (greedy), as it must when
no answer is known. Reported: token accuracy (right digits / all digits) and sequence accuracy (strings
with every digit right) on held-out strings (none of them in the training set). ``teacher=p`` gives the
other protocols for comparison: each step reads the true digit with probability p (one coin per step for
the whole batch, as in the literature's evaluation), ``teacher=1`` always.

Literature point: zhihanyang2022/min-char-seq2seq (commit 835e638, ``src/seq2seq.py``, ``src/train.py``,
``src/networks.py``): tanh ``nn.RNN`` encoder/decoder, embedding 300, hidden 1024, dot-product attention
with the previous decoder state as query and the context concatenated to the decoder input; 500
training strings of 20 digits, 10 test strings; Adam lr 1e-4, gradient norm clipped to 1 per module;
150 epochs of batches of 32. Final test token accuracy 0.938 with attention, 0.581 without, measured with
50 % random teacher forcing per step, over 10 strings × (20 digits + end symbol) = 210 tokens.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..engine.context import no_grad
from ..engine.tensor import Tensor
from .cells import CELLS
from .losses import sequence_loss
from .modes import EncoderDecoder
from .module import make_rng
from .optim import Adam
from .train import train_step

__all__ = ["DIGITS", "GO", "TASKS", "VARIANTS", "LITERATURE", "Batch", "digit_strings", "make_batch", "build",
           "batch_loss", "train", "decode", "evaluate", "Run", "compare", "summary", "format_table"]

DIGITS = 10
#: the start symbol's index in the decoder's input rows (11 features: the digits, then GO)
GO = DIGITS
TASKS = {"reverse": lambda s: s[::-1], "copy": lambda s: s}
#: variant -> (attention, query) for :class:`~gradlab.nn.EncoderDecoder`
VARIANTS = {"none": (None, "previous"), "additive": ("additive", "previous"), "dot": ("dot", "previous"),
            "luong": ("dot", "current")}
#: the literature point (min-char-seq2seq, 20-digit reversal): final test token accuracy
LITERATURE = {"dot": 0.938, "none": 0.581}


def digit_strings(rng, n: int, lengths=(10, 20), *, exclude=()) -> list:
    r"""Return ``n`` random digit strings (int arrays) with lengths drawn uniformly from ``lengths``
    (inclusive), none equal to a string in ``exclude`` and no two equal (a held-out set)."""
    rng = make_rng(rng)
    lo, hi = _lengths(lengths)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"digit_strings: n must be a positive int, got {n!r}")
    seen = {tuple(int(d) for d in s) for s in exclude}
    out = []
    for _ in range(100 * n):
        s = rng.integers(0, DIGITS, size=int(rng.integers(lo, hi + 1)))
        key = tuple(int(d) for d in s)
        if key not in seen:
            seen.add(key)
            out.append(s)
            if len(out) == n:
                return out
    raise ValueError(f"digit_strings: could not draw {n} distinct strings of lengths {lo}..{hi}")


def _lengths(lengths) -> tuple:
    try:
        lo, hi = (int(v) for v in lengths)
    except (TypeError, ValueError):
        raise ValueError(f"lengths must be a pair (shortest, longest), got {lengths!r}") from None
    if not 1 <= lo <= hi:
        raise ValueError(f"lengths must satisfy 1 <= shortest <= longest, got {lengths!r}")
    return lo, hi


@dataclass
class Batch:
    r"""Strings made ready for the model: ``xs`` ``(T, B, 10)`` one-hot digits (zeros at padding), ``mask``
    ``(T, B)`` (1 at real digits), ``decoder_inputs`` ``(T, B, 11)`` (GO, then the target shifted by one:
    teacher forcing), ``targets`` ``(T, B)`` digit indices (0 at padding), ``start`` ``(B, 11)`` the GO rows,
    ``lengths`` ``(B,)``. T is the longest string of the batch."""

    xs: np.ndarray
    mask: np.ndarray
    decoder_inputs: np.ndarray
    targets: np.ndarray
    start: np.ndarray
    lengths: np.ndarray


def make_batch(strings, task: str = "reverse") -> Batch:
    """Return the :class:`Batch` of ``strings`` (a list of digit arrays) for ``task``."""
    if task not in TASKS:
        raise ValueError(f"make_batch: task must be one of {sorted(TASKS)}, got {task!r}")
    strings = [np.asarray(s) for s in strings]
    if not strings:
        raise ValueError("make_batch: no strings")
    for i, s in enumerate(strings):
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"make_batch: string {i} is empty or not 1-D (shape {s.shape}); every string needs "
                             f"at least one digit")
        if s.dtype.kind not in "iu" or s.min() < 0 or s.max() >= DIGITS:
            raise ValueError(f"make_batch: string {i} must hold integer digits 0..{DIGITS - 1}")
    lengths = np.array([len(s) for s in strings])
    T, B = int(lengths.max()), len(strings)
    xs = np.zeros((T, B, DIGITS))
    mask = np.zeros((T, B))
    targets = np.zeros((T, B), dtype=np.int64)
    dec = np.zeros((T, B, DIGITS + 1))
    dec[0, :, GO] = 1.0
    for b, s in enumerate(strings):
        L = len(s)
        d = TASKS[task](s)
        xs[np.arange(L), b, s] = 1.0
        mask[:L, b] = 1.0
        targets[:L, b] = d
        dec[1 + np.arange(L - 1), b, d[:-1]] = 1.0
    start = np.zeros((B, DIGITS + 1))
    start[:, GO] = 1.0
    return Batch(xs, mask, dec, targets, start, lengths)


def build(variant: str = "additive", hidden: int = 32, *, seed=0, cell: str = "elman",
          attention_size: int | None = None) -> EncoderDecoder:
    r"""Return the encoder–decoder of ``variant`` (a key of :data:`VARIANTS`) with ``hidden`` units in both
    cells (``cell`` a key of :data:`gradlab.nn.CELLS`, tanh Elman by default), seeded by ``seed``."""
    if variant not in VARIANTS:
        raise ValueError(f"build: variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if cell not in CELLS or cell == "jordan":
        raise ValueError(f"build: cell must be one of {sorted(k for k in CELLS if k != 'jordan')}, got {cell!r}")
    attention, query = VARIANTS[variant]
    rng = make_rng(seed)
    Cell = CELLS[cell]
    token = DIGITS + 1
    extra = hidden if attention is not None and query == "previous" else 0
    encoder = Cell(DIGITS, hidden, rng=rng, name="encoder")
    decoder = Cell(token + extra, hidden, DIGITS, rng=rng, name="decoder")
    return EncoderDecoder(encoder, decoder, attention=attention, query=query, attention_size=attention_size,
                          rng=rng)


def batch_loss(model: EncoderDecoder, batch: Batch) -> Tensor:
    r"""Return the teacher-forced loss of ``batch``: the cross-entropy :math:`-\log p(d_t)` averaged over
    the real target digits."""
    out = model(batch.xs, batch.decoder_inputs, mask=batch.mask)
    return sequence_loss(out, batch.targets, "softmax_cross_entropy", mask=batch.mask, reduction="mean")


def train(model: EncoderDecoder, strings, task: str = "reverse", *, steps: int = 1500, batch_size: int = 32,
          lr: float = 0.003, clip_norm: float | None = 1.0, seed=0, progress: bool | None = False, desc: str = "train") -> list:
    r"""Train ``model`` with Adam for ``steps`` updates on batches of ``batch_size`` strings drawn (with a
    generator seeded by ``seed``) from ``strings``; return the loss of every step. ``progress`` shows a
    ``tqdm`` bar with the running loss."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"train: steps must be a positive int, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"train: batch_size must be a positive int, got {batch_size!r}")
    strings = list(strings)
    if not strings:
        raise ValueError("train: no training strings")
    rng = make_rng(seed)
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    bar = None
    if progress is not False:
        from ..progress import progress_bar

        bar = progress_bar(int(steps), desc, enabled=progress, unit="step", leave=False)
    try:
        for _ in range(int(steps)):
            pick = rng.integers(0, len(strings), size=min(batch_size, len(strings)))
            loss = batch_loss(model, make_batch([strings[i] for i in pick], task))
            train_step(loss, opt, clip_norm=clip_norm)
            losses.append(float(loss.item()))
            if bar is not None:
                bar.update(1)
                if len(losses) % 20 == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    finally:
        if bar is not None:
            bar.close()
    return losses


def decode(model: EncoderDecoder, batch: Batch, *, teacher: float = 0.0, rng=None):
    r"""Return ``(predictions, out)``: the digits the model writes for ``batch`` (``(T, B)`` ints) and the
    decoder's :class:`~gradlab.nn.Unrolled` (with ``.attention`` when the model attends), without
    recording a graph.

    ``teacher=0`` is free-running greedy decoding (each step reads the previous prediction); ``teacher=1``
    reads the true previous digit at every step; ``0 < teacher < 1`` reads the true digit with that
    probability, one coin per step for the whole batch (drawn from ``rng``)."""
    if not 0.0 <= teacher <= 1.0:
        raise ValueError(f"decode: teacher must lie in [0, 1], got {teacher!r}")
    T = batch.xs.shape[0]
    with no_grad():
        if teacher == 1.0:
            out = model(batch.xs, batch.decoder_inputs, mask=batch.mask)
        else:
            feedback = "argmax"
            if teacher > 0.0:
                coin = make_rng(rng)
                truth = batch.decoder_inputs

                def feedback(k, y):
                    if coin.uniform() < teacher:
                        return truth[k + 1]
                    pred = np.argmax(y.data, axis=-1)
                    return np.eye(DIGITS + 1)[pred]
            out = model(batch.xs, steps=T, start=batch.start, mask=batch.mask, feedback=feedback)
    logits = np.stack([np.asarray(y.data) for y in out.outputs], axis=0)
    return np.argmax(logits, axis=-1), out


def evaluate(model: EncoderDecoder, strings, task: str = "reverse", *, teacher: float = 0.0, rng=None,
             batch_size: int = 500) -> dict:
    r"""Return ``{"token": …, "sequence": …, "tokens": n, "strings": n}``: the fraction of right digits and of
    strings written entirely right by ``model`` on ``strings`` (free-running unless ``teacher`` > 0, see
    :func:`decode`)."""
    strings = list(strings)
    if not strings:
        raise ValueError("evaluate: no strings")
    right = total = whole = 0
    coin = make_rng(rng)
    for i in range(0, len(strings), batch_size):
        b = make_batch(strings[i:i + batch_size], task)
        pred, _ = decode(model, b, teacher=teacher, rng=coin)
        hit = (pred == b.targets) & (b.mask == 1)
        right += int(hit.sum())
        total += int(b.mask.sum())
        whole += int(np.all(hit | (b.mask == 0), axis=0).sum())
    return {"token": right / total, "sequence": whole / len(strings), "tokens": total, "strings": len(strings)}


@dataclass
class Run:
    """One trained model of :func:`compare` and what was measured on it."""

    task: str
    variant: str
    seed: int
    token: float                 # free-running token accuracy on the held-out strings
    sequence: float              # free-running sequence accuracy
    teacher_token: float         # the same strings with full teacher forcing
    seconds: float               # training time (wall clock)
    steps: int
    final_loss: float
    losses: list = field(default_factory=list, repr=False)


def compare(tasks=("reverse", "copy"), variants=("none", "additive", "dot"), seeds=(0, 1, 2), *, hidden: int = 32,
            lengths=(10, 20), n_train: int = 2000, n_test: int = 500, steps: int = 1500, batch_size: int = 32,
            lr: float = 0.003, clip_norm: float | None = 1.0, cell: str = "elman", data_seed: int = 1234,
            progress: bool = False, on_run=None) -> list:
    r"""Train and score every (task, variant, seed); return the list of :class:`Run`.

    Each task has one training set of ``n_train`` strings and one held-out set of ``n_test`` other
    strings (drawn with ``data_seed``); each seed initialises the weights and orders the batches, and is
    the same for every variant (same sizes, same data, same batches). ``on_run(run)`` is called after
    each run (e.g. to print it)."""
    runs = []
    for task in tasks:
        if task not in TASKS:
            raise ValueError(f"compare: task must be one of {sorted(TASKS)}, got {task!r}")
        data_rng = np.random.default_rng(data_seed)
        train_set = digit_strings(data_rng, n_train, lengths)
        test_set = digit_strings(data_rng, n_test, lengths, exclude=train_set)
        for seed in seeds:
            for variant in variants:
                model = build(variant, hidden, seed=seed, cell=cell)
                t0 = time.perf_counter()
                losses = train(model, train_set, task, steps=steps, batch_size=batch_size, lr=lr,
                               clip_norm=clip_norm, seed=seed + 1, progress=progress,
                               desc=f"{task} {variant} seed {seed}")
                seconds = time.perf_counter() - t0
                free = evaluate(model, test_set, task)
                forced = evaluate(model, test_set, task, teacher=1.0)
                run = Run(task, variant, int(seed), free["token"], free["sequence"], forced["token"], seconds,
                          int(steps), float(np.mean(losses[-50:])), losses)
                runs.append(run)
                if on_run is not None:
                    on_run(run)
    return runs


def summary(runs) -> list:
    r"""Return one row per (task, variant): ``{"task", "variant", "seeds", "token", "token_sd", "sequence",
    "sequence_sd", "teacher_token", "seconds"}`` (means and sample standard deviations over the seeds)."""
    rows = {}
    for r in runs:
        rows.setdefault((r.task, r.variant), []).append(r)
    out = []
    for (task, variant), rs in rows.items():
        def stat(name):
            v = np.array([getattr(r, name) for r in rs], dtype=float)
            return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan
        tok, tok_sd = stat("token")
        seq, seq_sd = stat("sequence")
        out.append({"task": task, "variant": variant, "seeds": len(rs), "token": tok, "token_sd": tok_sd,
                    "sequence": seq, "sequence_sd": seq_sd, "teacher_token": stat("teacher_token")[0],
                    "seconds": stat("seconds")[0]})
    return out


def format_table(runs) -> str:
    """Return the :func:`summary` of ``runs`` as a Markdown table."""
    def pm(m, sd):
        return f"{m:.3f}" if math.isnan(sd) else f"{m:.3f} ± {sd:.3f}"

    lines = ["| task | attention | seeds | token acc. (free-running) | sequence acc. (free-running) | "
             "token acc. (teacher-forced) | train s / run |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in summary(runs):
        lines.append(f"| {row['task']} | {row['variant']} | {row['seeds']} | {pm(row['token'], row['token_sd'])} | "
                     f"{pm(row['sequence'], row['sequence_sd'])} | {row['teacher_token']:.3f} | {row['seconds']:.1f} |")
    return "\n".join(lines)
