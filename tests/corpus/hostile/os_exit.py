"""A gradient that ends its process with os._exit(0), skipping every clean-up."""
import os

import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    os._exit(0)
