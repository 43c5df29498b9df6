"""Run every ``benchmarks/bench_*.py`` one after another and print their tables (``make bench``).

Each script runs in its own interpreter, with one BLAS thread, so that no benchmark inherits
another's imports or warmed-up caches. Extra arguments (e.g. ``--quick``, ``--sizes small``) are
passed on to every script. Exits non-zero if any script failed.
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
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ, **{v: "1" for v in THREAD_VARS})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
    failed = []
    found = scripts()
    if not found:
        print(f"no bench_*.py scripts in {HERE}")
        return 1
    for path in found:
        print(f"\n==== {path.name} {' '.join(argv)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(path), *argv], env=env, cwd=HERE.parent)
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
