r"""A small buffer pool for the NumPy arrays a recorded graph keeps alive.

Why it exists (measured, see benchmarks/README.md): a forward pass keeps every node's value until the
backward pass is over, and an unfolded RNN makes T of each per-step value. With glibc's ``malloc``
those many medium-sized blocks grow the heap in 4 KiB pages; when the graph is dropped the heap is
trimmed and handed back to the operating system, so the next iteration page-faults on all of it again.
On the project machine that cost 20–40 % of a large forward+backward (10 000 page faults per Elman
iteration at B=32, T=100, H=256) — time the hand-written NumPy floor, whose few big arrays are reused,
never pays.

The pool hands out *views* into a few large chunks instead. A chunk is free again as soon as no view
of it is alive (NumPy views keep their base alive, so its reference count says so), and it is then
reused by the next iteration without going back to the operating system. Nothing else about the values
changes: they are ordinary ``ndarray`` views (read-only once recorded), and no interpreter but the
fast path's NumPy recording and reverse mode ever sees the pool.

The pool is per thread, holds at most :data:`MAX_IDLE_BYTES` of free chunks, and
:func:`release_memory` empties it.
"""
from __future__ import annotations

import math
import sys
import threading

import numpy as np

__all__ = ["pooled_copy", "pooled_empty", "pooled_zeros", "pooled_like", "is_pooled", "release_memory", "MIN_BYTES",
           "CHUNK_BYTES", "MAX_IDLE_BYTES"]

#: arrays smaller than this are left to ``malloc`` (the small-size benchmarks are per-call bound)
MIN_BYTES = 16 * 1024
#: the size of one chunk (larger requests get a chunk of their own size)
CHUNK_BYTES = 8 * 1024 * 1024
#: free chunks beyond this many bytes are handed back instead of kept
MAX_IDLE_BYTES = 256 * 1024 * 1024
_ALIGN = 64


class _Pool:
    __slots__ = ("chunks", "current", "offset")

    def __init__(self):
        self.chunks: list = []      # every chunk the pool owns
        self.current = None         # the chunk being filled
        self.offset = 0

    def take(self, nbytes: int):
        """Return ``(chunk, offset)``: ``nbytes`` bytes (aligned) of the pool, where no live view is."""
        step = (nbytes + _ALIGN - 1) & ~(_ALIGN - 1)
        cur = self.current
        if cur is not None and self.offset and sys.getrefcount(cur) <= 3:
            self.offset = 0         # no view of the current chunk is alive: start again where memory is warm
        if cur is None or self.offset + step > cur.size:
            del cur                 # a local reference would make the current chunk look in use
            self.current, self.offset = self._free_chunk(step), 0
            cur = self.current
        offset = self.offset
        self.offset = offset + step
        return cur, offset

    def _free_chunk(self, step: int):
        chunks = self.chunks
        idle = 0
        found = None
        for k in range(len(chunks) - 1, -1, -1):
            c = chunks[k]
            # references: the list, `c`, getrefcount's argument (+1 while it is `current`)
            if sys.getrefcount(c) - (c is self.current) <= 3:
                if found is None and c.size >= step:
                    found = c
                else:
                    idle += c.size
                    if idle > MAX_IDLE_BYTES:
                        del chunks[k]
        if found is not None:
            return found
        c = np.empty(max(step, CHUNK_BYTES), dtype=np.uint8)
        chunks.append(c)
        return c


_LOCAL = threading.local()


def _pool() -> _Pool:
    pool = getattr(_LOCAL, "pool", None)
    if pool is None:
        pool = _LOCAL.pool = _Pool()
    return pool


def pooled_copy(a):
    """Return ``a`` moved into the pool (a C-contiguous view with the same values), or ``a`` itself
    when it is not a fresh NumPy array of at least :data:`MIN_BYTES`."""
    if type(a) is not np.ndarray or a.nbytes < MIN_BYTES or a.base is not None or not a.flags.c_contiguous:
        return a
    out = pooled_empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


def pooled_empty(shape, dtype):
    """Return an uninitialised NumPy array from the pool (from ``numpy.empty`` when it is small)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    chunk, offset = _pool().take(nbytes)
    return np.ndarray(shape, dtype, chunk, offset)     # a view: its base is the chunk


def pooled_zeros(like):
    """Return a zero array shaped like the NumPy array ``like``, from the pool when it is big enough."""
    if type(like) is not np.ndarray:
        return np.zeros_like(like)
    if like.nbytes < MIN_BYTES:
        return np.zeros(like.shape, like.dtype)
    out = pooled_empty(like.shape, like.dtype)
    out.fill(0)
    return out


def pooled_like(*arrays):
    """Return an uninitialised pooled array for an element-wise result of ``arrays`` when they are NumPy
    float arrays of one shape and dtype and at least :data:`MIN_BYTES`; else None (compute as usual:
    small arrays, broadcasting, complex or object values, CuPy).

    Reverse mode keeps many such results alive until the weight gradients are summed (the per-step δ_t
    of an unfolded RNN); from ``malloc`` they page-fault afresh every iteration, from the pool they do not.
    """
    first = arrays[0]
    if type(first) is not np.ndarray or first.nbytes < MIN_BYTES or first.dtype.kind != "f":
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.shape != first.shape or a.dtype != first.dtype:
            return None
    return pooled_empty(first.shape, first.dtype)


def is_pooled(a) -> bool:
    """Return whether ``a`` is a view into this thread's pool (such arrays must not outlive a computation:
    a result handed to a caller is copied out first)."""
    if type(a) is not np.ndarray:
        return False
    base = a.base
    if base is None:
        return False
    for c in _pool().chunks:
        if base is c:
            return True
    return False


def release_memory() -> int:
    """Drop the free chunks of this thread's pool (chunks still in use stay until their views die);
    return the number of bytes handed back."""
    pool = _pool()
    pool.current = None
    keep, freed = [], 0
    for c in pool.chunks:
        if sys.getrefcount(c) <= 3:
            freed += c.size
        else:
            keep.append(c)
    pool.chunks = keep
    return freed
