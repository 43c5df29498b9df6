"""Symbolic BPTT: the symbolic interpreter's gradients equal the engine's for every cell, the two
independent routes (op-table reverse mode, SymPy diff) agree, the three forms agree, and the sizes
grow linearly (recursion) / at most quadratically (sum of paths) with T."""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import sympy as sp

from gradlab.symbolic import derive, symbolic_model
from gradlab.symbolic.functions import NUMERIC_MODULES

CELLS = ["elman", "jordan", "lstm", "peephole_lstm", "four_gate_lstm", "gru"]


@functools.lru_cache(maxsize=None)
def _derivation(kind, T, hidden=1):
    return derive(kind, T, hidden=hidden)


def _close(a, b, rtol=1e-9, atol=1e-12):
    return np.allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("kind", CELLS)
def test_symbolic_gradient_equals_engine_gradient_for_every_cell(kind):
    d = _derivation(kind, 3)
    worst = d.check(forms=("recursion",), seeds=(0, 1))
    assert worst["recursion"] < 1e-10


@pytest.mark.parametrize("kind,T,hidden", [("elman", 4, 2), ("lstm", 2, 2), ("gru", 2, 2)])
def test_symbolic_gradient_equals_engine_gradient_for_vector_states(kind, T, hidden):
    d = _derivation(kind, T, hidden)
    assert d.check(forms=("recursion",), seeds=(3,))["recursion"] < 1e-10


@pytest.mark.parametrize("kind", CELLS)
def test_op_table_route_and_diff_route_agree(kind):
    d = _derivation(kind, 3)
    m = d.model
    adj = {(dd.base, dd.t) for dd in m.recursion().definitions if dd.kind == "adjoint"}
    fb = m.recursion().lambdify(keep=adj)
    fa = m.diff_route().lambdify(keep=adj)
    vals = m.random_values(7)
    rb, ra = fb(vals), fa(vals)
    for key in list(m.params) + sorted(adj, key=str):
        assert _close(rb[key], ra[key]), key


def test_routes_agree_symbolically_on_the_elman_adjoints():
    m = _derivation("elman", 3, 2).model
    back = {e: s for dd in m.trace.forward.definitions if dd.display is not None
            for s, e in zip(dd.symbols.flat, dd.display.flat)}
    b = {(dd.base, dd.t): dd for dd in m.recursion().definitions if dd.kind == "adjoint"}
    a = {(dd.base, dd.t): dd for dd in m.diff_route().definitions if dd.kind == "adjoint"}
    assert set(a) == set(b) and len(a) == 3
    for key in a:
        for ea, eb in zip(a[key].expr.flat, b[key].expr.flat):
            assert sp.expand(ea.xreplace(back) - eb) == 0


def test_a_wrong_vjp_in_the_op_table_is_caught_by_route_agreement():
    m = symbolic_model("elman", 2, hidden=1)
    for node in m.graph.nodes:
        if node.op is not None and node.op.name == "tanh":
            # planted error: tanh' written as 1 - out instead of 1 - out²
            node.op = dataclasses.replace(node.op, vjp=(lambda g, out, x, xp: g * (1 - out),))
    vals = m.random_values(0)
    rb = m.recursion().lambdify()(vals)
    ra = m.diff_route().lambdify()(vals)
    assert not _close(rb["W_s"], ra["W_s"])


@pytest.mark.parametrize("kind", CELLS)
def test_recursion_and_sum_of_paths_forms_are_equal_when_evaluated(kind):
    d = _derivation(kind, 3)
    vals = d.model.random_values(11)
    rec = d.numeric("recursion")(vals)
    paths = d.numeric("sum-of-paths")(vals)
    for n in rec:
        assert _close(rec[n], paths[n]), n


@pytest.mark.parametrize("kind", ["elman", "jordan"])
def test_expanded_form_equals_the_recursion_when_evaluated(kind):
    d = _derivation(kind, 2)
    vals = d.model.random_values(5)
    rec = d.numeric("recursion")(vals)
    exp_ = d.numeric("expanded")(vals)
    for n in rec:
        assert _close(rec[n], exp_[n]), n


def test_expanded_form_refuses_long_sequences():
    with pytest.raises(ValueError, match="too long"):
        _derivation("elman", 4, 2).model.expanded()


def test_states_are_named_symbols_defined_from_the_previous_step_only():
    m = _derivation("lstm", 3).model
    info = m.info
    for dd in m.trace.forward.definitions:
        for e in dd.expr.flat:
            steps = {info[s].t for s in e.free_symbols if s in info and info[s].t is not None}
            assert steps <= {dd.t, dd.t - 1}, (dd.base, dd.t, steps)
    bases = {(dd.base, dd.kind) for dd in m.trace.forward.definitions}
    assert {("s", "state"), ("c", "state"), ("i", "gate"), ("f", "gate"), ("g", "gate"), ("o", "gate")} <= bases


def test_recursion_size_grows_linearly_and_sum_of_paths_at_most_quadratically():
    sizes = {T: symbolic_model("elman", T, hidden=1) for T in (4, 8, 16)}
    rec = {T: m.recursion().size() for T, m in sizes.items()}
    paths = {T: m.sum_of_paths().size() for T, m in sizes.items()}
    # linear: equal increments per step
    assert abs((rec[16] - rec[8]) - 2 * (rec[8] - rec[4])) <= 0.05 * rec[16]
    # quadratic at most: doubling T at most quadruples the size (plus slack)
    assert paths[16] <= 4.5 * paths[8]
    assert paths[16] > rec[16]


def test_many_to_one_loss_uses_the_last_step_only():
    d = derive("elman", 3, mode="many_to_one")
    worst = d.check(forms=("recursion", "diff", "sum-of-paths"), seeds=(0,))
    assert max(worst.values()) < 1e-10


def test_optional_symengine_backend_gives_the_engine_gradient():
    pytest.importorskip("symengine")
    m = symbolic_model("lstm", 3, hidden=2, backend="symengine")
    vals = m.random_values(2)
    got = m.recursion().lambdify()(vals)
    ref = m.engine_gradient(vals)
    for n in ref:
        assert _close(got[n], ref[n]), n


def test_unknown_backend_is_a_valueerror():
    with pytest.raises(ValueError, match="backend"):
        symbolic_model("elman", 2, backend="maple")


@pytest.mark.parametrize("kind,T", [("elman", 2), ("jordan", 2), ("lstm", 1)])
def test_plain_diff_of_the_inlined_loss_agrees_with_the_op_table_route(kind, T):
    # route (a) in its plainest form, only where tractable: the LSTM's inlined tree swells from T = 2
    m = symbolic_model(kind, T, hidden=1)
    vals = m.random_values(4)
    rec = m.recursion().lambdify()(vals)
    E = m.inlined_loss()
    leaf_syms = {s: float(np.asarray(vals[name]).flat[i])
                 for name, arr in m.trace.forward.leaves.items() for i, s in enumerate(np.asarray(arr).flat)}
    for name in ("W_s", "b_y"):
        w = m.trace.leaf_arrays[m.params[name]].flat[0]
        f = sp.lambdify(list(leaf_syms), sp.diff(E, w), modules=NUMERIC_MODULES)
        exact = float(f(*leaf_syms.values()))
        assert abs(exact - rec[name].flat[0]) <= 1e-10 * max(1.0, abs(exact)), name
