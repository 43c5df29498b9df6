r"""Elman BPTT written as formulas, not code: two steps, one unit (T = 2, D = H = O = 1).

With s_t = tanh(W_x x_t + W_s s_{t−1} + b_s), y_t = W_y s_t + b_y and E = Σ_t ½(y_t − d_t)², write
δ_t = ∂E/∂s_t for the total derivative (through every later step). Each copy of a shared weight
contributes its local term, scaled by tanh′ = 1 − s_t²:

    ∂E/∂W_x = Σ_t δ_t (1 − s_t²) x_t          ∂E/∂W_s = Σ_t δ_t (1 − s_t²) s_{t−1}
    ∂E/∂b_s = Σ_t δ_t (1 − s_t²)              ∂E/∂W_y = Σ_t (y_t − d_t) s_t        ∂E/∂b_y = Σ_t (y_t − d_t)

`GRADIENT` gives them for T = 2 as text in the lecture's symbols (LaTeX works too). gradlab parses
the text without evaluating it, checks that yours − derived simplifies to zero, and compares the
numbers with its references.
"""
import gradlab

MODEL = gradlab.specs.elman(loss="mse_half")
SIZES = {"T": 2, "D": 1, "H": 1, "O": 1}
GRADIENT = {
    "W_x": r"\delta_{1} (1 - s_{1}^{2}) x_{1} + \delta_{2} (1 - s_{2}^{2}) x_{2}",
    "W_s": "delta_1*(1 - s_1^2)*s_0 + delta_2*(1 - s_2^2)*s_1",
    "b_s": "delta_1*(1 - s_1^2) + delta_2*(1 - s_2^2)",
    "W_y": "(y_1 - d_1)*s_1 + (y_2 - d_2)*s_2",
    "b_y": "(y_1 - d_1) + (y_2 - d_2)",
}
