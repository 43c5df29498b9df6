r"""The pathological long-term problems, measured: an Elman RNN with SGD, the same with gradient clipping,
the same with Hessian-free optimisation and structural damping, and an LSTM with Adam, trained on the adding
problem and the temporal order problem of Hochreiter & Schmidhuber (1997) at increasing sequence length T,
several seeds each.

Every run trains a fresh network on fresh minibatches through gradlab's training loop and counts as
*solved* when at least 99 % of fresh test sequences are processed correctly by the problem's own criterion
(adding: |error| < 0.04 at the sequence end; temporal order: every output within 0.3 of the one-hot class).
The table gives, per T and method, the seeds solved and, for the solved runs, the median number of
training sequences and the median training time; a figure shows the success rate and the time against T.

This is the small, quick version (a few hundred updates per run, and at most ``--run-limit`` processor
seconds: a Hessian-free update takes 300 sequences and a few dozen curvature products, so its runs are
limited by time, not by the update count): the SGD rows cannot reach the adding problem's precision in that
budget (they need about 5000 updates at T = 11), while clipping already decides temporal order.
``benchmarks/bench_pathological.py`` gives each method minutes and longer T.

Run:  python examples/pathological_problems.py [--seeds 2] [--adding 11 20] [--order 15 30]
                                               [--max-updates 600] [--run-limit 20] [--figure PATH | --no-figure]
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads: matrices this small run faster on one BLAS thread
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gradlab.nn.experiments import compare, standard_methods  # noqa: E402

__all__ = ["PROBLEMS", "run", "main"]

HERE = os.path.dirname(os.path.abspath(__file__))
#: the two problems of the example and their default lengths
PROBLEMS = {"adding": (11, 20), "temporal_order": (15, 30)}


def run(seeds: int = 2, lengths: dict | None = None, max_updates: int = 600, figure: str | None = None,
        progress: bool = True, out=print, run_limit: float | None = 20.0) -> dict:
    """Run the comparison on each problem and print its table; return {problem: Comparison} (and write the
    figure to ``figure`` when given)."""
    lengths = dict(PROBLEMS if lengths is None else lengths)
    methods = standard_methods()
    t0, c0 = time.perf_counter(), time.process_time()
    out("Methods:")
    for m in methods:
        out(f"  {m.name}: {m.settings}")
    limit = f" and {run_limit:g} processor s" if run_limit is not None else ""
    out(f"Each run: at most {max_updates} updates (of each method's minibatch of fresh sequences){limit}; solved when "
        f">= 99% of fresh test sequences are correct. Seeds 0..{seeds - 1}.\n")
    results = {}
    for name, Ts in lengths.items():
        c = compare(name, Ts, methods, seeds=range(seeds), max_updates=max_updates, eval_every=50, val_size=200,
                    test_size=1000, stop_after_failure=False, progress=progress, time_budget=run_limit)
        results[name] = c
        out(f"{c.problem}: {c.criterion}")
        out("(each cell: seeds solved / seeds, then the median training sequences and processor seconds of the solved "
            "runs; in parentheses: of all runs, when none solved it)")
        out(c.table())
        out("")
    if figure:
        from gradlab.render import plots
        from gradlab.render.training import comparison_figure

        fig = comparison_figure(list(results.values()), title="Long time lags: SGD, clipping, Hessian-free, LSTM")
        out(f"wrote {plots.save(fig, figure)}")
    out(f"({time.perf_counter() - t0:.0f} s wall clock, {time.process_time() - c0:.0f} s of processor time; the "
        f"wall clock also counts waiting for a core on a busy machine)")
    return results


def main(argv=None) -> int:
    """Parse arguments and run the comparison; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2, help="seeds per method and T (default 2; more for a steadier "
                                                          "table: each adds about half a minute)")
    ap.add_argument("--adding", type=int, nargs="*", default=list(PROBLEMS["adding"]),
                    help="T values of the adding problem (default 11 20; none: skip it)")
    ap.add_argument("--order", type=int, nargs="*", default=list(PROBLEMS["temporal_order"]),
                    help="T values of the temporal order problem (default 15 30; none: skip it)")
    ap.add_argument("--max-updates", type=int, default=600, help="training budget per run (default 600)")
    ap.add_argument("--run-limit", type=float, default=20.0, help="processor seconds per run at most (default 20)")
    ap.add_argument("--figure", default=os.path.join(HERE, "figures", "pathological_comparison.png"),
                    help="where to write the figure (default examples/figures/pathological_comparison.png)")
    ap.add_argument("--no-figure", action="store_true", help="write no figure")
    args = ap.parse_args(argv)
    lengths = {k: v for k, v in (("adding", args.adding), ("temporal_order", args.order)) if v}
    if not lengths:
        ap.error("give T values for at least one problem (--adding or --order)")
    if args.seeds < 1 or args.max_updates < 1:
        ap.error("--seeds and --max-updates must be positive")
    try:
        run(seeds=args.seeds, lengths=lengths, max_updates=args.max_updates,
            figure=None if args.no_figure else args.figure, run_limit=args.run_limit)
    except (ValueError, FileNotFoundError) as e:      # e.g. a T too small for a problem's definition
        print(f"pathological_problems: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
