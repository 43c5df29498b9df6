r"""The look of every figure in one place: colours, fonts, lecture-notation labels and the colour scale.

Labels are Graphviz HTML-like labels, so ``s_3`` is drawn as an italic *s* with a subscript 3 and
``W_s`` as *W* with subscript s, as on a slide. Colours follow the common lecture convention:
inputs red, states green, outputs blue, losses orange; parameters are dark blue text.

Titles are drawn in lecture notation (:func:`title_markup`: ``E = Σ_t E_t`` gets a subscript t, never a raw
underscore). :func:`apply_look` gives any finished figure the slide options: a light or dark theme, a
base font size, fewer labels, an output size and resolution; :func:`gradlab.render.to_dot` applies it to
every view, so the cell interiors and op graphs follow the same theme.
"""
from __future__ import annotations

import html
import math
import re

__all__ = ["set_title", "math_label", "html_label", "param_text", "ROLE_FILL", "ROLE_LINE", "PALETTE", "HIGHLIGHT", "FONT",
           "norm_colour", "scale_legend", "fmt_number", "FIXED_INK", "FIXED_MARK", "title_markup", "apply_look",
           "THEMES", "LABELS", "edge_norm_colour", "BASE_FONTSIZE", "EDGE_MIN_WIDTH", "NUMBER_POINT_SIZE", "LEGEND_POINT_SIZE"]

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
BASE_FONTSIZE = 14          # the node font size every figure is drawn with (fontsize= scales from it)
NUMBER_POINT_SIZE = 13      # numbers written in a node (the gradient norms): readable on a 1280×720 slide
LEGEND_POINT_SIZE = 13      # colour-scale legends
EDGE_MIN_WIDTH = 1.6        # the thinnest coloured arrow, so that the faintest gradient is still seen
THEMES = ("light", "dark")
LABELS = ("all", "few", "none")   # every label; each distinct edge label once; no edge labels


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


def edge_norm_colour(value: float, lo: float, hi: float) -> tuple:
    r"""Return (colour, pen width) of an arrow that carries a gradient of norm ``value`` on the scale ``lo`` …
    ``hi``: the colour of :func:`norm_colour` from a quarter of the way up (the palest yellow cannot be seen
    on white) and a width from :data:`EDGE_MIN_WIDTH` to 2.5 times it; zero is thin grey."""
    if not value > 0 or not math.isfinite(value):
        return "#bbbbbb", f"{EDGE_MIN_WIDTH:.2f}"
    u = 0.5 if hi <= lo else (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    u = min(max(u, 0.0), 1.0)
    colour = norm_colour(10 ** (math.log10(lo) + (0.25 + 0.75 * u) * (math.log10(hi) - math.log10(lo)))
                         if hi > lo else value, lo, hi)
    return colour, f"{EDGE_MIN_WIDTH * (1 + 1.5 * u):.2f}"


def scale_legend(lo: float, hi: float, title: str) -> str:
    """Return an HTML-like table label: a colour bar from ``lo`` to ``hi`` (log scale) with its title and
    the values at both ends and in the middle, in :data:`LEGEND_POINT_SIZE` type."""
    cells = []
    n = 9
    for i in range(n):
        if hi > lo > 0:
            v = 10 ** (math.log10(lo) + (math.log10(hi) - math.log10(lo)) * i / (n - 1))
        else:
            v = hi
        cells.append(f'<TD BGCOLOR="{norm_colour(v, lo, hi)}" WIDTH="34" HEIGHT="20"></TD>')
    mid = math.sqrt(lo * hi) if hi > lo > 0 else hi
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
            f'<TR><TD COLSPAN="{n}"><FONT POINT-SIZE="{LEGEND_POINT_SIZE}">{title}</FONT></TD></TR>'
            f'<TR>{"".join(cells)}</TR>'
            f'<TR><TD COLSPAN="3" ALIGN="LEFT"><FONT POINT-SIZE="{LEGEND_POINT_SIZE}">{fmt_number(lo)}</FONT></TD>'
            f'<TD COLSPAN="3"><FONT POINT-SIZE="{LEGEND_POINT_SIZE}">{fmt_number(mid)}</FONT></TD>'
            f'<TD COLSPAN="3" ALIGN="RIGHT"><FONT POINT-SIZE="{LEGEND_POINT_SIZE}">{fmt_number(hi)}</FONT></TD>'
            f'</TR></TABLE>>')


def set_title(g, title: str | None, fontsize: str = "16") -> None:
    """Give figure ``g`` a bold title at the bottom, in lecture notation (:func:`title_markup`). Call it
    after the subgraphs: a graph attribute set before them in DOT is inherited by them (an unlabelled
    cluster would carry the title)."""
    if title:
        g.attr(label=f"<<B>{title_markup(title)}</B>>", labelloc="b", fontsize=fontsize)


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


# a lecture symbol with a subscript: one to three letters (Greek too, ‖∂E/∂s_t‖ included), "_", then a short
# subscript or a braced one: E_t, W_s, s_0, E_12, W_fb, s_{t−1}
_SYMBOL = re.compile(r"(?<![\w.])([A-Za-zΑ-Ωα-ω]{1,3})_(\{[^{}<>]*\}|[A-Za-z0-9]{1,4}(?:[−+-][0-9])?)(?![\w.])")
# a name from code (a file, a function): a word with an underscore that is not a lecture symbol
_CODE = re.compile(r"[\w.\-/]*_[\w.\-/]*")


def title_markup(text: str) -> str:
    r"""Return ``text`` (plain text or Graphviz HTML-like markup) with lecture notation drawn as on a slide:
    ``Σ_t E_t`` becomes Σ\ :sub:`t` E\ :sub:`t`, ``s_{t−1}`` s\ :sub:`t−1`; a name from code that keeps its
    underscores (``wrong_elman.py``) is set in a monospace font, so that no raw underscore is left in the
    notation. Markup already in ``text`` (``<SUB>``, ``<I>``) is kept."""
    parts = re.split(r"(<[^>]*>)", str(text))
    for i in range(0, len(parts), 2):
        part = _SYMBOL.sub(lambda m: f"{m.group(1)}<SUB>{m.group(2).strip('{}')}</SUB>", parts[i])
        parts[i] = _CODE.sub(lambda m: f'<FONT FACE="Courier">{m.group(0)}</FONT>', part)
    return "".join(parts)


# ---------------------------------------------------------------------------------- slide looks
_NAMED = {"black": "#000000", "white": "#ffffff", "gray": "#c0c0c0", "grey": "#c0c0c0", "red": "#ff0000"}
_DARK_BG = (0x1e, 0x1e, 0x1e)


def _rgb(colour: str):
    c = _NAMED.get(colour.lower(), colour)
    if re.fullmatch(r"#[0-9a-fA-F]{6}", c):
        return tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))
    if re.fullmatch(r"#[0-9a-fA-F]{3}", c):
        return tuple(int(ch * 2, 16) for ch in c[1:])
    return None


def _luma(rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _mix(rgb, other, w: float) -> str:
    return "#%02x%02x%02x" % tuple(round(a * (1 - w) + b * w) for a, b in zip(rgb, other))


def _ink_for_dark(colour: str) -> str:
    """A line or text colour for a dark background: dark inks are lightened, light ones kept."""
    rgb = _rgb(colour)
    if rgb is None or _luma(rgb) >= 110:
        return colour
    return _mix(rgb, (255, 255, 255), 0.62 if _luma(rgb) < 60 else 0.45)


def _fill_for_dark(colour: str) -> str:
    """A fill for a dark background: light (pastel) fills become dark tints of the same hue."""
    rgb = _rgb(colour)
    if rgb is None or _luma(rgb) < 110:
        return colour
    return _mix(rgb, _DARK_BG, 0.7)


def _dark_line(line: str) -> str:
    if "fontcolor=" in line and "fillcolor=" in line:
        return line        # a fill that carries a value, with the text colour chosen for it (gradient norms)
    line = re.sub(r'fillcolor="?(#[0-9a-fA-F]{3,6}|[a-z]+)"?',
                  lambda m: f'fillcolor="{_fill_for_dark(m.group(1))}"', line)
    line = re.sub(r'(?<![a-z])(color|fontcolor)="?(#[0-9a-fA-F]{3,6}|black|white|gr[ae]y)"?',
                  lambda m: f'{m.group(1)}="{_ink_for_dark(m.group(2))}"', line)
    # text colours in HTML-like labels; a table cell's BGCOLOR (the colour scale) is a value and is kept
    return re.sub(r'(?<!BG)COLOR="(#[0-9a-fA-F]{3,6})"', lambda m: f'COLOR="{_ink_for_dark(m.group(1))}"', line)


def _scale_fonts(text: str, k: float) -> str:
    text = re.sub(r'fontsize="?([0-9.]+)"?', lambda m: f'fontsize="{float(m.group(1)) * k:.3g}"', text)
    return re.sub(r'POINT-SIZE="([0-9.]+)"', lambda m: f'POINT-SIZE="{float(m.group(1)) * k:.3g}"', text)


def _label_span(line: str):
    """Return (start, end, text) of the ``label=`` attribute of a DOT statement (an HTML-like label with its
    nested angle brackets, or a quoted one), or None."""
    m = re.search(r"(?<=[\s\[])label=", line)
    if not m:
        return None
    i = m.end()
    if i < len(line) and line[i] == "<":
        depth = 0
        for j in range(i, len(line)):
            depth += {"<": 1, ">": -1}.get(line[j], 0)
            if depth == 0:
                return m.start(), j + 1, line[i:j + 1]
        return None
    q = re.match(r'"(?:[^"\\]|\\.)*"|[^\s\]]+', line[i:])
    return (m.start(), i + q.end(), q.group(0)) if q else None


def _fewer_labels(body: list, labels: str) -> list:
    """Drop edge labels: every one (``"none"``) or each repeat of a label already drawn (``"few"``)."""
    seen, out = set(), []
    for line in body:
        span = _label_span(line) if " -> " in line else None
        if span and (labels == "none" or span[2] in seen):
            a, b, _ = span
            line = (line[:a] + line[b:].lstrip(" ")).replace(" []", "").replace("[ ", "[")
        elif span:
            seen.add(span[2])
        out.append(line)
    return out


def apply_look(g, *, theme: str = "light", fontsize: float | None = None, labels: str = "all",
               size: str | None = None, dpi: float | None = None):
    r"""Give the finished figure ``g`` (any ``graphviz.Digraph`` gradlab draws) the look asked for, and
    return it.

    ``theme``: ``"light"`` (dark ink on white) or ``"dark"`` (a dark background; light fills turn into dark
    tints of their hue, dark inks are lightened; colours chosen to carry a value, the gradient-norm scale,
    are kept). ``fontsize``: the node font size in points (default :data:`BASE_FONTSIZE`); every font of the
    figure is scaled with it. ``labels``: ``"all"``, ``"few"`` (each distinct edge label drawn once, e.g.
    W\ :sub:`s` on the first copy only) or ``"none"``. ``size``: ``"WxH"`` in pixels (at ``dpi``, default
    96) the drawing is scaled to fit; a trailing ``!`` also scales a small drawing up. ``dpi``: the
    resolution of PNG output (Graphviz's default is 96).
    """
    if theme not in THEMES:
        raise ValueError(f"render: unknown theme {theme!r}; choose one of {', '.join(THEMES)}")
    if labels not in LABELS:
        raise ValueError(f"render: unknown labels level {labels!r}; choose one of {', '.join(LABELS)}")
    if fontsize is not None and not (isinstance(fontsize, (int, float)) and 4 <= fontsize <= 96):
        raise ValueError(f"render: fontsize must be a number of points from 4 to 96, got {fontsize!r}")
    if dpi is not None and not (isinstance(dpi, (int, float)) and 10 <= dpi <= 1200):
        raise ValueError(f"render: dpi must be a number from 10 to 1200, got {dpi!r}")
    if labels != "all":
        g.body[:] = _fewer_labels(g.body, labels)
    if fontsize is not None and fontsize != BASE_FONTSIZE:
        k = fontsize / BASE_FONTSIZE
        g.body[:] = [_scale_fonts(line, k) for line in g.body]
        for attrs in (g.graph_attr, g.node_attr, g.edge_attr):      # Graphviz's own default is 14 points
            attrs["fontsize"] = f"{float(attrs.get('fontsize', 14)) * k:.3g}"
    if theme == "dark":
        g.body[:] = [_dark_line(line) for line in g.body]
        g.graph_attr.update(bgcolor="#%02x%02x%02x" % _DARK_BG, fontcolor="#eeeeee", color="#888888")
        g.node_attr.update(fontcolor="#eeeeee", color="#dddddd")
        g.edge_attr.update(fontcolor="#eeeeee", color="#dddddd")
    if dpi is not None:
        g.graph_attr["dpi"] = f"{dpi:g}"
    if size is not None:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[x×,]\s*(\d+(?:\.\d+)?)\s*(!?)\s*", str(size))
        if not m:
            raise ValueError(f"render: size must be WIDTHxHEIGHT in pixels, e.g. 1280x720 (1280x720! also "
                             f"scales a small figure up), got {size!r}")
        per_inch = dpi or 96
        g.graph_attr["size"] = f"{float(m.group(1)) / per_inch:.4g},{float(m.group(2)) / per_inch:.4g}{m.group(3)}"
        g.graph_attr.setdefault("dpi", f"{per_inch:g}")
    return g
