r"""Timing helpers shared by the ``bench_*.py`` scripts: one BLAS thread, interleaved best-of-N
timing with warm-up, gradient agreement checks, and tables of ratios to a floor.

Import this module *before* NumPy: BLAS libraries read their thread count when they load, so the
environment variables below only take effect if they are set first. The benchmarks compare per-call
overhead against arithmetic, and several BLAS threads would blur that (and fight the other
processes on a 2-core machine).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import datetime  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

__all__ = ["SIZES", "CLOCK", "limit_threads", "optional", "compare", "check_grads", "run_case", "print_table", "machine_line",
           "grid_parser", "print_header", "parse_args", "network_rows", "run_child"]

#: the timer: wall time, or this process's CPU time with GRADLAB_BENCH_CLOCK=cpu (see ``compare``)
CLOCK = time.process_time if os.environ.get("GRADLAB_BENCH_CLOCK") == "cpu" else time.perf_counter

# The two sizes of the issues: a char-RNN (one sequence) and a batched one.
SIZES = {
    "small": dict(B=1, T=25, D=65, H=100),
    "large": dict(B=32, T=100, D=128, H=256),
}


def limit_threads() -> str:
    """Pin every thread pool we can reach to one thread; return a line saying how."""
    how = ["env"]
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(1)
        how.append("threadpoolctl")
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
        how.append("torch.set_num_threads")
    return "1 BLAS thread (" + ", ".join(how) + ")"


def optional(name: str):
    """Return the module ``name`` if it can be imported, else None (references that may be absent)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _calibrate(fn, min_time: float) -> int:
    """Return how many calls make one timed batch last at least ``min_time`` seconds."""
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return number
        number = max(number * 2, int(number * min_time / max(dt, 1e-9) * 1.1))


def compare(impls: dict, repeat: int = 7, min_time: float = 0.05, warmup: int = 2, clock=None) -> dict:
    r"""Return {name: best seconds per call} for the callables in ``impls``.

    Each callable is warmed up, then timed in batches of calls lasting about ``min_time`` seconds;
    the batches of all callables are *interleaved* (round-robin, ``repeat`` rounds) so that a burst
    of load from other processes hits every implementation alike, and the best batch counts (the
    minimum is the estimate least disturbed by noise, since noise only ever adds time). One untimed
    call precedes every batch, so each batch times warm, steady-state calls: the row before it has just
    filled the caches with other code and data, and a cold first call would otherwise count against
    whichever row follows a different one (at the small size a batch is only about 12 calls).

    ``clock`` defaults to :data:`CLOCK`: wall time (``time.perf_counter``), or with the environment
    variable ``GRADLAB_BENCH_CLOCK=cpu`` the process's CPU time, which leaves out the time the process
    waits while others hold the cores of a shared machine (it still counts cache contention).
    """
    clock = CLOCK if clock is None else clock
    numbers = {}
    for name, fn in impls.items():
        for _ in range(warmup):
            fn()
        numbers[name] = _calibrate(fn, min_time)
    best = {name: float("inf") for name in impls}
    for _ in range(repeat):
        for name, fn in impls.items():
            n = numbers[name]
            fn()      # untimed: the rows before this one left their own code and data in the caches
            t0 = clock()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (clock() - t0) / n)
    return best


def check_grads(reference: dict, other: dict, what: str, rtol: float = 1e-10, atol: float = 1e-12) -> float:
    """Return the largest relative error of ``other`` against ``reference`` ({name: array}); raise
    ``ValueError`` naming the implementation and parameter when they disagree beyond ``rtol``."""
    worst = 0.0
    for name, ref in reference.items():
        if name not in other:
            raise ValueError(f"{what}: no gradient for {name!r}")
        got = np.asarray(other[name], dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if got.shape != ref.shape:
            raise ValueError(f"{what}: gradient of {name!r} has shape {got.shape}, expected {ref.shape}")
        err = float(np.max(np.abs(got - ref)) / (np.max(np.abs(ref)) + atol))
        if not err <= rtol:
            raise ValueError(f"{what}: gradient of {name!r} differs from the floor's by {err:.2e} (relative)")
        worst = max(worst, err)
    return worst


def autograd_runner(loss, params: dict, names) -> "callable":
    """Return ``run() -> (E, {name: gradient})``: ``loss(tuple of the named parameters)`` and its gradient,
    both from HIPS autograd's ``value_and_grad`` (imported here, so scripts run without it until called)."""
    import autograd

    value_and_grad = autograd.value_and_grad(loss)
    values = tuple(params[n] for n in names)

    def run():
        E, g = value_and_grad(values)
        return E, dict(zip(names, g))

    return run


def print_table(title: str, times: dict, floor: str, notes: dict | None = None) -> None:
    """Print a Markdown table: implementation, ms per call, ratio to ``floor`` (times in seconds)."""
    notes = notes or {}
    base = times[floor]
    width = max(len(n) for n in times)
    print(f"\n{title}\n")
    print(f"| {'implementation':<{width}} | ms per fwd+bwd | × floor | note")
    print(f"|{'-' * (width + 2)}|---------------:|--------:|-----")
    for name, t in times.items():
        print(f"| {name:<{width}} | {t * 1e3:14.3f} | {t / base:7.2f} | {notes.get(name, '')}")
    sys.stdout.flush()


def machine_line() -> str:
    """Return one line naming the date, Python, NumPy, PyTorch (if any) and the CPU count."""
    torch = optional("torch")
    parts = [
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"autograd {_version('autograd')}",
        f"torch {torch.__version__}" if torch is not None else "torch absent",
        f"{os.cpu_count()} cores",
    ]
    return ", ".join(parts)


def _version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - a missing distribution only changes the printed line
        return "absent"


def grid_parser(description: str, networks=None):
    """Return an ``ArgumentParser`` with ``--sizes`` (and ``--networks`` when ``networks`` is given),
    the options every script that loops over problem sizes shares; callers add their own."""
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["small", "large"],
                   help="which problem sizes to run (default: both)")
    if networks is not None:
        p.add_argument("--networks", nargs="+", choices=networks, default=list(networks))
    return p


def print_header(title: str) -> None:
    """Print the two header lines of a bench script: ``title`` with the thread setting, then the machine."""
    print(f"# {title} — {limit_threads()}")
    print(f"# {machine_line()}")


def parse_args(description: str):
    """Return parsed command-line options common to the bench scripts (``--quick``, ``--sizes``)."""
    p = grid_parser(description)
    p.add_argument("--repeat", type=int, default=15, help="interleaved timing rounds (default 15)")
    p.add_argument("--quick", action="store_true", help="fewer rounds, shorter batches (a smoke run)")
    args = p.parse_args()
    if args.quick:
        args.repeat = 2
    args.min_time = 0.01 if args.quick else 0.02
    return args


def run_case(title: str, impls: dict, floor: str, args, rtol: float = 1e-10, notes: dict | None = None) -> dict:
    r"""Check that every implementation's loss and gradients equal the floor's, time them all
    (interleaved), print the table and return {name: seconds per call}.

    ``impls`` maps a name to a zero-argument callable returning ``(loss, {parameter name: gradient})``;
    ``None`` marks a reference that is absent here (it is listed as skipped).
    """
    notes = dict(notes or {})
    present = {n: f for n, f in impls.items() if f is not None}
    loss0, ref = present[floor]()
    for name, fn in present.items():
        if name == floor:
            continue
        loss, grads = fn()
        if not abs(float(loss) - float(loss0)) <= rtol * abs(float(loss0)):
            raise ValueError(f"{title}: {name} loss {float(loss)!r} differs from the floor's {float(loss0)!r}")
        err = check_grads(ref, grads, f"{title}: {name}", rtol=rtol)
        notes.setdefault(name, f"grads match floor to {err:.0e}")
    times = compare(present, repeat=args.repeat, min_time=args.min_time)
    print_table(title, times, floor, notes)
    for name, fn in impls.items():
        if fn is None:
            print(f"| {name} | skipped | | {notes.get(name, 'not installed')}")
    return times


def network_rows(network: str, size: str, rows=("floor", "gradlab", "pytorch")) -> dict:
    """Return {row: callable returning (loss, {name: gradient}), or None when absent} for ``network`` in
    {"elman", "lstm", "gru", "char_lstm"} at ``size``: the NumPy floor, gradlab ``unroll(fused=True)`` and PyTorch eager,
    as in ``bench_engine.py`` / ``bench_cells.py``. Only the rows asked for are built (and PyTorch is
    imported only for "pytorch")."""
    import bench_cells
    import bench_engine

    dims = SIZES[size]
    if network == "char_lstm":      # one-hot inputs, softmax cross-entropy (bench_cells.char_rows)
        return bench_cells.char_rows(**dims, rows=rows)
    if network == "elman":
        p, xs, ds = bench_engine.make_problem(**dims)
        make = {"floor": lambda: bench_engine.numpy_floor(p, xs, ds),
                "gradlab": lambda: bench_engine.gradlab_unroll(p, xs, ds),
                "pytorch": lambda: bench_engine.torch_ref(p, xs, ds)}
    else:
        p, xs, ds = bench_cells.make_problem(network, **dims)
        floor = bench_cells.lstm_floor if network == "lstm" else bench_cells.gru_floor
        make = {"floor": lambda: floor(p, xs, bench_cells.mse_grad(ds.reshape(-1, ds.shape[-1]))),
                "gradlab": lambda: bench_cells.gradlab_ref(network, p, xs, ds, True),
                "pytorch": lambda: bench_cells.torch_ref(network, p, xs, ds)}
    return {row: make[row]() for row in rows}


def run_child(script: str, args, what: str) -> str:
    """Run ``python script --child *args`` in a fresh interpreter and return its standard output;
    raise ``RuntimeError`` naming ``what`` with the child's error output when it fails."""
    import subprocess

    out = subprocess.run([sys.executable, script, "--child", *map(str, args)], capture_output=True, text=True,
                         check=False)
    if out.returncode:
        raise RuntimeError(f"{what} failed:\n{out.stderr}")
    return out.stdout


EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")


def example(name: str):
    """Import ``examples/<name>.py`` (not a package) as a module, so a benchmark runs the example's own code."""
    spec = importlib.util.spec_from_file_location(f"gradlab_example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
