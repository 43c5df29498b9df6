"""The hand-derived additive-attention layer (CS231n style forward/backward pair in derivations/layer_attention_additive.py and its wrong copy)
against gradlab's reverse mode through gradlab.nn.AdditiveAttention and against central differences of the
author's own forward: the right backward agrees to rounding, the planted softmax-Jacobian slip is caught and
the wrong gradients are named in the author's names. The harness is examples/attention_layer_check.py."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from gradlab.nn import AdditiveAttention

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def harness():
    """examples/attention_layer_check.py, imported once."""
    key = "gradlab_example_attention_layer_check"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, EXAMPLES / "attention_layer_check.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def test_the_authors_forward_is_the_same_layer_as_gradlab_attention():
    h = harness()
    right = h.load(h.FILES["right"])
    args, mask, _ = h.make_case(0)
    Q, A = args["W_q"].shape
    attend = AdditiveAttention(Q, args["W_k"].shape[0], A)
    P = attend.parameters_by_name()
    P["W_q"].data, P["W_k"].data, P["b_a"].data, P["v"].data = args["W_q"].T, args["W_k"].T, args["b_a"], args["v"][None]
    c, _ = attend(args["q"], args["H"].transpose(1, 0, 2), mask=mask.T)
    np.testing.assert_allclose(right.attention_forward(**args, mask=mask)[0], c.data, rtol=1e-13)
    assert mask.min() == 0.0                       # the case has padding


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_hand_derived_backward_agrees_with_the_engine_and_central_differences(seed):
    h = harness()
    rows = h.check(h.FILES["right"], seed)
    assert [name for name, _, _ in rows] == list(h.NAMES)
    assert max(e for _, e, _ in rows) < 1e-10, rows
    assert max(f for _, _, f in rows) < 1e-7, rows
    args, mask, dc = h.make_case(seed)
    right = h.load(h.FILES["right"])
    dH = right.attention_backward(dc, right.attention_forward(**args, mask=mask)[1])[1]
    assert np.all(dH[mask == 0] == 0.0) and np.any(dH[mask == 1] != 0.0)   # padding gets no gradient


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_planted_softmax_jacobian_slip_is_caught_and_the_wrong_gradients_are_named(seed):
    h = harness()
    wrong = h.load(h.FILES["wrong"])
    rows = h.check(h.FILES["wrong"], seed)
    by_engine = tuple(n for n, e, _ in rows if e > 1e-6)
    by_differences = tuple(n for n, _, f in rows if f > 1e-4)
    assert wrong.EXPECT == "wrong"
    assert by_engine == by_differences == tuple(wrong.WRONG)
    assert min(e for n, e, _ in rows if n in wrong.WRONG) > 1e-3       # far from rounding


def test_the_example_reports_the_slip_as_planted():
    lines = []
    result = harness().run(seed=1, out=lines.append)
    assert result["caught"] == ("dq", "dH", "dW_q", "dW_k", "db_a", "dv")
    assert "as planted" in lines[-1] and "WRONG" in "\n".join(lines)
