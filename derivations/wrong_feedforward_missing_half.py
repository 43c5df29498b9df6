r"""A deliberately wrong derivation: the feedforward backprop of feedforward_backprop.py, but with the
loss written without its ½.

The student starts from E = (d − y)², differentiates, and gets ∂E/∂y = −2(d − y) = 2(y − d). Every
gradient below inherits the factor 2. That is a correct derivative of a *different* loss; the model
here (``MODEL``) uses the lecture's E = ½‖d − y‖², so every parameter's gradient is twice the
reference. The checker must say so for all four parameters, and recognise the factor of exactly 2.
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.feedforward(loss="mse_half", activation="tanh")
EXPECT = "wrong"
WRONG = "all"


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    h = np.tanh(W_1 @ x + b_1)
    y = W_2 @ h + b_2
    delta_y = 2 * (y - d)            # from E = (d − y)²: the ½ is missing
    delta_a = (W_2.T @ delta_y) * (1 - h * h)
    return {"W_1": np.outer(delta_a, x), "b_1": delta_a, "W_2": np.outer(delta_y, h), "b_2": delta_y}
