"""Layer mode speaks the author's language: shapes in the declared letters, gate blocks as rows or columns
of the author's layout, a loss that returns its own gradient, and every breach of the style named at the
author's line."""
import textwrap

import pytest

from gradlab.check import DerivationError
from gradlab.check.layer import check_layer, load_layer_file

COLUMN_LSTM = '''
import numpy as np
import gradlab


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_cell(x, h, c, W, U, b):
    H = h.shape[0]
    z = W.dot(x) + U.dot(h) + b
    i, f, o, g = sigmoid(z[:H]), sigmoid(z[H:2 * H]), sigmoid(z[2 * H:3 * H]), np.tanh(z[3 * H:])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return h_new, c_new, (x, h, c, W, U, i, f, o, g, c_new)


def lstm_cell_backward(dh, dc, cache):
    x, h, c, W, U, i, f, o, g, c_new = cache
    t = np.tanh(c_new)
    dc = dc + dh * o * (1 - t ** 2)
    dz = np.vstack((dc * g * i * (1 - i), dc * c * f * (1 - f), dh * t * o * (1 - o), dc * i * (1 - g ** 2)))
    DZ_HOOK
    return {"dx": W.T.dot(dz), "dh": U.T.dot(dz), "dc": dc * f, "dW": dz.dot(x.T), "dU": dz.dot(h.T),
            "db": dz.sum(axis=1, keepdims=True)}


LAYER = gradlab.check.layer(lstm_cell, lstm_cell_backward, style="coursera", gates="ifog",
                            inputs="x: D,N; h: H,N; c: H,N; W: 4H,D; U: 4H,H; b: 4H,1")
'''


def _load(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_layer_file(str(path)).decls[0]


def test_a_wrong_gate_in_a_column_layout_is_named_by_its_rows(tmp_path):
    right = _load(tmp_path, "cell_ok.py", COLUMN_LSTM.replace("    DZ_HOOK\n", ""))
    assert check_layer(right).verdict == "pass"
    # the forget-gate rows of dz lose their sigmoid derivative: only the forget block of dW, dU, db is wrong
    bad = COLUMN_LSTM.replace("    DZ_HOOK\n", "    H = h.shape[0]\n    dz[H:2 * H] = dc * c\n")
    report = check_layer(_load(tmp_path, "cell_bad.py", bad))
    assert set(report.wrong) == {"dx", "dh", "dW", "dU", "db"}
    text = " ".join(report.format().split())
    assert "only these gate blocks are wrong: forget gate (rows 2–3)" in text   # H = 2: rows 2–3 of (4H, ·)
    assert "worst in the forget-gate block of W (rows 2–3)" in text


def test_a_gradient_of_the_wrong_shape_is_described_in_the_declared_letters(tmp_path):
    text = COLUMN_LSTM.replace("    DZ_HOOK\n", "").replace('"dW": dz.dot(x.T)', '"dW": x.dot(dz.T)')
    report = check_layer(_load(tmp_path, "cell_shape.py", text))
    assert report.wrong == ["dW"]
    (f,) = [f for f in report.param("dW").findings if f.kind == "shape"]
    assert "your dW has shape (3, 8), but W has shape (4H, D) = (8, 3): the transpose" in f.message
    assert "column layout" in f.message and "cell_shape.py:" in f.message


LOSS = '''
import numpy as np
import gradlab


def softmax_loss(x, y):
    N = x.shape[0]
    p = np.exp(x - np.max(x, axis=1, keepdims=True))
    p /= np.sum(p, axis=1, keepdims=True)
    loss = -np.sum(np.log(p[np.arange(N), y])) / N
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    DX_HOOK
    return loss, dx


LAYER = gradlab.check.layer(softmax_loss, inputs="x: N,C; y: N < C")
'''


def test_a_loss_that_returns_its_own_gradient_is_checked_against_the_vjp_of_its_loss(tmp_path):
    right = _load(tmp_path, "loss_ok.py", LOSS.replace("DX_HOOK", "dx /= N"))
    report = check_layer(right)
    assert report.verdict == "pass" and report.upstream == ("loss",) and [p.name for p in report.params] == ["dx"]
    wrong = check_layer(_load(tmp_path, "loss_sum.py", LOSS.replace("DX_HOOK", "pass")))
    assert wrong.wrong == ["dx"]
    assert "multiplied by N = 3" in " ".join(wrong.format().split())


STEP = '''
import numpy as np
import gradlab


def step_forward(x, W):
    out = np.tanh(x.dot(W))
    return out, (x, W, out)


def step_backward(dout, cache):
    x, W, out = cache
    da = dout * (1 - out ** 2)
    RETURN


LAYER = gradlab.check.layer(step_forward, step_backward, inputs="x: N,D; W: D,H")
'''


@pytest.mark.parametrize("ret,words,line", [
    ("return da.dot(W.T)", "step_backward() returned one array; in the cs231n style it returns the 2 gradients of "
                           "the float inputs, in input order: dx, dW", 14),
    ("return da.dot(W.T), x.T.dot(da), da", "step_backward() returned 3 gradients, expected 2: one per float input, "
                                           "in input order (dx, dW)", 14),
    ("return {'dx': da.dot(W.T), 'dW': x.T.dot(da)}", "step_backward() returned dict; in the cs231n style", 14),
])
def test_a_backward_that_returns_another_structure_is_an_error_at_its_return_line(tmp_path, ret, words, line):
    decl = _load(tmp_path, "step.py", STEP.replace("RETURN", ret))
    with pytest.raises(DerivationError) as info:
        check_layer(decl)
    assert words in str(info.value) and info.value.line == line


def test_none_float32_and_nondeterministic_gradients_are_named(tmp_path):
    none = check_layer(_load(tmp_path, "none.py", STEP.replace("RETURN", "return None, x.T.dot(da)")))
    assert none.wrong == ["dx"] and "your dx is None" in none.format()
    f32 = check_layer(_load(tmp_path, "f32.py", STEP.replace(
        "RETURN", "return da.dot(W.T).astype(np.float32), x.T.dot(da)")))
    assert f32.verdict == "pass" and any(f.kind == "float32" for f in f32.findings)
    noisy = check_layer(_load(tmp_path, "noisy.py", STEP.replace(
        "RETURN", "return da.dot(W.T) + 1e-3 * np.random.default_rng().random(x.shape), x.T.dot(da)")))
    assert noisy.verdict == "fail" and any(f.kind == "nondeterministic" for f in noisy.findings)


def test_a_coursera_backward_that_leaves_out_a_needed_gradient_is_told_to_return_it(tmp_path):
    text = COLUMN_LSTM.replace("    DZ_HOOK\n", "").replace('"dx": W.T.dot(dz), ', "")
    report = check_layer(_load(tmp_path, "cell_nodx.py", text))
    assert report.wrong == ["dx"]
    assert 'lstm_cell_backward() returns no dx, but the reference dx is not 0: return it as "dx"' in report.format()


RELU_LAYER = '''
import numpy as np
import gradlab


def relu_forward(x, h0, Wx, Wh, b):
    h = np.zeros((x.shape[0], x.shape[1], Wh.shape[0]))
    prev_h = h0
    for t in range(x.shape[1]):
        prev_h = np.maximum(0, x[:, t, :].dot(Wx) + prev_h.dot(Wh) + b)
        h[:, t, :] = prev_h
    return h, (x, h0, h, Wx, Wh)


def relu_backward(dh, cache):
    x, h0, h, Wx, Wh = cache
    N, T, H = h.shape
    dx, dWx, dWh, db = np.zeros(x.shape), np.zeros(Wx.shape), np.zeros(Wh.shape), np.zeros(H)
    dnext = np.zeros((N, H))
    for t in reversed(range(T)):
        da = (dh[:, t, :] + dnext) * (h[:, t, :] > 0)
        prev = h[:, t - 1, :] if t > 0 else h0
        dx[:, t, :] = da.dot(Wx.T)
        dWx, dWh, db = dWx + x[:, t, :].T.dot(da), dWh + prev.T.dot(da), db + da.sum(axis=0)
        dnext = da.dot(Wh.T)
    return dx, dnext, dWx, dWh, db


LAYER = gradlab.check.layer(relu_forward, relu_backward, time="T", inputs="x: N,T,D; h0: N,H; Wx: D,H; Wh: H,H; b: H")
'''


def test_a_relu_layer_with_a_unit_next_to_its_kink_is_judged_by_the_traced_reference(tmp_path):
    import numpy as np

    decl = _load(tmp_path, "relu.py", RELU_LAYER)
    rng = np.random.default_rng(0)
    x, h0 = rng.uniform(0.2, 0.9, (2, 3, 2)), rng.uniform(0.2, 0.9, (2, 2))
    Wx, Wh = rng.uniform(-0.9, 0.9, (2, 2)), rng.uniform(-0.9, 0.9, (2, 2))
    b = np.array([0.3, 0.2])
    b[0] = 1e-6 - (x[0, 0].dot(Wx[:, 0]) + h0[0].dot(Wh[:, 0]))     # unit 0 of example 0 sits at its kink at t = 0
    report = check_layer(decl, sizes={"N": 2, "T": 3, "D": 2, "H": 2},
                         values={"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b})
    assert report.verdict == "pass", report.format()
    assert any("from its kink" in n and "np.maximum" in n for n in report.notes), report.notes
    # away from the kink nothing is excused, and the ReLU layer passes at the default sizes as well
    assert check_layer(decl).verdict == "pass"


def test_what_the_authors_code_prints_does_not_flood_the_report(tmp_path, capsys):
    decl = _load(tmp_path, "chatty.py", STEP.replace("RETURN", "return da.dot(W.T), x.T.dot(da)").replace(
        "    out = np.tanh(x.dot(W))\n", "    out = np.tanh(x.dot(W))\n    print('forward called', out.shape)\n"))
    report = check_layer(decl)
    assert report.verdict == "pass" and report.counts["forward_calls"] > 10
    assert "forward called" not in capsys.readouterr().out
