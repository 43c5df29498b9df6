r"""Check a hand-derived attention layer, CS231n style: an ``attention_forward(...) -> (c, cache)`` and an
``attention_backward(dc, cache) -> (dq, dH, dW_q, dW_k, db_a, dv)`` written by hand (derivations/layer_attention_additive.py),
compared gradient by gradient with two references:

* gradlab's reverse mode through the same layer on its recorded graph (``gradlab.nn.AdditiveAttention``,
  lecture layout: the weights transposed, the encoder states time-first), and
* central differences of the author's own forward, treated as a black box.

The right derivation agrees to rounding; the planted slip (the softmax Jacobian taken as diagonal,
∂E/∂e_j = α_j(1 − α_j)∂E/∂α_j) is caught, and every gradient it spoils is named in the author's names.

Run:  python examples/attention_layer_check.py [--seed 0]
"""
from __future__ import annotations

import argparse
import importlib.util
import pathlib

import numpy as np

import gradlab
from gradlab.nn import AdditiveAttention

__all__ = ["FILES", "load", "make_case", "engine_gradients", "numeric_gradients", "check", "run", "main"]

HERE = pathlib.Path(__file__).resolve().parent
FILES = {"right": HERE.parent / "derivations" / "layer_attention_additive.py",
         "wrong": HERE.parent / "derivations" / "wrong_layer_attention_softmax_jacobian.py"}
NAMES = ("dq", "dH", "dW_q", "dW_k", "db_a", "dv")
INPUTS = ("q", "H", "W_q", "W_k", "b_a", "v")


def load(path):
    """Import a derivation file as a module."""
    spec = importlib.util.spec_from_file_location(f"attention_derivation_{pathlib.Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_case(seed: int = 0, N: int = 3, T: int = 6, Q: int = 4, K: int = 3, A: int = 5):
    """Return (inputs, mask, dc) in the author's layout: a batch of N padded sequences of up to T steps."""
    rng = np.random.default_rng(seed)
    args = {"q": rng.normal(size=(N, Q)), "H": rng.normal(size=(N, T, K)), "W_q": rng.normal(0, 0.7, (Q, A)),
            "W_k": rng.normal(0, 0.7, (K, A)), "b_a": rng.normal(0, 0.3, A), "v": rng.normal(size=A)}
    lengths = np.maximum(2, rng.integers(2, T + 1, size=N))
    lengths[0] = T
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(float)
    return args, mask, rng.normal(size=(N, K))


def engine_gradients(args, mask, dc) -> dict:
    """The gradients of Σ dc ⊙ c from gradlab's reverse mode through gradlab.nn.AdditiveAttention."""
    Q, A = args["W_q"].shape
    attend = AdditiveAttention(Q, args["W_k"].shape[0], A)
    P = attend.parameters_by_name()
    P["W_q"].data, P["W_k"].data = args["W_q"].T.copy(), args["W_k"].T.copy()      # lecture layout: W x
    P["b_a"].data, P["v"].data = args["b_a"].copy(), args["v"][None, :].copy()
    q = gradlab.tensor(args["q"], requires_grad=True)
    keys = gradlab.tensor(args["H"].transpose(1, 0, 2), requires_grad=True)           # time first
    c, _ = attend(q, keys, mask=mask.T)
    gradlab.sum(c * dc).backward()
    return {"dq": q.grad, "dH": keys.grad.transpose(1, 0, 2), "dW_q": P["W_q"].grad.T, "dW_k": P["W_k"].grad.T,
            "db_a": P["b_a"].grad, "dv": P["v"].grad[0]}


def numeric_gradients(forward, args, mask, dc, h: float = 1e-6) -> dict:
    """The gradients of Σ dc ⊙ c by central differences of ``forward`` (the author's)."""
    out = {}
    for name, grad_name in zip(INPUTS, NAMES):
        g = np.zeros_like(args[name])
        for idx in np.ndindex(g.shape):
            plus, minus = dict(args), dict(args)
            plus[name], minus[name] = args[name].copy(), args[name].copy()
            plus[name][idx] += h
            minus[name][idx] -= h
            g[idx] = (np.sum(forward(**plus, mask=mask)[0] * dc) - np.sum(forward(**minus, mask=mask)[0] * dc)) / (2 * h)
        out[grad_name] = g
    return out


def check(path, seed: int = 0) -> list:
    """Return [(gradient name, relative error vs the engine, vs central differences)] for one derivation file."""
    module = load(path)
    args, mask, dc = make_case(seed)
    _, cache = module.attention_forward(**args, mask=mask)
    theirs = dict(zip(NAMES, module.attention_backward(dc, cache)))
    engine = engine_gradients(args, mask, dc)
    numeric = numeric_gradients(module.attention_forward, args, mask, dc)

    def rel(a, b):
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))

    return [(n, rel(theirs[n], engine[n]), rel(theirs[n], numeric[n])) for n in NAMES]


def run(seed: int = 0, out=print) -> dict:
    """Check both files, print a table each; return {"right": [...], "wrong": [...], "caught": names}."""
    result = {}
    for which, path in FILES.items():
        rows = check(path, seed)
        result[which] = rows
        out(f"\n{path.name}")
        out(f"  {'gradient':8s} {'vs engine':>11s} {'vs central diff.':>17s}")
        for name, e, f in rows:
            flag = "  WRONG" if e > 1e-6 else ""
            out(f"  {name:8s} {e:11.1e} {f:17.1e}{flag}")
    result["caught"] = tuple(n for n, e, _ in result["wrong"] if e > 1e-6)
    declared = tuple(load(FILES["wrong"]).WRONG)
    verdict = "as planted" if result["caught"] == declared else f"planted {declared}"
    out(f"\nthe slip spoils {', '.join(result['caught'])} ({verdict}); the right derivation's largest error is "
        f"{max(e for _, e, _ in result['right']):.1e}")
    return result


def main(argv=None) -> int:
    """Parse the options and run; return 0."""
    ap = argparse.ArgumentParser(description="Check the hand-derived attention layer against gradlab.")
    ap.add_argument("--seed", type=int, default=0)
    run(ap.parse_args(argv).seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
