r"""Feedforward backprop with the tanh derivative left out: δ = W_2ᵀ(y − d) (a planted mistake).

The check must find exactly ∂E/∂W_1 and ∂E/∂b_1 wrong, also after a file that patched numpy.tanh.
"""
import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()
EXPECT = "wrong"
WRONG = ("W_1", "b_1")


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    h = np.tanh(W_1 @ x + b_1)
    e = W_2 @ h + b_2 - d
    a = W_2.T @ e
    return {"W_1": np.outer(a, x), "b_1": a, "W_2": np.outer(e, h), "b_2": e}
