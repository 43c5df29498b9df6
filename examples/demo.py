r"""BPTT by hand, checked: an Elman RNN's gradient derived in lecture notation, written in NumPy,
compared with gradlab's reverse mode parameter by parameter and time step by time step.

The network and loss (the lecture's, with the ½):

    s_t = tanh(W_x x_t + W_s s_{t-1} + b_s),   y_t = W_y s_t + b_y,   E = Σ_t ½‖y_t − d_t‖²

The hand derivation, backwards from t = T with δ_{T+1} = 0:

    ∂E/∂y_t = y_t − d_t
    ∂E/∂s_t = W_yᵀ (y_t − d_t) + W_sᵀ δ_{t+1}          (the second term carries E_{t+1..T} back)
    δ_t     = ∂E/∂s_t ⊙ (1 − s_t²)                     (through tanh)
    ∂E/∂W_s = Σ_t δ_t s_{t−1}ᵀ,  ∂E/∂W_x = Σ_t δ_t x_tᵀ,  ∂E/∂b_s = Σ_t δ_t,
    ∂E/∂W_y = Σ_t (y_t − d_t) s_tᵀ,  ∂E/∂b_y = Σ_t (y_t − d_t)

Run:  python examples/demo.py [--seed 0] [--T 5] [--hidden 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import gradlab
from gradlab.nn.cells import ElmanCell
from gradlab.nn.losses import sequence_loss
from gradlab.nn.unroll import unroll

__all__ = ["bptt_by_hand", "bptt_forgetting_the_recurrence", "run", "main"]

NAMES = ("W_x", "W_s", "b_s", "W_y", "b_y")


def _forward(W, xs, ds):
    s = [np.zeros(W["W_s"].shape[0])]                      # s_0 = 0
    ys = []
    for x in xs:
        s.append(np.tanh(W["W_x"] @ x + W["W_s"] @ s[-1] + W["b_s"]))
        ys.append(W["W_y"] @ s[-1] + W["b_y"])
    E = sum(0.5 * np.sum((y - d) ** 2) for y, d in zip(ys, ds))
    return s, ys, E


def bptt_by_hand(W: dict, xs, ds, *, recurrent_term: bool = True):
    r"""Return (E, {name: ∂E/∂name}, [δ_t s_{t−1}ᵀ for t = 1..T]) by the lecture's BPTT equations in NumPy."""
    s, ys, E = _forward(W, xs, ds)
    g = {k: np.zeros_like(v) for k, v in W.items()}
    per_step = [None] * len(xs)
    delta_next = np.zeros_like(s[0])                       # δ_{T+1} = 0
    for t in range(len(xs), 0, -1):                       # t = T, …, 1 (s[t] is s_t)
        dy = ys[t - 1] - ds[t - 1]
        g["W_y"] += np.outer(dy, s[t])
        g["b_y"] += dy
        ds_t = W["W_y"].T @ dy + (W["W_s"].T @ delta_next if recurrent_term else 0.0)
        delta = ds_t * (1.0 - s[t] ** 2)
        per_step[t - 1] = np.outer(delta, s[t - 1])
        g["W_s"] += per_step[t - 1]
        g["W_x"] += np.outer(delta, xs[t - 1])
        g["b_s"] += delta
        delta_next = delta
    return E, g, per_step


def bptt_forgetting_the_recurrence(W: dict, xs, ds):
    r"""Return the same as :func:`bptt_by_hand` with a classic slip: ∂E/∂s_t = W_yᵀ(y_t − d_t) only,
    dropping the W_sᵀ δ_{t+1} term (each E_t treated as if it depended on step t alone)."""
    return bptt_by_hand(W, xs, ds, recurrent_term=False)


def run(seed: int = 0, T: int = 5, hidden: int = 3, inputs: int = 2, outputs: int = 1, out=print) -> dict:
    """Build the network, compare hand BPTT with the engine, print the tables; return the max errors."""
    rng = np.random.default_rng(seed)
    cell = ElmanCell(inputs, hidden, outputs, rng=rng)
    P = cell.parameters_by_name()
    for p in P.values():                                   # livelier weights than the default init
        p.data = rng.uniform(-0.8, 0.8, p.shape)
    xs = rng.normal(size=(T, inputs))                      # one sequence, unbatched: x_t has shape (D,)
    ds = rng.normal(size=(T, outputs))

    t0 = time.perf_counter()
    net = unroll(cell, xs)
    E = sequence_loss(net, ds, "mse_half")
    E.backward()
    per_t = gradlab.contributions(E, P["W_s"], by="t")
    engine_ms = (time.perf_counter() - t0) * 1e3

    W = {k: P[k].data for k in NAMES}
    E_hand, g_hand, steps_hand = bptt_by_hand(W, xs, ds)
    _, g_slip, _ = bptt_forgetting_the_recurrence(W, xs, ds)

    out(f"Elman RNN  D={inputs} H={hidden} O={outputs}, one sequence of T={T} steps, seed {seed}")
    out("  s_t = tanh(W_x x_t + W_s s_(t-1) + b_s),  y_t = W_y s_t + b_y,  E = sum_t 1/2 |y_t - d_t|^2")
    out(f"  E (engine) = {E.item():.10f}   E (by hand) = {E_hand:.10f}   engine forward+backward {engine_ms:.1f} ms")
    out("")
    out("1. Hand-derived BPTT gradient vs gradlab's reverse mode")
    out(f"  {'param':6} {'shape':8} {'|dE/dp| engine':>15} {'max |hand - engine|':>20} {'slip: no W_s^T delta_t+1':>26}")
    errors, slips = {}, {}
    for k in NAMES:
        ref = P[k].grad
        errors[k] = float(np.max(np.abs(g_hand[k] - ref)))
        slips[k] = float(np.max(np.abs(g_slip[k] - ref)))
        out(f"  {k:6} {str(P[k].shape):8} {np.linalg.norm(ref):15.6f} {errors[k]:20.2e} {slips[k]:26.2e}")
    ok = max(errors.values()) < 1e-10
    caught = [k for k in NAMES if slips[k] > 1e-6]
    out(f"  -> hand derivation {'agrees' if ok else 'DISAGREES'} to {max(errors.values()):.1e}; "
        f"the slip is caught in {', '.join(caught)} (W_y, b_y do not need the recurrence)")
    out("")
    out("2. The accumulative gradient dE/dW_s = sum_t delta_t s_(t-1)^T, one term per time step")
    out(f"  {'t':>3} {'|term| by hand':>15} {'|term| engine':>14} {'max |diff|':>11}")
    total = np.zeros_like(P["W_s"].data)
    step_errors = []
    for t in range(1, T + 1):
        mine = steps_hand[t - 1]
        theirs = per_t.get(t, np.zeros_like(mine))
        total = total + theirs
        step_errors.append(float(np.max(np.abs(mine - theirs))))
        out(f"  {t:3d} {np.linalg.norm(mine):15.6f} {np.linalg.norm(theirs):14.6f} {step_errors[-1]:11.2e}")
    sum_error = float(np.max(np.abs(total - P["W_s"].grad)))
    out(f"  sum {np.linalg.norm(total):15.6f}  = |dE/dW_s| {np.linalg.norm(P['W_s'].grad):.6f}   "
        f"max |sum_t term_t - dE/dW_s| = {sum_error:.1e}")
    out("  (s_0 = 0, so the t = 1 term is zero; a learned or given s_0 would make it count)")
    unkeyed = sorted(str(k) for k in per_t if k not in range(1, T + 1))
    if unkeyed:
        out(f"  (contributions outside a time step: {unkeyed})")
    return {"max_error": max(errors.values()), "slip_caught": caught, "step_error": max(step_errors),
            "sum_error": sum_error}


def main(argv=None) -> int:
    """Parse arguments, run the demo, return the exit status (1 if the hand gradient disagrees)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--T", type=int, default=5, help="sequence length (default 5)")
    ap.add_argument("--hidden", type=int, default=3, help="hidden units H (default 3)")
    args = ap.parse_args(argv)
    result = run(seed=args.seed, T=args.T, hidden=args.hidden)
    return 0 if result["max_error"] < 1e-10 and result["sum_error"] < 1e-10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
