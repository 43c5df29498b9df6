r"""The fast path: the same graph, the same values and gradients (to rounding), in less time.

``gradlab.engine`` is the engine a student reads; nothing in it is there for speed. This package
plugs a faster implementation of its two steps, recording a node and running reverse mode, into the
engine's :class:`~gradlab.engine.context.Engine` interface, under the name ``"fast"``; importing
``gradlab`` imports it, so it is the default. ``with gradlab.reference():`` runs the engine's own code.
The engine never imports this package.

What each part buys (an Elman network, float64, one process, best of several calls on the shared
2-core project machine; ``benchmarks/README.md`` has the tables, the large size is B=32, T=100, D=128,
H=256, the small one B=1, T=25, D=65, H=100):

* :mod:`~gradlab.fast.reverse` — batched sums of a shared weight's contributions (one matrix
  product instead of T), owned buffers, the symmetric-op shortcut: about 2× on the large fused
  unrolling's backward, 1.5× on the small literal one.
* :mod:`~gradlab.fast.memory` — the buffer pool: about 1.25× at the large size (the page faults of
  freshly allocated per-step values), nothing at the small one.
* :mod:`~gradlab.fast.record` — into-forwards and cached constants: 1.1–1.2× at the small size. Its
  ``record_op`` is what every op function calls (``engine.ops.install``): one Python call per node.
* :mod:`~gradlab.fast.batched` — the row index that lets those sums read the stacked states and the
  tiled deltas without copying them.
"""
from __future__ import annotations

from ..engine.context import ENGINES
from ..engine.ops import install
from .memory import release_memory
from .record import apply as _apply
from .record import record_op
from .reverse import reverse as _reverse

__all__ = ["FastEngine", "FAST", "release_memory"]


class FastEngine:
    """The fast path behind the engine's :class:`~gradlab.engine.context.Engine` interface."""

    apply = staticmethod(_apply)
    reverse = staticmethod(_reverse)

    def __repr__(self) -> str:
        return "gradlab.fast.FAST"


FAST = FastEngine()
ENGINES["fast"] = FAST
install(record_op)       # the op functions call the fast recording step directly (it checks the engine in force)
