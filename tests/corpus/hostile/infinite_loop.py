"""A gradient that never returns: the loop's exit condition can never become true."""
import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    delta = np.ones(3)
    while np.any(delta > 0):      # meant: shrink delta until it is small; it never changes
        delta = np.abs(delta)
    return {}
