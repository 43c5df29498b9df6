r"""The layer-mode report: the checker's :class:`~gradlab.check.report.CheckReport`, spoken in the
author's names (one row per returned gradient, ``dWh``), with the references named by route
(``traced``, ``black box``, ``autograd``) and the notes on how each route ran."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..report import CheckReport, _e, _wrap, fmt

__all__ = ["LayerReport", "ROUTE_NAMES"]

ROUTE_NAMES = {"traced": "traced", "blackbox": "black box", "autograd": "autograd"}


@dataclass
class LayerReport(CheckReport):
    r"""A check of one author backward. Besides :class:`CheckReport`'s fields: ``routes`` {route: how it
    ran, or why it was skipped}, ``notes`` (plain remarks), ``gate_of`` {gradient: gate text of its worst
    element}, ``layer`` (the declaration's label) and ``upstream`` (the outputs the upstream flows into)."""

    routes: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    probe: dict = field(default_factory=dict)               # gradient -> error at lag k (see timeloc)
    gate_of: dict = field(default_factory=dict)
    layer: str = ""
    upstream: tuple = ()

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (the check report's fields plus the routes and notes)."""
        d = super().to_dict()
        d.update({"layer": self.layer, "routes": dict(self.routes), "notes": list(self.notes),
                  "upstream": list(self.upstream), "gates": dict(self.gate_of), "probe": dict(self.probe)})
        return d

    def figure(self, stem, *, fmt: str = "svg", force: bool = False):
        r"""Write the picture of this check to ``stem`` + ``.svg`` (or ``fmt``) and return the path: with a
        time-step probe, a heat map of each gradient's error against how many steps back the gradient
        travelled (lag k, or τ = k for weights and initial states) — a dropped recurrent term is a white
        column at k = 0 and dark from k = 1 on; without one, each gradient's worst relative error."""
        from pathlib import Path

        from ...render import plots

        stem = Path(stem)
        path = stem if stem.suffix.lower() in (".svg", ".png", ".pdf") else stem.with_name(f"{stem.name}.{fmt}")
        return plots.save(self.figure_object(), path, force=force)

    def figure_object(self):
        """Return the Matplotlib figure that :meth:`figure` writes (shown inline by the report in Jupyter)."""
        from ...render import plots

        wrong = ", ".join(self.wrong) or "nothing"
        if self.probe:
            names = list(self.probe)
            values = np.array([self.probe[n] for n in names])
            fig, ax = plots.new(size="wide", title=f"{self.layer}: each gradient's error by steps back")
            plots.heatmap(ax, values, xlabels=[str(k) for k in range(values.shape[1])], ylabels=names,
                          xlabel="steps back k (upstream gradient at one step τ; sequences at τ − k, others at τ = k)",
                          colorbar="largest relative error", cmap="Reds", vmin=0.0, vmax=1.0)
        else:
            names = [p.name for p in self.params]
            errs = [p.worst.rel_err if p.worst is not None else 0.0 for p in self.params]
            fig, ax = plots.new(size="wide", title=f"{self.layer}: {wrong} wrong")
            ax.bar(range(len(names)), errs, color=["#d55e00" if p.verdict != "ok" else "#0072b2"
                                                   for p in self.params])
            ax.set_xticks(range(len(names)), names)
            ax.set_ylabel("worst relative error")
            ax.set_ylim(0, 1.05)
        return fig

    def format(self, *, verbose: bool = False, indent: str = "") -> str:
        r"""Return the report as text: one row per gradient with its verdict and worst relative error
        against each route, then for anything wrong the worst element in the author's indices, the
        diagnosis, where in time it starts, and the routes' agreement."""
        out = []
        add = out.append
        add(self.model)
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        add(f"sizes {sizes}, seed {self.seed}; upstream gradient into {', '.join(self.upstream)}")
        for route in ("traced", "blackbox", "autograd"):
            if route in self.routes:
                add(_wrap(f"  {ROUTE_NAMES[route]}: {self.routes[route]}", cont="    "))
        refs = [r for r in ("traced", "blackbox", "autograd") if any(r in p.per_reference for p in self.params)]
        w_name = max([len(p.name) for p in self.params] + [8])
        w_shape = max([len(str(p.shape)) for p in self.params] + [5])
        add(f"  {'gradient':<{w_name}}  {'shape':<{w_shape}}  verdict  "
            + "  ".join(f"{ROUTE_NAMES[r]:<10}" for r in refs) + "  (worst relative error of yours against each)")
        for p in self.params:
            verdict = {"ok": "ok", "wrong": "WRONG", "inconclusive": "unsure"}.get(p.verdict, p.verdict)
            cols = [f"{_e(p.per_reference[r]) if r in p.per_reference else '-':<10}" for r in refs]
            shape_note = next((f"  returned shape {f.data}" for f in p.findings if f.kind == "shape"), "")
            add(f"  {p.name:<{w_name}}  {str(p.shape):<{w_shape}}  {verdict:<7}  " + "  ".join(cols).rstrip()
                + shape_note)
        for p in self.params:
            if p.verdict == "ok":
                continue
            if p.worst is not None and p.n_checked:
                idx = ", ".join(map(str, p.worst.index))
                gate = self.gate_of.get(p.name)
                add(_wrap(f"  {p.name}[{idx}]: yours {fmt(p.worst.candidate)}, reference {fmt(p.worst.reference)} "
                          f"({ROUTE_NAMES.get(p.worst.source, p.worst.source)}); abs err {_e(p.worst.abs_err)}, "
                          f"rel err {_e(p.worst.rel_err)}; {p.n_bad} of {p.n_checked} elements wrong"
                          + (f"; worst in {gate}" if gate else ""), cont="    "))
            for f in p.findings:
                if not any(f is g for g in self.findings):      # a diagnosis of the whole layer is said once
                    add(_wrap(f"  - {f.message}", cont="    "))
        for f in self.findings:
            tag = {"error": "diagnosis", "warning": "warning", "note": "note"}.get(f.severity, f.severity)
            add(_wrap(f"  {tag}: {f.message}", cont="    "))
        for line in self.localisation:
            add(_wrap(f"  where: {line}", cont="    "))
        for line in self.notes:
            add(_wrap(f"  note: {line}", cont="    "))
        if verbose or not self.ok:
            if self.agreement:
                agree = ", ".join(f"{k} {_e(v)}" for k, v in self.agreement.items())
                word = "references agree" if self.references_agree else "REFERENCES DISAGREE"
                add(f"  {word} (max relative difference): {agree}")
            c = self.counts
            add(f"  cost: {c.get('forward_calls', 0)} calls of your forward ({c.get('blackbox_calls', 0)} for the "
                f"black box), {c.get('backward_calls', 0)} of your backward, {c.get('traced_vjps', 0)} traced VJPs; "
                f"{self.elapsed:.2f} s")
            if self.values and not self.ok:
                add(f"  the values of this case (seed {self.seed}):")
                for k, v in self.values.items():
                    arr = np.array2string(np.asarray(v), precision=4, separator=", ", max_line_width=10**6)
                    add(_wrap(f"    {k} = {' '.join(arr.split())}", cont="      "))
        return "\n".join(indent + line for chunk in out for line in chunk.split("\n"))
