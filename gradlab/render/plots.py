r"""Data figures for lectures: line plots, heat maps and error surfaces in one slide-ready style.

The graph figures (folded, unfolded, cell interiors) are drawn by Graphviz; figures of *numbers* — a
loss curve, attention weights, an error surface, gradient norms per step — are drawn with Matplotlib
through this module, so that every one has the same fonts, colours and proportions. Sizes are given
for a slide: ``size="slide"`` is 1280×720 pixels at the default 160 dpi (8 × 4.5 inches), with fonts
that stay readable at that size; ``"half"`` is half a slide wide, ``"square"`` fits a heat map.

Only the object-oriented Matplotlib API is used (``matplotlib.figure.Figure``): no ``pyplot``, no
global backend switch, nothing drawn at import.

>>> import numpy as np
>>> from gradlab.render import plots
>>> fig, ax = plots.new(title="loss")
>>> plots.lines(ax, np.arange(3), {"train": [3.0, 2.0, 1.5]}, xlabel="epoch", ylabel="E")
>>> ax.get_xlabel()
'epoch'
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .style import FONT, PALETTE

__all__ = ["new", "lines", "heatmap", "surface", "save", "SIZES", "DPI", "COLOURS"]

#: figure sizes in inches at :data:`DPI` (slide: 1280×720 px)
SIZES = {"slide": (8.0, 4.5), "half": (4.0, 4.5), "square": (5.0, 4.5), "wide": (8.0, 3.0), "tall": (8.0, 9.0)}
DPI = 160
#: line colours, colour-blind safe (Okabe–Ito), the same as the graph figures' fan-out edges
COLOURS = tuple(PALETTE)
_STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT, "Arial", "DejaVu Sans"],
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 2.0,
    "lines.markersize": 5,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


def new(rows: int = 1, cols: int = 1, *, size="slide", title: str | None = None, sharex=False, sharey=False):
    r"""Return ``(figure, axes)`` for a ``rows`` × ``cols`` grid in the lecture style.

    ``size`` is a key of :data:`SIZES` or ``(width, height)`` in inches; ``axes`` is one Axes for a
    1 × 1 grid, else a NumPy array of them. In Jupyter the figure displays itself inline as SVG."""
    import matplotlib

    from ..display import figure_class

    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"plots.new: unknown size {size!r}; choose one of {sorted(SIZES)} or give (width, height)")
        size = SIZES[size]
    with matplotlib.rc_context(_STYLE):
        fig = figure_class()(figsize=size, dpi=DPI, layout="constrained")   # shows itself as SVG in Jupyter
        axes = fig.subplots(rows, cols, sharex=sharex, sharey=sharey, squeeze=True)
    for ax in np.atleast_1d(axes).ravel():
        _style_axes(ax)
    if title:
        fig.suptitle(title, fontsize=13, fontweight="bold")
    return fig, axes


def _style_axes(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=10)
    ax.set_prop_cycle(color=list(COLOURS))


def lines(ax, x, ys: dict, *, xlabel: str = "", ylabel: str = "", logy: bool = False, logx: bool = False,
          markers: bool = False, title: str | None = None, legend: str | None = "best", hline=None) -> None:
    r"""Draw one line per entry of ``ys`` ({label: values over ``x``}) on ``ax``; ``hline`` (a number or
    ``(value, label)``) adds a dashed horizontal reference line, e.g. a bound or a literature value."""
    x = np.asarray(x)
    for k, (label, y) in enumerate(ys.items()):
        y = np.asarray(y, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"plots.lines: {label!r} has {y.shape} values for {x.shape} x positions")
        ax.plot(x, y, label=str(label), color=COLOURS[k % len(COLOURS)], marker="o" if markers else None)
    if hline is not None:
        value, text = hline if isinstance(hline, tuple) else (hline, None)
        ax.axhline(value, color="#555555", linestyle="--", linewidth=1.2, label=text)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend and (len(ys) > 1 or hline is not None and not isinstance(hline, (int, float))):
        ax.legend(loc=legend, frameon=False)


def heatmap(ax, values, *, xlabels=None, ylabels=None, xlabel: str = "", ylabel: str = "", title: str | None = None,
            cmap: str = "Blues", vmin=None, vmax=None, colorbar: str | None = "", annotate: bool = False):
    r"""Draw the matrix ``values`` (rows × columns) as a heat map on ``ax``; return the image.

    ``colorbar`` is the colour bar's label (``None``: no colour bar); ``annotate`` writes each value
    into its cell (for small matrices)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or not v.size:
        raise ValueError(f"plots.heatmap: values must be a non-empty matrix, got shape {v.shape}")
    im = ax.imshow(v, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.grid(False)
    for labels, setter, n in ((xlabels, ax.set_xticks, v.shape[1]), (ylabels, ax.set_yticks, v.shape[0])):
        if labels is not None:
            labels = list(labels)
            if len(labels) != n:
                raise ValueError(f"plots.heatmap: {len(labels)} tick labels for {n} rows/columns")
            setter(range(n), labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if annotate:
        hi = np.nanmax(v) if vmax is None else vmax
        for (i, j), val in np.ndenumerate(v):
            ax.text(j, i, f"{val:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if val > 0.6 * hi else "black")
    if colorbar is not None:
        bar = ax.figure.colorbar(im, ax=ax, shrink=0.9)
        bar.set_label(colorbar)
    return im


def surface(ax, X, Y, Z, *, xlabel: str = "", ylabel: str = "", title: str | None = None, log: bool = True,
            levels: int = 30, cmap: str = "viridis", colorbar: str | None = "E"):
    r"""Draw an error surface Z(X, Y) as filled contours on ``ax`` (``log``: on a log₁₀ colour scale, where
    cliffs and plateaus are both visible); return the contour set. Draw trajectories on top with
    ``ax.plot``."""
    Z = np.asarray(Z, dtype=float)
    if log:
        floor = np.nanmin(Z[Z > 0]) if np.any(Z > 0) else 1e-300
        Z = np.log10(np.maximum(Z, floor))
    cs = ax.contourf(X, Y, Z, levels=levels, cmap=cmap)
    ax.grid(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar is not None:
        bar = ax.figure.colorbar(cs, ax=ax, shrink=0.9)
        bar.set_label(f"log₁₀ {colorbar}" if log else colorbar)
    return cs


def save(fig, path, *, dpi: int | None = None, force: bool = False) -> Path:
    r"""Write ``fig`` to ``path`` (``.png``, ``.svg`` or ``.pdf`` from the suffix) and return the path.

    The file is written by :func:`gradlab.files.write_bytes`: to a temporary file in the same folder,
    renamed into place (a reader never sees half a figure), never through a symbolic link, with
    gradlab's generator mark; an existing file that gradlab did not write is kept unless ``force``.
    The folder must exist (it is not created silently)."""
    import io

    from ..files import write_bytes

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"plots.save: cannot tell the format of {str(path)!r}; use .png, .svg or .pdf")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"plots.save: the folder {str(path.parent)!r} does not exist")
    buf = io.BytesIO()
    meta = {"Creator": "gradlab"} if fmt != "png" else {"Software": "gradlab"}
    fig.savefig(buf, format=fmt, dpi=dpi or DPI, metadata=meta)
    return write_bytes(path, buf.getvalue(), fmt=fmt, force=force)
