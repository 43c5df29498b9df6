"""Helpers with a function called gradient, but no MODEL: not a derivation."""
import numpy as np


def gradient(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)
