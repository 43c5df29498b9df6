r"""Looking inside BPTT: per-step contributions of a shared weight, and how gradients fade or grow with time.

A shared parameter's gradient is a sum over the copies of the cell (the lecture's weight-constraint rule):

.. math::
    \frac{\partial E}{\partial W_s} = \sum_{t=1}^{T} \frac{\partial E}{\partial W_s}\Big|_{\text{copy } t},

and :func:`step_contributions` returns each term. :func:`gradient_norms` shows vanishing and exploding
gradients: for a loss on the last step only it returns :math:`\lVert \partial E_T / \partial s_t \rVert`
for every t; a product of T − t Jacobians separates s_t from E_T, and the norms shrink or grow roughly
geometrically as t moves away from T.
"""
from __future__ import annotations

import numpy as np

from ..engine import ops
from ..engine.autodiff import contributions, reverse, toposort
from ..engine.backend import get_xp
from ..devices import as_numpy
from ..engine.tensor import Tensor, unwrap
from .cells import RecurrentCell
from .losses import LOSSES
from .unroll import Unrolled, unroll

__all__ = ["step_contributions", "hidden_gradients", "hidden_gradient_norms", "gradient_norms"]


def step_contributions(loss: Tensor, param: Tensor) -> dict:
    r"""Return ``{t: contribution of step t to ∂loss/∂param}``; the values sum to the full gradient.

    Uses made outside any time step (the learned initial state's broadcast, or the whole-sequence
    products of ``unroll(..., fused=True)``) are under the key ``None``; unroll step by step (the
    default) to see every step separately.
    """
    if not isinstance(loss, Tensor) or loss.size != 1:
        raise ValueError(f"step_contributions: loss must be a one-element Tensor, got "
                         f"{getattr(loss, 'shape', type(loss).__name__)}")
    if not isinstance(param, Tensor) or not param.requires_grad:
        raise ValueError(f"step_contributions: {param!r} is not a tensor that requires a gradient")
    parts = contributions(loss, param, by="t")
    return dict(sorted(parts.items(), key=lambda kv: (kv[0] is not None, kv[0] if kv[0] is not None else 0)))


def hidden_gradients(loss: Tensor, unrolled: Unrolled) -> dict:
    r"""Return ``{t: ∂loss/∂s_t}`` (arrays shaped like s_t) for the hidden states of ``unrolled``.

    Reverse mode with the hidden states kept (what ``retain_grad`` does), without touching any ``.grad``.
    A hidden state the loss does not depend on gets zeros.
    """
    if not isinstance(loss, Tensor) or loss.size != 1:
        raise ValueError("hidden_gradients: loss must be a one-element Tensor")
    hiddens = unrolled.hiddens
    if not loss.requires_grad:
        return {t: get_xp(h.data).zeros_like(h.data) for t, h in zip(unrolled.times, hiddens)}
    order = toposort([loss], follow=lambda n: n.requires_grad)
    xp = get_xp(loss.data)
    grads = reverse(order, {loss: xp.ones_like(loss.data)}, keep=[h for h in hiddens if h.op is not None], xp=xp)
    return {t: grads.get(h, xp.zeros_like(h.data)) for t, h in zip(unrolled.times, hiddens)}


def hidden_gradient_norms(loss: Tensor, unrolled: Unrolled) -> dict:
    r"""Return ``{t: ‖∂loss/∂s_t‖}`` (Frobenius norm over batch and features)."""
    return {t: float(np.linalg.norm(as_numpy(g))) for t, g in hidden_gradients(loss, unrolled).items()}


def _final_target(targets, y_T: Tensor, T: int, integer: bool):
    d = unwrap(targets)
    want = y_T.ndim - (1 if integer else 0)
    if d.ndim == want + 1:
        if d.shape[0] != T:
            raise ValueError(f"gradient_norms: targets hold {d.shape[0]} steps but the sequence has {T} "
                             f"(targets shape {d.shape}); give one target per step, or only d_T")
        return d[-1]
    if d.ndim != want:
        raise ValueError(f"gradient_norms: targets of shape {d.shape} fit neither d_T (the last step's target, "
                         f"{want} axes) nor a whole sequence of them")
    return d


def gradient_norms(cell: RecurrentCell, xs, targets=None, *, loss="mse_half", state=None) -> dict:
    r"""Return ``{t: ‖∂E_T/∂s_t‖}`` for t = 1 … T, where E_T is the loss on the last step's output only.

    ``targets`` is the last step's target ``d_T`` (or a whole target sequence, of which the last entry is
    used); ``loss`` a name in :data:`~gradlab.nn.LOSSES` or a callable ``loss(y, d)``. Without targets,
    :math:`E_T = \sum y_T` (the upstream gradient is all ones: pure propagation, independent of any target).
    Works for every cell (for LSTMs, s_t is the hidden output, not the cell state c_t).
    """
    if not isinstance(cell, RecurrentCell):
        raise TypeError(f"gradient_norms: cell must be a RecurrentCell, got {type(cell).__name__}")
    r = unroll(cell, xs, state, outputs="last")
    y_T = r.output
    if targets is None:
        E = ops.sum(y_T)
    else:
        fn = LOSSES.get(loss) if isinstance(loss, str) else loss
        if fn is None or not callable(fn):
            raise ValueError(f"gradient_norms: loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
        d = unwrap(targets)
        d = d if hasattr(d, "dtype") else np.asarray(d)
        integer = d.dtype.kind in "iu" and fn is LOSSES["softmax_cross_entropy"]
        E = fn(y_T, _final_target(d, y_T, len(r), integer))
    return hidden_gradient_norms(E, r)
