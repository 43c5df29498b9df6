r"""Rich display in Jupyter: what the ``_repr_html_`` / ``_repr_svg_`` methods of gradlab's objects show.

* a check report (:class:`~gradlab.check.report.CheckReport`, the layer-mode
  :class:`~gradlab.check.layer.report.LayerReport`) is an HTML table: one row per parameter with its
  verdict, its worst relative error against each reference, and for a wrong one the worst element, both
  values and the time steps whose terms are wrong; then the explanation, where in time the error starts,
  the warnings, and the report's figure inline as SVG where the report has one;
* a search (:class:`~gradlab.check.report.VerifyReport`) is one line, or its smallest counterexample's table
  with the values that reproduce it;
* a training run (:class:`~gradlab.nn.train.History`) is a plot of the loss and of the gradient norm at every
  step, and :class:`LivePlot` redraws that plot in place while :func:`gradlab.nn.fit` runs in a notebook.

Every piece of text that reaches HTML is escaped (:func:`html.escape`): names come from students' files.
Nothing here imports IPython or Matplotlib until something is drawn.
"""
from __future__ import annotations

import functools
import html
import time

__all__ = ["figure_svg", "figure_class", "report_html", "verify_html", "history_figure", "LivePlot"]

_CSS = ("<style>.gradlab-report table{border-collapse:collapse;margin:0.4em 0}"
        ".gradlab-report th,.gradlab-report td{border:1px solid #ccc;padding:2px 8px;text-align:left;"
        "font-family:monospace}.gradlab-report .wrong{color:#b00020;font-weight:bold}"
        ".gradlab-report .ok{color:#1b7a1b}.gradlab-report .unsure{color:#a66300}</style>")
_VERDICT = {"ok": ("ok", "ok"), "wrong": ("WRONG", "wrong"), "inconclusive": ("unsure", "unsure"),
            "unjudged": ("n/a", "unsure")}
_REF_HEADS = {"engine": "engine", "autograd": "autograd", "sympy": "sympy", "fd": "finite diff.",
              "forward": "forward (proj)", "traced": "traced", "blackbox": "black box"}


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def figure_svg(fig) -> str:
    """Return a Matplotlib figure as SVG text without the XML prolog, ready to embed in HTML."""
    import io

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


@functools.lru_cache(maxsize=None)
def figure_class():
    """Return the Matplotlib ``Figure`` subclass that :func:`gradlab.render.plots.new` makes: a figure that
    displays itself inline in Jupyter as SVG (``_repr_svg_``) without ``pyplot`` or an inline backend."""
    from matplotlib.figure import Figure

    class SlideFigure(Figure):
        """A Matplotlib figure in gradlab's slide style that shows itself in a notebook as SVG."""

        def _repr_svg_(self):
            return figure_svg(self)

    return SlideFigure


def _num(x) -> str:
    from .check.report import fmt

    return fmt(x)


def _err(x) -> str:
    from .check.report import _e

    return _e(x)


def _steps_text(steps) -> str:
    if not steps:
        return ""
    return "t = " + ", ".join(str(s) for s in steps)


def report_html(report, *, figure: bool = True) -> str:
    r"""Return a check report as HTML (see the module docstring); ``figure``: embed the report's figure (a
    layer-mode report's heat map of error by steps back, or its bar chart) when it has one."""
    layer = hasattr(report, "routes")
    refs = [r for r in ("engine", "autograd", "sympy", "fd", "forward", "traced", "blackbox")
            if any(r in p.per_reference for p in report.params)]
    word = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}.get(report.verdict, report.verdict)
    cls = {"pass": "ok", "fail": "wrong"}.get(report.verdict, "unsure")
    sizes = ", ".join(f"{k} = {v}" for k, v in report.sizes.items())
    out = [_CSS, '<div class="gradlab-report">',
           f'<p><b>{_esc(report.name)}</b>: {_esc(report.model)}<br>sizes {_esc(sizes)}, seed {_esc(report.seed)}; '
           f'verdict: <span class="{cls}">{_esc(word)}</span>'
           + (f"; wrong: {_esc(', '.join(report.wrong))}" if report.wrong else "") + "</p>"]
    if getattr(report, "coverage_text", None) and report.coverage_text():
        out.append(f"<p>sizes checked: {_esc(report.coverage_text())}</p>")
    what = "gradient" if layer else "parameter"
    head = [what, "shape", "verdict"] + [f"vs {_REF_HEADS.get(r, r)}" for r in refs] + \
        ["worst element", "yours", "reference", "time steps wrong"]
    out.append("<table><thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr></thead><tbody>")
    for p in report.params:
        text, vcls = _VERDICT.get(p.verdict, (p.verdict, "unsure"))
        cells = [_esc(p.name), _esc(tuple(p.shape)), f'<span class="{vcls}">{_esc(text)}</span>']
        cells += [_esc(_err(p.per_reference[r])) if r in p.per_reference else "-" for r in refs]
        if p.verdict != "ok" and p.worst is not None and p.worst.index is not None and p.n_checked:
            if layer:
                where = f"{p.name}[{', '.join(map(str, p.worst.index))}]"
                gate = report.gate_of.get(p.name)
                where += f" ({gate})" if gate else ""
            else:
                where = report.element(p)
            cells += [_esc(where), _esc(_num(p.worst.candidate)), _esc(_num(p.worst.reference)),
                      _esc(_steps_text(report.steps.get(p.name)))]
        else:
            cells += ["", "", "", ""]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    lines = []
    shared = set()
    for f in report.findings:
        if f.severity == "error":
            lines.append(("diagnosis" if layer else "problem", f.message))
            shared.add(f.message)
    for p in report.params:
        for f in p.findings:
            if f.severity == "error" and f.message not in shared:
                lines.append((p.name, f.message))
                shared.add(f.message)
    lines += [("where", line) for line in report.localisation]
    lines += [(f.severity, f.message) for f in report.findings if f.severity != "error"]
    lines += [("note", n) for n in getattr(report, "notes", [])]
    if lines:
        out.append("<ul>" + "".join(f"<li><b>{_esc(k)}:</b> {_esc(m)}</li>" for k, m in
                                    dict.fromkeys(lines)) + "</ul>")
    if report.values and not report.ok:
        import numpy as np

        rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(' '.join(np.array2string(np.asarray(v), precision=4, separator=', ').split()))}</td></tr>"
                       for k, v in report.values.items())
        out.append(f"<details><summary>the values of this case (seed {_esc(report.seed)})</summary>"
                   f"<table>{rows}</table></details>")
    if figure and not layer and not report.ok:
        svg = _check_graph_svg(report)
        if svg:
            out.append(f'<div class="gradlab-figure">{svg}</div>')
    if figure and callable(getattr(report, "figure_object", None)):
        try:
            fig = report.figure_object()
        except Exception as exc:  # noqa: BLE001 - a figure that cannot be drawn must not hide the table
            out.append(f"<p>(no figure: {_esc(type(exc).__name__)}: {_esc(exc)})</p>")
        else:
            out.append(f'<div class="gradlab-figure">{figure_svg(fig)}</div>')
    out.append("</div>")
    return "\n".join(out)


def _check_graph_svg(report) -> str:
    """The unfolded network with the wrong parameters and time steps marked (:func:`gradlab.render.check_figure`)
    as SVG text; empty without the Graphviz ``dot`` program or for a model the renderer cannot rebuild."""
    from .render import check_figure, dot_available

    if not dot_available():
        return ""
    try:
        text = check_figure(report).pipe(format="svg").decode("utf-8")
    except Exception:  # noqa: BLE001 - a model the figure cannot draw: the table alone
        return ""
    start = text.find("<svg")
    return text[start:] if start >= 0 else ""


def verify_html(report) -> str:
    """Return a :class:`~gradlab.check.report.VerifyReport` as HTML: the search's outcome in one line, and the
    smallest counterexample's report when one was found."""
    head = (f"<p><b>{_esc(report.name)}</b> ({_esc(report.model)}): Hypothesis search, seed {_esc(report.seed)}, "
            f"{_esc(report.examples)} examples")
    if report.limits:
        head += f" drawn with {_esc(report.limits_text())}"
    if report.ok:
        return _CSS + f'<div class="gradlab-report">{head}: <span class="ok">no counterexample</span></p></div>'
    ce = report.counterexample
    if ce is None:
        items = "".join(f"<li>{_esc(f.message)}</li>" for f in report.findings)
        return _CSS + f'<div class="gradlab-report">{head}: <span class="wrong">FAIL</span></p><ul>{items}</ul></div>'
    sizes = ", ".join(f"{k} = {v}" for k, v in ce.sizes.items())
    return (_CSS + f'<div class="gradlab-report">{head}: <span class="wrong">smallest failing case</span> '
            f"{_esc(sizes)}</p></div>\n" + report_html(ce))


# ---------------------------------------------------------------------------------------- training
def history_figure(history, *, title: str | None = None, size="wide"):
    r"""Return a Matplotlib figure of a training run: the loss at every step (and its running mean), and
    beside it the gradient norm ‖∇E‖ at every step (log scale) when the run recorded them."""
    import numpy as np

    from .render import plots

    losses = np.asarray(history.losses, dtype=float)
    norms = np.asarray(history.grad_norms, dtype=float)
    cols = 2 if norms.size else 1
    fig, axes = plots.new(1, cols, size=size, title=title)
    ax = axes[0] if cols == 2 else axes
    steps = np.arange(1, losses.size + 1)
    series = {"loss per step": losses}
    if losses.size >= 10:
        k = max(2, losses.size // 20)
        mean = np.convolve(losses, np.ones(k) / k, mode="full")[:losses.size]
        mean[:k - 1] = np.cumsum(losses[:k - 1]) / np.arange(1, k)
        series[f"mean of last {k}"] = mean
    plots.lines(ax, steps, series, xlabel="step", ylabel="loss E",
                logy=bool(losses.size and np.all(losses > 0) and losses.max() > 20 * losses.min()))
    if cols == 2:
        plots.lines(axes[1], np.arange(1, norms.size + 1), {"‖∇E‖ before clipping": norms}, xlabel="step",
                    ylabel="gradient norm", logy=bool(np.all(norms > 0)))
    return fig


class LivePlot:
    r"""A plot of a training run redrawn in place in a notebook while :func:`gradlab.nn.fit` runs (an
    ``IPython.display`` handle updated at most every ``interval`` seconds); outside a notebook it draws
    nothing. ``enabled``: True draws from the first step, None only once the run has lasted ``delay``
    seconds, False never."""

    def __init__(self, history, *, enabled: bool | None = None, title: str | None = None, delay: float = 1.0,
                 interval: float = 1.0):
        from .progress import in_notebook

        self.history, self.title = history, title
        self.active = enabled is not False and in_notebook()
        self.delay = 0.0 if enabled else delay
        self.interval = interval
        self.start = time.perf_counter()
        self.last = -float("inf")
        self.cost = 0.0
        self.handle = None

    def _svg(self):
        from IPython.display import SVG

        return SVG(data=figure_svg(history_figure(self.history, title=self.title)))

    def update(self) -> None:
        """Redraw when enough time has passed since the start and since the last drawing (at least ``interval``
        seconds, and at least five times as long as the last drawing took, so plotting never costs the run more
        than a fifth of its time)."""
        if not self.active:
            return
        now = time.perf_counter()
        if now - self.start < self.delay or now - self.last < max(self.interval, 5 * self.cost):
            return
        self.draw()

    def draw(self) -> None:
        """Draw (or redraw) the plot now."""
        if not self.active or not self.history.losses:
            return
        from IPython.display import display

        t0 = time.perf_counter()
        if self.handle is None:
            self.handle = display(self._svg(), display_id=True)
        else:
            self.handle.update(self._svg())
        self.last = time.perf_counter()
        self.cost = self.last - t0

    def close(self) -> None:
        """Draw the final state if the plot was shown."""
        if self.handle is not None:
            self.draw()
