"""Layer mode's references: the traced forward, the black box and HIPS autograd agree with each other on
every correct course layer; a forward that cannot be traced falls back to the black box and says so;
the tracing namespace records what course code does (buffers, views, helpers, masks) or refuses."""
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import gradlab
from gradlab.check import DerivationError
from gradlab.check.layer import check_layer, load_layer_file
from gradlab.check.layer.core import agreement, draw_values
from gradlab.check.layer.routes import Case, autograd_vjp, blackbox_vjp, run_forward, trace_forward
from gradlab.check.layer.search import _strategy, _upstream

from .strategies import budget

CORPUS = Path(__file__).resolve().parent / "corpus"
CORRECT = sorted(p for d in ("cs231n", "coursera") for p in (CORPUS / d).glob("*.py") if not p.name.startswith("wrong_"))
DECLS = [(f"{p.parent.name}/{p.name}:{d.label}", d) for p in CORRECT for d in load_layer_file(str(p)).decls]


def _case(decl, sizes, values, up_seed):
    up = _upstream(decl, values, up_seed) or {"loss": np.array(1.0)}
    return Case(sizes, values, up)


@pytest.mark.parametrize("label,decl", DECLS, ids=[k for k, _ in DECLS])
@settings(max_examples=budget(3), deadline=None, suppress_health_check=list(HealthCheck))
@given(data=__import__("hypothesis").strategies.data())
def test_traced_and_black_box_references_agree_to_1e_10_on_drawn_cases(label, decl, data):
    limits = {k: (3 if k == decl.time else 2) for k in decl.letters}
    sizes, values, up_seed = data.draw(_strategy(decl, limits))
    case = _case(decl, sizes, values, up_seed)
    trace = trace_forward(decl, values)
    assert trace.ok, trace.note
    traced = trace.vjp(case.upstream)
    bb = blackbox_vjp(decl, case)
    assert agreement(traced, bb.grads) <= 1e-10, (bb.method, agreement(traced, bb.grads))


def test_a_wrong_reference_would_fail_the_agreement():
    decl = dict(DECLS)["cs231n/rnn_step.py:rnn_step_backward"]
    sizes = decl.default_sizes()
    values = draw_values(decl, sizes, np.random.default_rng(0))
    case = _case(decl, sizes, values, 0)
    traced = trace_forward(decl, values).vjp(case.upstream)
    off = {p: g * (1 + 1e-9) for p, g in traced.items()}
    assert agreement(traced, off) > 1e-10


def test_complex_step_is_used_where_it_survives_and_its_loss_is_said_where_not():
    step = dict(DECLS)["cs231n/rnn_step.py:rnn_step_backward"]
    seq = dict(DECLS)["cs231n/rnn_sequence.py:rnn_backward"]
    for decl, method in ((step, "complex"), (seq, "richardson")):
        sizes = decl.default_sizes()
        values = draw_values(decl, sizes, np.random.default_rng(1))
        bb = blackbox_vjp(decl, _case(decl, sizes, values, 1))
        assert bb.method == method
    assert "discards the imaginary part" in bb.note and "rnn_sequence.py:25" in bb.note and "h[:, t, :] = prev_h" in bb.note


def test_autograd_is_a_third_route_where_the_code_allows_and_is_skipped_with_the_line_otherwise():
    cell = dict(DECLS)["coursera/rnn_cell.py:rnn_cell_backward"]
    seq = dict(DECLS)["coursera/rnn_sequence.py:rnn_backward"]
    sizes = cell.default_sizes()
    values = draw_values(cell, sizes, np.random.default_rng(2))
    case = _case(cell, sizes, values, 2)
    ag, note = autograd_vjp(cell, case)
    assert note == "" and agreement(trace_forward(cell, values).vjp(case.upstream), ag) <= 1e-12
    sizes = seq.default_sizes()
    values = draw_values(seq, sizes, np.random.default_rng(2))
    ag, note = autograd_vjp(seq, _case(seq, sizes, values, 2))
    assert ag is None and "writing into an array" in note and "rnn_sequence.py:29" in note


def _layer_file(tmp_path, name, body, tail=""):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body) + tail)
    return path


STEP_BACKWARD = '''
def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    return da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)

LAYER = gradlab.check.layer(rnn_step_forward, rnn_step_backward, inputs="x: N,D; prev_h: N,H; Wx: D,H; Wh: H,H; b: H")
'''


def test_a_forward_that_cannot_be_traced_falls_back_to_the_black_box_with_the_function_and_line(tmp_path):
    path = _layer_file(tmp_path, "einsum_step.py", '''
        import numpy as np
        import gradlab

        def rnn_step_forward(x, prev_h, Wx, Wh, b):
            next_h = np.tanh(np.einsum("nd,dh->nh", x, Wx) + prev_h.dot(Wh) + b)
            return next_h, (x, prev_h, Wx, Wh, next_h)
        ''', STEP_BACKWARD)
    report = check_layer(load_layer_file(str(path)).decls[0])
    assert report.verdict == "pass"
    assert "traced" not in report.params[0].per_reference and "blackbox" in report.params[0].per_reference
    text = report.routes["traced"]
    assert "cannot be traced" in text and "np.einsum" in text and "einsum_step.py:6" in text
    assert "falls back to the black box" in text
    # and a wrong backward is still caught by the black box alone
    bad = path.read_text().replace("x.T.dot(da), prev_h.T.dot(da)", "x.T.dot(da), next_h.T.dot(da)")
    wrong = check_layer(load_layer_file(str(_layer_file(tmp_path, "einsum_bad.py", bad))).decls[0])
    assert wrong.wrong == ["dWh"]


def test_a_trace_that_computes_other_values_than_the_forward_is_not_trusted(tmp_path):
    # NumPy writes through the view `row`; the functional trace cannot, so its h differs and is refused
    path = _layer_file(tmp_path, "view_write.py", '''
        import numpy as np
        import gradlab

        def affine_rows(x, W):
            out = np.zeros((x.shape[0], W.shape[1]))
            for n in range(x.shape[0]):
                row = out[n]
                row += x[n].dot(W)
            return out, (x, W)

        def affine_rows_backward(dout, cache):
            x, W = cache
            return dout.dot(W.T), x.T.dot(dout)

        LAYER = gradlab.check.layer(affine_rows, affine_rows_backward, inputs="x: N,D; W: D,H")
        ''')
    report = check_layer(load_layer_file(str(path)).decls[0])
    assert report.verdict == "pass"
    assert "not usable" in report.routes["traced"] and "other values" in report.routes["traced"]


def test_the_namespace_follows_helpers_from_imports_and_numpy_imported_inside_the_function(tmp_path):
    (tmp_path / "helpers_mod.py").write_text(textwrap.dedent('''
        import numpy as np

        def stable_sigmoid(x):
            pos = x >= 0
            z = np.zeros_like(x)
            z[pos] = np.exp(-x[pos])
            z[~pos] = np.exp(x[~pos])
            top = np.ones_like(x)
            top[~pos] = z[~pos]
            return top / (1 + z)
        '''))
    path = _layer_file(tmp_path, "gate.py", '''
        from numpy import tanh
        import gradlab
        from helpers_mod import stable_sigmoid

        def gate_forward(x, W):
            import numpy
            a = numpy.dot(x, W)
            out = stable_sigmoid(a) * tanh(a)
            return out, (x, W, a)

        def gate_backward(dout, cache):
            x, W, a = cache
            s, t = 1 / (1 + numpy_exp(-a)), tanh(a)
            da = dout * (s * (1 - s) * t + s * (1 - t ** 2))
            return da.dot(W.T), x.T.dot(da)

        def numpy_exp(v):
            import numpy
            return numpy.exp(v)

        LAYER = gradlab.check.layer(gate_forward, gate_backward, inputs="x: N,D; W: D,H")
        ''')
    report = check_layer(load_layer_file(str(path)).decls[0])
    assert report.verdict == "pass", report.format()
    assert "recorded through gradlab's engine" in report.routes["traced"]
    assert report.agreement["traced ↔ black box"] <= 1e-12


def test_an_error_in_the_authors_forward_points_at_the_authors_line(tmp_path):
    path = _layer_file(tmp_path, "broken.py", '''
        import numpy as np
        import gradlab

        def rnn_step_forward(x, prev_h, Wx, Wh, b):
            next_h = np.tanh(x.dot(Wh) + prev_h.dot(Wh) + b)
            return next_h, (x, prev_h, Wx, Wh, next_h)
        ''', STEP_BACKWARD)
    with pytest.raises(DerivationError) as info:
        check_layer(load_layer_file(str(path)).decls[0])
    err = info.value
    assert err.path == str(path) and err.line == 6
    assert "rnn_step_forward()" in str(err) and "x.dot(Wh)" in str(err)
    assert "x (N, D) = (3, 4)" in err.hint and "Wh (H, H) = (2, 2)" in err.hint


def test_the_traced_graph_records_buffers_filled_by_slice_assignment_as_a_pure_function():
    decl = dict(DECLS)["cs231n/rnn_sequence.py:rnn_backward"]
    sizes = decl.default_sizes()
    values = draw_values(decl, sizes, np.random.default_rng(3))
    trace = trace_forward(decl, values)
    ops = {n.op.name for n in trace.tracer.sites}
    assert "setitem" in ops and "tanh" in ops
    outs, _, _ = run_forward(decl, values)
    np.testing.assert_array_equal(trace.values()["h"], outs["h"])
    # replaying the graph with other leaf values recomputes the buffer (nothing was mutated in place)
    g = gradlab.Graph(trace.outputs["h"])
    leaves = trace.leaves
    doubled = g.replay({leaves[("x",)]: 2 * values[("x",)]})
    outs2, _, _ = run_forward(decl, {**values, ("x",): 2 * values[("x",)]})
    np.testing.assert_allclose(doubled, outs2["h"], rtol=1e-14, atol=0)
