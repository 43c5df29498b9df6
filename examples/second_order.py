r"""Forward mode, curvature products and Hessian-free optimisation on a small Elman network, step by step.

1. **Forward and reverse mode agree**: ⟨v, J u⟩ computed as v · (J u) (forward mode, one pass for u) and as
   (Jᵀ v) · u (reverse mode, one pass for v).
2. **G and H**: the Gauss–Newton matrix G = Jᵀ H_L J and the Hessian H of E, built column by column from
   products at a tiny size: G is positive semi-definite, H is not; they coincide where the residuals vanish.
3. **Hessian-free training** on a task with a long lag: the network reads a sequence of T random numbers and
   must output the *first* one at the end (E = (1/B) Σ_b ½ (z_b − x_{1,b})²). Hessian-free optimisation with
   and without structural damping, and SGD with momentum for comparison, from the same start; each prints λ,
   CG iterations and the loss as it trains (the training loop's progress bar).

    python examples/second_order.py                 # about half a minute
    python examples/second_order.py --T 30 --steps 60
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import gradlab
from gradlab import nn
from gradlab.curvature import gauss_newton_matrix, hessian_matrix
from gradlab.nn.hessian_free import FunctionObjective, HessianFree, Recorded


def agreement(out=print, seed=0):
    r"""Part 1: return |v·(J u) − (Jᵀ v)·u| relative, for a random u, v on an unrolled Elman network."""
    rng = np.random.default_rng(seed)
    cell = nn.ElmanCell(3, 4, 2, rng=seed)
    run = nn.unroll(cell, rng.standard_normal((6, 3)))
    ys = run.output_sequence                                   # y_1 … y_6, shape (6, 2)
    u = {p: rng.standard_normal(p.shape) for p in cell.parameters()}
    v = rng.standard_normal(ys.shape)
    forward = float(np.sum(v * gradlab.jvp(ys, u)))            # v · (J u)
    (ys * v).sum().backward()
    reverse = sum(float(np.sum(p.grad * u[p])) for p in cell.parameters())   # (Jᵀ v) · u
    rel = abs(forward - reverse) / abs(reverse)
    out(f"1. <v, J u>: forward mode {forward:.15f}, reverse mode {reverse:.15f} (relative difference {rel:.1e})")
    return rel


def curvature(out=print, seed=0):
    r"""Part 2: return (smallest eigenvalue of G, of H, max |H − G| at zero residuals)."""
    rng = np.random.default_rng(seed)
    cell = nn.ElmanCell(2, 2, 1, rng=seed)
    params = cell.parameters()
    xs, ds = rng.standard_normal((4, 2)), rng.standard_normal((4, 1))
    run = nn.unroll(cell, xs)
    E = nn.sequence_loss(run, ds)
    G, H = gauss_newton_matrix(E, run.outputs, params), hessian_matrix(E, params)
    g_min, h_min = np.linalg.eigvalsh(G).min(), np.linalg.eigvalsh(H).min()
    with gradlab.no_grad():
        fitted = np.stack([y.data for y in nn.unroll(cell, xs).outputs])
    run = nn.unroll(cell, xs)
    E0 = nn.sequence_loss(run, fitted)                         # targets = outputs: zero residuals
    gap = np.abs(hessian_matrix(E0, params) - gauss_newton_matrix(E0, run.outputs, params)).max()
    n = G.shape[0]
    out(f"2. {n} parameters: smallest eigenvalue of G {g_min:.2e} (positive semi-definite), of H {h_min:.3f}; "
        f"with zero residuals max |H - G| = {gap:.1e}")
    return g_min, h_min, gap


def first_value_task(T: int, B: int, rng):
    """Sequences of T numbers (one input each); the target is the first one."""
    xs = rng.uniform(-1, 1, (T, B, 1))
    return xs, xs[0].copy()


def train(method: str, T: int, steps: int, seed: int, hidden: int = 16, B: int = 200, progress=None) -> dict:
    r"""Part 3 for one method (``"hf"``, ``"hf+sd"``, ``"sgd"``): return the losses and the test error.

    Every HF step draws B fresh sequences (its curvature batch: the first B/4 of them); SGD takes 20 updates
    of B/20 fresh sequences in the same time, so both see as many sequences."""
    rng = np.random.default_rng([seed, T])
    cell = nn.ElmanCell(1, hidden, 1, rng=seed)
    cell.W_s.data = cell.W_s.data / np.max(np.abs(np.linalg.eigvals(cell.W_s.data)))   # spectral radius 1
    test_xs, test_d = first_value_task(T, 1000, np.random.default_rng([seed, T, 1]))

    def recorder(xs, d):
        def record(n=None):
            n = len(d) if n is None else n
            run = nn.unroll(cell, xs[:, :n], fused=True)
            z = run.output_sequence[T - 1]
            return Recorded(nn.mse_half(z, d[:n]) * (1.0 / n), z, run.hiddens, "mse_half", 1.0 / n)
        return record

    if method == "sgd":
        opt = nn.Momentum(cell, lr=0.05, momentum=0.9)
        history = nn.fit(lambda _: recorder(*first_value_task(T, B // 20, rng))().loss, range(steps * 20), opt,
                         clip_norm=1.0, progress=progress, desc=f"SGD T={T}")
    else:
        hf = HessianFree(cell, damping=1.0, structural_damping=0.3 if method == "hf+sd" else 0.0)

        def step(_):
            record = recorder(*first_value_task(T, B, rng))
            return hf.step(FunctionObjective(cell, record, curvature_record=lambda: record(B // 4)))
        history = nn.fit(step, range(steps), progress=progress, desc=f"{method} T={T}")
    with gradlab.no_grad():
        z = nn.unroll(cell, test_xs, fused=True).output_sequence.data[T - 1]
    return {"losses": history.losses, "test_mse": float(np.mean((z - test_d) ** 2)), "reports": history.reports,
            "seconds": history.seconds}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", type=int, default=20, help="the lag: sequence length (default 20)")
    p.add_argument("--steps", type=int, default=25, help="HF steps (SGD takes 20 updates per HF step)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    agreement()
    curvature()
    print(f"3. remember the first of T = {args.T} numbers (predicting 0 gives a test MSE of 1/3):")
    for method, name in (("sgd", "SGD + momentum + clipping"), ("hf", "Hessian-free"),
                         ("hf+sd", "Hessian-free + structural damping")):
        r = train(method, args.T, args.steps, args.seed, progress=None)
        extra = ""
        if r["reports"]:
            cg = sum(rep.cg_iterations for rep in r["reports"])
            extra = f", {cg} CG iterations in all, final λ {r['reports'][-1].next_damping:.3g}"
        print(f"   {name:<36} training loss {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f}, "
              f"test MSE {r['test_mse']:.4f} ({r['seconds']:.1f} s{extra})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
