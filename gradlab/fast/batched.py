r"""Batched VJPs: the gradient of an input that many nodes use, summed for all of them in one go.

An unfolded RNN uses its weight W_s at every step, so reverse mode meets T contributions
δ_t s_{t-1}ᵀ; the reference engine adds them one by one, as the lecture says. Here they wait until W_s
is reached and become one matrix product,

.. math::
    \frac{\partial E}{\partial W_s} = \sum_t \delta_t s_{t-1}^\top = \Delta^\top S ,

with the δ_t and the s_{t-1} as the rows of two matrices. Building those matrices would copy every
row, so a *row index* remembers, for one reverse pass, which arrays are already rows of one joined
array: the states s_t are rows of their stacked sequence (noted when the ``stack`` node is reached),
and the δ_t are rows of the gradient of the sliced projection (noted when its slices' gradients are
copied into place). :func:`joined` then hands out views instead of copies.

``BATCH_VJP`` maps an op and an input position to ``f(gs, inputs_list, attrs_list, xp, index)``
returning Σ_k VJP(g_k, inputs_k, attrs_k).
"""
from __future__ import annotations

import math

import numpy as np

from ..engine.backend import unbroadcast
from ..engine.ops import OPS, scatter_add
from .memory import pooled_empty, pooled_zeros

__all__ = ["BATCH_VJP", "NEW_SUMS", "RowIndex", "joined", "note_stacked", "tiling"]

# A buffer that lives only while the weight gradients are summed comes from the pool only from this
# size on: below it `malloc` reuses the same memory without page faults and is cheaper to ask
# (measured: 25 rows of (1, 100) stacked in 4.8 µs by NumPy, 12.3 µs pooled).
_TRANSIENT_POOL_MIN = 1 << 20


def _rows2d(a):
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


class RowIndex:
    """For one reverse pass: which arrays are consecutive rows of a joined 2-D array, by ``id``. Four
    dicts rather than a tuple per array: every container kept alive counts towards the garbage
    collector's next pass, and a tuple per tiled slice made the small LSTM collect in most calls."""

    __slots__ = ("array", "base", "start", "rows")

    def __init__(self):
        self.array, self.base, self.start, self.rows = {}, {}, {}, {}

    def note(self, a, base, start: int, rows: int) -> None:
        """Note that ``a`` is rows ``start .. start + rows - 1`` of the 2-D array ``base``."""
        key = id(a)
        self.array[key], self.base[key], self.start[key], self.rows[key] = a, base, start, rows


def _blocks(arrays, index) -> list:
    """``[(first row, rows, 2-D array)]`` for ``arrays`` read as consecutive rows: an array the row
    ``index`` knows joins its neighbours when they are consecutive rows of the same joined array."""
    spans = []                      # [first row, rows, joined array or None, its first row, the array]
    row = 0
    known, bases, starts, counts = index.array, index.base, index.start, index.rows
    for a in arrays:
        key = id(a)
        if known.get(key) is a:     # (an id reused by another array is not the one noted)
            base, start, n = bases[key], starts[key], counts[key]
            last = spans[-1] if spans else None
            if last is not None and last[2] is base and last[3] + last[1] == start:
                last[1] += n
            else:
                spans.append([row, n, base, start, a])
        else:
            n = math.prod(a.shape[:-1])
            spans.append([row, n, None, None, a])
        row += n
    return [(first, n, _rows2d(a) if base is None else base[start:start + n])
            for first, n, base, start, a in spans]


def joined(arrays, xp, index):
    """Return ``arrays`` as the rows of one 2-D array: a view when the row index knows them as consecutive
    rows of one array already, else a new array (from the pool when it is large)."""
    if len(arrays) == 1:
        return _rows2d(arrays[0])
    if xp is np and not index.array.keys().isdisjoint(map(id, arrays)):
        blocks = [b for _, _, b in _blocks(arrays, index)]
    else:                             # none of them known: every row is copied (no walk over them here)
        blocks = arrays if all(a.ndim == 2 for a in arrays) else [_rows2d(a) for a in arrays]
    if len(blocks) == 1:
        return blocks[0]
    if xp is not np or blocks[0].nbytes * len(blocks) < _TRANSIENT_POOL_MIN:
        return xp.concatenate(blocks, axis=0)
    out = pooled_empty((sum(b.shape[0] for b in blocks), blocks[0].shape[1]), np.result_type(*blocks))
    return np.concatenate(blocks, axis=0, out=out)


def note_stacked(node, index) -> None:
    """Note in the row ``index`` that the inputs of the ``stack`` ``node`` are rows of its value."""
    out = node.data
    if type(out) is not np.ndarray or out.nbytes < _TRANSIENT_POOL_MIN or out.ndim < 2 or node.attrs["axis"] % out.ndim \
            or not out.flags.c_contiguous:
        return                    # (below that size a weight's sum copies the rows anyway: see _weight_sum)
    rows = out.reshape(-1, out.shape[-1])
    per = rows.shape[0] // out.shape[0]
    for k, p in enumerate(node.parents):
        index.note(p._data, rows, k * per, per)


# ------------------------------------------------------------------------------------ linear
def _weight_sum(gs, inputs_list, attrs_list, xp, index):
    # Σ_k g_kᵀ x_k = Gᵀ X with the g's and x's of all uses as rows, in the order the uses were made
    # (the order the slices' gradients are copied into place: see _getitem_batch)
    gs = gs[::-1]
    xs = [ins[0] for ins in reversed(inputs_list)]
    G = joined(gs, xp, index)
    # large: a product per block of rows already joined saves copying them; small: one product of copied
    # rows is cheaper (NumPy multiplies a one-row block, such as s_0's, without BLAS)
    if xp is np and len(xs) > 1 and G.nbytes >= _TRANSIENT_POOL_MIN:
        blocks = _blocks(xs, index)
        if len(blocks) <= 4:            # the inputs are (mostly) rows of one array: a product per block
            total = None
            for first, n, X in blocks:
                part = G[first:first + n].T @ X
                total = part if total is None else total + part
            return total
    return G.T @ joined(xs, xp, index)


def _bias_sum(gs, inputs_list, attrs_list, xp, index):
    shape = inputs_list[0][2].shape              # a bias vector, or an additive term of any shape
    if len(shape) == 1 and len(gs) > 1 and all(g.shape[-1] == shape[0] for g in gs):
        return joined(gs, xp, index).sum(axis=0)  # a bias vector: one sum over the rows of all uses
    total = None
    for g in gs:                                 # Σ_k (g_k summed over what b was broadcast along)
        part = unbroadcast(xp, g, shape)
        total = part if total is None else total + part
    return total


# ----------------------------------------------------------------------------------- getitem
def _span(key, ndim):
    """``(axis, item)`` when the basic ``key`` takes one int or one slice along a single axis and all of
    every other axis (``x[t]``, ``x[..., a:b]``, ``x[:, a:b]``); None for any other key."""
    items = key if type(key) is tuple else (key,)
    ellipses = [i for i, it in enumerate(items) if it is Ellipsis]
    if len(ellipses) > 1:
        return None
    if ellipses:
        i = ellipses[0]
        items = items[:i] + (slice(None),) * (ndim - len(items) + 1) + items[i + 1:]
    if len(items) > ndim:
        return None
    found = None
    for axis, it in enumerate(items):
        if type(it) is slice and it.start is None and it.stop is None and it.step is None:
            continue
        if found is not None or not (type(it) is int or type(it) is slice):
            return None
        found = (axis, it)
    return (0, slice(None)) if found is None else found


def _part(item, n):
    """``(lo, hi)`` that the int or unit-step slice ``item`` takes of an axis of ``n``, else None."""
    if type(item) is int:
        return (item % n, item % n + 1) if -n <= item < n else None
    lo, hi, step = item.indices(n)
    return (lo, max(lo, hi)) if step == 1 else None


def tiling(keys, shape):
    """When the keys pick disjoint parts of an array of ``shape`` that together cover all of it (the
    steps x[0], …, x[T-1] of a sequence, or the gate columns x[..., a:b] of a stacked projection), return
    ``(axis, parts)``: the axis they cut and ``[(lo, hi, key index)]`` in the order of the parts; else None."""
    if not shape or not keys:
        return None
    n = shape[0]
    if len(keys) == n and all(type(k) is int for k in keys):      # x[t] for every step t, in any order
        if not all(-n <= k < n for k in keys):
            return None
        parts = sorted((k % n, k % n + 1, j) for j, k in enumerate(keys))
        return (0, parts) if all(lo == t for t, (lo, _, _) in enumerate(parts)) else None
    parts, axis = [], None
    for j, key in enumerate(keys):
        span = _span(key, len(shape))
        if span is None or (axis is not None and span[0] != axis):
            return None
        axis = span[0]
        part = _part(span[1], shape[axis])
        if part is None:
            return None
        parts.append((*part, j))
    parts.sort()
    end = 0
    for lo, hi, _ in parts:
        if hi > lo:                              # an empty part covers nothing and may sit anywhere
            if lo != end:
                return None
            end = hi
    return (axis, parts) if end == shape[axis] else None


def _getitem_batch(gs, inputs_list, attrs_list, xp, index):
    # Σ_k scatter(g_k at key_k) for every slice taken of one array. When the slices tile the array
    # (each element picked exactly once) the g's are copied into place: no zero fill, no additions.
    x = inputs_list[0][0]
    keys = [a["key"] for a in attrs_list]
    tiles = tiling(keys, x.shape)
    if tiles is None:
        buf = pooled_zeros(x) if xp is np else xp.zeros_like(x)
        for g, key in zip(gs, keys):
            scatter_add(buf, g, key)
        return buf
    # often kept until the end (a step's gate gradients wait for W_s's sum): pool memory, which
    # malloc would hand back and page-fault in again at every call
    buf = pooled_empty(x.shape, x.dtype) if xp is np else xp.empty(x.shape, x.dtype)
    for g, key in zip(gs, keys):
        buf[key] = g
    axis, parts = tiles
    if axis == 0 and buf.ndim > 1 and xp is np:   # row blocks: a weight's sum over these g's reads buf
        rows = buf.reshape(-1, buf.shape[-1])
        inner = math.prod(buf.shape[1:-1])
        for lo, hi, j in parts:
            index.note(gs[j], rows, lo * inner, (hi - lo) * inner)
    return buf


BATCH_VJP = {OPS["linear"]: {1: _weight_sum, 2: _bias_sum}, OPS["getitem"]: {0: _getitem_batch}}
#: the batched VJPs whose result is always a new array (a product), which reverse mode may hand over uncopied
NEW_SUMS = frozenset((_weight_sum,))
