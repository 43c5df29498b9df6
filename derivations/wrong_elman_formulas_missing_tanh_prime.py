r"""A planted error in formulas: ∂E/∂W_s without the activation's derivative at t = 1.

The right term of copy t is δ_t (1 − s_t²) s_{t−1}; here the first copy's (1 − s_1²) is missing, the
"missing (1 − s²)" that students write. The checker must name W_s, and only W_s.
"""
import gradlab

MODEL = gradlab.specs.elman(loss="mse_half")
SIZES = {"T": 2, "D": 1, "H": 1, "O": 1}
EXPECT = "wrong"
WRONG = ("W_s",)
GRADIENT = {
    "W_x": "delta_1*(1 - s_1^2)*x_1 + delta_2*(1 - s_2^2)*x_2",
    "W_s": "delta_1*s_0 + delta_2*(1 - s_2^2)*s_1",
    "b_s": "delta_1*(1 - s_1^2) + delta_2*(1 - s_2^2)",
    "W_y": "(y_1 - d_1)*s_1 + (y_2 - d_2)*s_2",
    "b_y": "(y_1 - d_1) + (y_2 - d_2)",
}
