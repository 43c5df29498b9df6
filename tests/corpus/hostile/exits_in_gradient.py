"""A gradient that gives up with sys.exit(0) when it meets a case it did not expect."""
import sys

import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    if data["x"].shape[0] != 1:
        print("only one input is supported")
        sys.exit(0)
    return {k: np.zeros_like(v) for k, v in params.items()}
