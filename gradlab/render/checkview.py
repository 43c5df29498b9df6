r"""The checker's findings on the picture: the unfolded network of the checked model with the parameters
whose hand-derived gradient is wrong drawn in red on every copy that counts, the time steps where it
goes wrong framed in red, and the numbers (worst element, your value, the reference, relative error)
in a note beside them.

The input is plain data, so anything can produce it (:func:`findings_from` turns a
``gradlab.check`` report into it)::

    {"W_s": {"steps": [2, 3],            # time steps where the gradient diverges (None: not known)
             "index": (0, 1),            # the worst element
             "candidate": 0.1234,        # the derivation's value there
             "reference": 0.2345,        # the reference value there
             "rel_err": 0.47,            # their relative error
             "note": "wrong from T = 2"},  # optional words
     "W_x": {"ok": True}}                # parameters that passed may be listed with ok=True
"""
from __future__ import annotations

import html
from pathlib import Path

from ..nn.registry import KINDS
from . import style
from .output import Figure, write
from .source import make_cell, unfolding_of
from .structure import Unfolding
from .unfolded import unfolded

__all__ = ["check_figure", "feedforward_check_figure", "findings_from", "failure_figure", "failure_dot",
           "CELL_OF_MODEL"]

# the title a checker's model description begins with (gradlab.specs) -> the cell kind, longest title first
# (from the one table of cell kinds, gradlab.nn.registry)
CELL_OF_MODEL = tuple(sorted(((k.title, k.name) for k in KINDS.values()), key=lambda tk: -len(tk[0])))


def findings_from(report) -> dict:
    r"""Return the plain findings of a ``gradlab.check`` report (or pass a dict through): one entry per
    parameter, wrong ones with their worst element and, when the report localised them, the steps."""
    if isinstance(report, dict):
        from ..check.report import plain_findings      # also reads what gradlab check --json writes

        return plain_findings(report)
    steps = getattr(report, "steps", None) or {}
    out = {}
    for p in getattr(report, "params", ()):
        entry = {"ok": p.verdict != "wrong"}
        w = getattr(p, "worst", None)
        if p.verdict == "wrong" and w is not None:
            entry.update(index=tuple(w.index), candidate=float(w.candidate), reference=float(w.reference),
                         rel_err=float(w.rel_err))
            if hasattr(report, "element"):
                entry["element"] = report.element(p)
        if p.verdict == "wrong":
            entry["steps"] = steps.get(p.name)
            if " product " in str(getattr(report, "model", "")).split(" of ", 1)[0]:
                entry["what"] = "its block of the product wrong"      # a curvature product, not a gradient
        out[p.name] = entry
    return out


def _model_cell(report):
    model = str(getattr(report, "model", ""))
    # a curvature product's model is "Gauss–Newton product G v of <the network>": draw that network
    network = model.split(" of ", 1)[1] if " product " in model.split(" of ", 1)[0] and " of " in model else model
    for title, cell in CELL_OF_MODEL:
        if network.startswith(title):
            return cell
    raise ValueError(f"render: cannot draw the model {getattr(report, 'model', None)!r}: only recurrent cells "
                     f"({', '.join(c for _, c in CELL_OF_MODEL)}) have an unfolded figure")


def _source_of(report, T=None):
    sizes = dict(getattr(report, "sizes", {}) or {})
    cell = make_cell(_model_cell(report), input_size=int(sizes.get("D", 3)), hidden_size=int(sizes.get("H", 4)),
                     output_size=int(sizes.get("O", 2)))
    return cell, int(T or sizes.get("T", 3))


def _note(name: str, f: dict) -> str:
    lines = [f'<B><FONT COLOR="{style.HIGHLIGHT}">{style.math_label(name)}: {html.escape(f.get("what", "gradient wrong"))}</FONT></B>']
    steps = f.get("steps")
    if steps:
        lines.append("at t = " + ", ".join(str(t) for t in sorted(steps)))
    if "element" in f:            # the checker's words: indices from 1, gate blocks named
        lines.append(f"worst element {html.escape(str(f['element']))}")
    elif "index" in f:
        idx = ", ".join(str(i) for i in f["index"])
        lines.append(f"worst element {style.math_label(name)}[{html.escape(idx)}]")
    if "candidate" in f and "reference" in f:
        lines.append(f"yours {style.fmt_number(f['candidate'])}, reference {style.fmt_number(f['reference'])}")
    if "rel_err" in f:
        lines.append(f"relative error {style.fmt_number(f['rel_err'])}")
    if f.get("note"):
        lines.append(html.escape(str(f["note"])))
    return "<BR ALIGN=\"LEFT\"/>".join(lines) + '<BR ALIGN="LEFT"/>'


def check_figure(findings, source=None, path=None, *, T: int | None = None, shared: str = "label",
                 elide: int | None = None, box: bool | None = None, title: str | None = None):
    r"""Return (and, with ``path``, write) the figure of a failed check.

    ``findings``: the plain dict of the module docstring, or a ``gradlab.check`` report (then the model
    is rebuilt from the report's model description and sizes). ``source``: what to draw (a cell, a
    cell name, a recorded loss, an :class:`Unfolding`); default: the report's model. Parameters with
    ``ok`` false (or with numbers) are highlighted; ``steps`` frames those time steps.
    """
    if not isinstance(findings, dict) and source is None:
        source, T = _source_of(findings, T)
    if not isinstance(findings, dict):
        title = title or f"{getattr(findings, 'name', 'check')}: {getattr(findings, 'model', '')}"
    plain = findings_from(findings)
    if source is None:
        raise ValueError("check_figure: give the model to draw (source=cell, cell name or loss) with plain findings")
    u = source if isinstance(source, Unfolding) else unfolding_of(source, T=T)
    known = set(u.param_names.values())
    wrong = {}
    for name, f in plain.items():
        if f.get("ok", False):
            continue
        if name not in known:
            raise ValueError(f"check_figure: the model has no parameter {name!r}; it has {', '.join(sorted(known))}")
        steps = f.get("steps")
        wrong[name] = None if steps is None else {int(t) for t in steps}
    notes: dict = {}          # one note per value it points at, listing every parameter found there
    for name in sorted(wrong, key=lambda n: list(u.param_names.values()).index(n)):
        anchor = _anchor(u, name, wrong[name])
        notes.setdefault(anchor, []).append(_note(name, plain[name]))
    notes = [(anchor, '<BR ALIGN="LEFT"/>'.join(parts)) for anchor, parts in notes.items()]
    if title is None:
        title = "Gradient check: " + (", ".join(style.math_label(n) for n in wrong) + " wrong" if wrong
                                      else "all gradients right")
    else:
        title = html.escape(title)
    g = unfolded(u, shared=shared, elide=elide, box=box, title=title, highlight=wrong, notes=notes, name="check")
    if path is not None:
        write(g, path)
    return g


def _anchor(u: Unfolding, name: str, steps):
    """Return the shown value the note for parameter ``name`` points at: the head of an edge that carries
    it, at the latest listed step (or the last step)."""
    want = max(steps) if steps else u.times[-1]
    best = None
    for e in u.edges():
        if any(u.param_names[p] == name for p in e.params):
            t = u.shown[e.head][1]
            if t == want:
                return e.head
            best = best or e.head
    return best


def feedforward_check_figure(findings, title: str | None = None) -> Figure:
    r"""Return the figure of a failed check of the one-hidden-layer feedforward net
    :math:`h = \phi(W_1 x + b_1)`, :math:`y = W_2 h + b_2`, :math:`E = \tfrac12\|d - y\|^2`: the layers
    as edges x → h → y → E, each labelled with its parameters, the wrong ones in red with their numbers."""
    plain = findings_from(findings)
    wrong = [n for n, f in plain.items() if not f.get("ok", False)]
    g = Figure("check", graph_attr={"rankdir": "LR", "fontname": style.FONT, "nodesep": "0.4"},
               node_attr={"shape": "circle", "fontname": style.FONT, "style": "filled", "width": "0.55"},
               edge_attr={"fontname": style.FONT, "fontsize": "12"})
    for node, role in (("x", "x"), ("h", "s"), ("y", "y"), ("E", "E")):
        g.node(node, f"<{style.math_label(node)}>", fillcolor=style.ROLE_FILL[role], color=style.ROLE_LINE[role])
    for tail, head, layer in (("x", "h", ("W_1", "b_1")), ("h", "y", ("W_2", "b_2"))):
        bad = [n for n in layer if n in wrong]
        g.edge(tail, head, label=f"<{style.param_text(layer, highlight=bad)}>",
               color=style.HIGHLIGHT if bad else "black", penwidth="2.2" if bad else "1")
    g.edge("y", "E", label="<½‖d − y‖²>")
    for name in wrong:
        g.node(f"note_{name}", f"<{_note(name, plain[name])}>", shape="note", style="filled",
               fillcolor="#fff4f4", color=style.HIGHLIGHT, fontsize="11")
        g.edge(f"note_{name}", "h" if name.endswith("_1") else "y", style="dashed", color=style.HIGHLIGHT,
               arrowhead="none")
    style.set_title(g, html.escape(title) if title else "Gradient check: "
                    + (", ".join(style.math_label(n) for n in wrong) + " wrong" if wrong else "all gradients right"))
    return g


def failure_dot(report) -> Figure:
    r"""Return the figure of a failed ``gradlab.check`` report (not written): the one-hidden-layer net for a
    feedforward model, else the unfolded network with the wrong parameters and time steps marked."""
    if "feedforward" in str(getattr(report, "model", "")).lower():
        return feedforward_check_figure(report, title=f"{getattr(report, 'name', 'check')}: {report.model}")
    return check_figure(report)


def failure_figure(report, stem, *, fmt: str = "svg", force: bool = False) -> Path:
    r"""Write the figure of a failed ``gradlab.check`` report to ``stem`` + ``.svg`` (or ``fmt``) and return the
    path written (the DOT source when the ``dot`` program is missing). Used by ``gradlab check --figure DIR``."""
    own = getattr(report, "figure", None)
    if callable(own):          # a layer-mode report (gradlab.check.layer) draws its own: errors by steps back
        return own(stem, fmt=fmt, force=force)
    fig = failure_dot(report)
    stem = Path(stem)
    target = stem if stem.suffix.lower() in (".svg", ".png", ".pdf", ".dot") else stem.with_name(stem.name + "." + fmt)
    return write(fig, target, force=force)
