"""Every graph operation takes time linear in the number of nodes: recording, reverse mode (through
``stack`` and ``concat`` of N computed inputs too), replay, the unrolled network and the symbolic
route's collection of terms. This is the one place where a test compares times: the time for 4N against
the time for N, as a ratio with a generous bound (linear work gives about 4, quadratic work 16).

Robust to a loaded machine: each size is timed several times, interleaved with the other, with the
process's CPU time, and the best of each counts (load only ever adds time); the cyclic garbage
collector is off while timing (its full passes come when the whole process's heap has grown by a
quarter, which this graph does not decide).
"""
from __future__ import annotations

import gc
import time

import numpy as np
import pytest

import gradlab
from gradlab import nn

BOUND = 5.0      # linear work gives 4 (measured 3.8-4.0 here), quadratic 16


def _best_ratio(work, n, repeat=3) -> float:
    """The best CPU time of ``work(4 n)`` over the best of ``work(n)``."""
    best = {n: float("inf"), 4 * n: float("inf")}
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            for size in (n, 4 * n):
                t0 = time.process_time()
                work(size)
                best[size] = min(best[size], time.process_time() - t0)
    finally:
        if enabled:
            gc.enable()
    return best[4 * n] / max(best[n], 1e-9)


def _join(op, engine):
    def work(n):
        with gradlab.use_engine(engine):
            x = gradlab.Parameter(np.ones(3), name="x")
            op([x * float(k) for k in range(n)]).sum().backward()
    return work


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("op", [gradlab.stack, gradlab.concat], ids=["stack", "concat"])
def test_backward_through_stack_and_concat_of_n_computed_inputs_is_linear_in_n(op, engine):
    assert _best_ratio(_join(op, engine), 2000) < BOUND


def _unrolled(fused, stacked_loss):
    rng = np.random.default_rng(0)
    cell = nn.ElmanCell(3, 4, 2, rng=1)

    def work(T):
        out = nn.unroll(cell, rng.standard_normal((T, 3)), fused=fused)
        ds = rng.standard_normal((T, 2))
        E = nn.mse_half(out.output_sequence, ds) if stacked_loss else nn.sequence_loss(out, ds)
        E.backward()
    return work


@pytest.mark.parametrize("fused, stacked_loss", [(True, True), (False, True), (False, False)],
                         ids=["fused", "literal-stacked-loss", "literal-per-step-loss"])
def test_an_unrolled_network_records_and_backpropagates_in_time_linear_in_T(fused, stacked_loss):
    assert _best_ratio(_unrolled(fused, stacked_loss), 400) < BOUND


def test_replay_and_graph_gradient_are_linear_in_the_number_of_nodes():
    rng = np.random.default_rng(2)
    cell = nn.ElmanCell(3, 4, 2, rng=3)

    def work(T):
        out = nn.unroll(cell, rng.standard_normal((T, 3)))
        E = nn.sequence_loss(out, rng.standard_normal((T, 2)))
        g = gradlab.Graph(E)
        g.replay({cell.W_s: cell.W_s.data * 0.5})
        g.gradient([cell.W_s])
    assert _best_ratio(work, 200) < BOUND


def test_the_symbolic_route_sums_the_terms_of_a_shared_node_once():
    sympy = pytest.importorskip("sympy")
    from gradlab.engine.autodiff import reverse
    from gradlab.symbolic.namespace import sympy_namespace
    from gradlab.symbolic.program import _collect, _sum_terms, _Terms

    def work(n):
        x = sympy.Symbol("x")
        w = gradlab.Parameter(np.array(1.0), name="w")
        total = gradlab.sum(gradlab.stack([w * float(k + 1) for k in range(n)]))
        nodes = gradlab.Graph(total).nodes
        vals = gradlab.Graph(total).replay({w: np.asarray(x, dtype=object)}, xp=sympy_namespace(), all_values=True)
        order = [m for m in nodes[::-1] if m.requires_grad]
        finish = lambda node, g: _sum_terms(g, vals[node].shape) if isinstance(g, _Terms) else g  # noqa: E731
        grads = reverse(order, {total: np.asarray(sympy.Integer(1), dtype=object)}, vals.__getitem__,
                        on_node=finish, accumulate=_collect, xp=sympy_namespace())
        assert float(grads[w].item()) == n * (n + 1) / 2     # Σ_k (k + 1): the n terms, summed once
    assert _best_ratio(work, 150, repeat=2) < BOUND
