r"""What a check found, in numbers and in words: :class:`CheckReport`, one :class:`ParamResult` per
parameter, :class:`Finding` for each pitfall or explanation, and :class:`VerifyReport` for a search.

A report names the reference every number came from (``engine`` = gradlab's reverse mode,
``autograd`` = HIPS autograd on a replay, ``fd`` = finite differences by the method it names,
``sympy`` = exact symbolic derivatives, ``forward`` = gradlab's forward mode along random directions)
and counts what it evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .elements import INDEX_NOTE, element_text

__all__ = ["Finding", "Element", "ParamResult", "CheckReport", "VerifyReport", "fmt", "plain_findings"]

def fmt(x) -> str:
    """Format a number compactly (5 significant digits)."""
    if x is None:
        return "-"
    x = float(x)
    if x != x:
        return "nan"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.5g}"
    return f"{x:.3e}"


def _e(x) -> str:
    return "-" if x is None else f"{float(x):.1e}"


@dataclass
class Finding:
    """A pitfall or an explanation: ``kind`` (a short tag), ``message`` (plain words), ``severity``
    (``"error"`` counts against the candidate, ``"warning"`` and ``"note"`` do not)."""

    kind: str
    message: str
    severity: str = "warning"
    param: str | None = None
    data: object = None

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {"kind": self.kind, "message": self.message, "severity": self.severity, "param": self.param}


@dataclass
class Element:
    """One element of a gradient: where it is, the candidate's value, the reference's, and the errors."""

    index: tuple
    candidate: float
    reference: float
    abs_err: float
    rel_err: float
    source: str

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {"index": list(self.index), "candidate": self.candidate, "reference": self.reference,
                "abs_err": self.abs_err, "rel_err": self.rel_err, "reference_source": self.source}


@dataclass
class ParamResult:
    r"""The verdict for one parameter: ``"ok"``, ``"wrong"`` or ``"inconclusive"``; the worst element
    against the primary reference; per-reference worst relative errors; counts."""

    name: str
    shape: tuple
    verdict: str = "ok"
    worst: Element | None = None
    rtol: float | None = None
    atol: float | None = None
    n_checked: int = 0
    n_bad: int = 0
    n_kink: int = 0
    per_reference: dict = field(default_factory=dict)      # reference -> worst rel error of candidate
    projections: list = field(default_factory=list)         # (candidate ⟨g,u⟩, fd D_u E, rel, ok)
    findings: list = field(default_factory=list)
    formula: str = ""
    n_checked_fd: int = 0
    n_unjudged: int = 0                                     # elements finite differences could not judge

    @property
    def ok(self) -> bool:
        """True when the candidate agrees with every reference for this parameter."""
        return self.verdict == "ok"

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {"name": self.name, "shape": list(self.shape), "verdict": self.verdict,
                "worst": None if self.worst is None else self.worst.to_dict(), "rtol": self.rtol,
                "atol": self.atol, "checked": self.n_checked, "bad": self.n_bad, "kinks": self.n_kink,
                "not_judged_by_fd": self.n_unjudged,
                "per_reference": self.per_reference,
                "projections": [list(p) for p in self.projections],
                "findings": [f.to_dict() for f in self.findings]}


@dataclass
class CheckReport:
    r"""Everything one check found. ``verdict`` is ``"pass"``, ``"fail"`` or ``"inconclusive"``;
    ``wrong`` lists the parameters whose gradient is wrong; ``explanation`` is the plain-words story."""

    name: str
    model: str
    sizes: dict
    seed: int
    mode: str
    method: str
    references: tuple
    params: list = field(default_factory=list)
    agreement: dict = field(default_factory=dict)           # "engine ↔ autograd" -> max rel difference
    references_agree: bool = True
    counts: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)
    localisation: list = field(default_factory=list)
    sweep: list = field(default_factory=list)
    verdict: str = "pass"
    elapsed: float = 0.0
    values: dict = field(default_factory=dict)              # the inputs, shown for small cases
    steps: dict = field(default_factory=dict)               # wrong parameter -> time steps whose terms are wrong
    coverage: list = field(default_factory=list)            # the sizes checked (check_escalating), in order
    kind: str = ""                                          # the spec's kind (names the gates of stacked rows)

    # ----------------------------------------------------------------------------- summaries
    @property
    def ok(self) -> bool:
        """True when the verdict is ``"pass"``."""
        return self.verdict == "pass"

    @property
    def wrong(self) -> list:
        """Names of the parameters whose gradient is wrong."""
        return [p.name for p in self.params if p.verdict == "wrong"]

    @property
    def worst_rel(self) -> float:
        """The largest relative error of the candidate against the primary reference, over all parameters."""
        vals = [p.worst.rel_err for p in self.params if p.worst is not None and np.isfinite(p.worst.rel_err)]
        return max(vals) if vals else float("nan")

    def param(self, name: str) -> ParamResult:
        """Return the result for parameter ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no parameter named {name!r} in this report; it has {[p.name for p in self.params]}")

    def element(self, p: "ParamResult", index=None) -> str:
        """Return the worst element of ``p`` (or ``index``) in the lecture's words: ``W_s[1,2]``, or the gate
        and row of a stacked parameter (``W_s, forget gate (f) block, row 2, column 1``)."""
        index = p.worst.index if index is None else index
        return element_text(p.name, index, self.kind, self.sizes.get("H"), p.shape)

    def coverage_text(self, brief: bool = False) -> str:
        """Return which sizes were checked, e.g. ``"T = 3, 5, 8, 12, 20; H = 3, 4, 5, 6"`` (``brief``:
        ``"T ≤ 20, H ≤ 6"``); empty when only one size was checked."""
        if len(self.coverage) < 2:
            return ""
        keys = [k for k in ("T", "H", "D", "O") if any(k in s for s in self.coverage)]
        if brief:
            return ", ".join(f"{k} ≤ {max(s[k] for s in self.coverage)}" for k in keys if k in ("T", "H"))
        return "; ".join(f"{k} = {', '.join(str(v) for v in sorted({s[k] for s in self.coverage}))}" for k in keys)

    def explanation(self) -> str:
        """Return the main plain-words explanation of a failure (empty when the check passed)."""
        lines = [f.message for f in self.findings if f.severity == "error"]
        for p in self.params:
            lines += [f.message for f in p.findings if f.severity == "error"]
        return "\n".join(dict.fromkeys(lines + self.localisation))

    def to_dict(self) -> dict:
        """Return a JSON-ready dict of the whole report (element ``index`` as NumPy's, from 0; ``element``
        in the lecture's words, from 1)."""
        params = []
        for p in self.params:
            d = p.to_dict()
            if d["worst"] is not None:
                d["worst"]["element"] = self.element(p)
            params.append(d)
        return {"name": self.name, "model": self.model, "sizes": self.sizes, "seed": self.seed, "mode": self.mode,
                "method": self.method, "references": list(self.references), "verdict": self.verdict,
                "wrong": self.wrong, "worst_rel_err": None if self.worst_rel != self.worst_rel else self.worst_rel,
                "params": params, "agreement": self.agreement,
                "references_agree": self.references_agree, "counts": self.counts,
                "findings": [f.to_dict() for f in self.findings], "localisation": self.localisation,
                "sweep": [list(r) for r in self.sweep], "steps": self.steps, "coverage": self.coverage,
                "elapsed_s": round(self.elapsed, 4),
                "values": {k: np.asarray(v).tolist() for k, v in self.values.items()}}

    # ---------------------------------------------------------------------------- formatting
    def format(self, *, verbose: bool = False, indent: str = "") -> str:
        r"""Return the report as text: a table of parameters, the references' agreement, the cost,
        and, for a failure, the worst elements, where the error starts and the pitfalls found."""
        out = []
        add = out.append
        add(f"{self.model}")
        add(f"sizes {', '.join(f'{k}={v}' for k, v in self.sizes.items())}, seed {self.seed}; {self.mode} check; "
            f"finite differences: {self.method}")
        if self.coverage_text():
            add(f"  sizes checked: {self.coverage_text()}")
        w_name = max([len(p.name) for p in self.params] + [9])
        w_shape = max([len(str(p.shape)) for p in self.params] + [5])
        refs = [r for r in ("engine", "autograd", "sympy", "fd", "forward")
                if any(r in p.per_reference for p in self.params)]
        heads = {"engine": "engine", "autograd": "autograd", "sympy": "sympy", "fd": "finite diff.",
                 "forward": "forward (proj)"}
        add(f"  {'parameter':<{w_name}}  {'shape':<{w_shape}}  verdict  "
            + "  ".join(f"{heads[r]:<12}" for r in refs) + "  (worst relative error of yours against each reference)")
        for p in self.params:
            verdict = {"ok": "ok", "wrong": "WRONG", "inconclusive": "unsure", "unjudged": "n/a"}.get(p.verdict, p.verdict)
            cols = []
            for r in refs:
                v = p.per_reference.get(r)
                txt = _e(v) if v is not None else "-"
                if r == "fd" and v is not None and p.projections and not p.n_checked_fd:
                    txt += " (proj)"
                cols.append(f"{txt:<12}")
            kinks = f"  ({p.n_kink} at a kink, not counted)" if p.n_kink else ""
            if p.n_unjudged:
                kinks += f"  ({p.n_unjudged} beyond finite differences' precision)"
            shape_note = next((f"  returned shape {f.data}" for f in p.findings if f.kind == "shape"), "")
            add(f"  {p.name:<{w_name}}  {str(p.shape):<{w_shape}}  {verdict:<7}  " + "  ".join(cols).rstrip()
                + kinks + shape_note)
        bad = [p for p in self.params if p.verdict != "ok"]
        shared = _shared_findings(bad)
        for p in bad:
            if p.worst is not None and p.worst.index is not None and p.n_checked:
                add(f"  {self.element(p)}: yours {fmt(p.worst.candidate)}, reference {fmt(p.worst.reference)} "
                    f"({p.worst.source}); abs err {_e(p.worst.abs_err)}, rel err {_e(p.worst.rel_err)} "
                    f"(tolerance rtol {_e(p.rtol)}, atol {_e(p.atol)}); {p.n_bad} of {p.n_checked} elements wrong")
            for f in p.findings:
                if f.kind not in shared:
                    add(_wrap(f"  - {f.message}"))
        for kind, (names, msg) in shared.items():
            add(_wrap(f"  - {msg}"))
        if any(p.worst is not None and p.worst.index and p.n_checked and "[" in self.element(p) for p in bad):
            add(f"  ({INDEX_NOTE})")
        if self.localisation:
            for line in self.localisation:
                add(_wrap(f"  where: {line}"))
        for f in self.findings:
            tag = {"error": "problem", "warning": "warning", "note": "note"}.get(f.severity, f.severity)
            add(_wrap(f"  {tag}: {f.message}"))
        if self.sweep:
            add("  step sweep (central differences on the worst element):")
            add("      h        estimate        rel err vs reference")
            for h, est, err in self.sweep:
                add(f"    {h:8.0e}  {fmt(est):>14}  {_e(err)}")
        if verbose or not self.ok:
            if self.agreement:
                agree = ", ".join(f"{k} {_e(v)}" for k, v in self.agreement.items())
                word = "references agree" if self.references_agree else "REFERENCES DISAGREE"
                add(f"  {word} (max rel difference): {agree}")
            add(f"  cost: {self._cost()}; {self.elapsed:.2f} s")
            if self.values and not self.ok:
                add(f"  the values of this case (gradlab.verify(..., seed={self.seed}) finds it again):")
                for k, v in self.values.items():
                    arr = np.array2string(np.asarray(v), precision=4, separator=", ", max_line_width=10**6)
                    add(_wrap(f"    {k} = {' '.join(arr.split())}", cont="      "))
        return "\n".join(indent + line for chunk in out for line in chunk.split("\n"))

    def _cost(self) -> str:
        c = self.counts
        if "products" in c:      # a curvature product's check (gradlab.check.curvature)
            return (f"{c['products']} random directions v, each product by every reference, "
                    f"{c.get('candidate_calls', 0)} calls of your product")
        parts = [f"{c.get('loss_evaluations', 0)} loss evaluations", f"{c.get('vjps', 0)} VJP"]
        if c.get("autograd"):
            parts.append(f"{c['autograd']} autograd gradient")
        if c.get("projections"):
            parts.append(f"{c['projections']} projections")
        if c.get("jvps"):
            parts.append(f"{c['jvps']} forward-mode JVPs")
        parts.append(f"{c.get('elements_checked', 0)} of {c.get('elements', 0)} elements checked by finite differences")
        parts.append(f"{c.get('candidate_calls', 0)} calls of your gradient")
        return ", ".join(parts)

    def __str__(self) -> str:
        return self.format()

    # ------------------------------------------------------------------------------ Jupyter
    def _repr_html_(self) -> str:
        """Jupyter: the report as an HTML table (:func:`gradlab.display.report_html`)."""
        from ..display import report_html

        return report_html(self)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.format())


def _shared_findings(params) -> dict:
    """Findings of the same kind on several parameters, said once: {kind: (names, message)}."""
    by_kind: dict = {}
    for p in params:
        for f in p.findings:
            if f.kind in ("factor_2", "factor_half", "sign", "zeros", "error_term", "forward", "clipped_norm") \
                    or f.kind.startswith("factor_") or f.kind == "scale" and f.param is None:
                by_kind.setdefault(f.kind, []).append((p.name, f.message))
    out = {}
    for kind, items in by_kind.items():
        if len(items) < 2:
            continue
        names = [n for n, _ in items]
        first_name, msg = items[0]
        who = ", ".join(f"∂E/∂{n}" for n in names)
        msg = msg.replace(f"∂E/∂{first_name} is", f"{who} are", 1)
        out[kind] = (names, msg)
    return out


def _wrap(text: str, width: int = 110, cont: str = "    ") -> str:
    """Wrap ``text`` at ``width``, each of its own lines separately (equations keep their lines)."""
    import textwrap

    if "\n" in text:
        first, *rest = text.split("\n")
        lead = " " * (len(first) - len(first.lstrip())) + cont
        return "\n".join([_wrap(first, width, cont)] + [_wrap(lead + line.strip(), width, cont) for line in rest])
    if len(text) <= width:
        return text
    lead = len(text) - len(text.lstrip())
    return textwrap.fill(text, width=width, subsequent_indent=" " * lead + cont, break_long_words=False,
                         break_on_hyphens=False)


@dataclass
class VerifyReport:
    r"""The outcome of a Hypothesis search: ``ok`` when no counterexample was found in ``examples``
    draws; otherwise ``counterexample`` is the check report of the smallest failing case found."""

    name: str
    model: str
    seed: int
    examples: int
    ok: bool
    counterexample: CheckReport | None = None
    first_failure: dict | None = None
    elapsed: float = 0.0
    findings: list = field(default_factory=list)
    limits: dict = field(default_factory=dict)              # the largest sizes drawn, e.g. {"T": 4, "H": 3}

    @property
    def verdict(self) -> str:
        """``"pass"`` or ``"fail"``."""
        return "pass" if self.ok else "fail"

    def limits_text(self) -> str:
        """The sizes the search drew from, e.g. ``"T ≤ 4, D, H ≤ 3, O ≤ 2"``."""
        return ", ".join(f"{k} ≤ {v}" for k, v in self.limits.items())

    def format(self, indent: str = "", *, compact: bool = False) -> str:
        """Return the search result as text, with the smallest counterexample when there is one
        (``compact``: its sizes, wrong parameters and values only)."""
        if self.ok:
            within = f" drawn with {self.limits_text()}" if self.limits else ""
            return f"{indent}no counterexample in {self.examples} examples{within} (seed {self.seed})"
        ce = self.counterexample
        if ce is None:
            return "\n".join(indent + f.message for f in self.findings)
        if compact:
            sizes = ", ".join(f"{k} = {v}" for k, v in ce.sizes.items())
            lines = [f"{indent}smallest failing case found by the search (gradlab.verify, seed {self.seed}, "
                     f"{self.examples} examples): {sizes}; wrong: {', '.join(ce.wrong) or ce.verdict}"]
            for k, v in ce.values.items():
                arr = np.array2string(np.asarray(v), precision=4, separator=", ", max_line_width=10**6)
                lines.append(_wrap(f"{indent}  {k} = {' '.join(arr.split())}", cont="    "))
            return "\n".join(lines)
        sizes = ", ".join(f"{k} = {v}" for k, v in ce.sizes.items())
        head = (f"{indent}smallest failing case found by the search (seed {self.seed}, {self.examples} examples): "
                f"{sizes}")
        return head + "\n" + ce.format(indent=indent)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {"name": self.name, "model": self.model, "seed": self.seed, "examples": self.examples,
                "ok": self.ok, "limits": self.limits,
                "counterexample": None if self.counterexample is None else self.counterexample.to_dict(),
                "elapsed_s": round(self.elapsed, 4), "findings": [f.to_dict() for f in self.findings]}

    def __str__(self) -> str:
        return self.format()

    def _repr_html_(self) -> str:
        """Jupyter: the search's outcome, and its smallest counterexample as an HTML table."""
        from ..display import verify_html

        return verify_html(self)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.format())


def plain_findings(doc: dict) -> dict:
    r"""Return the plain findings {parameter: {ok, steps, index, candidate, reference, rel_err, note}} that
    ``gradlab render --view check`` draws, from what ``gradlab check --json`` writes (the whole document
    of one derivation with wrong gradients, or one report's ``to_dict()``); a plain findings dict is
    returned as it is."""
    if "files" in doc:
        with_report = [f for f in doc["files"] if f.get("report")]
        wrong = [f for f in with_report if f["report"].get("wrong")]
        pick = wrong or with_report
        if not pick:
            raise ValueError("--findings: this gradlab check JSON holds no report (every file failed to load)")
        if len(pick) > 1:
            names = ", ".join(f.get("file", "?") for f in pick)
            raise ValueError(f"--findings: this gradlab check JSON holds {len(pick)} derivations ({names}); "
                             f"write the JSON of one: gradlab check FILE --json")
        doc = pick[0]["report"]
    if "params" not in doc:
        return {k: dict(v) for k, v in doc.items() if not str(k).startswith("_")}
    steps = doc.get("steps") or {}
    out = {}
    for p in doc["params"]:
        entry = {"ok": p.get("verdict") != "wrong"}
        w = p.get("worst")
        if not entry["ok"]:
            entry["steps"] = steps.get(p["name"])
            if w is not None:
                entry.update(index=tuple(w["index"]), candidate=w["candidate"], reference=w["reference"],
                             rel_err=w["rel_err"])
                if w.get("element"):
                    entry["element"] = w["element"]
        out[p["name"]] = entry
    return out
