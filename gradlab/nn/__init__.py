"""Layers with shared weights, and (from the RNN modules) cells, unrolling and training."""
from .module import ACTIVATIONS, Dense, Identity, Module, ReLU, Sequential, Sigmoid, Tanh, make_rng

__all__ = ["Module", "Dense", "Tanh", "Sigmoid", "ReLU", "Identity", "Sequential", "make_rng", "ACTIVATIONS"]
