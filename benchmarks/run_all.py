"""Run every ``benchmarks/bench_*.py`` one after another and print their tables (``make bench``).

Each script runs in its own interpreter, with one BLAS thread, so that no benchmark inherits
another's imports or warmed-up caches. ``--quick`` is passed to every script (each accepts it: a
short smoke run); ``--only engine cells`` runs a subset; any other arguments are passed on verbatim.
Exits non-zero if any script failed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def scripts() -> list:
    """Return the benchmark scripts in this folder, sorted by name."""
    return sorted(HERE.glob("bench_*.py"))


def main(argv=None) -> int:
    """Run each script, streaming its output; return 0 when all succeeded, else 1."""
    import argparse

    ap = argparse.ArgumentParser(description="Run every benchmarks/bench_*.py and print their tables.")
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script (a short smoke run)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only bench_NAME.py for these names")
    args, extra = ap.parse_known_args(argv)
    forward = (["--quick"] if args.quick else []) + extra
    env = dict(os.environ, **{v: "1" for v in THREAD_VARS})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
    found = scripts()
    if args.only:
        wanted = {f"bench_{n.removeprefix('bench_').removesuffix('.py')}.py" for n in args.only}
        missing = wanted - {p.name for p in found}
        if missing:
            print(f"run_all: no such benchmark(s): {', '.join(sorted(missing))}; have "
                  f"{', '.join(p.name for p in found)}")
            return 1
        found = [p for p in found if p.name in wanted]
    if not found:
        print(f"no bench_*.py scripts in {HERE}")
        return 1
    failed = []
    for path in found:
        print(f"\n==== {path.name} {' '.join(forward)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(path), *forward], env=env, cwd=HERE.parent)
        print(f"==== {path.name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.perf_counter() - t0:.1f} s",
              flush=True)
        if rc:
            failed.append(path.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
