r"""Layer mode: check an author's own ``backward`` against the vector–Jacobian product of the author's own
``forward``, in the author's convention, with declarations only.

A course's RNN code comes as a pair — ``rnn_forward(x, h0, Wx, Wh, b) -> (h, cache)`` and
``rnn_backward(dh, cache) -> (dx, dh0, dWx, dWh, db)`` in CS231n, ``rnn_forward(x, a0, parameters)`` and
``rnn_backward(da, caches) -> {"dx": …, "da0": …, "dWax": …}`` in the Coursera course. Layer mode checks
such a pair as it is written::

    LAYER = gradlab.check.layer(rnn_forward, rnn_backward, style="cs231n", time="T",
                                inputs="x: N,T,D; h0: N,H; Wx: D,H; Wh: H,H; b: H")

gradlab draws sizes for the letters and values for the inputs, runs the forward, hands its cache and a
random upstream gradient g to the backward, and compares **every** gradient the backward returns —
inputs and initial states as well as weights — with the VJP ∂⟨g, forward(θ)⟩/∂θ of the author's own
forward. Hypothesis searches sizes and values for a counterexample and shrinks it.

**References, by independent routes** (:mod:`.routes`), compared with each other in every report:

* *traced* — the forward recorded through gradlab's engine by running it against a NumPy-compatible
  namespace (:mod:`.trace`: the module's ``np`` rebound in a copy of its globals, :mod:`.rebind`),
  then reverse mode. Buffers filled by slice assignment are recorded with the functional
  :func:`gradlab.engine.ops.setitem`;
* *black box* — complex step on the forward, or, when the forward drops the imaginary part (a complex
  value written into a float ``np.zeros`` buffer raises NumPy's ComplexWarning), central differences
  with two levels of Richardson extrapolation; the report says which, and why;
* *HIPS autograd* — where the forward's code allows it (not with slice assignment, nor ``.dot``
  methods), else skipped with the reason and the line.

A forward that cannot be traced (it calls something outside the namespace) is reported with the
function and the author's file and line, and the black box alone decides.

**Messages** (:mod:`.explain`, :mod:`.mutate`) name the author's gradients (``dWh[1, 0]``), shapes in the
declared letters, stacked gate blocks by gate, constant factors by the size they equal ("divided by N
= 3"), transposes in the author's layout, and the exact mistake where a deliberately broken reference
reproduces the backward ("with no gradient flowing back … through ``prev_h`` in ``prev_h.dot(Wh)``").
An exception in the author's code points at the author's line.

**Time steps** (:mod:`.timeloc`): with ``time=`` declared, two probes say from which step the backward
goes wrong. First, each step's slice of a sequence gradient under the full upstream gradient ("dx is
correct for t ≥ 4 and wrong from t = 3 back"). Second, the upstream gradient placed at a single step τ:
the reference then has dx[:, t] = 0 after τ, only step τ's own derivative at t = τ (lag 0), and what
travelled k steps back through the recursion at t = τ − k (lag k); the weights and the initial state
are compared as a whole for each τ, and involve no recursion at τ = 0. The smallest lag (or τ) at which
a gradient goes wrong names the kind of term: lag 0 the step's own terms, lag 1 the recurrent term,
lag k a recursion cut short after k − 1 steps; the gradient with the smallest lag shows it first.

Entry points: :func:`layer` (the declaration), :func:`check_layer` (one check), :func:`verify_layer` (the
Hypothesis search), :func:`check_layer_file` (what ``gradlab check FILE`` runs for a file with ``LAYER``
or ``LAYERS``).
"""
import sys
import types

from .core import check_layer
from .declare import LayerDecl, layer
from .files import LayerReports, check_layer_file, is_layer_file, load_layer_file
from .report import LayerReport
from .search import verify_layer

__all__ = ["layer", "LayerDecl", "check_layer", "verify_layer", "check_layer_file", "is_layer_file",
           "load_layer_file", "LayerReport", "LayerReports"]


class _CallableModule(types.ModuleType):
    """``gradlab.check.layer`` is this package *and* the declaration function :func:`layer`: importing the
    package sets the attribute ``gradlab.check.layer`` to the module, so the module itself is callable."""

    def __call__(self, forward, backward=None, **declaration) -> LayerDecl:
        """Declare a layer for checking: see :func:`gradlab.check.layer.declare.layer`."""
        return layer(forward, backward, **declaration)


sys.modules[__name__].__class__ = _CallableModule
