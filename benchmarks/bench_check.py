r"""Cost of a gradient check against the number of parameter elements of an LSTM: gradlab's full
check (every element by complex-step differences) and fast check (random projections), next to
PyTorch's ``torch.autograd.gradcheck`` in slow and fast mode on the same loss when PyTorch is installed.

Model: the standard LSTM (gates i, f, g, o), one sequence of T = 4 steps, E = Σ_t ½‖y_t − d_t‖², float64;
the candidate is the hand derivation ``derivations/lstm_bptt.py``. Element counts 4H(D + H + 1) + O(H + 1)
from tens to ~100k. A full check at the largest sizes takes minutes, so full checks whose estimated
time (from the cost per element measured at smaller sizes) exceeds ``--full-budget`` seconds are
estimated, not run, and marked so.

Targets (issue 4): fast mode under one second at 100k parameters; full mode no worse than two loss
evaluations per element.

Run:  .venv/bin/python benchmarks/bench_check.py  [--quick] [--full-budget 30]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import argparse
import os
import sys
import time

import numpy as np

from gradlab.check import check_gradient, load_derivation
from gradlab.specs import lstm

HERE = os.path.dirname(os.path.abspath(__file__))
DERIVATION = os.path.join(HERE, "..", "derivations", "lstm_bptt.py")
# (D, H, O): 4H(D + H + 1) + O(H + 1) elements
SIZES = [(1, 1, 1), (2, 3, 2), (4, 8, 2), (8, 16, 4), (16, 32, 4), (24, 64, 8), (32, 96, 8), (32, 140, 8)]
T = 4


def torch_loss_and_inputs(problem):
    """Return (f, inputs) with f(*inputs) the same LSTM loss in PyTorch (float64), for gradcheck."""
    import torch

    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in problem.params.items()}
    xs = torch.tensor(problem.data["xs"], dtype=torch.float64)
    ds = torch.tensor(problem.data["ds"], dtype=torch.float64)
    s0 = torch.tensor(problem.data["s_0"], dtype=torch.float64)
    c0 = torch.tensor(problem.data["c_0"], dtype=torch.float64)
    H = s0.shape[0]
    names = ("W_x", "W_s", "b_s", "W_y", "b_y")

    def f(W_x, W_s, b_s, W_y, b_y):
        s, c, E = s0, c0, 0.0
        for t in range(xs.shape[0]):
            a = W_x @ xs[t] + W_s @ s + b_s
            i, fg, g, o = torch.sigmoid(a[:H]), torch.sigmoid(a[H:2 * H]), torch.tanh(a[2 * H:3 * H]), torch.sigmoid(a[3 * H:])
            c = fg * c + i * g
            s = o * torch.tanh(c)
            r = W_y @ s + b_y - ds[t]
            E = E + 0.5 * (r * r).sum()
        return E

    return f, tuple(p[n] for n in names)


def sample_cost(problem, k: int = 60) -> float:
    """Seconds per element of a full check's finite differences, timed on ``k`` sampled elements."""
    from gradlab.check import finite

    rec = problem.record()
    E = finite.LossFunction(rec, problem.params)
    rng = np.random.default_rng(0)
    names = list(problem.params)
    t0 = time.perf_counter()
    for _ in range(k):
        name = names[rng.integers(len(names))]
        shape = problem.params[name].shape
        idx = tuple(int(rng.integers(s)) for s in shape)
        finite.estimate(E, finite.unit({name: shape}, name, idx), "complex")
    return (time.perf_counter() - t0) / k


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the smaller sizes")
    ap.add_argument("--full-budget", type=float, default=20.0, help="seconds a full check may take before it is estimated")
    args = ap.parse_args(argv)
    print(common.limit_threads() if hasattr(common, "limit_threads") else "")
    print(common.machine_line() if hasattr(common, "machine_line") else "")
    torch = common.optional("torch")
    cand = load_derivation(DERIVATION)
    spec = lstm()
    sizes = SIZES[:5] if args.quick else SIZES
    rows = []
    warm = spec.draw({"T": 2, "D": 1, "H": 1, "O": 1})
    check_gradient(cand, problem=warm, mode="fast")          # imports and first-call costs, not timed
    if torch is not None:
        f, inputs = torch_loss_and_inputs(warm)
        torch.autograd.gradcheck(f, inputs, fast_mode=True)
    for D, H, O in sizes:
        problem = spec.draw({"T": T, "D": D, "H": H, "O": O}, seed=0)
        n = sum(v.size for v in problem.params.values())
        fast_t, fast = timed(lambda: check_gradient(cand, problem=problem, mode="fast"))
        assert fast.verdict == "pass", fast.format()
        per_el = sample_cost(problem)
        if per_el * n <= args.full_budget:
            full_t, full = timed(lambda: check_gradient(cand, problem=problem, mode="full"))
            assert full.verdict == "pass", full.format()
            full_txt = f"{full_t:.3f}"
            evals = full.counts["loss_evaluations"] / n
        else:
            full_t = per_el * n + fast_t
            full_txt = f"~{full_t:.1f}*"
            evals = 1.0
        row = {"n": n, "sizes": f"D={D} H={H} O={O}", "fast": fast_t, "full": full_t, "full_txt": full_txt,
               "fast_evals": fast.counts["loss_evaluations"], "full_evals_per_el": evals}
        if torch is not None:
            f, inputs = torch_loss_and_inputs(problem)
            dt, _ = timed(lambda: torch.autograd.gradcheck(f, inputs, fast_mode=True, eps=1e-6, atol=1e-5, rtol=1e-3))
            row["torch_fast"] = dt
            slow_per_el = rows[-1]["torch_slow"] / rows[-1]["n"] if rows else 0.0
            if slow_per_el * n <= args.full_budget:
                dt, _ = timed(lambda: torch.autograd.gradcheck(f, inputs, fast_mode=False, eps=1e-6, atol=1e-5,
                                                               rtol=1e-3))
                row["torch_slow"], row["torch_slow_txt"] = dt, f"{dt:.3f}"
            else:
                row["torch_slow"] = slow_per_el * n
                row["torch_slow_txt"] = f"~{row['torch_slow']:.1f}*"
        rows.append(row)
        print(f"  measured n={n:>7}: fast {fast_t:.3f} s, full {full_txt} s", file=sys.stderr, flush=True)
    print()
    print(f"### Gradient check cost vs LSTM size (T = {T}, float64, one BLAS thread; * = estimated: "
          f"gradlab full from the cost per element timed on 60 sampled elements at that size, torch slow from "
          f"its cost per element at the previous size)")
    print()
    head = "| elements | sizes | gradlab fast (s) | loss evals (fast) | gradlab full (s) | loss evals per element (full) | full / fast |"
    sep = "|---:|---|---:|---:|---:|---:|---:|"
    if torch is not None:
        head += " torch gradcheck fast (s) | torch gradcheck slow (s) | gradlab fast / torch fast | gradlab full / torch slow |"
        sep += "---:|---:|---:|---:|"
    print(head)
    print(sep)
    for r in rows:
        line = (f"| {r['n']} | {r['sizes']} | {r['fast']:.3f} | {r['fast_evals']} | {r['full_txt']} | "
                f"{r['full_evals_per_el']:.2f} | {r['full'] / r['fast']:.0f} |")
        if torch is not None:
            line += (f" {r['torch_fast']:.3f} | {r['torch_slow_txt']} | {r['fast'] / r['torch_fast']:.2f} | "
                     f"{r['full'] / r['torch_slow']:.2f} |")
        print(line)
    if torch is None:
        print()
        print("PyTorch is not installed here: the torch.autograd.gradcheck columns are omitted.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
