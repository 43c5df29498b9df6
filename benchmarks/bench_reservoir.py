r"""Echo-state and time-delay networks (issue 15): the full-size runs behind the README's numbers, each
next to the published one. Nothing is asserted.

1. **Memory capacity** MC = Σ_{k=1}^{2N} r²(u_{t−k}, y_k) of a random tanh reservoir, a random linear
   one and a linear cycle reservoir (ρ = 0.9, input scaling 0.1, u i.i.d. U[−0.8, 0.8], 4000 training
   and 1000 test steps, ridge 1e-9), N = 50 and 100, over reservoir seeds: mean ± standard deviation.
   Ceni & Gallicchio (2023, Table 1, N = 100, 10 seeds): leaky ESN (α = 1) 30.40 ± 3.76, linear ESN
   49.35 ± 17.13, linear SCR 99.09 ± 0.01.
2. **Mackey–Glass one step ahead** with reservoirpy's README settings (100 units, sr 1.25, lr 0.3,
   ridge 1e-5, 2000 samples, last 20 % tested): RMSE and R² over seeds. Published: RMSE 0.0020282,
   R² 0.99992 (on reservoirpy's own series).
3. **NRMSE84** (Jaeger 2001, §6.4): 400 units, 3000 training steps, closed loop for 84 steps from 20
   test points, over seeds; and one run with 21 000 training steps. Published: ≈ 2.8e-4 and ≈ 1.2e-4.
4. **ESN vs BPTT vs a window** at 100 units, one step ahead (``examples/mackey_glass.py``'s table):
   test NRMSE and training seconds, all in this one process (compare the ratios, not the seconds).

    python benchmarks/bench_reservoir.py             # about 4 minutes on one idle core
    python benchmarks/bench_reservoir.py --quick     # 2 seeds, N = 50, short training
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import common  # noqa: I001  (sets the BLAS thread variables before NumPy loads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gradlab.nn.reservoir import ReservoirCell, memory_capacity  # noqa: E402

MC_LITERATURE = {"random tanh": "30.40 ± 3.76", "random linear": "49.35 ± 17.13", "linear cycle": "99.09 ± 0.01"}
KINDS = {"random tanh": dict(topology="random", activation="tanh"),
         "random linear": dict(topology="random", activation="identity"),
         "linear cycle": dict(topology="cycle", activation="identity")}


def capacity_table(sizes, seeds) -> None:
    """Print part 1."""
    print(f"\n## 1. Memory capacity, {len(seeds)} reservoir seeds (mean ± std; k = 1 … 2N)\n")
    print("| reservoir | " + " | ".join(f"N = {N}" for N in sizes) + " | Ceni & Gallicchio 2023, N = 100 |")
    print("| --- | " + " | ".join("---" for _ in sizes) + " | --- |")
    t0 = time.perf_counter()
    for kind, kw in KINDS.items():
        cells = []
        for N in sizes:
            mc = [memory_capacity(ReservoirCell(1, N, None, spectral_radius=0.9, input_scaling=0.1, rng=s, **kw),
                                  rng=1000 + s).total for s in seeds]
            cells.append(f"{np.mean(mc):.2f} ± {np.std(mc):.2f} (max {max(mc):.2f})")
        print(f"| {kind} | " + " | ".join(cells) + f" | {MC_LITERATURE[kind]} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.1f} s)")


def one_step_table(mg, seeds) -> None:
    """Print part 2."""
    rows = [mg.one_step_reservoirpy_protocol(seed=s) for s in seeds]
    rm, r2 = [r["rmse"] for r in rows], [r["r2"] for r in rows]
    print(f"\n## 2. Mackey–Glass one step ahead, reservoirpy's protocol, {len(seeds)} seeds\n")
    print("| | RMSE | NRMSE (÷ std) | R² |")
    print("| --- | --- | --- | --- |")
    print(f"| gradlab, mean ± std | {np.mean(rm):.5f} ± {np.std(rm):.5f} | "
          f"{np.mean([r['nrmse'] for r in rows]):.2e} | {np.mean(r2):.5f} |")
    print(f"| gradlab, best seed | {min(rm):.5f} | | {max(r2):.5f} |")
    print(f"| reservoirpy README | {mg.LITERATURE['one_step_rmse']} | | {mg.LITERATURE['one_step_r2']} |", flush=True)


def free_run_table(mg, seeds, long_train: int) -> None:
    """Print part 3."""
    print("\n## 3. NRMSE84, 400 units, 20 trials per run\n")
    print("| training steps | runs | NRMSE84 per seed | median | Jaeger 2001 |")
    print("| --- | --- | --- | --- | --- |")
    t0 = time.perf_counter()
    values = [mg.free_running_84(units=400, n_train=3000, seed=s, progress=False)["nrmse84"] for s in seeds]
    print(f"| 3000 | {len(seeds)} | {', '.join(f'{v:.1e}' for v in values)} | {np.median(values):.1e} | ≈ 2.8e-4 |",
          flush=True)
    if long_train:
        v = mg.free_running_84(units=400, n_train=long_train, seed=seeds[0], progress=False)["nrmse84"]
        print(f"| {long_train} | 1 | {v:.1e} | {v:.1e} | ≈ 1.2e-4 (21000) |")
    print(f"\n({time.perf_counter() - t0:.1f} s)")


def comparison_table(mg, units: int, steps: int) -> None:
    """Print part 4."""
    load = os.getloadavg()[0]
    rows = mg.compare_models(units=units, steps=steps, progress=False)
    print(f"\n## 4. One step ahead on the z-scored series, {units} units each, {steps} BPTT updates "
          f"(TDNN {3 * steps}); load average {load:.1f} at the start\n")
    print("| model | test NRMSE | training s | ÷ ESN | trained numbers | updates |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = rows[0]["seconds"]
    for r in rows:
        print(f"| {r['model']} | {r['nrmse']:.2e} | {r['seconds']:.2f} | {r['seconds'] / base:.0f} | "
              f"{r['trained']} | {r['updates']} |")


def main(argv=None) -> int:
    """Run the four parts and print their tables; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, N = 50, short training (a smoke run)")
    ap.add_argument("--seeds", type=int, default=10, help="reservoir seeds for parts 1 and 2 (default 10)")
    args = ap.parse_args(argv)
    common.print_header("Echo-state and time-delay networks (issue 15)")
    print(f"# load average {os.getloadavg()[0]:.1f} (other processes share the machine: times are inflated)")
    seeds = list(range(2 if args.quick else args.seeds))
    mg = common.example("mackey_glass")
    capacity_table([50] if args.quick else [50, 100], seeds)
    one_step_table(mg, seeds)
    free_run_table(mg, seeds[:2] if args.quick else seeds[:5], 0 if args.quick else 21000)
    comparison_table(mg, 20 if args.quick else 100, 30 if args.quick else 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
