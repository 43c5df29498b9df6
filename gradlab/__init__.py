"""gradlab: backpropagation through time, checked — a small reverse-mode engine that records
unfolded RNNs, replays them for every reference (HIPS autograd, finite differences, SymPy), and
checks hand-derived BPTT gradients against them.

>>> import numpy as np, gradlab
>>> w = gradlab.Parameter(np.array(2.0), name="w")
>>> (w * w * w).backward()
>>> float(w.grad)   # 3 w²
12.0
"""
from . import fast  # noqa: F401  (registers the fast path with the engine; it is the default)
# the engine's old module paths, deprecated re-exports of gradlab.engine.* (and gradlab.fast.memory), loaded
# here so that gradlab.ops, gradlab.memory, ... work as attributes and `gradlab.tensor` stays the function
from . import autodiff, backend, context, graph, memory, ops, tensor  # noqa: F401
from .engine.autodiff import backward, contributions, toposort
from .engine.backend import get_xp
from .engine.context import (Scope, detect_anomaly, enable_grad, engine_in_force, is_grad_enabled, no_grad,
                             reference, scope, use_engine)
from .engine.graph import Graph
from .engine.ops import (OPS, Op, add, chunk, clip, concat, div, exp, log, linear, log_softmax, matmul, maximum, mean,
                         mul, neg, power, relu, reshape, sigmoid, softmax, split, stack, sub, sum, tanh, transpose,
                         where)
from .engine.tensor import Parameter, Tensor, apply, as_numpy, tensor, to_device

__version__ = "0.1.0"

# Sub-systems that import heavier libraries (SymPy, graphviz, Hypothesis) load on first use, so that
# ``import gradlab`` does no work beyond the engine: name -> (module, attribute or None for the module).
_LAZY = {
    "nn": ("gradlab.nn", None),
    "specs": ("gradlab.specs", None),
    "testing": ("gradlab.testing", None),
    "check": ("gradlab.check", None),
    "verify": ("gradlab.check", "verify"),
    "check_gradient": ("gradlab.check", "check_gradient"),
    "symbolic": ("gradlab.symbolic", None),
    "derive": ("gradlab.symbolic", "derive"),
    "render": ("gradlab.render", None),   # the package itself is callable: gradlab.render(loss, ...)
    "to_dot": ("gradlab.render", "to_dot"),
    "sympy_namespace": ("gradlab.symbolic.namespace", "sympy_namespace"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'gradlab' has no attribute {name!r}")

__all__ = [
    "Tensor", "Parameter", "tensor", "apply", "Graph", "Op", "OPS",
    "backward", "contributions", "toposort",
    "scope", "Scope", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly",
    "reference", "use_engine", "engine_in_force",
    "get_xp", "as_numpy", "to_device", "sympy_namespace",
    "add", "sub", "mul", "div", "neg", "power", "matmul", "linear", "transpose", "reshape", "sum", "mean",
    "tanh", "sigmoid", "relu", "exp", "log", "softmax", "log_softmax",
    "concat", "stack", "split", "chunk", "maximum", "where", "clip",
    "__version__",
]
