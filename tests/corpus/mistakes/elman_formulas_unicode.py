r"""Elman BPTT for T = 2, one unit, written as formulas the way they are typed on a phone or copied from
the notes: δ, ·, −, subscript digits and superscript squares. Right; the parser must read it.
"""
import gradlab

MODEL = gradlab.specs.elman(loss="mse_half")
SIZES = {"T": 2, "D": 1, "H": 1, "O": 1}
GRADIENT = {
    "W_x": "δ₁·(1 − s₁²)·x₁ + δ₂·(1 − s₂²)·x₂",
    "W_s": "δ₁·(1 − s₁²)·s₀ + δ₂·(1 − s₂²)·s₁",
    "b_s": "δ₁·(1 − s₁²) + δ₂·(1 − s₂²)",
    "W_y": "(y₁ − d₁)·s₁ + (y₂ − d₂)·s₂",
    "b_y": "(y₁ − d₁) + (y₂ − d₂)",
}
