r"""How far each method gets on the pathological long-term problems in a few minutes: an Elman RNN with SGD,
with SGD + gradient clipping, with Hessian-free and structural damping, and an LSTM with Adam, on the adding
problem and the temporal order problem (Hochreiter & Schmidhuber 1997) at increasing T, several seeds.

Each method climbs the T ladder until no seed solves a T or its processor-time budget (``--budget``
seconds per method and problem) is spent; every run is also limited to ``--run-limit`` seconds. A run is
solved when >= 99 % of fresh test sequences are processed correctly (the problem's criterion). The table
prints, per T, seeds solved / seeds and, of the solved runs, the median training sequences and processor
seconds; a summary says how far each method got, and the figure goes to ``--figure``.

Reference points: Hochreiter & Schmidhuber report LSTM on adding at T = 100 with 1 wrong sequence in 2560
after 74,000 training sequences (their Table 7) and temporal order 6a (T = 100) after 31,390 (Table 9);
Sutskever's HF code notes that "a batch_size of 300 can solve the T=100 versions".

Run:  .venv/bin/python benchmarks/bench_pathological.py [--quick] [--seeds 3] [--budget 240] [--run-limit 90]
          [--adding 11 20 30 50 100] [--order 15 30 50 100] [--methods NAME ...] [--figure PATH]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import argparse
import os
import time

from gradlab.nn.experiments import compare, standard_methods

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    """Run the ladder for each problem and print the tables; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: one seed, the two shortest T, tiny budgets")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per method and T (default 3)")
    ap.add_argument("--budget", type=float, default=240.0,
                    help="processor seconds per method and problem (default 240)")
    ap.add_argument("--run-limit", type=float, default=90.0, help="processor seconds per run at most (default 90)")
    ap.add_argument("--max-updates", type=int, default=100_000, help="updates per run at most (default 100000)")
    ap.add_argument("--adding", type=int, nargs="*", default=[11, 20, 30, 50, 100], help="T of the adding problem")
    ap.add_argument("--order", type=int, nargs="*", default=[15, 30, 50, 100], help="T of temporal order")
    ap.add_argument("--figure", default=None, help="write the figure here (PNG/SVG/PDF)")
    ap.add_argument("--methods", nargs="+", default=None,
                    help="run only the methods whose names contain one of these words (e.g. Hessian-free)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.budget, args.run_limit, args.max_updates = 1, 20.0, 5.0, 300
        args.adding, args.order = args.adding[:2], args.order[:2]
    common.print_header("pathological problems: how far each method gets")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    methods = standard_methods()
    if args.methods:
        methods = [m for m in methods if any(w.lower() in m.name.lower() for w in args.methods)]
        if not methods:
            ap.error(f"--methods {args.methods} matches none of {[m.name for m in standard_methods()]}")
    print(f"# budget {args.budget:g} processor s per method and problem, {args.run_limit:g} s per run, "
          f"{args.seeds} seeds; load average at start {load[0]:.2f}" if load else "")
    for m in methods:
        print(f"#   {m.name}: {m.settings}" + (f" -- {m.unavailable}" if not m.available else ""))
    comparisons = []
    t0, c0 = time.perf_counter(), time.process_time()
    for name, Ts in (("adding", args.adding), ("temporal_order", args.order)):
        if not Ts:
            continue
        c = compare(name, Ts, methods, seeds=range(args.seeds), method_budget=args.budget,
                    time_budget=args.run_limit, max_updates=args.max_updates, eval_every=50, val_size=300,
                    test_size=2000, progress=True)
        comparisons.append(c)
        print(f"\n{c.problem}: {c.criterion}\n")
        print(c.table())
        print()
        print(c.summary())
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n({time.perf_counter() - t0:.0f} s wall clock, {time.process_time() - c0:.0f} s processor time; "
          f"load average at the end {load_end:.2f})")
    if args.figure and comparisons:
        from gradlab.render import plots
        from gradlab.render.training import comparison_figure

        fig = comparison_figure(comparisons, title="How far each method gets (processor-time budget per method)")
        print(f"wrote {plots.save(fig, args.figure)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
