r"""``gradlab check PATH...``: check derivation files (or folders of them) and say which are as expected.

For each derivation: one check at the spec's default sizes (all references), then a Hypothesis search
over sizes and values (``--examples``) that shrinks any failure to the smallest case. One line per
derivation — status, what was found, worst relative error, finite-difference method, time — then
the details of anything not as expected. The exit status is 1 when any derivation is not as
expected (a correct one that fails, a planted error that is missed, a file that breaks the
contract), 2 when no derivation was found, 0 otherwise.

Statuses: ``ok`` (correct, and the checker agrees), ``caught`` (a deliberately wrong derivation,
``EXPECT = "wrong"``, and the checker found exactly the planted parameters), ``FAIL`` (a derivation
meant to be right is wrong), ``MISSED`` (a planted error not found, or other parameters blamed),
``ERROR`` (the file breaks the contract or raises; the message names file and line).
"""
from __future__ import annotations

import json
import os
import sys
import textwrap
import time

__all__ = ["add_arguments", "run", "check_file"]


def add_arguments(parser) -> None:
    """Add ``gradlab check``'s arguments to ``parser``."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="derivation files or folders of them")
    parser.add_argument("--json", action="store_true", help="print machine-readable results (one JSON document)")
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
                        "unfolded network with the wrong parameters and time steps marked (needs gradlab.render)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the full report of every derivation")


class _Progress:
    """A one-line progress indication on stderr, only when it is a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.width = 0

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r" + text[:100].ljust(self.width))
            sys.stderr.flush()
            self.width = min(100, len(text))

    def clear(self) -> None:
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
            self.width = 0


def check_file(path: str, *, mode: str = "full", seed: int = 0, examples: int = 20, sympy: bool = False,
               sweep: bool = False, progress=None, max_T: int = 20, max_size: int = 6) -> dict:
    r"""Check one derivation file; return a dict with ``status`` (ok / caught / FAIL / MISSED / ERROR),
    ``report`` (:class:`CheckReport` or None), ``search`` (:class:`VerifyReport` or None), ``error``."""
    from .candidate import DerivationError, load_derivation
    from .core import DEFAULT_REFERENCES, check_gradient
    from .search import check_escalating, verify

    t0 = time.perf_counter()
    result = {"file": path, "status": "ERROR", "report": None, "search": None, "error": None,
              "expect": "right", "expected_wrong": [], "elapsed": 0.0}
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
            search = verify(cand, max_examples=examples, seed=seed)
            result["search"] = search
    except DerivationError as exc:
        result["error"] = exc
        result["elapsed"] = time.perf_counter() - t0
        return result
    except Exception as exc:  # noqa: BLE001 - never show a gradlab traceback to a student
        result["error"] = DerivationError(f"the checker could not run this derivation: {type(exc).__name__}: {exc}",
                                          path)
        result["elapsed"] = time.perf_counter() - t0
        return result
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
    result["elapsed"] = time.perf_counter() - t0
    return result


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


def _summary_line(res: dict, width: int) -> str:
    from .report import _e

    name = os.path.basename(res["file"])
    status = res["status"]
    t = f"{res['elapsed']:.2f} s"
    if status == "ERROR":
        err = res["error"]
        where = f":{err.line}" if getattr(err, "line", None) else ""
        return f"  {status:<7} {name + where:<{width}}  {err.reason.splitlines()[0]}"
    rep = res["report"]
    search = res["search"]
    method = "central+Richardson" if rep.method.startswith("central (h") and "Richardson" in rep.method else rep.method.split(" (")[0]
    if status == "ok":
        what = "correct" + (f" for {rep.coverage_text(brief=True)}" if rep.coverage_text() else "")
        if search is not None:
            what += f", +{search.examples} drawn" if rep.coverage_text() else f", also in {search.examples} drawn cases"
    elif status == "caught":
        what = f"{', '.join(res['found_wrong'])} wrong, as planted"
    elif status == "FAIL":
        if rep.verdict != "pass":
            what = f"{', '.join(rep.wrong) or rep.verdict} wrong" if rep.wrong else f"{rep.verdict}"
        else:
            ce = search.counterexample
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


def run(args) -> int:
    """Run ``gradlab check``; return the exit status (0 all as expected, 1 otherwise, 2 nothing to check)."""
    try:
        return _run(args)
    except BrokenPipeError:  # the output was piped into e.g. `head`, which stopped reading
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(args) -> int:
    from .candidate import find_derivations

    files = []
    missing = []
    for p in args.paths:
        if not os.path.exists(p):
            missing.append(p)
    for p in missing:
        print(f"gradlab check: {p}: no such file or folder", file=sys.stderr)
    files = find_derivations([p for p in args.paths if os.path.exists(p)])
    if not files:
        print("gradlab check: no derivation files found (a derivation is a .py file defining MODEL and "
              "gradient(params, data); see derivations/README.md)", file=sys.stderr)
        return 2
    progress = _Progress(not args.json)
    results = []
    t0 = time.perf_counter()
    width = max(len(os.path.basename(f)) for f in files) + 3
    if not args.json:
        where = ", ".join(args.paths)
        refs = "gradlab's reverse mode, HIPS autograd, finite differences" + (" and SymPy" if args.sympy else "")
        search = f"; then {args.examples} Hypothesis examples each" if args.examples > 0 else ""
        print(f"gradlab check {where}: {len(files)} derivation{'s' if len(files) != 1 else ''}")
        print(f"  references: {refs}; {args.mode} check at the default sizes, seed {args.seed}{search}")
        print()
    for i, f in enumerate(files, 1):
        def show(text, i=i):
            progress.show(f"[{i}/{len(files)}] {text}")

        res = check_file(f, mode=args.mode, seed=args.seed, examples=args.examples, sympy=args.sympy,
                         sweep=args.sweep, progress=show, max_T=args.max_T, max_size=args.max_size)
        progress.clear()
        results.append(res)
        if not args.json:
            print(_summary_line(res, width), flush=True)
            if res.get("note"):
                print(" " * 10 + "note: " + res["note"])
            for line in _warning_lines(res, " " * 10):
                print(line)
            for line in _symbolic_lines(res, " " * 10):
                print(line)
            small = res.get("sympy_small")
            if small is not None:
                sz = ", ".join(f"{k} = {v}" for k, v in small.sizes.items())
                worst = max((p.per_reference.get("sympy", 0.0) for p in small.params), default=0.0)
                verdict = ("agrees with" if not small.wrong else f"disagrees ({', '.join(small.wrong)}) with")
                print(" " * 10 + f"exact SymPy derivatives at {sz}: your gradient {verdict} them "
                      f"(worst rel err {worst:.1e})")
            if res["status"] == "caught":
                for line in _teaching_lines(res, " " * 10):
                    print(line)
            elif res["status"] == "ok" and args.verbose:
                print(res["report"].format(verbose=True, indent=" " * 10))
    elapsed = time.perf_counter() - t0
    bad = [r for r in results if r["status"] not in ("ok", "caught")]
    if args.figure:
        _figures([r for r in results if r["report"] is not None and r["report"].wrong], args.figure)
    if args.json:
        doc = {"files": [_jsonable(r) for r in results], "ok": not bad, "seed": args.seed,
               "mode": args.mode, "examples": args.examples, "elapsed_s": round(elapsed, 3)}
        print(json.dumps(_finite(doc), indent=2))
        return 1 if bad else 0
    for res in bad:
        print()
        print(f"{os.path.basename(res['file'])} — {res['status']}")
        if res["status"] == "ERROR":
            print("  " + str(res["error"]).replace("\n", "\n  "))
            continue
        rep, search = res["report"], res["search"]
        if res.get("title"):
            print(f"  {res['title']}")
        if res["status"] == "MISSED":
            print(f"  this derivation says EXPECT = \"wrong\" with WRONG = {tuple(res['expected_wrong'])}, "
                  f"but the checker found {tuple(res.get('found_wrong') or ()) or 'nothing wrong'}.")
        if rep.verdict != "pass" or search is None or search.ok:
            print(rep.format(verbose=True, indent="  "))
            if search is not None and not search.ok:
                print(search.format(indent="  ", compact=True))
        elif search is not None and not search.ok:
            print(f"  right at the default sizes, but the search found a case where it is wrong:")
            print(search.format(indent="  "))
    n_ok = sum(r["status"] == "ok" for r in results)
    n_caught = sum(r["status"] == "caught" for r in results)
    print()
    parts = ([f"{n_ok} correct"] if n_ok else []) + \
        ([f"{n_caught} planted error{'s' if n_caught != 1 else ''} caught"] if n_caught else [])
    if bad:
        parts.append(f"{len(bad)} NOT as expected ({', '.join(os.path.basename(r['file']) for r in bad)})")
        print(f"{len(results)} derivation{'s' if len(results) != 1 else ''}: {', '.join(parts)}. ({elapsed:.1f} s)")
        return 1
    print(f"{len(results)} derivation{'s' if len(results) != 1 else ''}: {', '.join(parts)}: all as expected. ({elapsed:.1f} s)")
    return 0


def _figures(bad, folder) -> None:
    try:
        from .. import render
        figure = getattr(render, "failure_figure", None)
    except Exception:  # noqa: BLE001 - the renderer is optional
        figure = None
    if figure is None:
        print(f"gradlab check: --figure: this gradlab has no failure figures yet (gradlab.render.failure_figure); "
              f"nothing written to {folder}", file=sys.stderr)
        return
    os.makedirs(folder, exist_ok=True)
    for res in bad:
        if res["report"] is None:
            continue
        stem = os.path.splitext(os.path.basename(res["file"]))[0]
        try:
            out = figure(res["report"], os.path.join(folder, stem))
            print(f"gradlab check: wrote {out}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - a figure is a bonus; the check's verdict stands
            print(f"gradlab check: --figure: no figure for {stem}: {exc}", file=sys.stderr)


def _finite(obj):
    """Replace NaN and infinities (not valid JSON) by None, recursively."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _jsonable(res: dict) -> dict:
    out = {"file": res["file"], "status": res["status"], "expect": res["expect"],
           "expected_wrong": res["expected_wrong"], "found_wrong": res.get("found_wrong"),
           "elapsed_s": round(res["elapsed"], 4)}
    err = res["error"]
    if err is not None:
        out["error"] = {"message": getattr(err, "reason", str(err)), "file": getattr(err, "path", None),
                        "line": getattr(err, "line", None), "hint": getattr(err, "hint", None)}
    if res["report"] is not None:
        out["report"] = res["report"].to_dict()
    if res["search"] is not None:
        out["search"] = res["search"].to_dict()
    return out
