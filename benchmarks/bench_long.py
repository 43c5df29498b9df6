r"""Long sequences: the cost of one forward + backward per time step, from T = 10³ to 10⁶.

Every graph operation takes time linear in the number of nodes, so the time per step should stay flat
as T grows (``tests/test_scaling.py`` checks the ratio for N and 4N). Before issue 17 it did not:
backward through ``stack``/``concat`` of N computed inputs was quadratic in N, so the fused unrolling
(whose output layer reads the stacked states) was quadratic in T (Elman at T = 40 000: 21 s fused
against 2.7 s literal; at T = 100 000 the backward took 175 s fused and 413 s literal with a stacked
loss, against 5 s with per-step losses).

An Elman network with D = 4, H = 8, O = 4, one sequence (B = 1), float64, E = ½ Σ_t ‖y_t − d_t‖²:
``fused`` (the loss on the stacked (T, O) output sequence), ``literal, stacked loss`` and ``literal,
per-step losses``, each recorded and differentiated once per T in a fresh interpreter (one run is one
sample: CPU time, on a shared machine). The cyclic garbage collector stays on, as for a user.

Run:  .venv/bin/python benchmarks/bench_long.py [--T 1000 10000 100000 1000000] [--engine fast]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import json
import resource
import sys
import time

import numpy as np

import gradlab
from gradlab import nn

VARIANTS = {"fused": (True, True), "literal, stacked loss": (False, True), "literal, per-step losses": (False, False)}


def child(T: int, variant: str, engine: str) -> None:
    """One forward + backward in this interpreter; print JSON {forward, backward (s), peak RSS (MiB)}."""
    fused, stacked = VARIANTS[variant]
    rng = np.random.default_rng(0)
    cell = nn.ElmanCell(4, 8, 4, rng=1)
    xs, ds = rng.standard_normal((T, 1, 4)), rng.standard_normal((T, 1, 4))
    with gradlab.use_engine(engine):
        t0 = time.process_time()
        out = nn.unroll(cell, xs, fused=fused)
        E = nn.mse_half(out.output_sequence, ds) if stacked else nn.sequence_loss(out, ds)
        t1 = time.process_time()
        E.backward()
        t2 = time.process_time()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"forward": t1 - t0, "backward": t2 - t1, "rss": rss}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    ap.add_argument("--engine", default="fast", choices=["fast", "reference"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--quick", action="store_true", help="T = 1000 and 4000 only (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.T = [1000, 4000]
    common.print_header(f"long sequences, Elman D=4 H=8 O=4 B=1, {args.engine} engine, CPU time")
    print("\n| variant | T | forward s | backward s | µs per step (fwd + bwd) | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant in args.variants:
        for T in args.T:
            out = common.run_child(__file__, (T, variant, args.engine), f"bench_long: {variant} T={T}")
            r = json.loads(out.strip().splitlines()[-1])
            per = (r["forward"] + r["backward"]) / T * 1e6
            print(f"| {variant} | {T:,} | {r['forward']:.2f} | {r['backward']:.2f} | {per:.1f} | {r['rss']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
