"""Alice's helper: tanh'(z) written with h = tanh(z)."""


def dphi(h):
    return 1 - h * h
