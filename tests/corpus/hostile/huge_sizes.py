"""A formula derivation written "for every length": SIZES with T = 100000."""
import gradlab

MODEL = gradlab.specs.elman()
SIZES = {"T": 100000, "D": 1, "H": 1, "O": 1}
GRADIENT = {
    "W_x": "delta_1*(1 - s_1^2)*x_1",
    "W_s": "delta_1*(1 - s_1^2)*s_0",
    "b_s": "delta_1*(1 - s_1^2)",
    "W_y": "(y_1 - d_1)*s_1",
    "b_y": "(y_1 - d_1)",
}
