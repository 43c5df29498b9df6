r"""The reference engine: a small reverse-mode automatic differentiator, read front to back.

1. ``backend.py``  — the array namespace an op computes with, and ``unbroadcast``: the adjoint of a
   broadcast is a sum.
2. ``context.py``  — scopes (layer path and time step) and the switches ``no_grad``, anomaly mode
   and which engine runs (``reference()``; the :class:`Engine` interface a faster one plugs into).
3. ``tensor.py``   — the recorded node (value, op, inputs, scope) and ``apply``: run one op, record it.
4. ``ops.py``      — the op table: each primitive's forward and its vector-Jacobian products side by side.
5. ``autodiff.py`` — reverse mode: a topological order and one loop that *accumulates* into shared
   nodes, which is all BPTT is.
6. ``forward.py``  — forward mode: tangents pushed through the same graph by the ops' JVP rules; J u
   where reverse mode gives vᵀJ.
7. ``graph.py``    — the recorded graph as an object: select nodes by scope, replay it with other
   values or another namespace.

Nothing here is there for speed. ``gradlab.fast`` computes the same values and gradients with a
buffer pool and batched sums, and plugs in through :class:`~gradlab.engine.context.Engine`; importing
``gradlab`` makes it the default, and ``with gradlab.reference():`` runs this code instead.
"""
from .autodiff import backward, contributions, requires_grad, reverse, toposort
from .backend import get_xp, is_cupy, to_numpy, unbroadcast
from .context import (ENGINES, Engine, Scope, current, detect_anomaly, enable_grad, engine_in_force, is_grad_enabled,
                      no_grad, reference, scope, use_engine)
from .forward import jvp
from .graph import Graph
from .ops import (OPS, Op, add, chunk, clip, concat, defop, div, exp, getitem, linear, log, log_softmax, matmul,
                  maximum, mean, mul, neg, power, relu, reshape, sigmoid, softmax, split, stack, sub, sum, tanh,
                  transpose, where)
from .tensor import Parameter, Tensor, apply, as_tensor, tensor

__all__ = [
    "Tensor", "Parameter", "tensor", "as_tensor", "apply", "Graph", "Op", "OPS", "defop",
    "backward", "contributions", "toposort", "reverse", "requires_grad", "jvp",
    "scope", "Scope", "current", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly",
    "Engine", "ENGINES", "use_engine", "reference", "engine_in_force",
    "get_xp", "is_cupy", "to_numpy", "unbroadcast",
    "add", "sub", "mul", "div", "neg", "power", "matmul", "linear", "transpose", "reshape", "getitem", "sum",
    "mean", "tanh", "sigmoid", "relu", "exp", "log", "softmax", "log_softmax",
    "concat", "stack", "split", "chunk", "maximum", "where", "clip",
]
