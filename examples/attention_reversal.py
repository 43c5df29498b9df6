r"""Attention, the classic demonstration: an encoder-decoder reverses strings of 10-20 digits, once without
and once with attention (same sizes, same data, same batches), and is scored **free-running** on strings it
never saw: each step reads the digit the model itself wrote before, as it must when no answer is known.

Without attention the decoder sees the input only through the encoder's final state: 32 tanh units must
hold up to 20 digits. With attention every step reads all the encoder states, weighted by
α_{t,j} = softmax_j score(s_{t-1}, h_j); for reversal it learns to look at position L + 1 − t, the
anti-diagonal of the heat map that ``--figure`` writes.

Run:  python examples/attention_reversal.py [--task reverse|copy] [--steps 1000] [--seed 0] [--figure heat.png]
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads: matrices this small run faster on one BLAS thread
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import time

import numpy as np

from gradlab.nn import reversal as R

__all__ = ["run", "main"]


def run(*, task: str = "reverse", variants=("none", "additive"), hidden: int = 32, lengths=(10, 20), steps: int = 1000,
        n_train: int = 2000, n_test: int = 300, seed: int = 0, lr: float = 0.003, progress: bool = True, figure=None,
        out=print) -> dict:
    r"""Train one model per variant, print the free-running (and teacher-forced) accuracies and one example
    string; return {"rows": [(variant, token, sequence, teacher_token, seconds)], "example": …, "figure": path}."""
    data = np.random.default_rng(1234)
    train = R.digit_strings(data, n_train, lengths)
    test = R.digit_strings(data, n_test, lengths, exclude=train)
    example = test[0]
    out(f"{task} strings of {lengths[0]}-{lengths[1]} digits: {n_train} to learn from, {n_test} held out; "
        f"tanh Elman encoder and decoder, {hidden} units each, {steps} Adam updates\n")
    rows, models = [], {}
    for variant in variants:
        model = R.build(variant, hidden, seed=seed)
        t0 = time.perf_counter()
        R.train(model, train, task, steps=steps, lr=lr, seed=seed + 1, progress=progress, desc=f"attention={variant}")
        seconds = time.perf_counter() - t0
        free, forced = R.evaluate(model, test, task), R.evaluate(model, test, task, teacher=1.0)
        rows.append((variant, free["token"], free["sequence"], forced["token"], seconds))
        models[variant] = model
    out(f"{'attention':10s} {'digits right':>13s} {'strings right':>14s} {'(teacher-forced digits)':>24s} {'train s':>8s}")
    for variant, tok, seq, tf, sec in rows:
        out(f"{variant:10s} {tok:13.3f} {seq:14.3f} {tf:24.3f} {sec:8.1f}")
    b = R.make_batch([example], task)
    out(f"\n  input    {''.join(map(str, example))}")
    out(f"  wanted   {''.join(map(str, R.TASKS[task](example)))}")
    written = {}
    for variant, model in models.items():
        pred, dec = R.decode(model, b)
        written[variant] = pred[:, 0]
        out(f"  {variant:8s} {''.join(map(str, pred[:, 0]))}")
    result = {"rows": rows, "example": (example, written), "figure": None}
    attending = [v for v in models if v != "none"]
    if figure and attending:
        from gradlab.render import plots
        from gradlab.render.attention import attention_heatmap

        variant = attending[0]
        _, dec = R.decode(models[variant], b)
        w = models[variant].attention_weights(dec)[0]
        fig = attention_heatmap(w, source=example, output=written[variant], size="slide",
                                title=f"{task}, {variant} attention: α over the encoder steps (free-running)")
        result["figure"] = str(plots.save(fig, figure))
        out(f"\nwrote {result['figure']}")
    return result


def main(argv=None) -> int:
    """Parse the options and run; return 0."""
    ap = argparse.ArgumentParser(description="Digit reversal with and without attention, scored free-running.")
    ap.add_argument("--task", choices=sorted(R.TASKS), default="reverse")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--dot", action="store_true", help="also train dot-product attention")
    ap.add_argument("--figure", help="write the attention heat map of one held-out string (.png/.svg/.pdf)")
    args = ap.parse_args(argv)
    variants = ("none", "additive", "dot") if args.dot else ("none", "additive")
    run(task=args.task, variants=variants, steps=args.steps, seed=args.seed, hidden=args.hidden, figure=args.figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
