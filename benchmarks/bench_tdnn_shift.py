r"""The TDNN's shift invariance (issue 15; Waibel et al. 1989's claim, on synthetic data): the full-size
runs behind the README's table. Nothing is asserted; this is an accuracy benchmark, not a timing one.

1. **Trained at offsets 0 … 7, tested at 0 … 23** (``examples/tdnn_shift.py``'s experiment): the
   Waibel-arrangement TDNN (515 parameters) and MLPs over the flattened 32 × 16 window with 8 and 32
   tanh units (4131 and 16 515 parameters), 6000 training tokens, 20 epochs, 300 test tokens per
   offset, over seeds: accuracy at the trained offsets, at all unseen ones, at the far unseen ones (no
   frame shared with training), parameters and training CPU seconds (this process; the machine is
   shared, so read the ratios).
2. **Accuracy at each offset**, mean over seeds (the figure's numbers).
3. **The edge**: the TDNN at the last offset, as it is and with 6 noise frames appended.
4. **Training tokens**: accuracy at the trained and the far unseen offsets for 600, 1500 and 6000
   training tokens (fewer seeds): what the shared weights buy in data, besides the invariance.

The TDNN's accuracy at the trained offsets is printed next to Waibel et al.'s 98.5 % (TDNN) and 93.7 %
(best HMM) on recorded /b/, /d/, /g/ — context only: their data (ATR) are speech, these are synthetic.

    python benchmarks/bench_tdnn_shift.py                  # about 1 minute on one idle core
    python benchmarks/bench_tdnn_shift.py --quick          # 2 seeds, 1500 tokens (a few seconds)
    python benchmarks/bench_tdnn_shift.py --figure examples/figures/tdnn_shift_invariance.png
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import common  # noqa: I001  (sets the BLAS thread variables before NumPy loads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None) -> int:
    """Run the four parts and print their tables; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, 1500 tokens, no part 4 (a smoke run)")
    ap.add_argument("--seeds", type=int, default=10, help="seeds for parts 1-3 (default 10)")
    ap.add_argument("--figure", default=None, help="also write accuracy against offset here (.png, .svg)")
    args = ap.parse_args(argv)
    common.print_header("TDNN shift invariance on synthetic formant sweeps (issue 15)")
    print(f"# load average {os.getloadavg()[0]:.1f} (other processes share the machine: times are inflated)")
    ex = common.example("tdnn_shift")
    seeds = tuple(range(2 if args.quick else args.seeds))
    n_train, epochs = (1500, 15) if args.quick else (6000, 20)
    t0 = time.perf_counter()
    result = ex.shift_experiment(seeds, n_train=n_train, epochs=epochs, mlp_hidden=(8, 32), progress=False)
    lo, hi = result["trained"]
    print(f"\n## 1. {n_train} training tokens at offsets {lo}–{hi}, {epochs} epochs, {len(seeds)} seeds "
          f"(test accuracy, mean ± std over seeds; chance 33.3 %)\n")
    for line in ex.table_lines(result):
        print(line)
    summary = ex.summarise(result)
    names = list(result["models"])
    tdnn_in = summary[names[0]]["in"]
    print(f"\nWaibel et al. 1989 (recorded /b/, /d/, /g/, ATR, 1946 test tokens): TDNN 98.5 %, best HMM 93.7 %. "
          f"Here (synthetic sweeps, trained offsets): TDNN {tdnn_in.mean() * 100:.1f} % "
          f"(seeds {tdnn_in.min() * 100:.1f}–{tdnn_in.max() * 100:.1f} %). Different data: context, not a "
          f"reproduction.")
    print(f"\n## 2. Accuracy at each offset (%, mean over {len(seeds)} seeds; trained {lo}–{hi})\n")
    print("| offset | " + " | ".join(names) + " |")
    print("| --- | " + " | ".join("---" for _ in names) + " |")
    for i, o in enumerate(result["offsets"]):
        mark = " (trained)" if lo <= o <= hi else ""
        print(f"| {o}{mark} | " + " | ".join(f"{result['models'][n]['acc'][:, i].mean() * 100:.1f}" for n in names)
              + " |")
    plain, padded = np.mean(result["models"][names[0]]["edge"], axis=0) * 100
    print(f"\n## 3. The edge: TDNN at offset {result['offsets'][-1]} (pattern ends on the last frame) {plain:.1f} %; "
          f"with {result['receptive'] - 1} noise frames appended {padded:.1f} %")
    print(f"\n({time.perf_counter() - t0:.1f} s wall for parts 1-3)")
    if args.figure:
        print(f"wrote {ex.shift_figure(result, args.figure, force=True)}")
    if not args.quick:
        sizes, few = (600, 1500, 6000), seeds[:5]
        print(f"\n## 4. Training tokens: accuracy at trained / far unseen offsets (%, mean over {len(few)} seeds; "
              f"{epochs} epochs; MLP with 8 hidden units)\n")
        print("| training tokens | " + " | ".join(names[:2]) + " |")
        print("| --- | --- | --- |")
        for n in sizes:
            res = ex.shift_experiment(few, n_train=n, epochs=epochs, mlp_hidden=8, progress=False)
            s = ex.summarise(res)
            print(f"| {n} | " + " | ".join(f"{s[m]['in'].mean() * 100:.1f} / {s[m]['far'].mean() * 100:.1f}"
                                           for m in names[:2]) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
