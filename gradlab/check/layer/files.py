r"""Layer-mode derivation files: recognised from their syntax tree, loaded, checked, reported.

A layer-mode file assigns ``LAYER = gradlab.check.layer(...)`` (or ``LAYERS = [...]``) at module level,
optionally with ``EXPECT = "wrong"`` and ``WRONG = ("dWh",)`` in the author's gradient names (with
several layers a name may be qualified by the layer, ``"rnn_backward.dWh"``). :func:`check_layer_file`
returns the same result dict as ``gradlab check`` gives for every derivation (status ok / caught /
FAIL / MISSED / ERROR, the report, the search).
"""
from __future__ import annotations

import ast
import difflib
import importlib.util
import linecache
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field

from ..candidate import DerivationError
from ..report import VerifyReport
from .declare import LayerDecl

__all__ = ["is_layer_file", "load_layer_file", "LayerFile", "check_layer_file", "LayerReports"]


def is_layer_file(path) -> bool:
    """True when the file assigns ``LAYER`` or ``LAYERS`` at module level (read from its syntax tree, not run)."""
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return False
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        if any(isinstance(t, ast.Name) and t.id in ("LAYER", "LAYERS") for t in targets):
            return True
    return False


@dataclass
class LayerFile:
    """A loaded layer-mode file: its declarations, what it expects, its docstring."""

    path: str
    decls: list
    expect: str = "right"
    wrong: tuple = ()
    doc: str = ""
    module: object = None
    qualified: bool = field(default=False)


def _assign_line(path, name):
    for i, line in enumerate(linecache.getlines(path), 1):
        if re.match(rf"\s*{re.escape(name)}\s*=", line):
            return i
    return None


def load_layer_file(path: str) -> LayerFile:
    r"""Import a layer-mode file and return its :class:`LayerFile`; every breach of the contract (and any
    error while importing it) is a :class:`~gradlab.check.candidate.DerivationError` at the file and line."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise DerivationError("no such file", path)
    stem = os.path.splitext(os.path.basename(path))[0]
    name = f"gradlab_layer_{re.sub(r'[^0-9A-Za-z_]', '_', stem)}_{abs(hash(path)) % 10**8}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    linecache.checkcache(path)
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)   # the course's own modules may sit beside the file
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise DerivationError(f"SyntaxError: {exc.msg}", path, exc.lineno) from None
    except Exception as exc:  # noqa: BLE001 - the author's file
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == path]
        line = frames[-1].lineno if frames else None
        code = (frames[-1].line or "").strip() if frames else ""
        msg = f"{type(exc).__name__} while importing: {exc}" + (f"\n    {line} | {code}" if code else "")
        raise DerivationError(msg, path, line) from None
    finally:
        sys.modules.pop(name, None)
        if sys.path and sys.path[0] == folder:
            del sys.path[0]
    if hasattr(module, "LAYERS"):
        decls = getattr(module, "LAYERS")
        where = _assign_line(path, "LAYERS")
        if isinstance(decls, LayerDecl):
            decls = [decls]
        if not isinstance(decls, (list, tuple)) or not decls or not all(isinstance(d, LayerDecl) for d in decls):
            raise DerivationError("LAYERS must be a non-empty list of gradlab.check.layer(...) declarations", path,
                                  where)
    else:
        decl = getattr(module, "LAYER", None)
        if not isinstance(decl, LayerDecl):
            raise DerivationError(f"LAYER must be a declaration made by gradlab.check.layer(forward, backward, "
                                  f"inputs=...), got {type(decl).__name__}", path, _assign_line(path, "LAYER"))
        decls = [decl]
    labels = [d.label for d in decls]
    if len(set(labels)) != len(labels):
        raise DerivationError("two declarations in LAYERS check the same function; give them name=\"…\"", path,
                              _assign_line(path, "LAYERS"))
    lf = LayerFile(path, list(decls), doc=module.__doc__ or "", module=module)
    expect = getattr(module, "EXPECT", "right")
    if expect not in ("right", "wrong"):
        raise DerivationError(f"EXPECT must be \"right\" or \"wrong\", got {expect!r}", path, _assign_line(path, "EXPECT"))
    lf.expect = expect
    wrong = getattr(module, "WRONG", ())
    wrong = (wrong,) if isinstance(wrong, str) else tuple(wrong)
    if expect == "wrong" and not wrong:
        raise DerivationError("EXPECT = \"wrong\" needs WRONG, the gradients the checker must find wrong", path,
                              _assign_line(path, "EXPECT"), 'e.g. WRONG = ("dWh",) in your own gradient names')
    known = {f"{d.label}.{d.grad_name(p)}" for d in decls for p, _ in d.float_leaves()}
    plain = {k.split(".", 1)[1] for k in known}
    for w in wrong:
        if w != "all" and w not in known and w not in plain:
            close = difflib.get_close_matches(w, sorted(plain | known), n=1)
            raise DerivationError(f"WRONG names {w!r}, which is not a gradient of "
                                  f"{', '.join(d.label + '()' for d in decls)}; the gradients are "
                                  f"{', '.join(sorted(plain))}", path, _assign_line(path, "WRONG"),
                                  f"did you mean {close[0]!r}?" if close else None)
    lf.wrong = wrong
    lf.qualified = any("." in w for w in wrong)
    return lf


class LayerReports:
    r"""The reports of a file with several layers (``LAYERS``), read like one report: gradients are
    named ``layer.dname``, and the verdict is the worst of them."""

    def __init__(self, reports):
        self.reports = list(reports)

    @property
    def params(self):
        """Every layer's gradient rows (their names qualified by the layer)."""
        import copy

        out = []
        for r in self.reports:
            for p in r.params:
                q = copy.copy(p)
                q.name = f"{r.layer}.{p.name}"
                out.append(q)
        return out

    @property
    def wrong(self):
        """The wrong gradients, qualified by the layer."""
        return [f"{r.layer}.{n}" for r in self.reports for n in r.wrong]

    @property
    def verdict(self):
        """``fail`` if any layer fails, else ``inconclusive`` if any is, else ``pass``."""
        verdicts = [r.verdict for r in self.reports]
        return "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"

    @property
    def ok(self):
        """True when every layer passes."""
        return self.verdict == "pass"

    @property
    def method(self):
        """The first layer's reference method (for the one-line summary)."""
        return self.reports[0].method

    @property
    def worst_rel(self):
        """The largest relative error over all layers."""
        vals = [r.worst_rel for r in self.reports if r.worst_rel == r.worst_rel]
        return max(vals) if vals else float("nan")

    @property
    def findings(self):
        """Every layer's report-level findings."""
        return [f for r in self.reports for f in r.findings]

    @property
    def localisation(self):
        """Every layer's time-step sentences, each prefixed by its layer."""
        return [f"{r.layer}: {line}" for r in self.reports for line in r.localisation]

    def format(self, *, verbose: bool = False, indent: str = "") -> str:
        """Return every layer's report, one after the other."""
        return "\n".join(r.format(verbose=verbose, indent=indent) for r in self.reports)

    def figure(self, stem, *, fmt: str = "svg", force: bool = False):
        """Write the figure of the first layer with a wrong gradient (else the first layer); return the path."""
        first = next((r for r in self.reports if r.wrong), self.reports[0])
        return first.figure(stem, fmt=fmt, force=force)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict: the layers' reports and the combined verdict."""
        return {"verdict": self.verdict, "wrong": self.wrong, "layers": [r.to_dict() for r in self.reports]}

    def __str__(self):
        return self.format()


def _combine_searches(searches):
    searches = [s for s in searches if s is not None]
    if not searches:
        return None
    if len(searches) == 1:
        return searches[0]
    bad = next((s for s in searches if not s.ok), None)
    out = VerifyReport(", ".join(s.name for s in searches), "; ".join(s.model for s in searches), searches[0].seed,
                       sum(s.examples for s in searches), bad is None)
    if bad is not None:
        out.counterexample, out.first_failure, out.findings = bad.counterexample, bad.first_failure, bad.findings
    out.elapsed = sum(s.elapsed for s in searches)
    return out


def check_layer_file(path: str, *, mode: str = "full", seed: int = 0, examples: int = 20, progress=None,
                     **ignored) -> dict:
    r"""Check a layer-mode file; return ``gradlab check``'s result dict: ``status`` (ok / caught / FAIL /
    MISSED / ERROR), ``expect``, ``expected_wrong``, ``found_wrong``, ``elapsed``, ``error`` (a
    :class:`~gradlab.check.candidate.DerivationError` or None), ``report`` and ``search``. ``mode`` is
    accepted for the command line's sake: layer mode always checks every element."""
    from .core import check_layer
    from .search import verify_layer

    t0 = time.perf_counter()
    result = {"file": path, "status": "ERROR", "report": None, "search": None, "error": None,
              "expect": "right", "expected_wrong": [], "found_wrong": [], "elapsed": 0.0, "mode": "layer"}
    try:
        lf = load_layer_file(path)
        result["expect"] = lf.expect
        reports, searches = [], []
        for d in lf.decls:
            if progress:
                progress(f"{os.path.basename(path)}: checking {d.label} at the default sizes")
            reports.append(check_layer(d, seed=seed))
            if examples > 0:
                if progress:
                    progress(f"{os.path.basename(path)}: searching {examples} Hypothesis examples for {d.label}")
                searches.append(verify_layer(d, max_examples=examples, seed=seed, progress=False))
    except DerivationError as exc:
        result["error"] = exc
        result["elapsed"] = time.perf_counter() - t0
        return result
    except Exception as exc:  # noqa: BLE001 - never show a gradlab traceback to a student
        result["error"] = DerivationError(f"the checker could not run this layer: {type(exc).__name__}: {exc}", path)
        result["elapsed"] = time.perf_counter() - t0
        return result
    report = reports[0] if len(reports) == 1 else LayerReports(reports)
    search = _combine_searches(searches)
    result["report"], result["search"] = report, search
    qualified = [f"{r.layer}.{n}" for r in reports for n in r.wrong]
    if len(reports) > 1 and (lf.qualified or lf.wrong == ("all",)):
        found = qualified
        expected = [f"{r.layer}.{p.name}" for r in reports for p in r.params] if lf.wrong == ("all",) else list(lf.wrong)
    else:
        found = list(dict.fromkeys(n.split(".", 1)[1] for n in qualified))
        expected = ([p.name for r in reports for p in r.params] if lf.wrong == ("all",) else
                    [w.split(".", 1)[1] if "." in w else w for w in lf.wrong])
    result["expected_wrong"] = expected
    result["found_wrong"] = found
    search_failed = search is not None and not search.ok
    if lf.expect == "right":
        result["status"] = "ok" if report.verdict == "pass" and not search_failed else "FAIL"
    else:
        result["status"] = "caught" if found and set(found) == set(expected) else "MISSED"
    doc = lf.doc.strip()
    result["title"] = doc.splitlines()[0] if doc else ""
    result["elapsed"] = time.perf_counter() - t0
    return result
