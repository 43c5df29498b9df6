r"""Lecture figures drawn from the recorded graph: folded and unfolded networks, cell interiors, op-level
graphs, gradient flow through time and the checker's findings.

>>> import gradlab
>>> fig = gradlab.to_dot("elman", T=3)           # a graphviz.Digraph; building needs no `dot`
>>> fig.source.count("subgraph cluster_t") - 1   # one cluster per time step (+ the initial state)
3

``gradlab.render(obj, path, view=...)`` builds the same figure and writes it (SVG, PNG, PDF or DOT,
from the suffix). Without the Graphviz ``dot`` program it says what to install and writes the DOT
source instead. Views (``view=``):

* ``"unfolded"``: time left to right, one cluster per step; ``detail="cell"`` (values and a box per
  gated cell), ``"gates"`` (each step's interior) or ``"ops"`` (every primitive op);
* ``"folded"``: the cell once, its recurrent edge through a black delay square;
* ``"cell"``: one step's interior: layers as boxes, pointwise operations as circles;
* ``"ops"``: the unfolded graph of primitive ops (the engine lessons);
* ``"gradients"``: BPTT, each state annotated with ‖∂E/∂s_t‖ on a colour scale (``truncate=k`` shows
  where truncated BPTT stops the gradient; ``loss_at="last"`` and ``weight_scale`` make the vanishing
  gradient of the README); fitted to a 16:9 slide by default;
* ``"check"``: see :func:`check_figure`.

Every view takes the slide options ``theme`` (light/dark), ``fontsize``, ``labels`` (all/few/none),
``size`` and ``dpi``; sequences longer than :data:`MAX_STEPS` steps are elided unless ``all_steps=True``.
"""
from __future__ import annotations

import contextlib
import gc
import sys
import types

from .checkview import check_figure, failure_figure, findings_from
from .gradflow import gradient_flow, state_gradients
from .interior import cell_interior
from .opgraph import op_graph
from .output import Figure, dot_available, write
from .source import make_cell, unfolding_of
from .structure import Unfolding
from .unfolded import AUTO_KEEP, MAX_STEPS, SLIDE, bands_to_fit, folded, parse_ratio, steps_kept, unfolded
from . import style
from .attention import attention_graph, attention_heatmap

__all__ = ["render", "to_dot", "write", "check_figure", "failure_figure", "findings_from", "Figure", "Unfolding", "VIEWS",
           "DETAILS", "dot_available", "unfolding_of", "state_gradients", "make_cell", "MAX_STEPS", "AUTO_KEEP",
           "SLIDE"]
__all__ += ["attention_graph", "attention_heatmap"]

VIEWS = ("unfolded", "folded", "cell", "ops", "gradients", "check")
DETAILS = ("cell", "gates", "ops")


def to_dot(obj, view: str = "unfolded", *, T: int | None = None, detail: str = "cell", shared: str = "label",
           elide: int | None = None, fit="auto", wrap: int | None = None, all_steps: bool = False,
           box: bool | None = None,
           truncate: int | None = None, findings=None, title: str | None = None, rng=0, t: int | None = None,
           hints: dict | None = None, loss_at: str = "all", weight_scale: float | None = None,
           theme: str = "light", fontsize: float | None = None, labels: str = "all", size: str | None = None,
           dpi: float | None = None) -> Figure:
    r"""Return the figure of ``obj`` as a :class:`Figure` (a ``graphviz.Digraph``; no ``dot`` needed).

    ``obj``: an output Tensor (e.g. the loss) or a :class:`gradlab.Graph` recorded with time-step scopes,
    an unrolled network, a recurrent cell (unrolled over ``T`` steps on seeded data) or a cell name
    (``"elman"``, ``"lstm"``, ``"gru"``, ...). ``view`` is one of :data:`VIEWS`; ``detail`` (unfolded
    view) one of :data:`DETAILS`; ``shared`` ``"label"`` or ``"once"``; ``truncate=k`` (gradients view)
    cuts BPTT every k steps; ``findings`` (check view) as in :func:`check_figure`; ``t`` the step the cell
    view shows; ``hints`` names what the graph alone cannot tell, e.g. ``{"cell": "LSTM"}`` (see
    :class:`Unfolding`).

    Long sequences: ``elide=k`` keeps the first and last k steps of a long sequence; ``fit="16:9"`` (the
    default of the gradients view; ``fit="auto"`` means that, and no fitting for the other views; None
    never fits) draws every step in two or three bands where they fit that aspect ratio at a readable
    size (:func:`~gradlab.render.unfolded.bands_to_fit`), and otherwise elides as many middle steps as it
    takes for the figure to be no wider than that ratio; a sequence of more than :data:`MAX_STEPS` steps is elided to its first and last
    :data:`AUTO_KEEP` unless ``all_steps=True``. ``wrap=n`` (unfolded and gradients views) draws n steps per
    band, the bands one under the other, instead of fitting by eliding. The figure's ``kept`` attribute
    says how many steps were kept at each end (None: all drawn).

    Loss and weights of a cell gradlab unrolls: ``loss_at`` ``"all"`` (E = Σ_t E_t) or ``"last"`` (only the
    last step's loss), ``weight_scale`` multiplies every weight (see :func:`unfolding_of`).

    Slide looks (every view, see :func:`gradlab.render.style.apply_look`): ``theme`` ``"light"`` or
    ``"dark"``, ``fontsize`` (points), ``labels`` ``"all"``, ``"few"`` or ``"none"``, ``size`` ``"WxH"`` in
    pixels, ``dpi``.
    """
    if view not in VIEWS:
        raise ValueError(f"render: unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    if detail not in DETAILS:
        raise ValueError(f"render: unknown detail {detail!r}; choose one of {', '.join(DETAILS)}")
    with _collector_paused():
        u = unfolding_of(obj, T=T, rng=rng, hints=hints, loss_at=loss_at, weight_scale=weight_scale)
        if fit == "auto":
            fit = SLIDE if view == "gradients" and wrap is None else None
        fitted = view in ("unfolded", "gradients", "check") and detail == "cell"
        kept = steps_kept(u, elide=elide, fit=fit if fitted else None, all_steps=all_steps,
                          annotated=view == "gradients", box=box)
        if kept is not None and elide is None and wrap is None and fit is not None and fitted and view != "check" \
                and steps_kept(u, all_steps=all_steps) is None:
            # too wide for the ratio, short enough to draw whole: every step, in two or three bands, if they
            # fit at a readable size; else the middle stays elided
            wrap = bands_to_fit(u, parse_ratio(fit), annotated=view == "gradients", box=box)
            kept = None if wrap is not None else kept
        fig = _draw(u, view, detail=detail, shared=shared, elide=kept, box=box, truncate=truncate,
                    findings=findings, title=title, t=t, wrap=wrap)
    ratio = parse_ratio(fit) if view in ("unfolded", "gradients", "check") and detail == "cell" else None
    if ratio is not None:
        # what eliding could not do (a step of a gated cell is wide) dot does: it spaces the ranks (or the
        # columns) out until the drawing has exactly this aspect ratio
        fig.graph_attr["ratio"] = f"{1 / ratio:.4f}"
    fig.kept = kept
    return style.apply_look(fig, theme=theme, fontsize=fontsize, labels=labels, size=size, dpi=dpi)


@contextlib.contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector while a long sequence is recorded and read: it would
    otherwise walk the growing graph again and again (T = 20 000 Elman steps: 16 s with it, 8 s without,
    measured in one process on a loaded machine). Reference counting still frees what is dropped."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _draw(u, view, *, detail, shared, elide, box, truncate, findings, title, t, wrap=None) -> Figure:
    if view == "check":
        return check_figure(findings if findings is not None else {}, u, shared=shared, elide=elide, box=box,
                            title=title)
    if view == "folded":
        return folded(u, box=box, title=title)
    if view == "cell":
        return cell_interior(u, t=t, title=title)
    if view == "ops" or (view == "unfolded" and detail == "ops"):
        return op_graph(u, shared=shared, elide=elide, title=title)
    if view == "unfolded" and detail == "gates":
        return cell_interior(u, t="all", elide=elide, title=title)
    if view == "gradients":
        return gradient_flow(u, truncate=truncate, shared=shared, elide=elide, box=box, title=title, wrap=wrap)
    return unfolded(u, shared=shared, elide=elide, box=box, title=title, wrap=wrap)


def render(obj, path=None, *, view: str = "unfolded", force: bool = False, **options) -> Figure:
    r"""Return the figure of ``obj`` (as :func:`to_dot`) and, when ``path`` is given, write it there
    (format from the suffix: .svg, .png, .pdf, .dot; a file gradlab did not write is kept unless
    ``force``, see :mod:`gradlab.files`). In Jupyter the returned figure displays inline."""
    fig = to_dot(obj, view, **options)
    if path is not None:
        write(fig, path, force=force)
    return fig


class _CallableModule(types.ModuleType):
    """``gradlab.render`` is this package *and* the function :func:`render`: importing the package sets
    the attribute ``gradlab.render`` to the module, so the module itself must be callable."""

    def __call__(self, obj, path=None, **options) -> Figure:
        return render(obj, path, **options)


sys.modules[__name__].__class__ = _CallableModule
