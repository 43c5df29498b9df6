r"""The reference engine against the fast path: what ``with gradlab.reference():`` costs.

Both record and differentiate the same graph and give the same gradients to rounding (checked here
before timing, and for every op and cell in ``tests/test_fast.py``). The fast path (``gradlab/fast``)
adds a buffer pool, into-forwards, batched weight sums and shortcuts; the reference engine
(``gradlab/engine``) is the plain code a student reads. Elman, LSTM and GRU, ``unroll(fused=True)``
and ``fused=False`` (the literal lecture graph, a loss term per step), float64, one BLAS thread, timed
interleaved in one process (:func:`common.compare`).

Run:  .venv/bin/python benchmarks/bench_engines.py [--sizes small large] [--quick]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import gradlab
import bench_cells
import bench_engine
from bench_engine import gradlab_cell_runner, rnn_api

NAMES = {"elman": bench_engine.NAMES, "lstm": bench_cells.LSTM_NAMES, "gru": bench_cells.GRU_NAMES}
CLASSES = {"elman": "ElmanCell", "lstm": "LSTMCell", "gru": "GRUCell"}


def rows(network: str, size: str) -> dict:
    """Return {row: callable returning (E, {name: gradient})}: fast and reference, fused and literal."""
    dims = common.SIZES[size]
    if network == "elman":
        p, xs, ds = bench_engine.make_problem(**dims)
    else:
        p, xs, ds = bench_cells.make_problem(network, **dims)
    cls, unroll = rnn_api(CLASSES[network])
    D, H = xs.shape[2], p["W_s"].shape[-1]
    out = {}
    for fused in (True, False):
        for engine in ("fast", "reference"):
            run = gradlab_cell_runner(cls(D, H, D), unroll, NAMES[network], p, xs, ds, fused)

            def in_engine(run=run, engine=engine):
                with gradlab.use_engine(engine):
                    return run()

            out[f"{engine}, fused={fused}"] = in_engine
    return out


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0])
    common.print_header("reference engine against the fast path, forward + backward, float64")
    summary = []
    for size in args.sizes:
        for network in ("elman", "lstm", "gru"):
            impls = rows(network, size)
            title = f"{network}, {size}: " + ", ".join(f"{k}={v}" for k, v in common.SIZES[size].items())
            times = common.run_case(title, impls, "fast, fused=True", args, rtol=1e-9)
            for fused in (True, False):
                summary.append((network, size, fused, times[f"reference, fused={fused}"] / times[f"fast, fused={fused}"]))
    print("\n| network | size | unrolling | reference ÷ fast |\n|---|---|---|---:|")
    for network, size, fused, ratio in summary:
        print(f"| {network} | {size} | {'fused' if fused else 'literal'} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
