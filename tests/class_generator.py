"""Generated classes of submissions for the grading tests and ``benchmarks/bench_grading.py``: one folder per
student, each with a derivation that imports its own ``helpers.py`` (so that a student who got another
student's helper would be caught), some with a helper script beside it, a few with no derivation or a
file that does not parse. What the checker must say about each student is known in advance."""
import os
import textwrap

__all__ = ["make_class", "KINDS"]

_FEEDFORWARD = '''\
r"""One hidden layer, E = ½‖d − y‖²:  δ = W_2ᵀ(y − d) ⊙ (1 − h²),  ∂E/∂W_1 = δ xᵀ,  ∂E/∂W_2 = (y − d) hᵀ."""
import numpy as np
import gradlab
from helpers import dtanh

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    h = np.tanh(W_1 @ x + b_1)
    e = {error}
    a = (W_2.T @ e) * dtanh(h)
    return {{"W_1": np.outer(a, x), "b_1": a, "W_2": np.outer(e, h), "b_2": e}}
'''

_ELMAN = '''\
r"""Elman BPTT for E = Σ_t ½‖y_t − d_t‖²:  δ_t = W_yᵀ(y_t − d_t) + W_sᵀ(δ_{{t+1}} ⊙ (1 − s_{{t+1}}²))."""
import numpy as np
import gradlab
from helpers import dtanh

MODEL = gradlab.specs.elman()


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds = data["xs"], data["ds"]
    states = [data["s_0"]]
    for x in xs:
        states.append(np.tanh(W_x @ x + W_s @ states[-1] + b_s))
    g = {{k: np.zeros_like(v) for k, v in params.items()}}
    carry = np.zeros_like(b_s)
    for t in range(len(xs), 0, -1):
        e = W_y @ states[t] + b_y - ds[t - 1]
        g["W_y"] += np.outer(e, states[t])
        g["b_y"] += e
        a = (W_y.T @ e + {recurrent}) * dtanh(states[t])
        g["W_x"] += np.outer(a, xs[t - 1])
        g["W_s"] += np.outer(a, states[t - 1])
        g["b_s"] += a
        carry = a
    return g
'''

#: kind -> (expected status, gradients the checker must find wrong)
KINDS = {
    "feedforward": ("ok", ()),
    "elman": ("ok", ()),
    "feedforward_sigmoid_helper": ("FAIL", ("W_1", "b_1")),      # helpers.dtanh is the sigmoid's derivative
    "feedforward_no_half": ("FAIL", ("W_1", "b_1", "W_2", "b_2")),
    "elman_no_recurrent_term": ("FAIL", ("W_x", "b_s", "W_s")),
    "syntax_error": ("ERROR", ()),
    "no_derivation": (None, ()),
}
_CYCLE = (["feedforward", "elman"] * 4 + ["feedforward_sigmoid_helper", "feedforward_no_half",
                                         "elman_no_recurrent_term"]) * 2 + ["syntax_error", "no_derivation"]


def make_class(folder, n: int) -> list:
    r"""Write ``n`` student folders ``student000``, … into ``folder``; return ``[(folder, kind)]``, kind a key
    of :data:`KINDS`. Every fifth student also has a ``train.py`` that must not run (it would write
    ``TRAINED``)."""
    out = []
    for i in range(n):
        kind = _CYCLE[i % len(_CYCLE)]
        student = os.path.join(str(folder), f"student{i:03d}")
        os.makedirs(student)
        sigmoid = kind == "feedforward_sigmoid_helper"
        _write(student, "helpers.py", f"def dtanh(h):\n    return {'h * (1 - h)' if sigmoid else '1 - h * h'}\n")
        if kind.startswith("feedforward"):
            error = "2 * (W_2 @ h + b_2 - d)" if kind == "feedforward_no_half" else "W_2 @ h + b_2 - d"
            _write(student, "solution.py", _FEEDFORWARD.format(error=error))
        elif kind.startswith("elman"):
            rec = "0 * carry" if kind == "elman_no_recurrent_term" else "W_s.T @ carry"
            _write(student, "solution.py", _ELMAN.format(recurrent=rec))
        elif kind == "syntax_error":
            _write(student, "solution.py", _FEEDFORWARD.format(error="W_2 @ h + b_2 - d").replace(
                "def gradient(params, data):", "def gradient(params, data)"))
        else:
            _write(student, "notes.py", "# I did not finish the derivation\n")
        if i % 5 == 4:
            _write(student, "train.py", textwrap.dedent('''\
                import pathlib
                pathlib.Path(__file__).with_name("TRAINED").write_text("train.py ran")
                '''))
        out.append((student, kind))
    return out


def _write(folder, name, text):
    with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
        fh.write(text)
