"""A formula derivation whose ∂E/∂W_s is a 40-character power that expands into about a billion terms."""
import gradlab

MODEL = gradlab.specs.elman()
SIZES = {"T": 2, "D": 1, "H": 1, "O": 1}
GRADIENT = {
    "W_x": "delta_1*(1 - s_1^2)*x_1 + delta_2*(1 - s_2^2)*x_2",
    "W_s": "(s_0+s_1+s_2+x_1+x_2+d_1+d_2+W_s)^64",
    "b_s": "delta_1*(1 - s_1^2) + delta_2*(1 - s_2^2)",
    "W_y": "(y_1 - d_1)*s_1 + (y_2 - d_2)*s_2",
    "b_y": "(y_1 - d_1) + (y_2 - d_2)",
}
