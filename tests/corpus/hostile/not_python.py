"""A derivation with a typo: a missing colon."""
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data)
    return {}
