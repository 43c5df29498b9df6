r"""Gradient flow through time: the unfolded figure with its arrows pointing back in time (the direction
BPTT runs), each state annotated with the norm of the gradient of the loss with respect to it,

.. math::
    \Big\lVert \frac{\partial E}{\partial s_t} \Big\rVert_F ,

and coloured on a logarithmic scale from pale (vanishing) to dark red (exploding), so that the decay or
growth of the gradient along the sequence is seen rather than read. With truncated BPTT (``truncate=k``:
the state is detached every k steps, as in training with chunks of k steps) the recurrent edges where
the gradient stops are drawn dashed and marked "stop", and the norms are those truncated BPTT computes.

The norms come from one sweep of the engine's own reverse loop over the recorded graph, with the cut
edges skipped; no model code is re-run.
"""
from __future__ import annotations

import math

import numpy as np

from ..engine.autodiff import reverse
from ..devices import as_numpy
from . import style
from .structure import Unfolding
from .unfolded import unfolded

__all__ = ["state_gradients", "gradient_flow", "cut_edges"]


def cut_edges(u: Unfolding, truncate: int | None) -> set:
    """Return the (state of step t, node of step t+1) graph edges that truncated BPTT with chunks of
    ``truncate`` steps cuts: those leaving the last step of each chunk."""
    if truncate is None:
        return set()
    if not isinstance(truncate, int) or isinstance(truncate, bool) or truncate < 1:
        raise ValueError(f"render: truncate must be a positive int (steps per BPTT chunk), got {truncate!r}")
    cut = set()
    first = u.times[0]
    for t in u.times:
        if (t - first + 1) % truncate or t + 1 not in u.steps:
            continue
        for s in u.steps[t].states:
            for c in u.children[s]:
                if c.op is not None and c.scope.t is not None and c.scope.t > t:
                    cut.add((s, c))
    return cut


def state_gradients(u: Unfolding, *, truncate: int | None = None) -> dict:
    r"""Return {shown node: ‖∂E/∂node‖_F} for the states (and outputs) of ``u``, by the engine's reverse
    loop over the recorded graph; with ``truncate=k`` the gradient does not cross the chunk boundaries."""
    cut = cut_edges(u, truncate)
    out = u.graph.outputs[0]
    want = set(u.shown)
    # an op node that asks for no gradient still has one (a state of a fixed reservoir: ∂E/∂s_t is what BPTT
    # would send back); only leaves without requires_grad (inputs, constants) are left out
    def flows(n):
        return n.op is not None or n.requires_grad

    order = [n for n in reversed(u.graph.nodes) if flows(n)]
    grads = reverse(order, {out: np.ones_like(as_numpy(out.data))}, lambda n: as_numpy(n.data), keep=want,
                    skip=lambda parent, child: (parent, child) in cut, xp=np, follow=flows)
    return {n: float(np.sqrt(np.sum(np.abs(grads[n]) ** 2))) if n in grads else 0.0 for n in want}


def gradient_flow(u: Unfolding, *, truncate: int | None = None, shared: str = "label", elide: int | None = None,
                  box: bool | None = None, title: str | None = None, name: str = "gradients", wrap: int | None = None):
    r"""Return the gradient-flow figure of ``u``: arrows back in time, each state labelled and coloured by
    ‖∂E/∂s_t‖ (log scale, legend included); ``truncate=k`` marks where truncated BPTT stops."""
    norms = state_gradients(u, truncate=truncate)
    states = [n for n, (role, t) in u.shown.items() if role in ("s", "c") and t is not None]
    values = [norms[n] for n in states if norms[n] > 0 and math.isfinite(norms[n])]
    lo, hi = (min(values), max(values)) if values else (1.0, 1.0)
    if hi <= lo:
        lo, hi = lo / 10, hi * 10
    annotate = {}
    for n in states:
        annotate[n] = ([style.fmt_number(norms[n])], style.norm_colour(norms[n], lo, hi))
    by_tail: dict = {}
    for e in u.edges():
        by_tail.setdefault(e.tail, []).append(e)
    cut = {(e.tail, e.head) for tail, child in cut_edges(u, truncate) for e in by_tail.get(tail, ())
           if u.shown[e.head][1] == child.scope.t}

    def colour(tail, head):
        # the gradient that flows back along tail -> head leaves head: colour it by ‖∂E/∂head‖
        if head not in annotate or u.shown.get(tail, ("x",))[0] not in ("s", "c", "s0"):
            return None
        return style.edge_norm_colour(norms.get(head, 0.0), lo, hi)

    if title is None:
        title = "Backpropagation through time: ‖∂E/∂s<SUB>t</SUB>‖"
        if truncate:
            title += f" (truncated every {truncate} steps)"
    g = unfolded(u, shared=shared, elide=elide, box=box, title=title, annotate=annotate, backward=True,
                 edge_colour=colour, cut=cut, name=name, wrap=wrap)
    # the legend stands under the inputs (an invisible edge to the start of the input row puts it there):
    # beside the figure it would make a long sequence wider still
    g.node("legend", style.scale_legend(lo, hi, "‖∂E/∂s<SUB>t</SUB>‖ (log scale)"), shape="plaintext")
    bands = [line for line in g.body if "start_b" in line and "shape=point" in line]
    g.edge("legend", f"start_b{len(bands)}" if bands else "start", style="invis")
    return g
