r"""Expression swell, on purpose: differentiate the fully inlined unrolled RNN and watch the formula
explode; then let gradlab keep the states as symbols and chain local Jacobians, and watch it grow
by a constant amount per step.

The naive route writes E as one expression in the weights and inputs (s_t substituted into s_{t+1},
…) and calls ``sympy.diff``. An LSTM reads s_{t-1} in four gate pre-activations, so each step copies
the whole history about four times: the derivative *tree* grows geometrically in T. gradlab's
backward recursion names s_t, c_t, the gates and δ_t = ∂E/∂s_t once per step, so its size (the
operations left after common-subexpression elimination) grows linearly.

    python examples/expression_swell.py            # Elman (H = 2) and LSTM (H = 1), T = 1 … 6
"""
from __future__ import annotations

import os
import signal
import sys
import time

import sympy as sp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gradlab.symbolic import symbolic_model  # noqa: E402

CAP = 10.0   # seconds allowed for the naive diff at each T


class _Timeout(Exception):
    pass


def _raise(signum, frame):
    raise _Timeout


def naive_size(model):
    """Return (tree ops of d E_inlined / d W_s[1,1], seconds), or None past the time cap."""
    w = model.trace.leaf_arrays[model.params["W_s"]].flat[0]
    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, CAP)
    t0 = time.perf_counter()
    try:
        d = sp.diff(model.inlined_loss(), w)
        secs = time.perf_counter() - t0
        return sp.count_ops(d), secs
    except _Timeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def main() -> None:
    for kind, H in (("elman", 2), ("lstm", 1)):
        print(f"\n{kind}, H = {H}: size of dE/dW_s[1,1] (operations)")
        print(f"{'T':>3} | {'naive diff (tree)':>18} {'time':>8} | {'gradlab (after CSE)':>20} {'time':>8}")
        print("-" * 68)
        dead = False
        for T in range(1, 7):
            t0 = time.perf_counter()
            m = symbolic_model(kind, T, hidden=H)
            prog = m.recursion()
            g_secs = time.perf_counter() - t0
            g_ops = prog.size()
            if dead:
                naive, why = None, "not tried"
            else:
                naive, why = naive_size(m), f"> {int(CAP)} s, stopped"
                dead = naive is None
            n_text = f"{naive[0]:>18,d} {naive[1]:>7.2f}s" if naive else f"{why:>27}"
            print(f"{T:>3} | {n_text} | {g_ops:>20,d} {g_secs:>7.2f}s")
    print("\n(gradlab's size counts every parameter's gradient and every δ_t definition; the naive column "
          "is one element of one weight.)")


if __name__ == "__main__":
    main()
