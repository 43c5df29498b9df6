r"""Curvature products and Hessian-free steps (issue 14): what they cost next to one gradient, measured in
one process with the rows interleaved (``common.compare``), so that the load of the shared machine hits every
row alike and the *ratios* are the result. Nothing is asserted.

1. **G v against one gradient** at the char-RNN size (B = 1, T = 25, D = V = 65, H = 100; one-hot inputs,
   softmax cross-entropy at every step; an Elman and an LSTM network, ``unroll(fused=True)``). Rows:
   ``fwd+bwd`` (record the loss and back-propagate: one gradient, the unit); ``J v`` (forward mode on the
   recorded graph); ``G v`` (J v, H_L by the cross-entropy's formula, Jᵀ(·): one CG product of HF on a
   recorded graph); ``G v, H_L from the graph`` (H_L by differentiating the recorded loss twice);
   ``record + G v`` (a product from scratch); ``H v`` (reverse-over-forward). Target: G v ≤ 3 × fwd+bwd.
2. **One HF iteration** of an Elman network (tanh, H = 32) on the adding-problem shape (two inputs, one
   output read after the last step, E = (1/B) Σ_b ½ (z_b − d_b)², structural damping μ = 0.3): batch 300
   for the gradient and 60 for the curvature (Sutskever's code uses 300; gradlab's harness the same), T = 50
   and 100. Printed: seconds per HF step, CG iterations per step, and the step in units of one gradient
   on the 300-sequence batch, over a few consecutive steps from a random start.

    python benchmarks/bench_hessian_free.py            # about a minute
    python benchmarks/bench_hessian_free.py --quick    # a smoke run
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import common  # noqa: I001  (first: one BLAS thread before NumPy loads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import gradlab  # noqa: E402
from gradlab import nn  # noqa: E402
from gradlab.curvature import GaussNewton, hessian_product  # noqa: E402
from gradlab.nn.hessian_free import FunctionObjective, HessianFree, Recorded  # noqa: E402


def char_network(kind: str, B=1, T=25, V=65, H=100, seed=0):
    """A char-RNN: cell, one-hot inputs (T, B, V), integer targets (T, B) and ``record() -> Recorded``."""
    rng = np.random.default_rng(seed)
    cell = (nn.ElmanCell if kind == "elman" else nn.LSTMCell)(V, H, V, rng=seed)
    xs = np.eye(V)[rng.integers(0, V, (T, B))]
    ds = rng.integers(0, V, (T, B))

    def record():
        run = nn.unroll(cell, xs, fused=True)
        E = nn.softmax_cross_entropy(run.output_sequence, ds)
        return Recorded(E, run.output_sequence, run.hiddens, "softmax_cross_entropy", 1.0)

    return cell, record


def product_rows(kind: str, args) -> dict:
    """Part 1 for one network: {row: seconds per call}."""
    cell, record = char_network(kind)
    params = cell.parameters()
    rng = np.random.default_rng(1)
    v = {p: rng.standard_normal(p.shape) * 0.1 for p in params}
    rec = record()
    named = GaussNewton(rec.loss, rec.outputs, params, hessian="softmax_cross_entropy")
    generic = GaussNewton(rec.loss, rec.outputs, params)
    # the formula and the twice-differentiated graph agree before anything is timed
    a, b = named(v), generic(v)
    err = max(float(np.max(np.abs(a[p] - b[p])) / (np.max(np.abs(a[p])) + 1e-300)) for p in params)
    if err > 1e-10:
        raise ValueError(f"{kind}: G v with H_L by formula and from the graph differ by {err:.1e}")

    def gradient():
        for p in params:
            p.grad = None
        record().loss.backward()

    def record_and_gv():
        r = record()
        return GaussNewton(r.loss, r.outputs, params, hessian="softmax_cross_entropy")(v)

    rows = {"fwd+bwd (one gradient)": gradient,
            "J v (forward mode, recorded graph)": lambda: gradlab.jvp(rec.outputs, v),
            "G v (recorded graph, H_L by formula)": lambda: named(v),
            "G v (recorded graph, H_L from the graph)": lambda: generic(v),
            "record + G v": record_and_gv,
            "H v (reverse-over-forward)": lambda: hessian_product(rec.loss, v)}
    return common.compare(rows, repeat=args.repeat, min_time=args.min_time)


def print_rows(title: str, times: dict) -> None:
    """A Markdown table of the rows with their ratio to the first one."""
    base = next(iter(times.values()))
    print(f"\n{title}\n")
    print("| row | ms per call | × fwd+bwd |")
    print("| --- | ---: | ---: |")
    for name, t in times.items():
        print(f"| {name} | {t * 1e3:.2f} | {t / base:.2f} |")
    sys.stdout.flush()


def adding_like(B: int, T: int, rng):
    """Sequences of the adding problem's shape: (value, marker) pairs, two marked; target ½ + (X₁ + X₂)/4."""
    values = rng.uniform(-1, 1, (T, B))
    markers = np.zeros((T, B))
    first = rng.integers(0, 10, B)
    second = rng.integers(T // 2, T, B)
    markers[first, np.arange(B)] = 1.0
    markers[second, np.arange(B)] = 1.0
    targets = 0.5 + (values[first, np.arange(B)] + values[second, np.arange(B)]) / 4.0
    return np.stack([values, markers], axis=-1), targets[:, None]


def hf_iteration(T: int, steps: int, args) -> dict:
    """Part 2 at length T: seconds and CG iterations of ``steps`` consecutive HF steps, and one gradient."""
    rng = np.random.default_rng(T)
    cell = nn.ElmanCell(2, 32, 1, rng=T)
    rho = float(np.max(np.abs(np.linalg.eigvals(cell.W_s.data))))
    cell.W_s.data = cell.W_s.data / rho                     # spectral radius 1, as the harness starts Elman
    xs, ds = adding_like(300, T, rng)

    def on(n):
        def record():
            run = nn.unroll(cell, xs[:, :n], fused=True)
            z = run.output_sequence[T - 1]
            E = nn.mse_half(z, ds[:n]) * (1.0 / n)
            return Recorded(E, z, run.hiddens, "mse_half", 1.0 / n)
        return record

    objective = FunctionObjective(cell, on(300), curvature_record=on(60))
    gradient = common.compare({"grad": lambda: objective.gradient()}, repeat=max(2, args.repeat // 3),
                              min_time=args.min_time)["grad"]
    hf = HessianFree(cell, damping=1.0, structural_damping=0.3)
    seconds, iterations, losses = [], [], []
    for _ in range(steps):
        t0 = common.CLOCK()
        report = hf.step(objective)
        seconds.append(common.CLOCK() - t0)
        iterations.append(report.cg_iterations)
        losses.append(report.loss)
    return {"T": T, "gradient": gradient, "seconds": seconds, "iterations": iterations, "losses": losses,
            "damping": hf.damping}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few rounds and steps (a smoke run)")
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args()
    if args.quick:
        args.repeat = 2
    args.min_time = 0.01 if args.quick else 0.05
    common.print_header("curvature products and Hessian-free steps")
    print(f"# load average {os.getloadavg()[0]:.1f} / {os.getloadavg()[1]:.1f} / {os.getloadavg()[2]:.1f} "
          f"(1 / 5 / 15 min) on {os.cpu_count()} cores; clock: "
          f"{'process CPU' if common.CLOCK is time.process_time else 'wall'}")
    for kind in ("elman", "lstm"):
        print_rows(f"## 1. {kind}: products at B=1, T=25, V=65, H=100 (best of {args.repeat} interleaved rounds)",
                   product_rows(kind, args))
    steps = 2 if args.quick else 5
    print("\n## 2. Hessian-free steps: Elman H=32, adding shape, gradient batch 300, curvature batch 60, μ = 0.3\n")
    print("| T | one gradient (ms) | HF step (s), each | CG iterations, each | HF step ÷ gradient (median) | loss before each |")
    print("| ---: | ---: | --- | --- | ---: | --- |")
    for T in ((20,) if args.quick else (50, 100)):
        r = hf_iteration(T, steps, args)
        print(f"| {T} | {r['gradient'] * 1e3:.1f} | {', '.join(f'{s:.2f}' for s in r['seconds'])} | "
              f"{', '.join(map(str, r['iterations']))} | {np.median(r['seconds']) / r['gradient']:.0f} | "
              f"{', '.join(f'{x:.4f}' for x in r['losses'])} |")
        sys.stdout.flush()
    print(f"\n# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
