r"""Backpropagation in a network with one hidden layer, E = ½‖d − y‖².

Forward pass (one input x of size D, hidden layer of size H, output of size O):

    a = W_1 x + b_1          (H,)     the hidden layer's net input
    h = tanh(a)              (H,)     its activation
    y = W_2 h + b_2          (O,)     the output (linear)
    E = ½ ‖d − y‖²                    the ½ makes the derivative of the square come out clean

Backward pass, one chain rule at a time. The error term of the output layer is

    δ_y = ∂E/∂y = −(d − y) = y − d                            (O,)

and because y = W_2 h + b_2 is linear in W_2 and b_2,

    ∂E/∂W_2 = δ_y hᵀ        (O, H)    an outer product: rows belong to outputs, columns to inputs
    ∂E/∂b_2 = δ_y           (O,)

The hidden layer receives the error through W_2 (the transpose sends it backwards) and through the
derivative of tanh, tanh'(a) = 1 − tanh²(a) = 1 − h²:

    δ_h = ∂E/∂h = W_2ᵀ δ_y                 (H,)
    δ_a = ∂E/∂a = δ_h ⊙ (1 − h ⊙ h)        (H,)
    ∂E/∂W_1 = δ_a xᵀ        (H, D)
    ∂E/∂b_1 = δ_a           (H,)
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.feedforward(loss="mse_half", activation="tanh")


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    # forward
    a = W_1 @ x + b_1
    h = np.tanh(a)
    y = W_2 @ h + b_2
    # backward
    delta_y = y - d
    delta_h = W_2.T @ delta_y
    delta_a = delta_h * (1 - h * h)
    return {
        "W_1": np.outer(delta_a, x), "b_1": delta_a,
        "W_2": np.outer(delta_y, h), "b_2": delta_y,
        "delta_h": delta_h,
    }
