"""The hand-derived CS231n-style layer pairs in derivations/ (a TDNN layer and an echo-state readout, each a
right one and one with a planted mistake): every gradient the right backward returns agrees with the VJP
of gradlab's own layer (gradlab.nn.tdnn, gradlab.nn.reservoir) through the engine and with central
differences; the planted mistake is caught and the wrong gradient named — here directly, and by
``gradlab check`` through the files' layer-mode declarations."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import gradlab
from gradlab.check.compare import compare, tolerance
from gradlab.nn.reservoir import ReservoirCell
from gradlab.nn.tdnn import TDNN

PAIRS = Path(__file__).resolve().parent.parent / "derivations"
FILES = {"tdnn_layer": "layer_tdnn", "tdnn_layer_wrong": "wrong_layer_tdnn_last_shift_only",
         "esn_readout": "layer_esn_readout", "esn_readout_wrong": "wrong_layer_esn_readout_mean_over_time"}


def load(name):
    spec = importlib.util.spec_from_file_location(f"layer_pair_{name}", PAIRS / f"{FILES[name]}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def central_difference(f, arrays, h=1e-6):
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + h
            up = f()
            a[idx] = old - h
            down = f()
            a[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def disagreeing(candidate: dict, reference: dict, kind: str) -> list:
    """The names whose candidate gradient fails the comparison with the reference (gradlab's tolerances)."""
    return sorted(n for n in reference if compare(candidate[n], reference[n], tolerance(kind)).n_bad > 0)


# ------------------------------------------------------------------------------------------ TDNN
def tdnn_references(seed=0, N=2, T=7, D=3, H=4, k=3):
    """(x, W, b, dout) in the author's layout and the engine's gradients of Σ dout ⊙ h via gradlab's TDNN."""
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(N, T, D)), rng.normal(size=(k, D, H)) * 0.5, rng.normal(size=H)
    dout = rng.normal(size=(N, T - k + 1, H))
    layer = TDNN(D, H, k, rng=0)
    layer.set_weights(W.transpose(0, 2, 1), b)                 # gradlab's taps are (H, D): W_j = W[j]ᵀ
    xt = gradlab.tensor(x.transpose(1, 0, 2), requires_grad=True)  # gradlab's sequences are (T, N, D)
    h = layer(xt)
    (h * dout.transpose(1, 0, 2)).sum().backward()
    engine = {"dx": xt.grad.transpose(1, 0, 2), "dW": np.stack([t.weight.grad.T for t in layer.taps]),
              "db": layer.taps[0].bias.grad}
    return (x, W, b, dout), h.data.transpose(1, 0, 2), engine


def tdnn_central(module, x, W, b, dout):
    def f():
        return float(np.sum(module.tdnn_forward(x, W, b)[0] * dout))

    return dict(zip(("dx", "dW", "db"), central_difference(f, [x, W, b])))


def test_hand_derived_tdnn_backward_agrees_with_the_engine_and_central_differences():
    right = load("tdnn_layer")
    (x, W, b, dout), h_engine, engine = tdnn_references()
    h, cache = right.tdnn_forward(x, W, b)
    np.testing.assert_allclose(h, h_engine, rtol=1e-13, atol=1e-14)
    mine = dict(zip(("dx", "dW", "db"), right.tdnn_backward(dout, cache)))
    for name in mine:
        assert mine[name].shape == engine[name].shape
        np.testing.assert_allclose(mine[name], engine[name], rtol=1e-10, atol=1e-12, err_msg=name)
    assert disagreeing(mine, engine, "exact") == []
    assert disagreeing(mine, tdnn_central(right, x, W, b, dout), "central") == []


def test_tdnn_backward_that_forgets_the_sum_over_shifts_is_caught_and_dW_named():
    wrong = load("tdnn_layer_wrong")
    (x, W, b, dout), _, engine = tdnn_references(seed=1)
    mine = dict(zip(("dx", "dW", "db"), wrong.tdnn_backward(dout, wrong.tdnn_forward(x, W, b)[1])))
    assert disagreeing(mine, engine, "exact") == ["dW"] == list(wrong.WRONG)
    assert disagreeing(mine, tdnn_central(wrong, x, W, b, dout), "central") == ["dW"]


def test_the_missing_shift_sum_is_invisible_with_a_single_shift():
    # with T = k there is one shift, so the wrong dW equals the right one: a check must use T > k
    wrong = load("tdnn_layer_wrong")
    (x, W, b, dout), _, engine = tdnn_references(seed=2, T=3, k=3)
    mine = dict(zip(("dx", "dW", "db"), wrong.tdnn_backward(dout, wrong.tdnn_forward(x, W, b)[1])))
    assert disagreeing(mine, engine, "exact") == []


# ------------------------------------------------------------------------------------ ESN readout
def readout_references(seed=0, N=2, T=6, H=5, O=3):
    """(s, W, b, dout) in the author's layout and the engine's gradients through gradlab's reservoir readout."""
    rng = np.random.default_rng(seed)
    s, W, b = rng.normal(size=(N, T, H)), rng.normal(size=(H, O)), rng.normal(size=O)
    dout = rng.normal(size=(N, T, O))
    cell = ReservoirCell(1, H, O, rng=0)
    cell.W_y.data, cell.b_y.data = W.T.copy(), b.copy()          # gradlab's readout is y = W_y s + b_y
    st = gradlab.tensor(s, requires_grad=True)
    y = cell.output(st)
    (y * dout).sum().backward()
    return (s, W, b, dout), y.data, {"ds": st.grad, "dW": cell.W_y.grad.T, "db": cell.b_y.grad}


def readout_central(module, s, W, b, dout):
    def f():
        return float(np.sum(module.readout_forward(s, W, b)[0] * dout))

    return dict(zip(("ds", "dW", "db"), central_difference(f, [s, W, b])))


def test_hand_derived_readout_backward_agrees_with_the_engine_and_central_differences():
    right = load("esn_readout")
    (s, W, b, dout), y_engine, engine = readout_references()
    y, cache = right.readout_forward(s, W, b)
    np.testing.assert_allclose(y, y_engine, rtol=1e-13, atol=1e-14)
    mine = dict(zip(("ds", "dW", "db"), right.readout_backward(dout, cache)))
    for name in mine:
        np.testing.assert_allclose(mine[name], engine[name], rtol=1e-10, atol=1e-12, err_msg=name)
    assert disagreeing(mine, readout_central(right, s, W, b, dout), "central") == []


def test_readout_backward_that_averages_over_time_is_caught_and_dW_named():
    wrong = load("esn_readout_wrong")
    (s, W, b, dout), _, engine = readout_references(seed=3)
    mine = dict(zip(("ds", "dW", "db"), wrong.readout_backward(dout, wrong.readout_forward(s, W, b)[1])))
    assert disagreeing(mine, engine, "exact") == ["dW"] == list(wrong.WRONG)
    assert disagreeing(mine, readout_central(wrong, s, W, b, dout), "central") == ["dW"]


# ------------------------------------------------------------------------- through gradlab check
@pytest.mark.parametrize("name", sorted(FILES.values()))
def test_gradlab_check_in_layer_mode_finds_each_pair_as_planted(name):
    from gradlab.check.cli import check_file

    res = check_file(str(PAIRS / f"{name}.py"), examples=5)
    planted = name.startswith("wrong_")
    assert res["status"] == ("caught" if planted else "ok"), res["error"] or res["report"].format()
    assert res["found_wrong"] == (["dW"] if planted else [])
