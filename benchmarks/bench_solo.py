r"""Each implementation alone in a fresh process: the hand-written NumPy floor against
gradlab ``unroll(fused=True)`` for Elman, LSTM and GRU, float64, one BLAS thread.

Why a second method. ``bench_engine.py`` and ``bench_cells.py`` time every row in one process, which
is fair to per-call overhead but not to memory: how glibc's ``malloc`` hands memory back to the
operating system depends on what the *other* rows allocated before. Measured on the project machine
before the buffer pool (gradlab/memory.py) existed, gradlab's large Elman was 1.2× the floor inside
``bench_engine.py`` but 1.46× alone, with 10 000 page faults per call. Here each row runs in its own
interpreter, the processes alternate (floor, gradlab, floor, …) for ``--rounds`` rounds, and the best
time of each counts; page faults per call are printed beside the times.

Run:  .venv/bin/python benchmarks/bench_solo.py [--sizes small large] [--rounds 3] [--quick]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import resource
import sys
import time

NETWORKS = ("elman", "lstm", "gru")
ROWS = ("floor", "gradlab")


def child(network: str, size: str, row: str, seconds: float) -> None:
    """Time one row in this process: print 'best_seconds faults_per_call'."""
    fn = common.network_rows(network, size, (row,))[row]
    for _ in range(3):
        fn()
    calls, best = 0, float("inf")
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    while calls < 5 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        calls += 1
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / calls
    print(f"{best!r} {faults!r}")


def measure(network: str, size: str, row: str, seconds: float) -> tuple:
    """Run :func:`child` in a fresh interpreter and return (best seconds, faults per call)."""
    out = common.run_child(__file__, (network, size, row, seconds), f"bench_solo: {network} {size} {row}")
    best, faults = out.split()
    return float(best), float(faults)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        network, size, row, seconds = sys.argv[2:6]
        child(network, size, row, float(seconds))
        return
    ap = common.grid_parser(__doc__.splitlines()[0], NETWORKS)
    ap.add_argument("--rounds", type=int, default=3, help="alternations of the processes (default 3)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per process (default 3 s)")
    ap.add_argument("--quick", action="store_true", help="one round of 0.3 s each (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 0.3
    common.print_header(f"each row alone in a fresh process, {args.rounds} alternating rounds")
    print()
    print("| network | size | floor ms | gradlab ms | gradlab × floor | every round's ratio "
          "| page faults per call (floor / gradlab) |")
    print("|---|---|---:|---:|---:|---|---|")
    for size in args.sizes:
        for network in args.networks:
            best = {row: float("inf") for row in ROWS}
            faults = {}
            ratios = []
            for _ in range(args.rounds):
                this = {}
                for row in ROWS:
                    t, f = measure(network, size, row, args.seconds)
                    this[row], faults[row] = t, f
                    best[row] = min(best[row], t)
                ratios.append(this["gradlab"] / this["floor"])
            print(f"| {network} | {size} | {best['floor'] * 1e3:.3f} | {best['gradlab'] * 1e3:.3f} | "
                  f"{best['gradlab'] / best['floor']:.2f} | {', '.join(f'{r:.2f}' for r in ratios)} | "
                  f"{faults['floor']:.0f} / {faults['gradlab']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
