r"""Feedforward backprop, right (checked after every hostile file above it).

    δ = W_2ᵀ(y − d) ⊙ (1 − h²),  ∂E/∂W_1 = δ xᵀ,  ∂E/∂b_1 = δ,  ∂E/∂W_2 = (y − d) hᵀ,  ∂E/∂b_2 = y − d
"""
import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    h = np.tanh(W_1 @ x + b_1)
    e = W_2 @ h + b_2 - d
    a = (W_2.T @ e) * (1 - h * h)
    return {"W_1": np.outer(a, x), "b_1": a, "W_2": np.outer(e, h), "b_2": e}
