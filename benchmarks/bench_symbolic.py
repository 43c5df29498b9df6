r"""Symbolic BPTT: derivation time and expression size (operations after CSE) against T, for the
Elman cell (H = 3) and the LSTM (H = 2), next to SymPy's ``diff`` of the fully inlined loss with a
time cap.

    python benchmarks/bench_symbolic.py            # T = 1 … 50
    python benchmarks/bench_symbolic.py --quick    # T up to 10
    python benchmarks/bench_symbolic.py --symengine   # also: the inlined diff with SymEngine (optional)

Columns: ``derive`` = symbolic replay + reverse mode through the op table (the recursion form);
``ops`` = operations of the recursion program (definitions + gradients: its CSE size); ``paths ops``
= the sum-of-paths program; ``naive diff`` = ``sympy.diff`` of the inlined E with respect to one
weight element (W_s[1,1]), skipped for larger T once it exceeded the cap; ``naive ops`` = that
derivative's tree size (``count_ops``). With ``--symengine`` (optional package): ``SE derive`` = the
same derivation with ``backend="symengine"`` and its speed-up ratio, ``SE naive`` = SymEngine's
``diff`` of the inlined loss. Target: LSTM H = 2, T = 50 derived in under 10 s.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import numpy as np
import sympy as sp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gradlab.symbolic.model import symbolic_model  # noqa: E402


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def capped(fn, seconds: float):
    """Return (result, elapsed) of fn(), or (None, None) when it ran past ``seconds`` (SIGALRM)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    t0 = time.perf_counter()
    try:
        out = fn()
        return out, time.perf_counter() - t0
    except _Timeout:
        return None, None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def naive(m, cap, use_symengine=False):
    """SymPy (or SymEngine) diff of the inlined loss w.r.t. W_s[1,1]: (seconds, tree ops) or None."""
    w = m.trace.leaf_arrays[m.params["W_s"]].flat[0]

    def run():
        E = m.inlined_loss()
        if use_symengine:
            import symengine as se
            e = se.sympify(E)
            d = se.diff(e, se.Symbol(w.name))
            return d
        return sp.diff(E, w)

    d, secs = capped(run, cap)
    if d is None:
        return None
    if use_symengine:
        import symengine as se
        ops, _ = capped(lambda: se.count_ops(d), cap)
    else:
        ops, _ = capped(lambda: sp.count_ops(d), cap)
    return secs, ops


def row(kind, H, T, cap, state, symengine):
    t0 = time.perf_counter()
    m = symbolic_model(kind, T, hidden=H)
    prog = m.recursion()
    t_derive = time.perf_counter() - t0
    ops = prog.size()
    t1 = time.perf_counter()
    paths_ops = m.sum_of_paths().size() if (kind == "elman" or T <= 20) else None
    t_paths = time.perf_counter() - t1
    t2 = time.perf_counter()
    f = prog.lambdify()
    t_lamb = time.perf_counter() - t2
    err = max(float(np.max(np.abs(f(m.values)[n] - g))) for n, g in m.engine_gradient().items())
    se_derive = None
    if symengine:
        t3 = time.perf_counter()
        symbolic_model(kind, T, hidden=H, backend="symengine").recursion()
        se_derive = time.perf_counter() - t3
    out = {"T": T, "derive": t_derive, "se_derive": se_derive, "ops": ops, "paths_ops": paths_ops, "paths_s": t_paths, "lambdify": t_lamb,
           "err": err, "naive_s": None, "naive_ops": None, "se_s": None, "se_ops": None}
    if not state.get("naive_dead"):
        r = naive(m, cap)
        if r is None:
            state["naive_dead"] = T
        else:
            out["naive_s"], out["naive_ops"] = r
    if symengine and not state.get("se_dead"):
        r = naive(m, cap, use_symengine=True)
        if r is None:
            state["se_dead"] = T
        else:
            out["se_s"], out["se_ops"] = r
    return out


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="T up to 10 only")
    p.add_argument("--cap", type=float, default=20.0, help="time cap (s) for the naive diff")
    p.add_argument("--symengine", action="store_true", help="also time the naive diff with SymEngine (if installed)")
    p.add_argument("--sizes", default=None, help="ignored (accepted for run_all.py)")
    args, _ = p.parse_known_args(argv)   # run_all.py passes its own options on to every script
    Ts = [1, 2, 3, 4, 5, 8, 10] if args.quick else [1, 2, 3, 4, 5, 8, 10, 15, 20, 30, 40, 50]
    se = False
    if args.symengine:
        try:
            import symengine  # noqa: F401
            se = True
        except ImportError:
            print("symengine is not installed: pip install symengine (optional)")
    print(f"sympy {sp.__version__}; naive diff capped at {args.cap:.0f} s")
    for kind, H in (("elman", 3), ("lstm", 2)):
        print(f"\n{kind} H={H}: derivation of dE/dW for every parameter (recursion form)")
        head = (f"{'T':>3} {'derive s':>9} {'ops':>7} {'ops/T':>6} {'paths ops':>10} {'lambdify s':>10} "
                f"{'max err':>8} {'naive diff s':>12} {'naive ops':>10}")
        if se:
            head += f" {'SE derive s':>11} {'ratio':>6} {'SE naive s':>10} {'SE naive ops':>12}"
        print(head)
        state = {}
        rows = []
        for T in Ts:
            r = row(kind, H, T, args.cap, state, se)
            rows.append(r)
            line = (f"{T:>3} {r['derive']:>9.3f} {r['ops']:>7d} {r['ops'] / T:>6.0f} {fmt(r['paths_ops'], 'd'):>10} "
                    f"{r['lambdify']:>10.2f} {r['err']:>8.1e} {fmt(r['naive_s'], '.3f'):>12} "
                    f"{fmt(r['naive_ops'], 'd'):>10}")
            if se:
                line += (f" {r['se_derive']:>11.3f} {r['derive'] / r['se_derive']:>5.1f}x {fmt(r['se_s'], '.4f'):>10} "
                         f"{fmt(r['se_ops'], 'd'):>12}")
            print(line, flush=True)
        if state.get("naive_dead"):
            print(f"  naive SymPy diff exceeded {args.cap:.0f} s at T={state['naive_dead']} (not tried beyond)")
        big = [r for r in rows if r["T"] >= 10]
        if len(big) >= 2:
            a, b = big[0], big[-1]
            slope = (b["ops"] - a["ops"]) / (b["T"] - a["T"])
            print(f"  recursion size: {slope:.0f} ops per extra step between T={a['T']} and T={b['T']} "
                  f"(size ratio {b['ops'] / a['ops']:.2f} for T ratio {b['T'] / a['T']:.1f}: linear)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
