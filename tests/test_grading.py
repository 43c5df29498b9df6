"""`gradlab check` as a class's grader: student code is untrusted. Each derivation runs in its own worker
process with limits; a hostile one (endless loop, 10 GB allocation, sys.exit, os._exit, a megabyte of
output, changed inputs, a patched NumPy, os.chdir, another student's helper module, an expansion bomb,
huge sizes, a file that is not UTF-8) is that derivation's result and changes no other verdict; exit
statuses mean what they say; --json is JSON in every case; Ctrl-C stops cleanly; a class of 200 is graded
in parallel into valid Gradescope and JUnit files.

The hostile corpus is in tests/corpus/hostile/ (see its README.md). Most tests here run the real command
as a subprocess: the behaviour under test is about processes and exit statuses.
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from class_generator import KINDS, make_class

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "corpus" / "hostile"
SCHEMAS = ROOT / "tests" / "schemas"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="limits and /proc are Linux's")

GOOD = '''r"""Feedforward backprop: δ = W_2ᵀ(y − d) ⊙ (1 − h²)."""
import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    h = np.tanh(W_1 @ x + b_1)
    e = W_2 @ h + b_2 - d
    a = (W_2.T @ e) * {dphi}
    return {{"W_1": np.outer(a, x), "b_1": a, "W_2": np.outer(e, h), "b_2": e}}
'''
RIGHT = GOOD.format(dphi="(1 - h * h)")
WRONG = GOOD.format(dphi="1.0")     # the tanh derivative left out: W_1 and b_1 wrong


def gradlab(*args, cwd=None, timeout=600, user=None):
    """Run the gradlab command line; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "gradlab.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, user=user)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- the hostile corpus, once
@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """One run of the whole hostile corpus (copied, so that nothing it does touches the repository), with
    every output: text on stdout, --json FILE, --junit, --gradescope and --figure, relative to the cwd."""
    work = tmp_path_factory.mktemp("hostile_run")
    shutil.copytree(HOSTILE, work / "hostile", ignore=shutil.ignore_patterns("__pycache__"))
    proc = gradlab("check", "hostile", "--examples", "1", "--timeout", "12", "--memory", "512", "--jobs", "2",
                   "--json", "run.json", "--junit", "junit.xml", "--gradescope", "results.json", "--figure", "figs",
                   cwd=work)
    doc = json.loads((work / "run.json").read_text())
    return proc, doc, {Path(f["file"]).name if "students" not in f["file"] else f["name"]: f for f in doc["files"]}, work


HOSTILE_EXPECTED = {
    # file: (status, phrase in the error message — or a tuple of phrases, one of which — or None)
    # where it was when the time limit stopped it: the loop is lines 10-11, and the sample may land on either
    "infinite_loop.py": ("ERROR", ("line 10 of gradient()", "line 11 of gradient()")),
    "allocates_10gb.py": ("ERROR", "MemoryError"),
    "exits_at_import.py": ("ERROR", "called sys.exit(0) in main()"),
    "exits_in_gradient.py": ("ERROR", "called sys.exit(0) in gradient()"),
    "os_exit.py": ("ERROR", "os._exit()"),
    # the symbolic check measures the expansion before making it and compares this formula numerically only:
    # W_s is wrong (FAIL), found at once, with no time limit needed
    "expansion_bomb.py": ("FAIL", None),
    "huge_sizes.py": ("ERROR", None),
    "not_utf8.py": ("ERROR", "is not UTF-8"),
    "not_python.py": ("ERROR", "SyntaxError"),
    "patches_tanh.py": ("ERROR", "replaces numpy.tanh"),
    "prints_1mb.py": ("ok", None),
    "mutates_inputs.py": ("ok", None),
    "changes_directory.py": ("ok", None),
    "zz_correct_feedforward.py": ("ok", None),
    "zz_planted_missing_tanh_prime.py": ("caught", None),
    "students/alice/solution.py": ("ok", None),
    "students/bob/solution.py": ("FAIL", None),
}


@linux_only
def test_each_hostile_candidate_is_reported_as_its_own_result_and_the_run_completes(hostile):
    proc, doc, by_name, _ = hostile
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert set(by_name) == set(HOSTILE_EXPECTED)
    for name, (status, phrase) in HOSTILE_EXPECTED.items():
        got = by_name[name]
        assert got["status"] == status, (name, got.get("error"))
        if phrase is not None:
            phrases = (phrase,) if isinstance(phrase, str) else phrase
            assert any(p in got["error"]["message"] for p in phrases), (name, got["error"])
    assert "Traceback" not in proc.stdout + proc.stderr
    assert doc["exit_status"] == 1 and doc["ok"] is False


@linux_only
def test_hostile_candidates_change_no_other_verdict(hostile):
    _, _, by_name, _ = hostile
    # checked after a NumPy patch, an os.chdir and everything else, in any order: the plain verdicts
    assert by_name["zz_correct_feedforward.py"]["status"] == "ok"
    assert by_name["zz_planted_missing_tanh_prime.py"]["found_wrong"] == ["W_1", "b_1"]
    # two students, each with a helpers.py of their own: each got their own helper
    assert by_name["students/alice/solution.py"]["status"] == "ok"
    assert by_name["students/bob/solution.py"]["found_wrong"] == ["W_1", "b_1"]


@linux_only
def test_a_folder_with_helper_scripts_checks_only_the_derivations(hostile):
    _, doc, by_name, work = hostile
    skipped = {Path(s["file"]).name for s in doc["skipped"]}
    assert {"train.py", "utils.py", "helpers.py"} <= skipped
    assert not any(Path(f["file"]).name in ("train.py", "utils.py", "helpers.py") for f in doc["files"])
    assert not (work / "hostile" / "TRAINED_AT_IMPORT").exists()   # train.py was never run
    reason = next(s["reason"] for s in doc["skipped"] if s["file"].endswith("utils.py"))
    assert "assigns no MODEL" in reason


@linux_only
def test_what_a_candidate_prints_is_captured_at_the_file_descriptor_level_and_trimmed(hostile):
    _, _, by_name, _ = hostile
    got = by_name["prints_1mb.py"]
    assert got["output_bytes"] > 1 << 20
    assert len(got["output"]) < 10_000 and "bytes of output left out" in got["output"]
    assert "debug debug" in got["output"] and "h = array(" in got["output"]   # print() and os.write(2, …)


@linux_only
def test_a_candidate_that_changes_its_inputs_keeps_its_verdict_and_is_told(hostile):
    _, _, by_name, _ = hostile
    got = by_name["mutates_inputs.py"]
    assert got["status"] == "ok"
    assert any("changed params['W_s'] in place" in n for n in got["notes"])
    assert any("changed data['xs'] in place" in n for n in got["notes"])


@linux_only
def test_figures_go_where_the_grader_asked_although_a_candidate_changed_directory(hostile):
    _, _, _, work = hostile
    figures = sorted(p.name for p in (work / "figs").iterdir())
    assert "zz_planted_missing_tanh_prime.svg" in figures
    assert "bob_solution.svg" in figures                  # named by its path: never another solution.py's figure
    assert not (Path("/") / "figs").exists()


@linux_only
def test_no_hypothesis_folder_is_left_in_the_students_folder_or_the_working_directory(hostile):
    _, _, _, work = hostile
    assert not list(work.rglob(".hypothesis"))


# --------------------------------------------------------------------------------- the formats
#: Gradescope's results.json fields, from "Autograder Specifications",
#: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (output format, test case status,
#: controlling visibility, output string formatting): name -> allowed type or values.
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
TEXT_FORMATS = {"text", "html", "simple_format", "md", "ansi"}
GRADESCOPE_TOP = {"score": (int, float), "execution_time": (int, float), "output": str, "output_format": TEXT_FORMATS,
                  "test_output_format": TEXT_FORMATS, "test_name_format": TEXT_FORMATS, "visibility": VISIBILITY,
                  "stdout_visibility": VISIBILITY, "extra_data": dict, "tests": list, "leaderboard": list}
GRADESCOPE_TEST = {"score": (int, float), "max_score": (int, float), "status": {"passed", "failed"}, "name": str,
                   "name_format": TEXT_FORMATS, "number": str, "output": str, "output_format": TEXT_FORMATS,
                   "tags": list, "visibility": VISIBILITY, "extra_data": dict}


def _field_ok(value, allowed) -> bool:
    if isinstance(allowed, set):
        return value in allowed
    return isinstance(value, allowed) and not isinstance(value, bool)


def assert_gradescope_results(doc: dict) -> None:
    """``doc`` uses only the published fields, with their types and values; the score is given at the top
    or on every test, never above the maximum."""
    assert isinstance(doc, dict)
    for key, value in doc.items():
        assert key in GRADESCOPE_TOP, f"results.json has {key!r}, which Gradescope does not define"
        assert _field_ok(value, GRADESCOPE_TOP[key]), (key, value)
    tests = doc.get("tests", [])
    assert "score" in doc or (tests and all("score" in t for t in tests))
    for t in tests:
        for key, value in t.items():
            assert key in GRADESCOPE_TEST, f"a test has {key!r}, which Gradescope does not define"
            assert _field_ok(value, GRADESCOPE_TEST[key]), (key, value)
        assert all(isinstance(tag, str) for tag in t.get("tags", []))
        assert 0 <= t["score"] <= t["max_score"]
        assert (t["status"] == "passed") == (t["score"] == t["max_score"])
    assert doc["score"] == pytest.approx(sum(t["score"] for t in tests))


def assert_junit(path: Path) -> ET.Element:
    """``path`` is well-formed XML that tests/schemas/junit.xsd accepts, and its counts add up."""
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd")).validate(str(path))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        counts = {"tests": len(cases), "failures": sum(c.find("failure") is not None for c in cases),
                  "errors": sum(c.find("error") is not None for c in cases),
                  "skipped": sum(c.find("skipped") is not None for c in cases)}
        for key, n in counts.items():
            assert int(suite.get(key)) == n, (suite.get("name"), key)
            totals[key] += n
        assert float(suite.get("time")) == pytest.approx(sum(float(c.get("time")) for c in cases), abs=0.01)
    for key, n in totals.items():
        assert int(root.get(key)) == n
    return root


@linux_only
def test_gradescope_results_of_the_hostile_run_use_only_the_published_fields(hostile):
    _, doc, _, work = hostile
    results = json.loads((work / "results.json").read_text())
    assert_gradescope_results(results)
    assert len(results["tests"]) == len(doc["files"])
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["infinite_loop.py"]["status"] == "failed" and "time limit" in by_name["infinite_loop.py"]["output"]
    assert by_name["zz_planted_missing_tanh_prime.py"]["status"] == "passed"
    assert "debug debug" in by_name["prints_1mb.py"]["output"]   # what the student printed, trimmed
    assert results["score"] == sum(f["status"] in ("ok", "caught") for f in doc["files"])


@linux_only
def test_junit_xml_of_the_hostile_run_matches_the_schema_even_with_control_characters_printed(hostile):
    _, doc, _, work = hostile
    root = assert_junit(work / "junit.xml")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["infinite_loop.py"].find("error") is not None
    assert cases["students/bob/solution.py"].find("failure").get("type") == "FAIL"
    assert cases["train.py"].find("skipped") is not None
    out = cases["prints_1mb.py"].find("system-out").text
    assert "\\x1b[1;31mcolour" in out and "\\x00" in out      # written as text, the XML stays valid


# ------------------------------------------------------------------------------ exit statuses, JSON
def test_a_path_that_does_not_exist_exits_non_zero(tmp_path):
    proc = gradlab("check", tmp_path / "nonexistent")
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
    good = write(tmp_path, "good.py", RIGHT)
    proc = gradlab("check", good, tmp_path / "nonexistent", "--examples", "0")
    assert proc.returncode == 2 and "  ok      good.py" in proc.stdout   # the rest is still checked


JSON_CASES = {
    "missing path": (lambda t: [t / "nonexistent"], 2),
    "empty folder": (lambda t: [t / "empty"], 2),
    "bad option value": (lambda t: [t / "good.py", "--jobs", "0"], 2),
    "unknown option": (lambda t: [t / "good.py", "--frobnicate"], 2),
    "printing derivation": (lambda t: [t / "chatty.py"], 0),
    "failing derivation": (lambda t: [t / "wrong.py"], 1),
    "json flag before the folder": (lambda t: ["--json", t / "empty"], 2),
}


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_json_output_is_only_json_in_every_case(tmp_path, case):
    (tmp_path / "empty").mkdir()
    write(tmp_path, "good.py", RIGHT)
    write(tmp_path, "wrong.py", WRONG)
    write(tmp_path, "chatty.py", RIGHT.replace("    return {", "    print('{not json');  print(1/3)\n    return {"))
    args, status = JSON_CASES[case]
    argv = [*args(tmp_path), "--examples", "0"]
    if "--json" not in argv:
        argv.append("--json")
    proc = gradlab("check", *argv)
    doc = json.loads(proc.stdout)          # the whole of standard output is one JSON document
    assert proc.returncode == status, proc.stderr
    assert doc["exit_status"] == status and doc["ok"] is (status == 0)
    if status == 2:
        assert doc["error"]["message"] or doc["missing"]


def test_a_candidate_that_exits_with_status_0_is_never_a_success(tmp_path):
    write(tmp_path, "quits.py", RIGHT.replace("    return {", "    raise SystemExit(0)\n    return {"))
    write(tmp_path, "ends.py", RIGHT.replace("    return {", "    import os; os._exit(0)\n    return {"))
    proc = gradlab("check", tmp_path, "--examples", "0", "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert [f["status"] for f in doc["files"]] == ["ERROR", "ERROR"]


# ------------------------------------------------------------------------------------ Ctrl-C
def _interactive_signals():
    # As started from a terminal. A job that a non-interactive shell runs in the background (`make test &`,
    # nohup) inherits SIGINT ignored, and a program rightly keeps an ignored SIGINT ignored; the Ctrl-C
    # test then waited for an interrupt that could never come.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv, cwd):
    return subprocess.Popen([sys.executable, "-m", "gradlab.cli", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True,
                            preexec_fn=_interactive_signals)


def _wait_for_line(proc, prefix: str, limit: float = 300.0) -> list:
    """Read standard output until a line starts with ``prefix``; return the lines read."""
    timer = threading.Timer(limit, proc.kill)
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(prefix):
                return lines
    finally:
        timer.cancel()
    raise AssertionError(f"no line starting with {prefix!r}: {''.join(lines)}{proc.stderr.read()}")


def _processes_mentioning(text: str) -> list:
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as fh:
                if text.encode() in fh.read():
                    found.append(cmdline)
        except OSError:
            continue
    return found


def _folder_with_a_hang(tmp_path) -> Path:
    folder = tmp_path / "class"
    write(folder, "a_first.py", RIGHT)
    write(folder, "b_hangs.py", RIGHT.replace("    return {", "    import pathlib\n    pathlib.Path(__file__)"
                                              ".with_name('HANGING').touch()\n    while True:\n        pass\n"
                                              "    return {"))
    write(folder, "c_last.py", RIGHT)
    return folder


def _wait_for_file(path: Path, proc, limit: float = 300.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), "the hanging derivation never started"


@linux_only
def test_ctrl_c_prints_the_summary_of_what_finished_and_exits_130_leaving_no_worker(tmp_path):
    folder = _folder_with_a_hang(tmp_path)
    proc = _start(["check", folder, "--jobs", "1", "--timeout", "300", "--examples", "0"], cwd=tmp_path)
    _wait_for_line(proc, "  ok      a_first.py")
    _wait_for_file(folder / "HANGING", proc)          # b_hangs.py is now running in its worker
    os.killpg(proc.pid, signal.SIGINT)                # what a terminal sends to the foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: 1 of 3 derivations checked" in out
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in err
    assert not _processes_mentioning(str(folder))     # every worker was stopped
    assert not list(tmp_path.rglob(".hypothesis"))


@linux_only
def test_sigterm_with_json_still_writes_the_json_of_what_finished_and_exits_143(tmp_path):
    folder = _folder_with_a_hang(tmp_path)
    proc = _start(["check", folder, "--jobs", "1", "--timeout", "300", "--examples", "0", "--json", "-",
                   "--gradescope", tmp_path / "results.json"], cwd=tmp_path)
    _wait_for_file(folder / "HANGING", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    doc = json.loads(out)
    assert doc["interrupted"] is True and doc["exit_status"] == 143
    assert [f["status"] for f in doc["files"]][0] == "ok"
    results = json.loads((tmp_path / "results.json").read_text())
    assert_gradescope_results(results)
    assert [t["status"] for t in results["tests"]] == ["passed", "failed", "failed"]   # not checked: not passed
    assert not _processes_mentioning(str(folder))


# ------------------------------------------------------------------------------- class scale
@linux_only
def test_a_class_of_200_submissions_is_graded_with_two_jobs_into_a_valid_gradescope_results_json(tmp_path):
    students = make_class(tmp_path / "submissions", 200)
    folders = [s + "/" for s, _ in students]
    out = tmp_path / "out"
    proc = gradlab("check", *folders, "--jobs", "2", "--examples", "1", "--gradescope", out / "results.json",
                   "--junit", out / "junit.xml", "--json", out / "class.json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]                 # some students have mistakes
    doc = json.loads((out / "class.json").read_text())
    rows = {r["student"]: r for r in doc["students"]}
    assert len(rows) == 200
    for folder, kind in students:
        status, wrong = KINDS[kind]
        row = rows[os.path.basename(folder)]
        if status is None:
            assert row["verdict"] == "no derivation"
        elif status == "ok":
            assert row["verdict"] == "all as expected", (folder, row)
        else:
            assert row["verdict"].startswith(f"1 {status}"), (folder, row)
            if wrong:
                assert sorted(row["wrong"]) == sorted(wrong), (folder, row)
    assert not glob.glob(str(tmp_path / "submissions" / "*" / "TRAINED"))   # helper scripts never ran
    results = json.loads((out / "results.json").read_text())
    assert_gradescope_results(results)
    n_derivations = sum(KINDS[k][0] is not None for _, k in students)
    assert len(results["tests"]) == n_derivations
    assert results["score"] == sum(KINDS[k][0] == "ok" for _, k in students)
    assert_junit(out / "junit.xml")
    table = proc.stdout
    assert "student000  all as expected" in table and "student010  1 FAIL of 1" in table


def test_gradescope_can_write_one_results_file_per_student(tmp_path):
    write(tmp_path / "alice", "solution.py", RIGHT)
    write(tmp_path / "bob", "solution.py", WRONG)
    proc = gradlab("check", tmp_path / "alice", tmp_path / "bob", "--examples", "0",
                   "--gradescope", tmp_path / "out" / "{student}" / "results.json")
    assert proc.returncode == 1
    alice = json.loads((tmp_path / "out" / "alice" / "results.json").read_text())
    bob = json.loads((tmp_path / "out" / "bob" / "results.json").read_text())
    for doc in (alice, bob):
        assert_gradescope_results(doc)
    assert (alice["score"], bob["score"]) == (1.0, 0.0)
    assert bob["tests"][0]["name"] == "solution.py" and "W_1, b_1" in bob["tests"][0]["output"]


# ------------------------------------------------------------------------ the runner itself
def _sleeper_and_hang(item):
    import subprocess as sp

    child = sp.Popen(["sleep", "300"])
    with open(item, "w") as fh:
        fh.write(str(child.pid))
    while True:
        pass


def _is_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


@linux_only
def test_a_worker_and_every_process_it_started_are_killed_at_the_time_limit(tmp_path):
    from gradlab.check.runner import Limits, run_isolated

    pid_file = tmp_path / "pid"
    (outcome,), stopped = run_isolated(_sleeper_and_hang, [str(pid_file)], jobs=1, limits=Limits(timeout=2))
    assert stopped is None and outcome.failure == "timeout" and "time limit of 2 s" in outcome.message
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not _is_gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _is_gone(grandchild)


def _allocate(item):
    import numpy as np

    return {"n": float(np.ones(item).sum())}


@linux_only
def test_the_memory_limit_is_a_memory_error_inside_the_worker_not_a_dead_grader():
    from gradlab.check.runner import Limits, run_isolated

    small, huge = 1000, 4 * 1024**3 // 8           # 8 KB, and 4 GiB against a 256 MiB limit
    outcomes, _ = run_isolated(_work_or_error, [small, huge], jobs=2, limits=Limits(memory_mb=256))
    assert outcomes[0].value == {"n": 1000.0}
    assert "MemoryError" in outcomes[1].value["error"]


def _work_or_error(item):
    try:
        return _allocate(item)
    except MemoryError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _read_other_pipes(item):
    import os as _os

    return {"fds": sorted(int(fd) for fd in _os.listdir("/proc/self/fd"))}


@linux_only
def test_a_worker_holds_no_descriptor_but_its_own_two_pipes_and_dev_null():
    from gradlab.check.runner import run_isolated

    outcomes, _ = run_isolated(_read_other_pipes, range(4), jobs=4)
    for o in outcomes:
        # 0 = /dev/null, 1 and 2 = the output pipe, one result pipe, and the listing's own descriptor
        assert len(o.value["fds"]) <= 5, o.value


# ------------------------------------------------------------------- what is a derivation (no running)
SCAN_CASES = {
    "model_and_def_gradient": ("import gradlab\nMODEL = gradlab.specs.elman()\ndef gradient(p, d):\n    return {}\n",
                               "derivation", "gradient"),
    "gradient_imported": ("import gradlab\nfrom mine import gradient\nMODEL = gradlab.specs.elman()\n",
                          "derivation", "gradient"),
    "inside_module_level_if": ("import gradlab\nif True:\n    MODEL = gradlab.specs.elman()\n"
                               "try:\n    gradient = lambda p, d: {}\nexcept Exception:\n    pass\n",
                               "derivation", "gradient"),
    "formulas": ('MODEL = 1\nGRADIENT = {"W_s": "s_1"}\n', "derivation", "formulas"),
    "layer_mode": ("LAYER = object()\n", "derivation", "layer"),
    "layers_mode": ("LAYERS = [object()]\n", "derivation", "layer"),
    "gradient_only_inside_a_function": ("MODEL = 1\ndef helper():\n    def gradient(p, d):\n        return {}\n",
                                        "skip", None),
    "gradient_as_a_method": ("MODEL = 1\nclass C:\n    def gradient(self, p, d):\n        return {}\n", "skip", None),
    "model_in_a_string": ('"""MODEL = 1 and def gradient"""\nx = 1\n', "skip", None),
    "syntax_error": ("MODEL = (\n", "error", None),
}


@pytest.mark.parametrize("case", sorted(SCAN_CASES))
def test_a_derivation_is_recognised_from_its_syntax_tree_without_running_it(tmp_path, case):
    from gradlab.check.candidate import scan_file

    text, kind, mode = SCAN_CASES[case]
    path = write(tmp_path, f"{case}.py", "import pathlib; pathlib.Path('RAN').touch()\n" + text)
    found = scan_file(str(path))
    assert (found.kind, found.mode) == (kind, mode), found
    assert not (tmp_path / "RAN").exists() and not Path("RAN").exists()


def test_checking_in_process_puts_back_numpy_the_directory_and_the_students_modules(tmp_path):
    import numpy as np

    from gradlab.check.cli import check_contained

    real_tanh, cwd = np.tanh, os.getcwd()
    write(tmp_path / "s", "helpers.py", "def dphi(h):\n    return 1 - h * h\n")
    path = write(tmp_path / "s", "solution.py", "import os, numpy as np\nfrom helpers import dphi\n"
                 "np.tanh = lambda z: z\nos.chdir(os.sep)\n" + RIGHT)
    res = check_contained(str(path), examples=0)
    assert res["status"] == "ERROR" and "replaces numpy.tanh" in res["error"].reason
    assert np.tanh is real_tanh and os.getcwd() == cwd and "helpers" not in sys.modules
    after = check_contained(str(write(tmp_path, "after.py", RIGHT)), examples=2)
    assert after["status"] == "ok", after["report"].format()     # the next derivation's references are intact
