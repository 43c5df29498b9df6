"""A derivation that ends the program at import: its test code runs at the bottom of the file, outside
``if __name__ == "__main__":``, and finishes with sys.exit(0)."""
import sys

import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    return {k: np.zeros_like(v) for k, v in params.items()}


def main():
    print("checking my gradient by hand ... looks fine")
    sys.exit(0)


main()
