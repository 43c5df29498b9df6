"""gradlab: backpropagation through time, checked — a small reverse-mode engine that records
unfolded RNNs, replays them for every reference (HIPS autograd, finite differences, SymPy), and
checks hand-derived BPTT gradients against them.

>>> import numpy as np, gradlab
>>> w = gradlab.Parameter(np.array(2.0), name="w")
>>> (w * w * w).backward()
>>> float(w.grad)   # 3 w²
12.0

Reading order (each file one concept; read front to back):

engine/    the reference engine, nothing in it for speed
  backend.py    the array namespace an op computes with; the adjoint of a broadcast is a sum
  context.py    scopes (layer, time step), no_grad, anomaly mode, and which engine runs (reference())
  tensor.py     the recorded node and apply(): run one op, remember op, inputs, value, scope
  ops.py        the op table: each primitive's forward and its VJPs side by side
  autodiff.py   reverse mode: a topological order and one loop that accumulates into shared nodes (BPTT)
  forward.py    forward mode: tangents pushed through the same graph by the ops' JVP rules (J u)
  graph.py      the recorded graph as an object: select by scope, replay with other values or namespaces
nn/        networks on that engine
  module.py     modules with named, shared Parameters; Dense, activations
  cells.py      one time step of each RNN, its equations, shapes and gate order in the docstring
  registry.py   the one table of cell kinds: names, spellings, titles, gate orders
  unroll.py     unfolding: the same cell at every step, so its weights are shared across time
  losses.py     losses on the outputs, E = Σ_t E_t
  analysis.py   per-step contributions of a shared weight; vanishing and exploding gradients
  modes.py      many-to-one, one-to-many, many-to-many
  optim.py, clip.py, train.py   update rules, gradient clipping, truncated BPTT and training loops
  hessian_free.py   conjugate gradient on G + λI, damping, structural damping: Hessian-free optimisation
  reservoir.py, tdnn.py, attention.py   echo-state networks, time-delay networks, attention over encoder states
  experiments.py, reversal.py, cliff.py   the long-time-lag comparison, the reversal task, the clipping cliff
curvature.py  Gauss–Newton and Hessian products on any recorded graph (forward mode, then reverse mode)
data/      seeded problem generators: pathological.py (adding, temporal order, …), mackey_glass.py,
           spectrogram.py (formant sweeps), metrics.py

devices.py moving parameters between NumPy (CPU) and CuPy (GPU)
files.py   every file gradlab writes: atomic, never through a link, marked as gradlab's (--force to replace)
specs.py   size-free model specs: what a hand derivation is for (parameters, shapes, loss)
check/     the checker: a derivation against five references, localised in time, explained
  finite.py, compare.py, references.py, core.py, localise.py, pitfalls.py, report.py, search.py
  layer/ (the author's own forward/backward), curvature.py (hand-written G v, H v), runner.py (isolated workers)
symbolic/  the graph replayed on SymPy symbols: BPTT derived and printed in lecture notation
  namespace.py, program.py, model.py, derivation.py, matrix.py (the matrix form), parse.py, candidate.py
render/    figures drawn from the recorded graph: folded, unfolded, cell interior, gradient flow
  style.py, structure.py, source.py, unfolded.py, interior.py, opgraph.py, gradflow.py, checkview.py, plots.py
display.py, progress.py   what Jupyter shows (HTML reports, SVG plots, live training plots); tqdm progress bars
lecture.py one RNN lecture from one command: figures, the checked derivation, a caught mistake, as slides
fast/      the speed path, read last: the same values and gradients to rounding, with a buffer pool
           and batched sums, behind the engine's Engine interface (the default; reference() turns it off)
"""
from . import fast  # noqa: F401  (registers the fast path with the engine; it is the default)
# the engine's old module paths, deprecated re-exports of gradlab.engine.* (and gradlab.fast.memory), loaded
# here so that gradlab.ops, gradlab.memory, ... work as attributes and `gradlab.tensor` stays the function
from . import autodiff, backend, context, graph, memory, ops, tensor  # noqa: F401
from .engine.autodiff import backward, contributions, toposort
from .engine.backend import get_xp
from .engine.forward import jvp
from .engine.context import (Scope, detect_anomaly, enable_grad, engine_in_force, is_grad_enabled, no_grad,
                             reference, scope, use_engine)
from .engine.graph import Graph
from .engine.ops import (OPS, Op, add, chunk, clip, concat, div, exp, log, linear, log_softmax, matmul, maximum, mean,
                         mul, neg, power, relu, reshape, sigmoid, softmax, split, stack, sub, sum, tanh, transpose,
                         where)
from .engine.tensor import Parameter, Tensor, apply, tensor
from .devices import as_numpy, to_device

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


def __dir__():
    """The module's names and the lazily loaded ones (``derive``, ``check_gradient``, ``verify``, ...), so that
    tab completion offers them before their first use."""
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "Tensor", "Parameter", "tensor", "apply", "Graph", "Op", "OPS",
    "backward", "contributions", "toposort", "jvp",
    "scope", "Scope", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly",
    "reference", "use_engine", "engine_in_force",
    "get_xp", "as_numpy", "to_device", "sympy_namespace",
    "add", "sub", "mul", "div", "neg", "power", "matmul", "linear", "transpose", "reshape", "sum", "mean",
    "tanh", "sigmoid", "relu", "exp", "log", "softmax", "log_softmax",
    "concat", "stack", "split", "chunk", "maximum", "where", "clip",
    "__version__",
]
