r"""A formula for ∂E/∂W_s that is a 40-character expansion bomb: (s_0 + … + W_s)^64 would expand to about
1.3·10⁹ terms. The checker must not try: it compares it numerically (it is wrong) and says why it did
not compare it symbolically.
"""
import gradlab

MODEL = gradlab.specs.elman(loss="mse_half")
SIZES = {"T": 2, "D": 1, "H": 1, "O": 1}
EXPECT = "wrong"
WRONG = ("W_s",)
GRADIENT = {
    "W_x": "delta_1*(1 - s_1^2)*x_1 + delta_2*(1 - s_2^2)*x_2",
    "W_s": "(s_0+s_1+s_2+x_1+x_2+d_1+d_2+W_s)^64",
    "b_s": "delta_1*(1 - s_1^2) + delta_2*(1 - s_2^2)",
    "W_y": "(y_1 - d_1)*s_1 + (y_2 - d_2)*s_2",
    "b_y": "(y_1 - d_1) + (y_2 - d_2)",
}
