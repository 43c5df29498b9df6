"""Layers with shared weights, and (from the RNN modules) cells, unrolling and training."""
from .module import ACTIVATIONS, Dense, Identity, Module, ReLU, Sequential, Sigmoid, Tanh, make_rng
from .cells import ElmanCell, FourGateLSTMCell, GRUCell, JordanCell, LSTMCell, PeepholeLSTMCell, RecurrentCell
from .registry import CELLS, KINDS, CellKind, cell_kind, cell_names
from .unroll import Unrolled, unroll
from .losses import LOSSES, mse, mse_half, sequence_loss, softmax_cross_entropy
from .modes import EncoderDecoder, many_to_many, many_to_one, one_to_many
from .analysis import gradient_norms, hidden_gradient_norms, hidden_gradients, step_contributions

__all__ = ["Module", "Dense", "Tanh", "Sigmoid", "ReLU", "Identity", "Sequential", "make_rng", "ACTIVATIONS",
           "RecurrentCell", "ElmanCell", "JordanCell", "LSTMCell", "PeepholeLSTMCell", "GRUCell",
           "FourGateLSTMCell", "CELLS", "KINDS", "CellKind", "cell_kind", "cell_names", "Unrolled", "unroll",
           "mse_half", "mse", "softmax_cross_entropy", "sequence_loss", "LOSSES",
           "many_to_many", "many_to_one", "one_to_many", "EncoderDecoder",
           "step_contributions", "hidden_gradients", "hidden_gradient_norms", "gradient_norms"]
from .optim import SGD, Adagrad, Adam, Momentum, Optimizer
from .clip import clip_grad_norm, clip_grad_value, grad_norm
from .train import History, ProgressBar, TBPTTResult, detach_state, fit, train_step, truncated_bptt

__all__ += ["Optimizer", "SGD", "Momentum", "Adagrad", "Adam", "clip_grad_norm", "clip_grad_value", "grad_norm",
            "fit", "train_step", "truncated_bptt", "TBPTTResult", "History", "ProgressBar", "detach_state"]
from .module import Fixed
from .reservoir import (MemoryCapacity, ReservoirCell, fit_readout, fixed_weights, free_run, memory_capacity,
                        reservoir_states, ridge_readout, spectral_radius, state_distance, train_readout)
from .tdnn import TDNN, receptive_field, tdnn_figure

__all__ += ["Fixed", "ReservoirCell", "spectral_radius", "fixed_weights", "reservoir_states", "ridge_readout",
            "fit_readout", "train_readout", "free_run", "state_distance", "memory_capacity", "MemoryCapacity",
            "TDNN", "receptive_field", "tdnn_figure"]

from .attention import ATTENTIONS, AdditiveAttention, Attention, DotProductAttention, assert_reads_encoder

__all__ += ["Attention", "AdditiveAttention", "DotProductAttention", "ATTENTIONS", "assert_reads_encoder"]

from .hessian_free import CGResult, FunctionObjective, HessianFree, HFReport, conjugate_gradient

__all__ += ["HessianFree", "HFReport", "FunctionObjective", "conjugate_gradient", "CGResult"]
