r"""Grading a class: submissions per minute with ``--jobs 1`` and ``--jobs 2``, and what isolating each
derivation in its own worker process costs on top of the check itself.

Submissions are generated: each student folder holds one derivation (a feedforward or Elman network,
right or with one of four planted student mistakes) and a helper module it imports. Three ways of
checking the same submissions are timed in the same process, interleaved round by round (the best
round counts, so a burst of load from other processes hits every row alike):

* ``in-process``: :func:`gradlab.check.cli.check_file` in this process, one after another — the check
  itself, with no isolation (what ``gradlab check`` did before it isolated students);
* ``isolated, jobs 1``: the runner of ``gradlab check`` (:func:`gradlab.check.runner.run_isolated`),
  each derivation in its own forked worker, one at a time;
* ``isolated, jobs 2``: the same, two workers at a time.

The isolation overhead per derivation is (isolated jobs 1 − in-process) / number of derivations. A
fourth row times the runner with an empty job (fork, limits, pipes, JSON back, reap) to show where
that overhead goes. Finally one ``gradlab check submissions/*/ --jobs N`` per job count is timed as a
whole command (interpreter start, imports, discovery, progress bar, table) for the submissions per
minute a grader sees.

Run:  .venv/bin/python benchmarks/bench_grading.py  [--students 40] [--examples 3] [--rounds 3] [--quick]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

_FEEDFORWARD = '''"""One hidden layer, E = ½‖d − y‖²: δ = W_2ᵀ(y − d) ⊙ (1 − h²)."""
import numpy as np
import gradlab
from helpers import {helper}

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    h = np.tanh(W_1 @ x + b_1)
    e = {error}
    a = (W_2.T @ e) * {helper}(h)
    return {{"W_1": np.outer(a, x), "b_1": a, "W_2": np.outer(e, h), "b_2": e}}
'''

_ELMAN = '''"""Elman BPTT for E = Σ_t ½‖y_t − d_t‖²."""
import numpy as np
import gradlab
from helpers import {helper}

MODEL = gradlab.specs.elman()


def gradient(params, data):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    xs, ds, s = data["xs"], data["ds"], data["s_0"]
    states, errors = [s], []
    for x, d in zip(xs, ds):
        s = np.tanh(W_x @ x + W_s @ s + b_s)
        states.append(s)
        errors.append(W_y @ s + b_y - d)
    g = {{k: np.zeros_like(v) for k, v in params.items()}}
    delta_next = np.zeros_like(b_s)
    for t in range(len(xs), 0, -1):
        s, e = states[t], errors[t - 1]
        g["W_y"] += np.outer(e, s)
        g["b_y"] += e
        delta = W_y.T @ e + {recurrent}
        a = delta * {helper}(s)
        g["W_x"] += np.outer(a, xs[t - 1])
        g["W_s"] += np.outer(a, states[t - 1])
        g["b_s"] += a
        delta_next = a
    return g
'''

_HELPERS = "import numpy as np\n\n\ndef dtanh(h):\n    return {body}\n"


def make_class(folder: str, n: int) -> list:
    """Write ``n`` student folders into ``folder``; return their paths. Every fourth student has a mistake."""
    students = []
    for i in range(n):
        student = os.path.join(folder, f"student{i:03d}")
        os.makedirs(student)
        mistake = i % 4 == 3
        kind = i % 8 // 4   # feedforward or Elman, by blocks
        with open(os.path.join(student, "helpers.py"), "w", encoding="utf-8") as fh:
            fh.write(_HELPERS.format(body="1 - h" if mistake and i % 3 == 0 else "1 - h * h"))
        if kind == 0:
            error = "W_2 @ h + b_2 - d" if not mistake or i % 3 == 0 else "2 * (W_2 @ h + b_2 - d)"
            text = _FEEDFORWARD.format(helper="dtanh", error=error)
        else:
            rec = "W_s.T @ delta_next" if not mistake or i % 3 == 0 else "0"
            text = _ELMAN.format(helper="dtanh", recurrent=rec)
        with open(os.path.join(student, "solution.py"), "w", encoding="utf-8") as fh:
            fh.write(text)
        students.append(student)
    return students


def load_line() -> str:
    """The load averages of `uptime` (the machine is shared: numbers taken under load say so)."""
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=40, help="generated submissions (default 40)")
    ap.add_argument("--examples", type=int, default=3, help="Hypothesis examples per derivation (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best counts (default 3)")
    ap.add_argument("--quick", action="store_true", help="8 students, 1 round (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.students, args.rounds = 8, 1

    from gradlab.check.cli import _work, check_file
    from gradlab.check.runner import Limits, run_isolated, warm_up

    common.print_header("grading a class: throughput and the cost of isolating each derivation")
    print(f"{args.students} generated submissions (feedforward and Elman, every fourth with a mistake, each "
          f"importing its own helpers.py), --examples {args.examples}, best of {args.rounds} interleaved rounds")
    print(f"at the start: {load_line()}")
    tmp = tempfile.mkdtemp(prefix="gradlab-bench-grading-")
    try:
        students = make_class(tmp, args.students)
        files = [os.path.join(s, "solution.py") for s in students]
        options = {"mode": "full", "seed": 0, "examples": args.examples, "sympy": False, "sweep": False}
        jobs = [{"path": f, "name": f, "student": os.path.basename(os.path.dirname(f)), "width": 20,
                 "options": options, "verbose": False, "figure": False} for f in files]
        warm_up()

        def in_process():
            # the derivations import `helpers`: in one process each must find its own (what isolation fixes)
            statuses = []
            for f in files:
                sys.modules.pop("helpers", None)
                sys.path.insert(0, os.path.dirname(f))
                try:
                    statuses.append(check_file(f, **options)["status"])
                finally:
                    sys.path.remove(os.path.dirname(f))
                    sys.modules.pop("helpers", None)
            return statuses

        def isolated(n):
            outcomes, _ = run_isolated(_work, jobs, jobs=n, limits=Limits())
            return [o.value["status"] for o in outcomes]

        def empty(n):
            outcomes, _ = run_isolated(_nothing, list(range(len(files))), jobs=n, limits=Limits())
            return outcomes

        rows = {"in-process (the check itself)": in_process, "isolated, --jobs 1": lambda: isolated(1),
                "isolated, --jobs 2": lambda: isolated(2), "runner alone (empty job), --jobs 1": lambda: empty(1)}
        expected = in_process()
        for name in ("isolated, --jobs 1", "isolated, --jobs 2"):
            got = rows[name]()
            if got != expected:
                sys.exit(f"bench_grading: {name} gave other verdicts than the in-process check: {got} vs {expected}")
        best = {k: float("inf") for k in rows}
        for _ in range(args.rounds):
            for name, fn in rows.items():
                t0 = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t0)
        n = len(files)
        base = best["in-process (the check itself)"]
        print()
        print(f"  {'way of checking':<38} {'total':>9} {'per derivation':>15} {'per minute':>11} {'vs in-process':>14}")
        for name, t in best.items():
            print(f"  {name:<38} {t:8.2f}s {1000 * t / n:12.0f} ms {60 * n / t:11.0f} {t / base:13.2f}×")
        overhead = (best["isolated, --jobs 1"] - base) / n
        print()
        print(f"  isolation overhead per derivation (isolated --jobs 1 − in-process): {1000 * overhead:.0f} ms "
              f"(target: under 300 ms); the runner alone: {1000 * best['runner alone (empty job), --jobs 1'] / n:.0f} ms")
        print()
        print("  whole command, `gradlab check <tmp>/*/ --examples N --jobs J` (interpreter start and imports included):")
        exe = os.path.join(os.path.dirname(sys.executable), "gradlab")
        cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "gradlab.cli"]
        for j in (1, 2):
            t0 = time.perf_counter()
            out = subprocess.run(cmd + ["check", *[s + "/" for s in students], "--examples", str(args.examples),
                                        "--jobs", str(j)], capture_output=True, text=True)
            t = time.perf_counter() - t0
            print(f"    --jobs {j}: {t:6.2f} s for {n} submissions = {60 * n / t:5.0f} submissions per minute "
                  f"(exit status {out.returncode}: {expected.count('FAIL')} submissions with a mistake)")
        print(f"at the end: {load_line()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _nothing(item):
    return {"item": item}


if __name__ == "__main__":
    main()
