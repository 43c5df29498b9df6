r"""Lecture figures: time to build the DOT source (Python) and to lay it out and draw it with the Graphviz
``dot`` program (SVG), for the unfolded LSTM at the cell level (one box per step) and at the op level
(every primitive op), plus the gate-level unfolding and the gradient view.

    python benchmarks/bench_render.py            # T = 10, 50, 100
    python benchmarks/bench_render.py --quick    # T = 10, 50
    python benchmarks/bench_render.py --T 50 --repeat 5

Columns: ``nodes`` / ``edges`` = DOT statements drawn; ``build`` = unrolling the model, reading the
unfolded structure off the recorded graph and writing the DOT source (best of ``--repeat``);
``dot`` = the ``dot`` program's layout and SVG output (best of ``--repeat``, a subprocess per run).
Target (issue 6): the cell-level unfolded LSTM at T = 50 well under a second. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import gradlab  # noqa: E402
from gradlab.render import to_dot  # noqa: E402

CASES = [
    ("LSTM unfolded, cell level", dict(view="unfolded")),
    ("LSTM unfolded, op level", dict(view="ops")),
    ("LSTM unfolded, gate level", dict(view="unfolded", detail="gates")),
    ("LSTM gradient flow", dict(view="gradients")),
]


def best(fn, repeat: int) -> float:
    """Return the best wall time of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    """Print the table; return 0 (1 when the ``dot`` program is missing)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, nargs="+", default=None, help="sequence lengths (default 10 50 100)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement, best kept (default 3)")
    ap.add_argument("--quick", action="store_true", help="T = 10 and 50, one run each")
    args = ap.parse_args(argv)
    Ts = args.T or ([10, 50] if args.quick else [10, 50, 100])
    repeat = 1 if args.quick else args.repeat
    dot = shutil.which("dot")
    if dot is None:
        print("bench_render: the Graphviz 'dot' program is not installed (apt-get install graphviz); "
              "only build times would be meaningful, nothing measured")
        return 1
    version = subprocess.run([dot, "-V"], capture_output=True, text=True).stderr.strip()
    print(f"gradlab {gradlab.__version__}, {version}; best of {repeat}; wall time")
    print(f"{'figure':<28} {'T':>4} {'nodes':>6} {'edges':>6} {'build':>9} {'dot (svg)':>10}")
    for label, kw in CASES:
        for T in Ts:
            fig = to_dot("lstm", T=T, **kw)
            src = fig.source
            nodes = len(re.findall(r"^\s*\S+ \[label=", src, re.M))
            edges = len(re.findall(r"^\s*\S+ -> \S+", src, re.M))
            t_build = best(lambda: to_dot("lstm", T=T, **kw), repeat)
            t_dot = best(lambda: subprocess.run([dot, "-Tsvg"], input=src.encode(), capture_output=True,
                                                check=True), repeat)
            print(f"{label:<28} {T:>4} {nodes:>6} {edges:>6} {t_build:>8.3f}s {t_dot:>9.3f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
