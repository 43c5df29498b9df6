r"""The look of every figure in one place: colours, fonts, lecture-notation labels and the colour scale.

Labels are Graphviz HTML-like labels, so ``s_3`` is drawn as an italic *s* with a subscript 3 and
``W_s`` as *W* with subscript s, as on a slide. Colours follow the common lecture convention:
inputs red, states green, outputs blue, losses orange; parameters are dark blue text.
"""
from __future__ import annotations

import html
import math

__all__ = ["set_title", "math_label", "html_label", "param_text", "ROLE_FILL", "ROLE_LINE", "PALETTE", "HIGHLIGHT", "FONT",
           "norm_colour", "scale_legend", "fmt_number", "FIXED_INK", "FIXED_MARK"]

FONT = "Helvetica"
# fill and line colour per role of a value node
ROLE_FILL = {"x": "#fbe3e0", "s": "#e2f2dd", "c": "#fff5cc", "y": "#dde9f7", "E": "#fde7cf", "s0": "#eeeeee",
             "cell": "#fff8dc", "op": "#ffffff", "const": "#ffffff", "param": "#e8eaf6"}
ROLE_LINE = {"x": "#c0504d", "s": "#4f8a3c", "c": "#b8860b", "y": "#3c6ea8", "E": "#d07a1e", "s0": "#7f7f7f",
             "cell": "#8c6d1f", "op": "#555555", "const": "#999999", "param": "#283593"}
PARAM_INK = "#283593"
# distinct colours for the fan-out edges of parameters drawn once (colour-blind safe, Okabe–Ito)
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
HIGHLIGHT = "#d62728"   # the checker's findings
# weights that are not trained (gradlab.nn.module.Fixed, e.g. a reservoir's): grey, with a snowflake
# ("frozen"), on their labels and on the edges that carry only them
FIXED_INK = "#8c8c8c"
FIXED_MARK = "❄"


def _split_name(name: str) -> tuple[str, str]:
    base, _, sub = name.partition("_")
    return base, sub


def math_label(name: str, t=None, *, sub_extra: str | None = None, bold: bool = False, colour: str | None = None) -> str:
    r"""Return the HTML-like inner markup for a lecture symbol: ``math_label("s", 3)`` is *s*\ :sub:`3`,
    ``math_label("W_s")`` is *W*\ :sub:`s`; ``t`` (an int or text such as ``"t-1"``) is added to the subscript."""
    base, sub = _split_name(str(name))
    subs = [s for s in (sub, None if t is None else str(t), sub_extra) if s]
    text = f"<I>{html.escape(base)}</I>" if base.isalpha() and len(base) <= 2 else html.escape(base)
    if subs:
        text += f"<SUB>{html.escape(','.join(subs))}</SUB>"
    if bold:
        text = f"<B>{text}</B>"
    if colour:
        text = f'<FONT COLOR="{colour}">{text}</FONT>'
    return text


def html_label(*lines: str) -> str:
    """Return a Graphviz HTML-like label (``<…>``) with the given lines of inner markup."""
    return "<" + "<BR/>".join(lines) + ">"


def param_text(names, *, highlight=(), per_line: int = 4, fixed=()) -> str:
    """Return inner markup listing parameter names (a highlighted name is red and bold; a ``fixed`` name,
    a weight that is not trained, grey with :data:`FIXED_MARK` after it)."""
    names = list(names)
    parts = []
    for n in names:
        if n in fixed and n not in highlight:
            parts.append(math_label(n, colour=FIXED_INK) + f'<FONT COLOR="{FIXED_INK}"> {FIXED_MARK}</FONT>')
            continue
        parts.append(math_label(n, bold=n in highlight, colour=HIGHLIGHT if n in highlight else PARAM_INK))
    lines = [", ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
    return "<BR/>".join(lines)


def fmt_number(v: float) -> str:
    """Return ``v`` with three significant digits (scientific below 1e-2 or above 1e3)."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    a = abs(v)
    return f"{v:.2e}" if a < 1e-2 or a >= 1e3 else f"{v:.3g}"


# A sequential scale for gradient norms on a log axis: pale yellow (vanishing) to dark red (exploding).
_STOPS = [(0.0, (255, 255, 204)), (0.25, (254, 217, 118)), (0.5, (253, 141, 60)), (0.75, (227, 26, 28)),
          (1.0, (128, 0, 38))]


def norm_colour(value: float, lo: float, hi: float) -> str:
    r"""Return a hex colour for ``value`` on a log scale from ``lo`` (pale) to ``hi`` (dark red); zero is grey."""
    if not value > 0 or not math.isfinite(value):
        return "#dddddd"
    lo, hi = max(lo, 1e-300), max(hi, 1e-300)
    if hi <= lo:
        u = 0.5
    else:
        u = (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    u = min(max(u, 0.0), 1.0)
    for (u0, c0), (u1, c1) in zip(_STOPS, _STOPS[1:]):
        if u <= u1:
            w = 0.0 if u1 == u0 else (u - u0) / (u1 - u0)
            rgb = tuple(round(a + (b - a) * w) for a, b in zip(c0, c1))
            return "#%02x%02x%02x" % rgb
    return "#%02x%02x%02x" % _STOPS[-1][1]


def text_colour(fill: str) -> str:
    """Return black or white, whichever reads better on ``fill``."""
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def scale_legend(lo: float, hi: float, title: str) -> str:
    """Return an HTML-like table label: a colour bar from ``lo`` to ``hi`` (log scale) with its title."""
    cells = []
    n = 7
    for i in range(n):
        if hi > lo > 0:
            v = 10 ** (math.log10(lo) + (math.log10(hi) - math.log10(lo)) * i / (n - 1))
        else:
            v = hi
        cells.append(f'<TD BGCOLOR="{norm_colour(v, lo, hi)}" WIDTH="22" HEIGHT="14"></TD>')
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
            f'<TR><TD COLSPAN="{n}">{title}</TD></TR>'
            f'<TR>{"".join(cells)}</TR>'
            f'<TR><TD COLSPAN="3" ALIGN="LEFT">{fmt_number(lo)}</TD><TD></TD>'
            f'<TD COLSPAN="3" ALIGN="RIGHT">{fmt_number(hi)}</TD></TR></TABLE>>')


def set_title(g, title: str | None, fontsize: str = "15") -> None:
    """Give figure ``g`` a bold title at the bottom. Call it after the subgraphs: a graph attribute set
    before them in DOT is inherited by them (an unlabelled cluster would carry the title)."""
    if title:
        g.attr(label=f"<<B>{title}</B>>", labelloc="b", fontsize=fontsize)


# ----------------------------------------------------------------------------- cell interiors
# (gradlab.render.interior) learned layers are boxes, pointwise operations circles, as in the usual
# LSTM/GRU diagrams; the parts of a step that no gradient reaches (no path to the loss) are grey.
LAYER_FILL = "#fff2b3"
LAYER_LINE = "#b08d00"
POINT_FILL = "#f9d9e4"
POINT_LINE = "#b03a66"
JUNCTION_INK = "#333333"      # the dot where inputs join (a concatenation)
INK = "#000000"               # text and edges drawn in the default colour
FRAME_LINE = "#c8c8c8"        # the frame of a time step's cluster
FRAME_INK = "#555555"         # its label
GAP_LINE = "#bbbbbb"          # the frame of the elided steps
NO_GRAD_FILL = "#f2f2f2"      # a part with no path to the loss: no gradient flows through it
NO_GRAD_LINE = "#b4b4b4"
NO_GRAD_INK = "#9a9a9a"
__all__ += ["LAYER_FILL", "LAYER_LINE", "POINT_FILL", "POINT_LINE", "JUNCTION_INK", "INK", "FRAME_LINE", "FRAME_INK",
            "GAP_LINE", "NO_GRAD_FILL", "NO_GRAD_LINE", "NO_GRAD_INK"]
