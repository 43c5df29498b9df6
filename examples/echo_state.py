r"""Echo-state networks: a fixed random reservoir, a trained linear readout, and the lecture's points
measured.

1. **The echo state property.** Two copies of one reservoir start from different random states and
   read the same input; the distance between their states is printed over time for several spectral
   radii ρ (tanh units, input scaling 0.1). Below the stability limit (ρ < 1) it shrinks to rounding
   level: the state is a function of the input history (an *echo*). Far above it (ρ = 3) it does not:
   the state also remembers where it started.
2. **The readout is linear regression.** Ridge regression in closed form and gradient descent through
   gradlab's engine (heavy-ball momentum on the same loss) reach the same W_y, b_y.
3. **No BPTT.** On one task (recall the input of 5 steps ago), an ESN and an Elman network of the same
   size: the ESN's training is one regression on states computed once, and reverse mode visits only
   the readout; the Elman network is trained by BPTT through all steps of every window. Printed: error,
   wall-clock seconds (a shared machine: compare within the run), and the nodes reverse mode visits
   per update.
4. **Memory capacity** (Jaeger 2001): MC = Σ_k r²(u_{t−k}, y_k(t)), k = 1 … 2N, which cannot exceed N,
   for a random tanh reservoir, a random linear one and a linear *cycle* reservoir (Rodan & Tiňo 2011),
   N = 50 by default (``--units 50 100`` for the published size). Ceni & Gallicchio (2023, Table 1,
   N = 100, 10 seeds) report 30.40 ± 3.76 (leaky ESN, α = 1), 49.35 ± 17.13 (linear ESN) and
   99.09 ± 0.01 (linear SCR).

``--figures DIR`` writes the state-distance and memory-capacity plots (PNG) there.

Run:  python examples/echo_state.py [--seed 0] [--units 50] [--figures DIR]
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads: matrices this small run faster on one BLAS thread
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import time

import numpy as np
from tqdm.auto import tqdm

import gradlab
from gradlab.autodiff import requires_grad, toposort
from gradlab.data import nrmse
from gradlab.nn.cells import ElmanCell
from gradlab.nn.losses import mse_half
from gradlab.nn.optim import Adam
from gradlab.nn.reservoir import (ReservoirCell, fit_readout, memory_capacity, reservoir_states, state_distance,
                                  train_readout)
from gradlab.nn.train import fit
from gradlab.nn.unroll import unroll

__all__ = ["RADII", "MC_LITERATURE", "echo_state_property", "readout_agreement", "no_bptt", "capacities",
           "distance_figure", "capacity_figure", "run", "main"]

RADII = (0.5, 0.9, 1.5, 3.0)
#: Ceni & Gallicchio (2023), Table 1, N = 100: (mean, std) over 10 seeds
MC_LITERATURE = {"random tanh": (30.40, 3.76), "random linear": (49.35, 17.13), "linear cycle": (99.09, 0.01)}
RESERVOIRS = {"random tanh": dict(topology="random", activation="tanh"),
              "random linear": dict(topology="random", activation="identity"),
              "linear cycle": dict(topology="cycle", activation="identity")}


def _tick(bar):
    def callback(i, loss, history):
        bar.update(1)
        return False
    return callback


def echo_state_property(*, units: int = 50, T: int = 300, radii=RADII, seed: int = 0) -> dict:
    r"""Return {ρ: distances (T,)} between two runs from different initial states under one input."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, (T, 1))
    a, b = rng.uniform(-1, 1, units), rng.uniform(-1, 1, units)
    return {rho: state_distance(ReservoirCell(1, units, None, spectral_radius=rho, input_scaling=0.1, rng=seed),
                                u, a, b) for rho in radii}


def _recall_task(T: int, lag: int, seed: int):
    u = np.random.default_rng(seed).uniform(-0.8, 0.8, (T, 1))
    d = np.zeros_like(u)
    d[lag:] = u[:-lag]
    return u, d


def readout_agreement(*, units: int = 30, ridge: float = 0.1, steps: int = 1500, seed: int = 0, progress=None) -> dict:
    r"""Fit the readout in closed form, then from zero by gradient descent through the engine; return the
    largest relative difference of the weights, the loss curve and the rate predicted for heavy ball."""
    u, d = _recall_task(600, 5, seed)
    cell = ReservoirCell(1, units, 1, input_scaling=0.5, rng=seed)
    states = fit_readout(cell, u, d, ridge=ridge, washout=50)
    W, b = cell.W_y.data.copy(), cell.b_y.data.copy()
    cell.W_y.data[...] = 0.0
    cell.b_y.data[...] = 0.0
    with tqdm(total=steps, desc="readout by GD", leave=False, disable=progress is False, mininterval=0.5) as bar:
        hist = train_readout(cell, states, d, ridge=ridge, washout=50, steps=steps, progress=False,
                             callback=_tick(bar))
    diff = max(np.abs(cell.W_y.data - W).max() / np.abs(W).max(), np.abs(cell.b_y.data - b).max() / max(np.abs(b).max(), 1e-300))
    S = np.hstack([states[50:], np.ones((len(states) - 50, 1))])
    H = S.T @ S
    H[:-1, :-1] += ridge * np.eye(units)
    eig = np.linalg.eigvalsh(H)
    kappa = eig[-1] / eig[0]
    return {"difference": float(diff), "losses": hist.losses, "kappa": float(kappa),
            "rate": float((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)), "steps": steps}


def no_bptt(*, units: int = 50, lag: int = 5, steps: int = 300, window: int = 40, seed: int = 0,
            progress=None) -> dict:
    r"""Train an ESN (ridge) and an Elman network (BPTT, Adam) of ``units`` units to output u_{t−lag};
    return the test NRMSE, seconds and reverse-mode nodes per update of each."""
    u, d = _recall_task(3000, lag, seed)
    n_train = 2500
    esn = ReservoirCell(1, units, 1, spectral_radius=0.9, input_scaling=0.1, rng=seed)
    t0 = time.perf_counter()
    fit_readout(esn, u[:n_train], d[:n_train], ridge=1e-8, washout=50)
    esn_seconds = time.perf_counter() - t0
    S, _ = reservoir_states(esn, u)
    esn_err = nrmse(S[n_train:] @ esn.W_y.data.T + esn.b_y.data, d[n_train:])
    # what reverse mode visits: the readout's loss on recorded states (constants) ...
    E_esn = mse_half(esn.output(gradlab.tensor(S[:window])), d[:window])
    esn_nodes = len(toposort([E_esn], follow=requires_grad))
    # ... and an Elman network's loss through the unrolled window (BPTT)
    elman = ElmanCell(1, units, 1, rng=seed)
    rng = np.random.default_rng(seed + 1)
    opt = Adam(elman.parameters(), lr=3e-3)
    batch, washout = 32, lag + 2

    def step(_):
        starts = rng.integers(0, n_train - window, size=batch)
        xs = np.stack([u[s:s + window] for s in starts], axis=1)
        ds = np.stack([d[s:s + window] for s in starts], axis=1)
        y = unroll(elman, xs, fused=True).output_sequence
        return mse_half(y[washout:], ds[washout:]) * (1.0 / batch)

    elman_nodes = len(toposort([step(None)], follow=requires_grad))
    with tqdm(total=steps, desc="Elman BPTT", leave=False, disable=progress is False, mininterval=0.5) as bar:
        hist = fit(step, range(steps), opt, clip_norm=5.0, progress=False, callback=_tick(bar))
    with gradlab.no_grad():
        y = unroll(elman, u, fused=True).output_sequence.data
    return {"esn": {"nrmse": esn_err, "seconds": esn_seconds, "nodes": esn_nodes, "updates": 0},
            "elman": {"nrmse": nrmse(y[n_train:], d[n_train:]), "seconds": hist.seconds, "nodes": elman_nodes,
                      "updates": hist.steps},
            "units": units, "lag": lag, "window": window}


def capacities(*, units=(50,), seed: int = 0, n_train: int = 4000, progress=None) -> dict:
    r"""Return {(kind, N): MemoryCapacity} for the three reservoirs of :data:`RESERVOIRS` (ρ = 0.9, input
    scaling 0.1, ridge 1e-9, ``n_train`` training and 1000 test steps)."""
    out = {}
    jobs = [(kind, N) for N in units for kind in RESERVOIRS]
    with tqdm(total=len(jobs), desc="memory capacity", leave=False, disable=progress is False) as bar:
        for kind, N in jobs:
            cell = ReservoirCell(1, N, None, spectral_radius=0.9, input_scaling=0.1, rng=seed, **RESERVOIRS[kind])
            out[kind, N] = memory_capacity(cell, n_train=n_train, rng=seed + 1)
            bar.update(1)
    return out


def distance_figure(distances: dict, path) -> str:
    """Write the plot of the state distance over time, one line per spectral radius; return the path."""
    from gradlab.render import plots

    fig, ax = plots.new(title="Echo state property: two initial states, one input")
    T = len(next(iter(distances.values())))
    floor = 1e-17
    plots.lines(ax, np.arange(1, T + 1), {f"ρ = {rho:g}": np.maximum(dist, floor) for rho, dist in distances.items()},
                xlabel="time step t", ylabel=r"$\|s^a_t - s^b_t\|$", logy=True, legend="lower left")
    ax.set_ylim(floor, None)
    return str(plots.save(fig, path))


def capacity_figure(results: dict, path) -> str:
    """Write the cumulative memory capacity Σ_{j≤k} r²_j over the delay k, with the bound N drawn; return the path."""
    from gradlab.render import plots

    sizes = sorted({N for _, N in results})
    fig, axes = plots.new(1, len(sizes), title=r"Memory capacity: $\sum_k r^2(u_{t-k}, y_k) \leq N$")
    for ax, N in zip(np.atleast_1d(axes), sizes):
        curves = {f"{kind}: {results[kind, N].total:.1f}": np.cumsum(results[kind, N].r2)
                  for kind in RESERVOIRS if (kind, N) in results}
        delays = results[next(k for k in results if k[1] == N)].delays
        plots.lines(ax, delays, curves, xlabel="delay k", ylabel=r"$\sum_{j \leq k}\, r^2_j$", title=f"N = {N}",
                    hline=(N, f"bound N = {N}"), legend="lower right")
        ax.set_ylim(0, N * 1.1)
    return str(plots.save(fig, path))


def run(*, units=(50,), seed: int = 0, steps: int = 300, figures: str | None = None, n_train: int = 4000, out=print,
        progress=None) -> dict:
    """Run the four parts, print them, write the figures if asked; return the numbers."""
    dist = echo_state_property(seed=seed)
    out("1. Echo state property: ‖s_t^a − s_t^b‖ for two initial states, one input (50 tanh units)")
    marks = (1, 10, 50, 100, 300)
    out("   " + f"{'rho':>5} " + " ".join(f"{'t=' + str(t):>9}" for t in marks) + "   echo state property")
    for rho, dd in dist.items():
        holds = dd[-1] < 1e-8
        out("   " + f"{rho:5.2g} " + " ".join(f"{dd[t - 1]:9.1e}" for t in marks) +
            f"   {'holds' if holds else 'fails'}")
    agree = readout_agreement(seed=seed, progress=progress)
    out("")
    out(f"2. Readout: ridge in closed form vs {agree['steps']} heavy-ball steps through the engine (ridge 0.1)")
    out(f"   loss {agree['losses'][0]:.4g} -> {agree['losses'][-1]:.6g}; largest relative difference of W_y, b_y: "
        f"{agree['difference']:.1e} (condition number {agree['kappa']:.0f}, predicted rate {agree['rate']:.4f}/step)")
    cost = no_bptt(units=max(units), steps=steps, seed=seed, progress=progress)
    out("")
    out(f"3. No BPTT: recall u_(t-{cost['lag']}), {cost['units']} units each, test NRMSE on 500 steps")
    out(f"   {'':24} {'NRMSE':>8} {'seconds':>8} {'updates':>8} {'nodes visited by reverse mode':>30}")
    for name, key in (("ESN (ridge)", "esn"), ("Elman (BPTT, Adam)", "elman")):
        r = cost[key]
        out(f"   {name:24} {r['nrmse']:8.3f} {r['seconds']:8.2f} {r['updates']:8d} {r['nodes']:>14} per update")
    out(f"   the gradient with respect to the reservoir (W_x, W_s) is never computed: the ESN's loss on a "
        f"{cost['window']}-step window reaches {cost['esn']['nodes']} nodes backwards, the Elman network's "
        f"{cost['elman']['nodes']}")
    mc = capacities(units=units, seed=seed, n_train=n_train, progress=progress)
    out("")
    out("4. Memory capacity MC = sum_k r^2(u_(t-k), y_k), k = 1..2N (bound: N)")
    out(f"   {'reservoir':15} " + " ".join(f"{'N=' + str(N):>8}" for N in units) +
        "   Ceni & Gallicchio 2023, N=100")
    for kind in RESERVOIRS:
        lit = MC_LITERATURE[kind]
        out(f"   {kind:15} " + " ".join(f"{mc[kind, N].total:8.2f}" for N in units) + f"   {lit[0]:.2f} ± {lit[1]:.2f}")
    paths = []
    if figures:
        os.makedirs(figures, exist_ok=True)
        paths.append(distance_figure(dist, os.path.join(figures, "esn_state_distance.png")))
        paths.append(capacity_figure(mc, os.path.join(figures, "esn_memory_capacity.png")))
        for p in paths:
            out(f"wrote {p}")
    return {"distances": dist, "readout": agree, "no_bptt": cost, "capacity": mc, "figures": paths}


def main(argv=None) -> int:
    """Parse arguments and run the example; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--units", type=int, nargs="+", default=[50], help="reservoir sizes for the memory capacity")
    ap.add_argument("--steps", type=int, default=300, help="BPTT updates of the Elman network (default 300)")
    ap.add_argument("--figures", default=None, help="folder to write the two plots into")
    args = ap.parse_args(argv)
    run(units=tuple(args.units), seed=args.seed, steps=args.steps, figures=args.figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
