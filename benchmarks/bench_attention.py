r"""The classic toy comparison for attention, at full size: reverse (and copy) digit strings with an
encoder-decoder with and without attention, same sizes, same data, same batches; scored free-running on
held-out strings, over several seeds (gradlab.nn.reversal). Also the literature's protocol next to ours
on the same trained models.

Default run (a few minutes on 2 cores): strings of 10-20 digits, 2000 training / 500 held-out strings,
tanh Elman encoder and decoder with H = 32, 1500 Adam updates (lr 0.003, batches of 32, gradient norm
clipped at 1), seeds 0, 1, 2, variants none / additive / dot.

``--literature``: the literature point's setting (zhihanyang2022/min-char-seq2seq@835e638: 20-digit
reversal, 500 training strings, 10 test strings, dot-product attention with the previous decoder state as
query, 150 epochs of batches of 32 = 2400 updates), each model scored three ways: (a) as the source does,
with 50 % random teacher forcing per step on its 10 test strings; (b) free-running on the same 10 strings;
(c) free-running on 1000 held-out strings.

Nothing here asserts anything: it prints tables. Training times are wall clock on a shared machine (the
load is printed next to them); the ratio "time vs none" compares runs of the same process.

Run:  .venv/bin/python benchmarks/bench_attention.py [--quick] [--seeds 0 1 2] [--tasks reverse copy]
                                                      [--variants none additive dot] [--steps 1500] [--literature]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import argparse
import os
import sys
import time

import numpy as np

from gradlab.nn import reversal as R


def load() -> str:
    """The 1-, 5- and 15-minute load averages, for the timing lines (the machine is shared)."""
    try:
        return "load " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load unknown"


def comparison(args) -> list:
    """Train and score every (task, variant, seed); print one line per run and the summary table."""
    print(f"\n## Free-running accuracy on {args.n_test} held-out strings of {args.lengths[0]}-{args.lengths[1]} "
          f"digits (H = {args.hidden}, {args.steps} updates, batch {args.batch}, lr {args.lr}, "
          f"{args.n_train} training strings)\n")

    def line(run):
        print(f"  {run.task:7s} {run.variant:8s} seed {run.seed}: token {run.token:.3f}  sequence {run.sequence:.3f}  "
              f"teacher-forced token {run.teacher_token:.3f}  loss {run.final_loss:.3f}  {run.seconds:.1f} s ({load()})",
              flush=True)

    runs = R.compare(tasks=args.tasks, variants=args.variants, seeds=args.seeds, hidden=args.hidden,
                     lengths=args.lengths, n_train=args.n_train, n_test=args.n_test, steps=args.steps,
                     batch_size=args.batch, lr=args.lr, progress=args.progress, on_run=line)
    print()
    print(R.format_table(runs))
    base = {(r.task, r.seed): r.seconds for r in runs if r.variant == "none"}
    ratios = {}
    for r in runs:
        if r.variant != "none" and (r.task, r.seed) in base:
            ratios.setdefault(r.variant, []).append(r.seconds / base[r.task, r.seed])
    for variant, rs in ratios.items():
        print(f"\ntraining time of {variant} vs none, same process: {np.median(rs):.2f}x (median of {len(rs)})", end="")
    print()
    return runs


def literature(args) -> None:
    """The literature point's setting, scored its way and ours."""
    lengths = (20, 20)
    steps = 2 if args.quick else 150 * 16            # 150 epochs of 500 strings in batches of 32
    print(f"\n## The literature's setting: 20-digit reversal, 500 training strings, {steps} updates of 32 "
          f"(H = {args.hidden}, lr {args.lr})\n")
    print("| attention | seed | (a) 50 % teacher forcing, 10 test strings (their protocol) | "
          "(b) free-running, same 10 | (c) free-running, 1000 held-out: token | (c) sequence | literature (a) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for seed in args.seeds:
        rng = np.random.default_rng(42 + seed)
        train = R.digit_strings(rng, 500, lengths)
        test10 = R.digit_strings(rng, 10, lengths, exclude=train)
        test1000 = R.digit_strings(rng, 1000, lengths, exclude=train + test10)
        for variant in ("none", "dot"):
            model = R.build(variant, args.hidden, seed=seed)
            t0 = time.perf_counter()
            R.train(model, train, "reverse", steps=steps, batch_size=32, lr=args.lr, seed=seed + 1,
                    progress=args.progress, desc=f"literature {variant} seed {seed}")
            seconds = time.perf_counter() - t0
            theirs = np.mean([R.evaluate(model, test10, teacher=0.5, rng=k)["token"] for k in range(20)])
            free10 = R.evaluate(model, test10)
            free = R.evaluate(model, test1000)
            print(f"| {variant} | {seed} | {theirs:.3f} (mean of 20 coin sequences) | {free10['token']:.3f} | "
                  f"{free['token']:.3f} | {free['sequence']:.3f} | {R.LITERATURE[variant]:.3f} |", flush=True)
            print(f"<!-- {variant} seed {seed}: trained in {seconds:.1f} s, {load()} -->", flush=True)


def main(argv=None) -> int:
    """Parse the options, print the header and the tables; return 0."""
    p = argparse.ArgumentParser(description="Attention vs none on digit reversal/copy, free-running.")
    p.add_argument("--quick", action="store_true", help="a smoke run (the CI size: seconds)")
    p.add_argument("--tasks", nargs="+", choices=sorted(R.TASKS), default=["reverse", "copy"])
    p.add_argument("--variants", nargs="+", choices=sorted(R.VARIANTS), default=["none", "additive", "dot"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--lengths", nargs=2, type=int, default=[10, 20])
    p.add_argument("--n-train", dest="n_train", type=int, default=2000)
    p.add_argument("--n-test", dest="n_test", type=int, default=500)
    p.add_argument("--literature", action="store_true", help="also run the literature's setting and protocol")
    p.add_argument("--progress", action="store_true", help="show a progress bar per run")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        print(f"# bench_attention: ignoring options meant for other scripts: {' '.join(unknown)}")
    if args.quick:
        args.seeds, args.hidden, args.steps, args.lengths = args.seeds[:1], 16, 60, [5, 8]
        args.n_train, args.n_test, args.batch, args.lr = 200, 50, 16, 0.02
    common.print_header("Attention over encoder states: digit reversal / copy, free-running")
    print(f"# {load()}")
    t0 = time.perf_counter()
    comparison(args)
    if args.literature:
        literature(args)
    print(f"\n# total {time.perf_counter() - t0:.0f} s, {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
