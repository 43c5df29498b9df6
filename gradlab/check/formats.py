r"""Check results in the formats graders already read: Gradescope's autograder ``results.json`` and
JUnit XML.

Both take the result dicts of ``gradlab check`` (the keys :func:`gradlab.check.cli.check_file` returns:
``status``, ``expect``, ``expected_wrong``, ``found_wrong``, ``elapsed``, ``error``, ``report``,
``search``; plus ``name``, ``student`` and the derivation's captured ``output`` where the runner adds
them). A derivation is one test: it passes when it is as expected (``ok`` or ``caught``).

**Gradescope** (:func:`gradescope_results`), following the field list of Gradescope's *Autograder
Specifications* (https://gradescope-autograders.readthedocs.io/en/latest/specs/): top level ``score``
(the sum of the tests' scores), ``execution_time`` (seconds), ``output``, ``output_format``,
``stdout_visibility``, ``extra_data`` and ``tests``; each test ``score``, ``max_score``, ``status``
(``"passed"``/``"failed"``), ``name``, ``output``, ``output_format``, ``tags``, ``visibility`` and
``extra_data``. The specification has no top-level maximum (the assignment's points are set in
Gradescope), so the run's maximum goes into ``extra_data.max_score``.

**JUnit XML** (:func:`junit_xml`): ``<testsuites>`` with one ``<testsuite>`` per student (the folder
given on the command line) holding ``<properties>``, one ``<testcase>`` per derivation (with
``<failure>`` for FAIL/MISSED, ``<error>`` for ERROR, ``<skipped>`` for a file that is not a
derivation, and the derivation's output in ``<system-out>``), as the Apache Ant JUnit schema and the
Jenkins/Surefire ``junit-10.xsd`` describe it and CI systems (Jenkins, GitLab, GitHub test reporters)
read it. Characters XML 1.0 cannot hold (control characters a derivation may print) are written as
``\xNN``.
"""
from __future__ import annotations

import math
import os
import re
import socket
import time
import xml.etree.ElementTree as ET

__all__ = ["gradescope_results", "junit_xml", "test_output", "GRADESCOPE_SPEC", "PASSING"]

GRADESCOPE_SPEC = "https://gradescope-autograders.readthedocs.io/en/latest/specs/"
PASSING = ("ok", "caught")
_OUTPUT_LIMIT = 20000      # characters of one test's output (Gradescope shows it in a <pre>)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _reason(res: dict) -> str:
    err = res.get("error")
    if err is None:
        return ""
    return str(getattr(err, "reason", err)).splitlines()[0]


def _title(res: dict) -> str:
    """One line that says what the check found."""
    status = res["status"]
    if status == "ok":
        return "correct: your gradient agrees with every reference"
    if status == "caught":
        return f"planted error found: {', '.join(res.get('found_wrong') or [])} wrong, as planted"
    if status == "ERROR":
        return f"error: {_reason(res)}"
    if status == "MISSED":
        return (f"planted error in {', '.join(res.get('expected_wrong') or [])} not found"
                + (f"; found {', '.join(res['found_wrong'])}" if res.get("found_wrong") else ""))
    wrong = list(res.get("found_wrong") or [])
    return f"wrong: {', '.join(wrong)}" if wrong else "wrong (see the report)"


def test_output(res: dict, limit: int = _OUTPUT_LIMIT) -> str:
    r"""The text shown for one derivation: its summary line and explanations, the details of anything not
    as expected, and what the derivation printed (trimmed); at most ``limit`` characters."""
    lines = res.get("lines") or {}
    parts = [_title(res)]
    body = [lines.get("summary", "").strip()] + [l.strip() for l in lines.get("below") or []]
    parts.append("\n".join(l for l in body if l))
    if res["status"] not in PASSING and lines.get("details"):
        parts.append("\n".join(lines["details"]))
    elif res["status"] not in PASSING and res.get("error") is not None:
        parts.append(str(res["error"]))
    for note in res.get("notes") or []:
        parts.append(f"note: {note}")
    if res.get("output_bytes"):
        parts.append(f"what the derivation printed ({res['output_bytes']} bytes):\n{res.get('output', '')}")
    text = "\n\n".join(p for p in parts if p)
    return text if len(text) <= limit else text[:limit] + f"\n[… {len(text) - limit} more characters left out]"


def _test_name(res: dict, with_student: bool) -> str:
    name = res.get("name") or os.path.basename(res["file"])
    if not with_student and res.get("student") and name.startswith(f"{res['student']}/"):
        name = name[len(res["student"]) + 1:]
    return name


def gradescope_results(results, *, points: float = 1.0, visibility: str = "visible", meta: dict | None = None,
                       skipped=()) -> dict:
    r"""Return Gradescope's ``results.json`` document for ``results``: one test per derivation, worth
    ``points``, passed when the derivation is as expected (see the module docstring for the fields)."""
    if visibility not in ("visible", "hidden", "after_due_date", "after_published"):
        raise ValueError(f"gradescope_results: visibility must be visible, hidden, after_due_date or "
                         f"after_published, got {visibility!r}")
    from .. import __version__

    meta = dict(meta or {})
    students = {r.get("student") for r in results}
    tests = []
    for res in results:
        passed = res["status"] in PASSING
        tests.append({
            "name": _test_name(res, len(students) > 1),
            "score": float(points) if passed else 0.0,
            "max_score": float(points),
            "status": "passed" if passed else "failed",
            "output": test_output(res),
            "output_format": "text",
            "tags": ["gradlab", res["status"]],
            "visibility": visibility,
            "extra_data": {"file": res["file"], "status": res["status"], "expect": res.get("expect"),
                           "expected_wrong": list(res.get("expected_wrong") or []),
                           "found_wrong": list(res.get("found_wrong") or []),
                           "elapsed_s": round(float(res.get("elapsed") or 0.0), 3)},
        })
    n_pass = sum(t["status"] == "passed" for t in tests)
    lines = [f"gradlab check: {n_pass} of {len(tests)} derivation{'s' if len(tests) != 1 else ''} as expected."]
    if meta.get("interrupted"):
        lines.append("The run was interrupted: derivations not checked count as failed.")
    if not tests:
        lines.append("No derivation was found in the submission (a .py file with MODEL and gradient(params, data), "
                     "or GRADIENT, or LAYER/LAYERS).")
    if skipped:
        lines.append("Not derivations, not run: " + ", ".join(s[3] if len(s) > 3 else os.path.basename(s[0])
                                                               for s in skipped) + ".")
    return {
        "score": float(sum(t["score"] for t in tests)),
        "execution_time": int(math.ceil(float(meta.get("elapsed_s") or sum(r.get("elapsed") or 0 for r in results)))),
        "output": "\n".join(lines),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "extra_data": {"generator": f"written by gradlab {__version__}", "max_score": float(points) * len(tests),
                       "seed": meta.get("seed"), "mode": meta.get("mode"), "examples": meta.get("examples")},
        "tests": tests,
    }


def _xml_text(text) -> str:
    """``text`` with the characters XML 1.0 cannot hold written as ``\\xNN``."""
    return _XML_BAD.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        str(text))


def junit_xml(results, *, meta: dict | None = None, skipped=(), suite: str = "gradlab check") -> str:
    r"""Return JUnit XML for ``results``: one ``<testsuite>`` per student, one ``<testcase>`` per derivation
    (``classname`` the student, ``name`` the file), files that are not derivations as ``<skipped>`` cases."""
    from .. import __version__

    meta = dict(meta or {})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    host = socket.gethostname() or "localhost"
    groups: dict = {}
    for res in results:
        groups.setdefault(res.get("student") or ".", []).append(("result", res))
    for path, reason, *more in skipped:   # (path, reason[, student[, name]])
        who = more[0] if more else os.path.basename(os.path.dirname(os.path.abspath(path))) or "."
        groups.setdefault(who, []).append(("skipped", (path, reason)))
    root = ET.Element("testsuites", name=suite)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for i, (student, items) in enumerate(groups.items()):
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
        ts = ET.SubElement(root, "testsuite", name=_xml_text(student))
        props = ET.SubElement(ts, "properties")
        for key in ("seed", "mode", "examples", "timeout_s", "memory_mb", "interrupted"):
            if key in meta:
                ET.SubElement(props, "property", name=key, value=_xml_text(meta[key]))
        ET.SubElement(props, "property", name="generator", value=f"gradlab {__version__}")
        for kind, item in items:
            counts["tests"] += 1
            if kind == "skipped":
                path, reason = item
                tc = ET.SubElement(ts, "testcase", name=_xml_text(os.path.basename(path)),
                                   classname=_xml_text(student), time="0.000")
                ET.SubElement(tc, "skipped", message=_xml_text(reason))
                counts["skipped"] += 1
                continue
            res = item
            elapsed = max(0.0, float(res.get("elapsed") or 0.0))
            counts["time"] += elapsed
            tc = ET.SubElement(ts, "testcase", name=_xml_text(_test_name(res, False)), classname=_xml_text(student),
                               time=f"{elapsed:.3f}")
            if res["status"] == "ERROR":
                counts["errors"] += 1
                el = ET.SubElement(tc, "error", message=_xml_text(_title(res)), type="ERROR")
                el.text = _xml_text(test_output(res))
            elif res["status"] not in PASSING:
                counts["failures"] += 1
                el = ET.SubElement(tc, "failure", message=_xml_text(_title(res)), type=res["status"])
                el.text = _xml_text(test_output(res))
            out = ET.SubElement(tc, "system-out")
            out.text = _xml_text(res.get("output") or "")
        for key, value in (("tests", counts["tests"]), ("failures", counts["failures"]), ("errors", counts["errors"]),
                           ("skipped", counts["skipped"])):
            ts.set(key, str(value))
        ts.set("time", f"{counts['time']:.3f}")
        ts.set("timestamp", stamp)
        ts.set("hostname", _xml_text(host))
        ts.set("id", str(i))
        for k in totals:
            totals[k] += counts[k]
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    root.set("time", f"{float(meta.get('elapsed_s') or totals['time']):.3f}")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
