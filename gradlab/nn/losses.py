r"""Losses on RNN outputs, with per-step masks for padded batches.

The lecture's loss is the halved squared error summed over the elements and the steps,

.. math::
    E = \sum_t E_t, \qquad E_t = \tfrac12 \lVert y_t - d_t \rVert^2 ,

and the ½ is part of the definition (:func:`mse_half`); :func:`mse` is the mean squared error, a
different loss. :func:`softmax_cross_entropy` takes logits and integer classes (or one-hot / soft
targets) and is computed through ``log_softmax`` so it never overflows or takes log(0).

A ``mask`` has the leading shape of the outputs without the feature axis, e.g. ``(T, B)`` for outputs
``(T, B, O)``: 1 where a step counts, 0 for padding. Masked positions contribute nothing.
"""
from __future__ import annotations

import numpy as np

from ..engine import ops
from ..engine.backend import get_xp
from ..engine.context import scope
from ..devices import as_numpy
from ..engine.tensor import Tensor, unwrap

__all__ = ["mse_half", "mse", "softmax_cross_entropy", "sequence_loss", "LOSSES"]


def _as_output(y, who: str) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(f"{who}: the outputs must be a gradlab Tensor, got {type(y).__name__}")
    return y


def _target(d, y: Tensor, who: str):
    d = d if isinstance(d, Tensor) else Tensor(get_xp(y.data).asarray(d, dtype=y.dtype))
    if tuple(d.shape) != tuple(y.shape):
        raise ValueError(f"{who}: targets have shape {tuple(d.shape)} but the outputs have shape {tuple(y.shape)}")
    return d


def _mask(mask, y: Tensor, who: str):
    """Return the mask as a float array shaped to broadcast against ``y`` (trailing axes of size 1)."""
    if mask is None:
        return None
    m = as_numpy(unwrap(mask))
    if m.dtype.kind not in "biuf":
        raise TypeError(f"{who}: the mask must hold numbers or booleans, got dtype {m.dtype}")
    lead_shape = tuple(y.shape[: m.ndim])
    if m.ndim > y.ndim or tuple(m.shape) != lead_shape:
        raise ValueError(f"{who}: mask of shape {tuple(m.shape)} does not match the outputs of shape "
                         f"{tuple(y.shape)} (expected the leading axes without the feature axis, e.g. (T, B))")
    return get_xp(y.data).asarray(m.astype(y.dtype).reshape(m.shape + (1,) * (y.ndim - m.ndim)))


def mse_half(y, d, mask=None) -> Tensor:
    r"""Return :math:`E = \tfrac12 \sum m\,(y - d)^2` summed over every element (and step): the lecture's loss."""
    y = _as_output(y, "mse_half")
    diff = ops.sub(y, _target(d, y, "mse_half"))
    sq = ops.mul(diff, diff)
    m = _mask(mask, y, "mse_half")
    if m is not None:
        sq = ops.mul(sq, m)
    return ops.mul(ops.sum(sq), 0.5)


mse_half.additive = True  # the loss of a sequence is the sum of the per-step losses


def mse(y, d, mask=None) -> Tensor:
    r"""Return the mean squared error :math:`\sum m (y - d)^2 / \#\{\text{counted elements}\}`."""
    y = _as_output(y, "mse")
    diff = ops.sub(y, _target(d, y, "mse"))
    sq = ops.mul(diff, diff)
    m = _mask(mask, y, "mse")
    if m is None:
        return ops.mean(sq)
    count = float(m.sum()) * (y.size / m.size)
    if count == 0:
        raise ValueError("mse: the mask leaves no element to average over")
    return ops.mul(ops.sum(ops.mul(sq, m)), 1.0 / count)


mse.additive = False


def softmax_cross_entropy(logits, targets, mask=None, *, reduction: str = "sum") -> Tensor:
    r"""Return the cross-entropy :math:`-\sum m \log \operatorname{softmax}(z)_{d}` of ``logits`` (classes on
    the last axis) against integer classes ``targets`` (shape ``logits.shape[:-1]``) or one-hot / soft
    targets (shape of ``logits``); summed (``reduction="sum"``) or averaged over the counted positions
    (``"mean"``). Computed via ``log_softmax`` (stable)."""
    who = "softmax_cross_entropy"
    z = _as_output(logits, who)
    if reduction not in ("sum", "mean"):
        raise ValueError(f"{who}: reduction must be 'sum' or 'mean', got {reduction!r}")
    if z.ndim == 0:
        raise ValueError(f"{who}: logits need a class axis, got a scalar")
    C = z.shape[-1]
    d = as_numpy(unwrap(targets))
    m = None if mask is None else as_numpy(unwrap(mask)).astype(z.dtype)
    pos_shape = tuple(z.shape[:-1])
    if m is not None and tuple(m.shape) != pos_shape[: m.ndim]:
        raise ValueError(f"{who}: mask of shape {tuple(m.shape)} does not match the logits of shape "
                         f"{tuple(z.shape)} (expected the leading axes without the class axis)")
    if m is not None:
        m = np.broadcast_to(m.reshape(m.shape + (1,) * (len(pos_shape) - m.ndim)), pos_shape)
    if d.dtype.kind in "iub" and tuple(d.shape) == pos_shape:
        counted = np.ones(pos_shape, dtype=bool) if m is None else m != 0
        bad = counted & ((d < 0) | (d >= C))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{who}: class index {int(d[where])} at position {where} is outside 0..{C - 1}")
        weights = np.zeros(z.shape, dtype=z.dtype)
        idx = np.where(counted, d, 0)
        np.put_along_axis(weights, idx[..., None].astype(np.intp), 1.0, axis=-1)
    elif d.dtype.kind in "fiub" and tuple(d.shape) == tuple(z.shape):
        weights = d.astype(z.dtype)
    else:
        raise ValueError(f"{who}: targets of shape {tuple(d.shape)} (dtype {d.dtype}) fit neither integer classes "
                         f"of shape {pos_shape} nor one-hot rows of shape {tuple(z.shape)}")
    if m is not None:
        weights = weights * m[..., None]
    weights = get_xp(z.data).asarray(weights)
    total = ops.neg(ops.sum(ops.mul(ops.log_softmax(z, axis=-1), weights)))
    if reduction == "sum":
        return total
    count = float(np.prod(pos_shape)) if m is None else float(m.sum())
    if count == 0:
        raise ValueError(f"{who}: the mask leaves no position to average over")
    return ops.mul(total, 1.0 / count)


softmax_cross_entropy.additive = True  # with reduction="sum"

def _array(a):
    """An array as it is (NumPy or CuPy); anything else (lists, numbers) through NumPy."""
    return a if hasattr(a, "__array_namespace__") or hasattr(a, "__cuda_array_interface__") else np.asarray(a)


LOSSES = {"mse_half": mse_half, "mse": mse, "softmax_cross_entropy": softmax_cross_entropy}


def sequence_loss(outputs, targets, loss="mse_half", mask=None, **loss_kwargs) -> Tensor:
    r"""Return the loss of a whole output sequence against ``targets`` (one per output step).

    ``outputs`` is an :class:`~gradlab.nn.Unrolled`, a list of y_t, or a ``(T, ..., O)`` Tensor;
    ``targets`` has one entry per output step (``(T, ..., O)`` values, or ``(T, ...)`` integer classes);
    ``mask`` is ``(T, ...)`` (1 = counted, 0 = padding). ``loss`` is a name in :data:`LOSSES` or a callable
    ``loss(y, d, mask=None)``. For additive losses (:func:`mse_half`, summed cross-entropy) the result is
    :math:`E = \sum_t E_t` and, for a step-by-step unrolled network, each ``E_t`` is recorded at its step t;
    otherwise the loss is applied to the stacked sequence (e.g. :func:`mse` averages over all steps).
    """
    fn = LOSSES.get(loss) if isinstance(loss, str) else loss
    if fn is None or not callable(fn):
        raise ValueError(f"sequence_loss: loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
    times, seq, ys = None, None, None
    from .unroll import Unrolled

    if isinstance(outputs, Unrolled):
        times = outputs.output_times
        if outputs.output_sequence_recorded:
            seq = outputs.output_sequence  # the fused path's (T, ..., O) tensor: one loss node, not T
        else:
            ys = outputs.outputs
    elif isinstance(outputs, Tensor):
        seq = outputs
    elif isinstance(outputs, (list, tuple)):
        ys = list(outputs)
    else:
        raise TypeError(f"sequence_loss: outputs must be an Unrolled, a list of Tensors or a Tensor, "
                        f"got {type(outputs).__name__}")
    T = len(ys) if ys is not None else (seq.shape[0] if seq.ndim else 0)
    if T == 0:
        raise ValueError("sequence_loss: there are no outputs (an empty sequence, or unroll(..., outputs='none'))")
    if times is None:
        times = list(range(1, T + 1))
    if isinstance(targets, (list, tuple)):
        n_targets = len(targets)
        d_all = None
    else:
        d_all = targets if isinstance(targets, Tensor) else _array(targets)
        n_targets = d_all.shape[0] if d_all.ndim else 0
    if n_targets != T:
        shape = f"; targets shape {tuple(d_all.shape)}" if d_all is not None else ""
        raise ValueError(f"sequence_loss: {n_targets} targets for {T} outputs (time steps "
                         f"{times[0]}..{times[-1]}){shape}; give one target per output step")
    if mask is not None:
        mask = as_numpy(unwrap(mask))
        if mask.ndim == 0 or mask.shape[0] != T:
            raise ValueError(f"sequence_loss: the mask has shape {tuple(mask.shape)}, expected ({T}, ...): "
                             f"one row per output step")
    additive = getattr(fn, "additive", False) and loss_kwargs.get("reduction", "sum") == "sum"
    if ys is not None and additive:
        total = None
        for k, (y, t) in enumerate(zip(ys, times)):
            d = targets[k] if d_all is None else d_all[k]
            with scope(t=t):
                e = fn(y, d, mask=None if mask is None else mask[k], **loss_kwargs)
            total = e if total is None else ops.add(total, e)
        return total
    if seq is None:
        seq = ops.stack(ys, axis=0)
    if d_all is None:
        d_all = ops.stack(targets, axis=0) if any(isinstance(d, Tensor) for d in targets) else np.stack(
            [as_numpy(_array(d)) for d in targets], axis=0)
    return fn(seq, d_all, mask=mask, **loss_kwargs)
