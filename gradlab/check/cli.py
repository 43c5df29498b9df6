r"""``gradlab check PATH...``: check derivation files (or folders of them) and say which are as expected.

For each derivation: one check at the spec's default sizes (all references), then a Hypothesis search
over sizes and values (``--examples``) that shrinks any failure to the smallest case. One line per
derivation — status, what was found, worst relative error, finite-difference method, time — then
the details of anything not as expected.

Student code is untrusted: folders are searched for derivations by reading each file's syntax tree
(nothing is run to find them; other files are listed as skipped), and every derivation is checked in
its own worker process (:mod:`gradlab.check.runner`) with a time limit (``--timeout``) and a memory
limit (``--memory``), its printed output captured, ``--jobs`` of them at a time. A derivation that
hangs, crashes, exits or runs out of memory is that derivation's ERROR; nothing it does changes
another's verdict. With two or more folders (``gradlab check submissions/*/``) each folder is a
student, and the run ends with one table: student, verdict, which gradients are wrong, time.

Results can also be written as JSON (``--json [FILE]``: only JSON on standard output, errors
included), as Gradescope's ``results.json`` (``--gradescope FILE``) and as JUnit XML (``--junit FILE``);
see :mod:`gradlab.check.formats`. Every file is written by :mod:`gradlab.files` (atomic, no links
followed, files gradlab did not write are kept unless ``--force``).

Statuses: ``ok`` (correct, and the checker agrees), ``caught`` (a deliberately wrong derivation,
``EXPECT = "wrong"``, and the checker found exactly the planted parameters), ``FAIL`` (a derivation
meant to be right is wrong), ``MISSED`` (a planted error not found, or other parameters blamed),
``ERROR`` (the file breaks the contract, cannot be read, raises, exits, crashes, hangs or runs out of
memory; the message names file and line).

Exit status: 0 when every derivation was checked and is as expected and every output was written;
1 when a derivation is not as expected (or a student folder has none); 2 for a usage problem (a path
that does not exist, nothing to check, a bad option); 3 when an output (figure, JSON, results file)
could not be written — the results are still printed; 130 after Ctrl-C (143 after SIGTERM), with the
summary of what finished. When several apply, the first in the order 130/143, 2, 3, 1 is used.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import sys
import textwrap
import time

__all__ = ["add_arguments", "run", "check_file", "check_contained", "STATUSES", "EXIT_OK", "EXIT_NOT_AS_EXPECTED", "EXIT_USAGE",
           "EXIT_OUTPUT", "EXIT_INTERRUPTED"]

STATUSES = ("ok", "caught", "FAIL", "MISSED", "ERROR")
EXIT_OK, EXIT_NOT_AS_EXPECTED, EXIT_USAGE, EXIT_OUTPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 3, 130, 143
_FIGURE_FORMAT = "svg"


def add_arguments(parser) -> None:
    """Add ``gradlab check``'s arguments to ``parser``."""
    from .runner import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, default_jobs

    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="derivation files, or folders of them (searched without running anything); "
                             "two or more folders are graded as one student each")
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                        help="write the results as one JSON document: to standard output (nothing else is printed "
                             "there), or to FILE")
    parser.add_argument("--examples", type=int, default=20, metavar="N",
                        help="Hypothesis examples searched per derivation after the main check (default 20; 0: none)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the drawn values and of the search")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", dest="mode", action="store_const", const="fast",
                      help="main check by random projections (a few loss evaluations per parameter)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="main check of every element by finite differences (the default)")
    parser.set_defaults(mode="full")
    parser.add_argument("--max-T", type=int, default=20, metavar="T", dest="max_T",
                        help="after the check at the default sizes, check again at larger sizes up to T time steps "
                             "(default 20)")
    parser.add_argument("--max-size", type=int, default=6, metavar="N", dest="max_size",
                        help="... and up to N units per layer (default 6)")
    parser.add_argument("--sympy", action="store_true", help="add the exact SymPy reference (small models; slow)")
    parser.add_argument("--sweep", action="store_true", help="show a finite-difference step sweep for each derivation")
    parser.add_argument("--figure", metavar="DIR", help="write a figure of each derivation found wrong into DIR: the "
                        "unfolded network with the wrong parameters and time steps marked")
    parser.add_argument("--gradescope", metavar="FILE",
                        help="write Gradescope's autograder results.json (one test per derivation); a {student} "
                             "in FILE writes one file per student")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testsuite per student, one testcase "
                                                        "per derivation) for CI systems and grading pipelines")
    parser.add_argument("--points", type=float, default=1.0, metavar="P",
                        help="points of one derivation in --gradescope (default 1)")
    parser.add_argument("--force", action="store_true",
                        help="replace output files that gradlab did not write (and links, never their targets)")
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help=f"check N derivations at a time, each in its own process (default: the cores, "
                             f"here {default_jobs()})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"wall-time limit of one derivation in seconds (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MB",
                        help=f"memory limit of one derivation in MiB (default {DEFAULT_MEMORY_MB})")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the full report of every derivation and all of its captured output")
    _json_errors(parser)


def _json_errors(parser) -> None:
    """Make a usage error a JSON document on standard output when ``--json`` was asked for (argparse would
    print usage text to standard error and leave standard output empty)."""
    plain_error = parser.error
    parse = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        parser._gradlab_json = any(a == "--json" or a.startswith("--json=") for a in (args or sys.argv[1:]))
        ns, extras = parse(args, namespace)
        if extras:   # `check` has no sub-commands: what it does not know is an error, said here (as JSON if asked)
            error(f"unrecognized arguments: {' '.join(extras)}")
        return ns, extras

    def error(message):
        if getattr(parser, "_gradlab_json", False):
            print(json.dumps(_error_doc(f"usage: {message}", EXIT_USAGE), indent=2))
            sys.exit(EXIT_USAGE)
        plain_error(message)

    parser.parse_known_args = parse_known_args
    parser.error = error


# --------------------------------------------------------------------------------- one derivation
def check_file(path: str, *, mode: str = "full", seed: int = 0, examples: int = 20, sympy: bool = False,
               sweep: bool = False, progress=None, max_T: int = 20, max_size: int = 6) -> dict:
    r"""Check one derivation file; return a dict with ``status`` (ok / caught / FAIL / MISSED / ERROR),
    ``report`` (:class:`CheckReport` or None), ``search`` (:class:`VerifyReport` or None), ``error``,
    ``expect``, ``expected_wrong``, ``found_wrong``, ``elapsed`` and ``notes`` (what the derivation did
    that did not change the verdict, e.g. changing its inputs in place).

    This runs the derivation in *this* process; ``gradlab check`` runs it in an isolated worker, through
    :func:`check_contained`."""
    from .candidate import DerivationError, load_derivation
    from .core import DEFAULT_REFERENCES, check_gradient
    from .layer import check_layer_file, is_layer_file
    from .search import check_escalating, verify

    if is_layer_file(path):   # layer mode (LAYER = gradlab.check.layer(...)): gradlab/check/layer/files.py
        return check_layer_file(path, mode=mode, seed=seed, examples=examples, progress=progress)
    from .curvature import check_product_file, is_product_file

    if is_product_file(path):  # a curvature product, gauss_newton(params, data, v) or hessian(...): check/curvature.py
        return check_product_file(path, seed=seed, examples=examples, progress=progress)
    t0 = time.perf_counter()
    result = {"file": path, "status": "ERROR", "report": None, "search": None, "error": None,
              "expect": "right", "expected_wrong": [], "elapsed": 0.0, "notes": []}
    cand = None
    try:
        cand = load_derivation(path)
        result["expect"] = cand.expect
        names = list(cand.spec.param_shapes())
        expected_wrong = names if cand.wrong == ("all",) else list(cand.wrong)
        result["expected_wrong"] = expected_wrong
        refs = DEFAULT_REFERENCES + (("sympy",) if sympy else ())
        if progress:
            progress(f"{os.path.basename(path)}: checking at the default sizes")
        report = check_escalating(cand, mode=mode, seed=seed, references=refs, sweep=sweep, max_T=max_T,
                                  max_size=max_size)
        result["report"] = report
        if cand.symbolic is not None:   # formulas: exact symbolic verdict instead of a search over sizes
            from ..symbolic.candidate import check_symbolic_candidate

            if progress:
                progress(f"{os.path.basename(path)}: comparing the formulas with the derived ones symbolically")
            formulas, kw = cand.symbolic
            kind = cand.spec.kind
            result["symbolic"] = check_symbolic_candidate(formulas, kind, **kw)
            examples = 0
        if sympy and cand.sizes is None and any(f.kind == "sympy_skipped" for f in report.findings):
            from .core import _smallest

            if progress:
                progress(f"{os.path.basename(path)}: exact SymPy derivatives at the smallest sizes")
            result["sympy_small"] = check_gradient(cand, sizes=_smallest(cand.spec), seed=seed,
                                                   references=("engine", "sympy"), localise=False)
        search = None
        if examples > 0:
            if progress:
                progress(f"{os.path.basename(path)}: searching {examples} Hypothesis examples")
            search = verify(cand, max_examples=examples, seed=seed, progress=False)
            result["search"] = search
    except DerivationError as exc:
        return _finish(result, cand, t0, error=exc)
    except SystemExit as exc:   # sys.exit() in the derivation, at import or in gradient()
        return _finish(result, cand, t0, error=_exit_error(exc, path))
    except Exception as exc:  # noqa: BLE001 - never show a gradlab traceback to a student
        msg = f"the checker could not run this derivation: {type(exc).__name__}: {exc}"
        hint = ("the memory limit of a derivation is set with --memory" if isinstance(exc, MemoryError) else None)
        return _finish(result, cand, t0, error=DerivationError(msg, path, None, hint))
    if not cand.doc.strip():
        stem = os.path.splitext(os.path.basename(path))[0]
        result["note"] = (f"no derivation text: put the derivation in lecture notation in the module docstring "
                          f"or in {stem}.md beside it")
    result["title"] = cand.doc.strip().splitlines()[0] if cand.doc.strip() else ""
    found = sorted(report.wrong, key=names.index)
    search_failed = search is not None and not search.ok
    if search_failed and search.counterexample is not None:   # the search's counterexample counts too
        found = sorted(set(found) | set(search.counterexample.wrong), key=names.index)
    sym = result.get("symbolic")
    if sym is not None:
        found = sorted(set(found) | {n for n, v in sym.params.items() if not v.ok}, key=names.index)
    if cand.expect == "right":
        result["status"] = ("ok" if report.verdict == "pass" and not search_failed and (sym is None or sym.ok)
                            else "FAIL")
    else:
        result["status"] = "caught" if found and set(found) == set(expected_wrong) else "MISSED"
    result["found_wrong"] = found
    return _finish(result, cand, t0)


def check_contained(path: str, **options) -> dict:
    r""":func:`check_file`, after which the working directory, ``sys.path``, NumPy's functions and the modules
    the derivation imported from its folder are as before; a derivation that replaced NumPy functions is
    an ERROR (gradlab's references compute with NumPy too, so its check cannot be trusted)."""
    from .candidate import DerivationError

    with _Contained(path) as box:
        result = check_file(path, **options)
    if box.patched and result["status"] != "ERROR":
        names = ", ".join(f"numpy.{n}" for n in box.patched)
        result["status"] = "ERROR"
        result["error"] = DerivationError(
            f"the derivation replaces {names}: gradlab's references compute with NumPy too, so this check cannot "
            f"be trusted", path, None, "use a function of your own instead of changing NumPy (e.g. def hard_tanh(z): "
            "return np.clip(z, -1, 1))")
    return result


class _Contained:
    """Around one in-process check: afterwards the working directory, ``sys.path``, NumPy's functions and the
    modules imported from the derivation's folder are as before (``patched`` names NumPy functions the
    derivation replaced). ``gradlab check`` also runs every derivation in its own process."""

    def __init__(self, path: str):
        self.folder = os.path.dirname(os.path.abspath(path))
        self.patched: list = []

    def __enter__(self):
        import numpy as np

        import autograd.numpy  # noqa: F401  (wraps NumPy's functions when imported: before the derivation runs)

        self.cwd = os.getcwd()
        self.path = list(sys.path)
        self.modules = set(sys.modules)
        self.numpy = dict(vars(np))
        return self

    def __exit__(self, *exc):
        import numpy as np

        now = vars(np)
        self.patched = sorted(k for k, v in self.numpy.items() if not k.startswith("_") and now.get(k) is not v)
        for k in self.patched:
            setattr(np, k, self.numpy[k])
        try:
            os.chdir(self.cwd)
        except OSError:
            pass
        sys.path[:] = self.path
        for name in set(sys.modules) - self.modules:
            file = getattr(sys.modules.get(name), "__file__", None) or ""
            if os.path.abspath(file).startswith(self.folder + os.sep):
                sys.modules.pop(name, None)
        return False


def _finish(result: dict, cand, t0: float, error=None) -> dict:
    if error is not None:
        result["error"] = error
    if cand is not None:
        result["notes"] = list(getattr(cand, "warnings", []) or [])
    result["elapsed"] = time.perf_counter() - t0
    return result


def _exit_error(exc: SystemExit, path: str):
    """A DerivationError for a ``sys.exit()`` raised by the derivation, at the line that called it."""
    import traceback

    from .candidate import DerivationError

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the gradlab package
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(here + os.sep)]
    mine = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(path)]
    frame = (mine or frames or [None])[-1]
    where = "at import" if frame is None or frame.name == "<module>" else f"in {frame.name}()"
    code = f"\n    {frame.lineno} | {frame.line.strip()}" if frame is not None and frame.line else ""
    return DerivationError(f"the derivation called sys.exit({exc.code!r}) {where}: a derivation must not end the "
                           f"program{code}", frame.filename if frame is not None else path,
                           frame.lineno if frame is not None else None,
                           "remove the sys.exit()/exit()/quit() call (or put it under if __name__ == \"__main__\":)")


# ------------------------------------------------------------------------------- text of a result
def _symbolic_lines(res: dict, indent: str) -> list:
    """Lines for the symbolic verdict of a derivation given as formulas."""
    sym = res.get("symbolic")
    return [] if sym is None else [indent + line for line in sym.lines()]


def _warning_lines(res: dict, indent: str) -> list:
    """Lines for the report's warnings (float32, saturation, ...) of a derivation that passed or was
    caught: a warning is shown without -v, since it can change how far the verdict can be trusted."""
    rep = res.get("report")
    if rep is None or res.get("status") not in ("ok", "caught"):
        return []
    lines = []
    for f in rep.findings:
        if f.severity == "warning":
            wrapped = textwrap.wrap(f"warning: {f.message}", width=100, subsequent_indent="  ")
            lines.extend(indent + w for w in wrapped)
    return lines


def _note_lines(res: dict, indent: str) -> list:
    """Lines for what the derivation did that did not change its verdict (changed its inputs, ...)."""
    lines = []
    for note in res.get("notes") or []:
        lines.extend(indent + w for w in textwrap.wrap(f"note: {note}", width=100, subsequent_indent="  "))
    return lines


def _summary_line(res: dict, width: int) -> str:
    from .report import _e

    name = res.get("name") or os.path.basename(res["file"])
    status = res["status"]
    t = f"{res['elapsed']:.2f} s"
    if status == "ERROR":
        err = res["error"]
        where = f":{err.line}" if getattr(err, "line", None) else ""
        reason = getattr(err, "reason", str(err)).splitlines()[0]
        return f"  {status:<7} {name + where:<{width}}  {reason}"
    rep = res["report"]
    search = res["search"]
    method = "central+Richardson" if rep.method.startswith("central (h") and "Richardson" in rep.method else rep.method.split(" (")[0]
    if status == "ok":
        covered = rep.coverage_text(brief=True) if hasattr(rep, "coverage_text") else ""   # layer reports have none
        what = "correct" + (f" for {covered}" if covered else "")
        if search is not None:
            what += f", +{search.examples} drawn" if covered else f", also in {search.examples} drawn cases"
    elif status == "caught":
        what = f"{', '.join(res['found_wrong'])} wrong, as planted"
    elif status == "FAIL":
        if rep.verdict != "pass":
            what = f"{', '.join(rep.wrong) or rep.verdict} wrong" if rep.wrong else f"{rep.verdict}"
        else:
            ce = search.counterexample if search is not None else None
            what = "wrong in the search" + (f": {', '.join(ce.wrong)}" if ce is not None else "")
    else:  # MISSED
        found = res.get("found_wrong") or []
        what = (f"planted error in {', '.join(res['expected_wrong'])} not found" if not found else
                f"found {', '.join(found)} wrong, planted {', '.join(res['expected_wrong'])}")
    worst = rep.worst_rel
    worst_txt = (f"worst rel err {_e(worst)}" if worst else "worst rel err 0") if worst == worst else ""
    if any(f.kind == "shape" for p in rep.params for f in p.findings):
        worst_txt = "wrong shape"
    return f"  {status:<7} {name:<{width}}  {what:<37} {worst_txt:<22} {method:<18} {t:>7}"


def _teaching_lines(res: dict, indent: str) -> list:
    """The one or two sentences that say what a caught planted error is."""
    rep = res["report"]
    from .report import _shared_findings, _wrap

    lines = []
    bad = [p for p in rep.params if p.verdict == "wrong"]
    shared = _shared_findings(bad)
    msgs = [m for _, m in shared.values()]
    kinds = set(shared)
    for p in bad:
        for f in p.findings:
            if f.severity == "error" and f.kind not in kinds:
                msgs.append(f.message)
                kinds.add(f.kind)
                break
    msgs = msgs[:1] + [line for line in rep.localisation if "downstream" not in line][:2]
    search = res.get("search")
    if search is not None and not search.ok and search.counterexample is not None:
        ce = search.counterexample
        sizes = ", ".join(f"{k} = {v}" for k, v in ce.sizes.items())
        msgs.append(f"smallest failing case found by the search: {sizes}.")
    for m in msgs:
        lines.append(_wrap(indent + m, width=110, cont="  "))
    return lines


def _below_lines(res: dict, verbose: bool) -> list:
    """The lines printed under a derivation's summary line."""
    ind = " " * 10
    lines = []
    if res.get("note"):
        lines.append(ind + "note: " + res["note"])
    lines += _note_lines(res, ind) + _warning_lines(res, ind) + _symbolic_lines(res, ind)
    small = res.get("sympy_small")
    if small is not None:
        sz = ", ".join(f"{k} = {v}" for k, v in small.sizes.items())
        worst = max((p.per_reference.get("sympy", 0.0) for p in small.params), default=0.0)
        verdict = ("agrees with" if not small.wrong else f"disagrees ({', '.join(small.wrong)}) with")
        lines.append(ind + f"exact SymPy derivatives at {sz}: your gradient {verdict} them (worst rel err {worst:.1e})")
    if res["status"] == "caught":
        lines += _teaching_lines(res, ind)
    elif res["status"] == "ok" and verbose:
        lines += res["report"].format(verbose=True, indent=ind).split("\n")
    return lines


def _detail_lines(res: dict) -> list:
    """The details printed for a derivation that is not as expected (after its ``name — status`` line)."""
    if res["status"] in ("ok", "caught"):
        return []
    if res["status"] == "ERROR":
        return ["  " + str(res["error"]).replace("\n", "\n  ")]
    rep, search = res["report"], res["search"]
    lines = []
    if res.get("title"):
        lines.append(f"  {res['title']}")
    if res["status"] == "MISSED":
        lines.append(f"  this derivation says EXPECT = \"wrong\" with WRONG = {tuple(res['expected_wrong'])}, "
                     f"but the checker found {tuple(res.get('found_wrong') or ()) or 'nothing wrong'}.")
    if rep.verdict != "pass" or search is None or search.ok:
        lines.append(rep.format(verbose=True, indent="  "))
        if search is not None and not search.ok:
            lines.append(search.format(indent="  ", compact=True))
    else:
        lines.append("  right at the default sizes, but the search found a case where it is wrong:")
        lines.append(search.format(indent="  "))
    return "\n".join(lines).split("\n")


# ------------------------------------------------------------------------------ worker <-> grader
def _to_json(obj):
    """A JSON-ready copy of ``obj``: reports by their ``to_dict``, errors as {message, file, line, hint},
    dataclasses field by field, NumPy values as numbers and lists, anything else as text."""
    from .candidate import DerivationError

    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, DerivationError):
        return {"message": obj.reason, "file": obj.path, "line": obj.line, "hint": obj.hint}
    if hasattr(obj, "to_dict"):
        return _to_json(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_to_json(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "tolist"):
        return _to_json(obj.tolist())
    return str(obj)


_KNOWN = ("file", "status", "expect", "expected_wrong", "found_wrong", "elapsed", "error", "report", "search",
          "name", "student")


def _jsonable(res: dict) -> dict:
    """The JSON form of a result: the documented keys first, then whatever else the result holds."""
    out = {"file": res["file"], "status": res["status"], "expect": res["expect"],
           "expected_wrong": res["expected_wrong"], "found_wrong": res.get("found_wrong"),
           "elapsed_s": round(res["elapsed"], 4), "error": _to_json(res["error"])}
    if out["error"] is None:
        del out["error"]
    if res["report"] is not None:
        out["report"] = _to_json(res["report"])
    if res["search"] is not None:
        out["search"] = _to_json(res["search"])
    for k, v in res.items():
        if k not in _KNOWN and k not in out and not k.startswith("_"):
            out[k] = _to_json(v)
    return out


def _work(job: dict) -> dict:
    """In the worker: check one derivation and return its record (JSON), text lines and figure included."""
    sys.argv = [os.path.abspath(job["path"])]   # the derivation sees itself run, not the grader's arguments
    res = check_contained(job["path"], **job["options"])
    rec = _jsonable(res)
    rec["name"], rec["student"] = job["name"], job["student"]
    res["name"] = job["name"]
    rec["lines"] = {"summary": _summary_line(res, job["width"]), "below": _below_lines(res, job["verbose"]),
                    "details": _detail_lines(res),
                    "report": res["report"].format(verbose=True) if res["report"] is not None else "",
                    "search": res["search"].format(compact=True) if res["search"] is not None else ""}
    if job.get("figure") and res["report"] is not None and res["report"].wrong:
        rec["figure"] = _figure(res["report"])
    return rec


def _figure(report) -> dict:
    """The failure figure of ``report`` drawn in the worker: {format, data (base64)} or {error}."""
    try:
        import graphviz

        from ..render.checkview import failure_dot

        if callable(getattr(report, "figure", None)):   # a layer-mode report draws its own (a Matplotlib plot)
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                path = report.figure(os.path.join(tmp, "figure"), fmt=_FIGURE_FORMAT)
                with open(path, "rb") as fh:
                    return {"format": _FIGURE_FORMAT, "data": base64.b64encode(fh.read()).decode("ascii")}
        fig = failure_dot(report)
        try:
            data, fmt = fig.pipe(format=_FIGURE_FORMAT), _FIGURE_FORMAT
        except graphviz.ExecutableNotFound:
            data, fmt = fig.source.encode("utf-8"), "dot"
        return {"format": fmt, "data": base64.b64encode(data).decode("ascii")}
    except Exception as exc:  # noqa: BLE001 - a figure is a bonus; the check's verdict stands
        return {"error": f"{type(exc).__name__}: {exc}"}


def _warm_check() -> None:
    """A small check in the grader before the workers are forked, so that each does not repeat the work of
    a first check (lazy imports, Hypothesis' strategies): a correct feedforward gradient and a correct
    Elman BPTT, each checked and searched."""
    import numpy as np

    from .. import specs
    from .core import check_gradient
    from .search import verify

    def feedforward(params, data):
        h = np.tanh(params["W_1"] @ data["x"] + params["b_1"])
        e = params["W_2"] @ h + params["b_2"] - data["d"]
        a = (params["W_2"].T @ e) * (1 - h * h)
        return {"W_1": np.outer(a, data["x"]), "b_1": a, "W_2": np.outer(e, h), "b_2": e}

    def elman(params, data):
        W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
        states, g = [data["s_0"]], {k: np.zeros_like(v) for k, v in params.items()}
        for x in data["xs"]:
            states.append(np.tanh(W_x @ x + W_s @ states[-1] + b_s))
        carry = np.zeros_like(b_s)
        for t in range(len(data["xs"]), 0, -1):
            e = W_y @ states[t] + b_y - data["ds"][t - 1]
            g["W_y"] += np.outer(e, states[t])
            g["b_y"] += e
            a = (W_y.T @ e + W_s.T @ carry) * (1 - states[t] ** 2)
            g["W_x"] += np.outer(a, data["xs"][t - 1])
            g["W_s"] += np.outer(a, states[t - 1])
            g["b_s"] += a
            carry = a
        return g

    try:
        for fn, spec in ((feedforward, specs.feedforward()), (elman, specs.elman())):
            check_gradient(fn, spec)
            verify(fn, spec, max_examples=2)
    except Exception:  # noqa: BLE001 - warming up is an optimisation; the real checks say what is wrong
        pass


class _ReportView:
    """A report as the grader sees it (sent by a worker as JSON): ``verdict``, ``wrong``, ``to_dict()``,
    ``format()``."""

    def __init__(self, d: dict, text: str):
        self._d, self._text = d, text

    verdict = property(lambda self: self._d.get("verdict"))
    wrong = property(lambda self: list(self._d.get("wrong") or []))
    ok = property(lambda self: bool(self._d.get("ok", self._d.get("verdict") == "pass")))

    def to_dict(self) -> dict:
        """Return the report's JSON form."""
        return self._d

    def format(self, **_options) -> str:
        """Return the report as text (as the worker wrote it)."""
        return self._text


def _result(rec: dict, outcome=None) -> dict:
    """The grader's result dict (the keys :func:`check_file` returns) from a worker's record; reports
    become :class:`_ReportView`, the error a :class:`DerivationError` again."""
    from .candidate import DerivationError

    err = rec.get("error")
    error = (DerivationError(str(err.get("message")), err.get("file"), err.get("line"), err.get("hint"))
             if isinstance(err, dict) else None)
    lines = rec.get("lines") or {}
    res = {"file": rec.get("file"), "name": rec.get("name"), "student": rec.get("student"),
           "status": rec.get("status"), "expect": rec.get("expect", "right"),
           "expected_wrong": list(rec.get("expected_wrong") or []), "found_wrong": list(rec.get("found_wrong") or []),
           "elapsed": float(rec.get("elapsed_s") or 0.0), "error": error,
           "report": _ReportView(rec["report"], lines.get("report", "")) if isinstance(rec.get("report"), dict) else None,
           "search": _ReportView(rec["search"], lines.get("search", "")) if isinstance(rec.get("search"), dict) else None,
           "notes": [str(n) for n in rec.get("notes") or []], "lines": lines, "record": rec,
           "output": outcome.output if outcome is not None else "",
           "output_bytes": outcome.output_bytes if outcome is not None else 0}
    if res["status"] not in STATUSES:
        res["status"] = "ERROR"
        res["error"] = res["error"] or DerivationError("the worker sent no verdict", rec.get("file"))
    return res


def _error_result(path: str, name: str, student, error, width: int, elapsed: float = 0.0, outcome=None) -> dict:
    """A result for a derivation that ended without a verdict (unreadable, timed out, crashed, exited)."""
    res = {"file": path, "name": name, "student": student, "status": "ERROR", "expect": "right",
           "expected_wrong": [], "found_wrong": [], "elapsed": elapsed, "error": error, "report": None,
           "search": None, "notes": []}
    rec = _jsonable(res)
    rec["name"], rec["student"] = name, student
    rec["lines"] = {"summary": _summary_line(res, width), "below": [], "details": _detail_lines(res)}
    return _result(rec, outcome)


def _from_outcome(job: dict, outcome, limits) -> dict:
    """The result of one worker: its record, or an ERROR saying why there is none."""
    from .candidate import DerivationError

    rec = outcome.value
    if rec is not None and "worker_error" not in rec:
        return _result(rec, outcome)
    if rec is not None:
        message = f"the checker could not run this derivation: {rec['worker_error']}"
    else:
        message = outcome.message or "the worker ended without a result"
    hint, line = None, None
    if outcome.failure == "signal" and limits.memory_mb:
        hint = f"each derivation may use {limits.memory_mb} MiB (--memory)"
    if outcome.failure == "timeout" and outcome.stack:
        where, line = _where(outcome.stack, job["path"])
        message += f"; it was {where}"
    return _error_result(job["path"], job["name"], job["student"], DerivationError(message, job["path"], line, hint),
                         job["width"], outcome.elapsed, outcome)


def _where(stack, path: str) -> tuple:
    """Where a timed-out derivation was, in words, and its line in the derivation's file (or None), from
    the worker's stack (most recent call first)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    mine = next(((f, n, fn) for f, n, fn in stack if os.path.abspath(f) == os.path.abspath(path)), None)
    top_file, top_line, top_fn = stack[0]
    if mine is not None and mine == stack[0]:
        return f"running line {mine[1]} of {mine[2]}()", mine[1]
    busy = f"in {top_fn}() ({os.path.basename(top_file)}:{top_line})"
    if mine is not None:
        return f"{busy}, called from line {mine[1]} of {mine[2]}()", mine[1]
    ours = next(((f, n, fn) for f, n, fn in stack if os.path.abspath(f).startswith(here + os.sep)), None)
    if ours is not None and ours != stack[0]:
        busy += f", called from gradlab's {ours[2]}() ({os.path.relpath(ours[0], os.path.dirname(here))}:{ours[1]})"
    return busy, None


# ------------------------------------------------------------------------------------- the command
class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (exit status 143)."""


def run(args) -> int:
    """Run ``gradlab check``; return the exit status (see the module docstring)."""
    def on_term(signum, frame):
        raise _Terminated()

    try:
        old_term = signal.signal(signal.SIGTERM, on_term)
    except ValueError:   # not the main thread
        old_term = None
    try:
        return _run(args)
    except BrokenPipeError:  # the output was piped into e.g. `head`, which stopped reading
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_NOT_AS_EXPECTED
    except KeyboardInterrupt as exc:   # before any derivation ran (while finding them, importing)
        terminated = isinstance(exc, _Terminated)
        if getattr(args, "json", None) == "-":
            print(json.dumps(_error_doc("interrupted before any derivation was checked",
                                        EXIT_TERMINATED if terminated else EXIT_INTERRUPTED), indent=2))
        else:
            print("\ngradlab check: interrupted before any derivation was checked", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug in gradlab: one line, and JSON stays JSON
        if getattr(args, "json", None) == "-":
            print(json.dumps(_error_doc(f"internal error: {type(exc).__name__}: {exc}", 70), indent=2))
        else:
            print(f"gradlab check: internal error: {type(exc).__name__}: {exc} (please report it)", file=sys.stderr)
        if getattr(args, "verbose", False):
            import traceback

            traceback.print_exc()
        return 70
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _error_doc(message: str, status: int) -> dict:
    from .. import __version__

    return {"generator": f"written by gradlab {__version__}", "ok": False, "exit_status": status,
            "error": {"message": message}, "files": [], "skipped": []}


def _split_json_arg(args) -> None:
    """``gradlab check --json derivations/`` means JSON on standard output for that folder, not a JSON file
    named ``derivations/``: a --json value that is a folder or a .py file is a path to check."""
    if args.json not in (None, "-") and (os.path.isdir(args.json) or args.json.endswith(".py")):
        args.paths = [args.json] + list(args.paths)
        args.json = "-"


def _students(paths) -> dict:
    """{path argument: student name} for the folder arguments (their names, told apart when equal)."""
    from ..files import unique_stems

    folders = [p for p in paths if os.path.isdir(p)]
    norm = {p: os.path.normpath(os.path.abspath(p)) for p in folders}
    stems = unique_stems([norm[p] + ".dir" for p in folders]) if folders else {}
    return {p: stems[norm[p] + ".dir"] for p in folders}


def _display_names(entries, class_mode: bool) -> None:
    """Give every entry a ``name``: the file name, or more of its path where that is needed to tell
    files apart; in class mode ``student/path inside the student's folder``."""
    base = {}
    for e in entries:
        base.setdefault(os.path.basename(e["path"]), []).append(e)
    for e in entries:
        rel = os.path.relpath(e["path"], e["root"]) if e["root"] is not None else None
        if class_mode and rel is not None:
            e["name"] = f"{e['student']}/{rel}"
        elif len(base[os.path.basename(e["path"])]) > 1:
            e["name"] = rel if rel is not None and not rel.startswith("..") else (
                os.path.relpath(e["path"]) if not os.path.relpath(e["path"]).startswith("..") else e["path"])
        else:
            e["name"] = os.path.basename(e["path"])


def _run(args) -> int:
    from .runner import hypothesis_storage

    with hypothesis_storage():   # nothing of Hypothesis' is left in the current folder
        return _check(args)


def _check(args) -> int:
    from .candidate import scan
    from .runner import Limits, default_jobs, run_isolated, warm_up

    t0 = time.perf_counter()
    _split_json_arg(args)
    to_stdout = args.json == "-"
    text = not to_stdout
    for value, what, low in ((args.jobs, "--jobs", 1), (args.timeout, "--timeout", 1e-9), (args.memory, "--memory", 64)):
        if value is not None and value < low:
            return _usage(args, f"{what} must be at least {low:g}, got {value:g}")
    if args.examples < 0:
        return _usage(args, f"--examples must be 0 or more, got {args.examples}")
    if not args.paths:
        return _usage(args, "give derivation files or folders to check, e.g. gradlab check derivations/")
    missing = [p for p in args.paths if not os.path.exists(p)]
    for p in missing:
        if text:
            print(f"gradlab check: {p}: no such file or folder", file=sys.stderr)
    present = [p for p in dict.fromkeys(args.paths) if os.path.exists(p)]
    students = _students(present)
    class_mode = len(students) >= 2
    entries, skipped, seen = [], [], set()
    for arg in present:
        for s in scan([arg]):
            real = os.path.realpath(s.path)
            if real in seen:
                continue
            seen.add(real)
            student = students.get(arg) or os.path.basename(os.path.dirname(os.path.abspath(s.path))) or "."
            entry = {"path": s.path, "scan": s, "student": student, "root": arg if arg in students else None}
            if s.kind == "skip":
                skipped.append(entry)
            else:
                entries.append(entry)
    _display_names(entries + skipped, class_mode)
    if not entries:
        msg = ("no derivation files found (a derivation is a .py file with MODEL and gradient(params, data), or "
               "GRADIENT, or LAYER/LAYERS; see derivations/README.md)")
        if skipped:
            msg += f"; skipped {len(skipped)} other file{'s' if len(skipped) != 1 else ''}"
            if len(skipped) <= 5:
                msg += ": " + "; ".join(f"{e['name']}: {e['scan'].reason}" for e in skipped)
        if to_stdout:
            doc = _error_doc(msg, EXIT_USAGE)
            doc["missing"] = missing
            doc["skipped"] = [{"file": e["path"], "reason": e["scan"].reason} for e in skipped]
            print(json.dumps(doc, indent=2))
        else:
            print(f"gradlab check: {msg}", file=sys.stderr)
        return EXIT_USAGE
    width = max(len(e["name"]) for e in entries) + 3
    limits = Limits(timeout=args.timeout, memory_mb=args.memory)
    options = {"mode": args.mode, "seed": args.seed, "examples": args.examples, "sympy": args.sympy,
               "sweep": args.sweep, "max_T": args.max_T, "max_size": args.max_size}
    if text:
        where = ", ".join(args.paths) if len(args.paths) <= 3 else \
            f"{', '.join(args.paths[:2])}, … ({len(args.paths)} paths)"
        refs = "gradlab's reverse and forward mode, HIPS autograd, finite differences" + (" and SymPy" if args.sympy else "")
        search = f"; then {args.examples} Hypothesis examples each" if args.examples > 0 else ""
        who = f" from {len(students)} students" if class_mode else ""
        print(f"gradlab check {where}: {len(entries)} derivation{'s' if len(entries) != 1 else ''}{who}")
        print(f"  references: {refs}; {args.mode} check at the default sizes, seed {args.seed}{search}")
        if skipped:
            print(f"  skipped (not derivations, not run): {_skipped_text(skipped, class_mode)}")
        print(flush=True)

    results: list = [None] * len(entries)
    jobs, job_index = [], {}
    for i, e in enumerate(entries):
        s = e["scan"]
        if s.kind == "error":
            results[i] = _error_result(e["path"], e["name"], e["student"], s.error, width)
            continue
        job_index[len(jobs)] = i
        jobs.append({"path": e["path"], "name": e["name"], "student": e["student"], "width": width,
                     "options": options, "verbose": args.verbose, "figure": bool(args.figure)})
    printer = _Printer(results, text=text and not class_mode, verbose=args.verbose)
    printer.flush()
    interrupted = terminated = False
    if jobs:
        warm_up(sympy=args.sympy or any(e["scan"].mode == "formulas" for e in entries), check=_warm_check)
        bar = _progress(len(jobs), disabled=to_stdout and not sys.stderr.isatty())
        printer.bar = bar

        def done(outcome):
            i = job_index[outcome.index]
            results[i] = _from_outcome(jobs[outcome.index], outcome, limits)
            bar.update(1)
            printer.flush()

        _, stopped = run_isolated(_work, jobs, jobs=args.jobs, limits=limits, on_done=done)
        bar.close()
        interrupted, terminated = stopped is not None, isinstance(stopped, _Terminated)
    elapsed = time.perf_counter() - t0
    finished = [r for r in results if r is not None]
    not_run = [e for e, r in zip(entries, results) if r is None]
    problems: list = []
    if args.figure:
        problems += _figures(finished, args.figure, force=args.force)
    bad = [r for r in finished if r["status"] not in ("ok", "caught")]
    if text:
        if class_mode:
            print(_student_table(finished, entries, not_run, skipped, students))
        if not class_mode or args.verbose:
            for res in bad:
                print()
                print(f"{res['name']} — {res['status']}")
                for line in res["lines"].get("details") or []:
                    print(line)
                if res.get("output_bytes"):
                    print(_output_block(res, "  ", full=True))
        print()
        print(_final_line(finished, bad, not_run, elapsed, interrupted, class_mode, students, entries))
    no_derivation = [s for s in students if not any(e["student"] == students[s] for e in entries)] if class_mode else []
    status = _exit_status(missing, problems, bad or no_derivation, interrupted, terminated)
    meta = {"seed": args.seed, "mode": args.mode, "examples": args.examples, "jobs": args.jobs or default_jobs(),
            "timeout_s": args.timeout, "memory_mb": args.memory, "elapsed_s": round(elapsed, 3),
            "interrupted": interrupted, "paths": list(args.paths)}
    all_results = finished + [_not_run_result(e, width) for e in not_run]
    problems += _write_formats(args, all_results, skipped, missing, meta, students, class_mode)
    status = _exit_status(missing, problems, bad or no_derivation, interrupted, terminated)
    doc = _json_doc(all_results, skipped, missing, meta, problems, status, students if class_mode else None)
    if args.json not in (None, "-"):
        from ..files import OutputError, write_text

        try:
            write_text(args.json, json.dumps(doc, indent=2) + "\n", fmt="json", force=args.force, make_folder=True)
        except OutputError as exc:
            problems.append(f"--json {exc}; the JSON document follows on standard output instead")
            status = _exit_status(missing, problems, bad or no_derivation, interrupted, terminated)
            doc = _json_doc(all_results, skipped, missing, meta, problems, status,
                            students if class_mode else None)
            to_stdout = True
    for p in problems:
        print(f"gradlab check: {p}", file=sys.stderr)
    if to_stdout:
        print(json.dumps(doc, indent=2))
    return status


def _skipped_text(skipped, class_mode: bool) -> str:
    """The skipped files in a line: by name, or for a class counted by file name (``helpers.py ×40``)."""
    if class_mode and len(skipped) > 6:
        counts: dict = {}
        for e in skipped:
            counts[os.path.basename(e["path"])] = counts.get(os.path.basename(e["path"]), 0) + 1
        return f"{len(skipped)} files: " + ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in counts.items())
    names = [e["name"] for e in skipped]
    return ", ".join(names[:12]) + (f", … ({len(names) - 12} more)" if len(names) > 12 else "")


def _usage(args, message: str) -> int:
    if getattr(args, "json", None) == "-":
        print(json.dumps(_error_doc(f"usage: {message}", EXIT_USAGE), indent=2))
    else:
        print(f"gradlab check: {message}", file=sys.stderr)
    return EXIT_USAGE


def _exit_status(missing, problems, failures, interrupted, terminated) -> int:
    if interrupted:
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    if missing:
        return EXIT_USAGE
    if problems:
        return EXIT_OUTPUT
    return EXIT_NOT_AS_EXPECTED if failures else EXIT_OK


def _not_run_result(entry: dict, width: int) -> dict:
    from .candidate import DerivationError

    res = _error_result(entry["path"], entry["name"], entry["student"],
                        DerivationError("not checked: the run was interrupted", entry["path"]), width)
    res["not_run"] = True
    return res


class _Printer:
    """Prints results in the order of the files, as soon as every earlier one is in (workers finish in any
    order); through the progress bar, so that the two do not garble each other."""

    def __init__(self, results: list, *, text: bool, verbose: bool):
        self.results, self.text, self.verbose, self.next, self.bar = results, text, verbose, 0, None

    def flush(self) -> None:
        while self.next < len(self.results) and self.results[self.next] is not None:
            if self.text:
                res = self.results[self.next]
                lines = [res["lines"].get("summary", "")] + list(res["lines"].get("below") or [])
                if res.get("output_bytes") and res["status"] in ("ok", "caught"):
                    lines.append(_output_block(res, " " * 10, full=self.verbose))
                self._write("\n".join(lines))
            self.next += 1

    def _write(self, text: str) -> None:
        if self.bar is not None and not getattr(self.bar, "disable", True):
            self.bar.write(text, file=sys.stdout)
        else:
            print(text, flush=True)


def _output_block(res: dict, indent: str, *, full: bool) -> str:
    """The derivation's captured output: its first lines (all of what was kept with ``full``)."""
    out = res.get("output") or ""
    n = res.get("output_bytes") or 0
    lines = out.splitlines()
    shown = lines if full else lines[:3]
    head = f"{indent}output of the derivation ({n} bytes{', trimmed' if n > len(out.encode()) else ''}):"
    body = [indent + "  | " + (l if len(l) <= 100 or full else l[:100] + " …") for l in shown]
    if len(shown) < len(lines):
        body.append(indent + f"  | … ({len(lines) - len(shown)} more lines: -v, or --json)")
    return "\n".join([head] + body)


def _progress(total: int, *, disabled: bool):
    """A tqdm progress bar on standard error (only when it is a terminal)."""
    from tqdm.auto import tqdm

    tqdm.monitor_interval = 0   # no monitor thread: workers are forked from this process
    return tqdm(total=total, unit="derivation", file=sys.stderr, leave=False, dynamic_ncols=True,
                disable=True if disabled else None, desc="gradlab check")


def _final_line(finished, bad, not_run, elapsed, interrupted, class_mode, students, entries) -> str:
    n_ok = sum(r["status"] == "ok" for r in finished)
    n_caught = sum(r["status"] == "caught" for r in finished)
    parts = ([f"{n_ok} correct"] if n_ok else []) + \
        ([f"{n_caught} planted error{'s' if n_caught != 1 else ''} caught"] if n_caught else [])
    n = len(finished)
    head = f"{n} derivation{'s' if n != 1 else ''}"
    if interrupted:
        head = f"interrupted: {n} of {len(entries)} derivations checked"
    if bad:
        names = [r["name"] for r in bad]
        shown = ", ".join(names[:10]) + (f", … ({len(names) - 10} more)" if len(names) > 10 else "")
        parts.append(f"{len(bad)} NOT as expected ({shown})")
        return f"{head}: {', '.join(parts)}. ({elapsed:.1f} s)"
    if interrupted:
        return f"{head}: {', '.join(parts) or 'none finished'}. ({elapsed:.1f} s)"
    return f"{head}: {', '.join(parts)}: all as expected. ({elapsed:.1f} s)"


def student_rows(results, students=None) -> list:
    r"""One row per student: ``student``, ``verdict`` (``all as expected``, ``no derivation``, or the
    statuses of what is not), ``wrong`` (the gradients found wrong, or the first error), ``derivations``,
    ``elapsed``. ``students`` lists students to include even without a result."""
    rows: dict = {}
    for name in students or []:
        rows[name] = []
    for r in results:
        rows.setdefault(r.get("student") or ".", []).append(r)
    out = []
    for student, rs in rows.items():
        bad = [r for r in rs if r["status"] not in ("ok", "caught")]
        if not rs:
            verdict = "no derivation"
        elif not bad:
            verdict = "all as expected"
        else:
            counts: dict = {}
            for r in bad:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            verdict = ", ".join(f"{v} {k}" for k, v in counts.items()) + f" of {len(rs)}"
        wrong: list = []
        for r in bad:
            if r["status"] == "ERROR":
                reason = getattr(r["error"], "reason", str(r["error"])).splitlines()[0]
                wrong.append("error: " + (reason[:60] + "…" if len(reason) > 61 else reason))
            else:
                names = list(r.get("found_wrong") or [])
                if not names and r.get("search") is not None:
                    ce = (r["search"].to_dict() or {}).get("counterexample") or {}
                    names = list(ce.get("wrong") or [])
                wrong.extend(n for n in names if n not in wrong)
        out.append({"student": student, "verdict": verdict, "wrong": wrong, "derivations": len(rs),
                    "elapsed": sum(r["elapsed"] for r in rs)})
    return out


def _student_table(finished, entries, not_run, skipped, students) -> str:
    rows = student_rows(finished + [{"student": e["student"], "status": "ERROR", "elapsed": 0.0, "found_wrong": [],
                                     "search": None, "error": "not checked (interrupted)"} for e in not_run],
                        list(students.values()))
    w_s = max([len(r["student"]) for r in rows] + [7])
    w_v = max([len(r["verdict"]) for r in rows] + [7])
    lines = [f"  {'student':<{w_s}}  {'verdict':<{w_v}}  {'time':>8}  wrong"]
    for r in rows:
        wrong = ", ".join(r["wrong"]) or "-"
        if r["verdict"] == "no derivation":
            reasons = sorted({e["scan"].reason for e in skipped if e["student"] == r["student"]})
            wrong = ("skipped: " + "; ".join(reasons)) if reasons else "no .py file with the contract's names"
        lines.append(f"  {r['student']:<{w_s}}  {r['verdict']:<{w_v}}  {r['elapsed']:>6.2f} s  {wrong}")
    return "\n".join(lines)


def _figures(results, folder, *, force: bool) -> list:
    """Write the figures the workers drew; return the output problems (one message each)."""
    from ..files import OutputError, unique_stems, write_bytes

    drawn = [r for r in results if isinstance(r["record"].get("figure"), dict)]
    if not drawn:
        return []
    problems = []
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        return [f"--figure {folder}: cannot make this folder ({exc.strerror or exc}); no figures written"]
    names = unique_stems([r["file"] for r in results])   # all of them: a name does not depend on who failed
    for r in drawn:
        fig = r["record"]["figure"]
        if "error" in fig:
            problems.append(f"--figure: no figure for {r['name']}: {fig['error']}")
            continue
        target = os.path.join(folder, f"{names[r['file']]}.{_FIGURE_FORMAT}")
        if fig["format"] == "dot":
            target += ".dot"
        try:
            data = base64.b64decode(fig["data"], validate=True)
            out = write_bytes(target, data, fmt=fig["format"], force=force)
            print(f"gradlab check: wrote {out}", file=sys.stderr)
        except (OutputError, ValueError) as exc:
            problems.append(f"--figure {exc}")
    return problems


def _json_doc(results, skipped, missing, meta, problems, status, students) -> dict:
    from .. import __version__

    bad = [r for r in results if r["status"] not in ("ok", "caught")]
    doc = {"generator": f"written by gradlab {__version__}", "ok": status == EXIT_OK, "exit_status": status,
           **meta, "files": [], "skipped": [{"file": e["path"], "reason": e["scan"].reason} for e in skipped],
           "missing": list(missing), "output_errors": list(problems), "not_as_expected": [r["file"] for r in bad]}
    for r in results:
        rec = {k: v for k, v in r["record"].items() if k not in ("lines", "figure")}
        rec["name"] = r["name"]
        if r.get("student") is not None:
            rec["student"] = r["student"]
        rec["output"] = r.get("output") or ""
        rec["output_bytes"] = r.get("output_bytes") or 0
        doc["files"].append(rec)
    if students is not None:
        doc["students"] = [{**row, "elapsed": round(row["elapsed"], 3)} for row in student_rows(results, students.values())]
    return _to_json(doc)


def _write_formats(args, results, skipped, missing, meta, students, class_mode) -> list:
    """Write --gradescope and --junit; return the output problems."""
    from ..files import OutputError, write_text
    from . import formats

    problems = []
    skipped_files = [(e["path"], e["scan"].reason, e["student"], e["name"]) for e in skipped]
    if args.gradescope:
        groups = ({s: [r for r in results if r.get("student") == s] for s in students.values()}
                  if "{student}" in args.gradescope and class_mode else {None: results})
        for student, rs in groups.items():
            target = args.gradescope.replace("{student}", student) if student is not None else args.gradescope
            mine = [s for s in skipped_files if student is None or s[2] == student]
            doc = formats.gradescope_results(rs, points=args.points, meta=meta, skipped=mine)
            try:
                write_text(target, json.dumps(doc, indent=2) + "\n", fmt="json", force=args.force, make_folder=True,
                           mark=False)
            except OutputError as exc:
                problems.append(f"--gradescope {exc}")
    if args.junit:
        try:
            write_text(args.junit, formats.junit_xml(results, meta=meta, skipped=skipped_files), fmt="xml",
                       force=args.force, make_folder=True)
        except OutputError as exc:
            problems.append(f"--junit {exc}")
    return problems
