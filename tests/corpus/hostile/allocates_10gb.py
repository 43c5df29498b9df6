"""A gradient that builds a 10 GB table of every pairwise product it might need."""
import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    table = np.ones(10 * 1024**3 // 8)   # 10 GiB of float64
    return {"W_1": table[:6].reshape(3, 2)}
