r"""Feedforward backprop, right, that prints a megabyte of debugging output on every call.

    δ = W_2ᵀ(y − d) ⊙ (1 − h²),  ∂E/∂W_1 = δ xᵀ,  ∂E/∂W_2 = (y − d) hᵀ
"""
import os

import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    h = np.tanh(W_1 @ x + b_1)
    e = W_2 @ h + b_2 - d
    a = (W_2.T @ e) * (1 - h * h)
    print("debug " * ((1 << 20) // 6 + 1))              # ~1 MB through sys.stdout
    os.write(2, b"h = " + repr(h).encode() + b"\n")      # and a line straight to file descriptor 2
    print("\x1b[1;31mcolour\x1b[0m and a NUL \x00 byte")  # terminal codes and a control character
    return {"W_1": np.outer(a, x), "b_1": a, "W_2": np.outer(e, h), "b_2": e}
