r"""``gradlab derive`` (issue 18): where the command's time goes, phase by phase, and what the default
cross-check saves against the full one.

    python benchmarks/bench_derive.py              # LSTM and Elman, H = 2, T = 50
    python benchmarks/bench_derive.py --quick      # T = 10
    python benchmarks/bench_derive.py --cells gru --T 30 --repeat 3

Phases, each in CPU seconds of this process (``time.process_time``: the machine is shared, and wall
time would count the other processes), best of ``--repeat`` runs interleaved with each other on fresh
derivations: ``trace`` = the symbolic replay (``derive``); ``print`` = the Markdown of the default form
(matrix form + element form; deriving the matrix form is part of it); ``matrix`` = the matrix form
checked against the engine (forward values and ∂E/∂W, two random points);
``recursion`` = the element recursion compiled and checked; ``diff T=3`` = route (a), SymPy ``diff``,
at T = 3 (the default); ``diff full`` = route (a) at the full T (``--full-check``). ``default`` and
``full`` are the command's totals without the import; ``full/default`` their ratio.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import common  # noqa: E402,F401  (one BLAS thread, before NumPy)
import time  # noqa: E402


def _phases(cell: str, T: int, H: int) -> dict:
    from gradlab.symbolic.derivation import derive

    out = {}
    t = time.process_time()
    d = derive(cell, T, hidden=H)
    out["trace"] = time.process_time() - t
    t = time.process_time()
    d.markdown()
    out["print"] = time.process_time() - t
    t = time.process_time()
    d.check(forms=("matrix",))
    out["matrix"] = time.process_time() - t
    t = time.process_time()
    d.check(forms=("recursion",))
    out["recursion"] = time.process_time() - t
    t = time.process_time()
    small = derive(cell, min(T, 3), hidden=H)
    small.check(forms=("diff",))
    out["diff T=3"] = time.process_time() - t
    t = time.process_time()
    d.check(forms=("diff",))
    out["diff full"] = time.process_time() - t
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", default=["lstm", "elman"])
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--hidden", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="T = 10, one run")
    args = p.parse_args(argv)
    if args.quick:
        args.T, args.repeat = 10, 1
    print(common.machine_line() if hasattr(common, "machine_line") else "")
    cols = ["trace", "print", "matrix", "recursion", "diff T=3", "diff full"]
    print(f"gradlab derive CELL --T {args.T} --hidden {args.hidden}: CPU seconds per phase (best of {args.repeat})")
    print(f"{'cell':<16}" + "".join(f"{c:>11}" for c in cols) + f"{'default':>10}{'full':>8}{'full/default':>14}")
    for cell in args.cells:
        best: dict = {}
        for _ in range(args.repeat):
            for k, v in _phases(cell, args.T, args.hidden).items():
                best[k] = min(best.get(k, v), v)
        default = sum(best[k] for k in ("trace", "print", "matrix", "recursion", "diff T=3"))
        full = sum(best[k] for k in ("trace", "print", "matrix", "recursion", "diff full"))
        print(f"{cell:<16}" + "".join(f"{best[c]:>11.2f}" for c in cols)
              + f"{default:>10.2f}{full:>8.2f}{full / default:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
