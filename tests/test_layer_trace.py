"""The tracing namespace records what course code does with NumPy: for every operation it supports, the
VJP of the recorded graph equals the black-box VJP of the same function; anything it cannot record is
refused with a message, never differentiated wrongly."""
import importlib.util
import textwrap

import numpy as np
import pytest

import gradlab
from gradlab.check.layer.routes import Case, blackbox_vjp, trace_forward
from gradlab.check.layer.core import agreement
from gradlab.check.layer.trace import SUPPORTED

# one forward per line: out = <expression of a (2, 3) and b (2, 3)>, written as course code writes it
FORWARDS = {
    "elementwise": "np.tanh(a) * np.exp(b) + np.log(a * a + 1) - np.sqrt(np.square(b) + 1)",
    "sigmoid_by_hand": "1 / (1 + np.exp(-a)) * b",
    "powers": "a ** 3 / (1 + b ** 2) + 2 ** a - np.power(b, 2)",
    "products": "np.dot(a, b.T) + a @ b.T + a.dot(b.T) + np.matmul(a, b.T)",
    "outer": "np.outer(a[0], b[1])",
    "reductions": "np.sum(a * b, axis=0) + a.sum(axis=1, keepdims=True).T[0, :2].sum() + np.mean(b, axis=0) + b.mean()",
    "extremes": "np.max(a, axis=1) * np.min(b, axis=0)[:2] + a.max()",
    "joins": "np.concatenate((a, b), axis=1).sum(0)[:3] * np.vstack([a, b])[3] + np.hstack((a, b))[1, 2:5]",
    "split": "np.split(np.hstack((a, b)), 2, axis=1)[1] * a + np.stack([a, b])[1] + np.array([a, b])[0]",
    "shapes": "a.T.reshape(-1)[:3] + a.reshape(3, 2).T[1] + np.transpose(b)[:, 0] + a.swapaxes(0, 1)[2, 0]",
    "axes": "np.expand_dims(a, 0)[0] * np.squeeze(b.reshape(1, 2, 3)) + a.flatten()[:3].reshape(1, 3)",
    "copies": "np.copy(a) * b.copy() + np.asarray(a) - np.array(b)",
    "choices": "np.maximum(a, 0.05) + np.minimum(b, -0.05) + np.where(a > 0, a, 0.5 * b) + np.clip(a, -0.35, 0.35)",
    "absolute": "np.abs(a) * b + abs(b) + np.shape(a)[0] + np.ndim(b) + np.size(a)",
    "gathers": "a[np.array([0, 0, 1])] [:, :2].sum(0) + a[a > 0].sum() + b[[1, 0]][0, 1]",
    "python_sum": "sum([a, b, a * b])",
}

BUFFERS = '''
def buffers(a, b):
    h = np.zeros((2, a.shape[0], a.shape[1]))
    h[0] = a
    h[1, :, :] = np.tanh(b)
    h[:, 1] += a[:, 0:1]
    h[0] *= 2
    rows = np.zeros_like(a)
    for n in range(a.shape[0]):
        rows[n] = a[n] * b[n]
    return h.sum(axis=0) + rows, {"h": h, "rows": [rows]}
'''


def _module(tmp_path):
    src = "import numpy as np\n\n" + "".join(
        f"\ndef {name}(a, b):\n    out = {expr}\n    return out, (a, b)\n" for name, expr in FORWARDS.items()) + BUFFERS
    path = tmp_path / "course_ops.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("course_ops_for_tracing", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", sorted(FORWARDS) + ["buffers"])
def test_the_traced_vjp_equals_the_black_box_vjp_for_each_supported_operation(tmp_path, name):
    fn = getattr(_module(tmp_path), name)
    decl = gradlab.check.layer(fn, lambda dout, cache: None, inputs="a: N,D; b: N,D")
    rng = np.random.default_rng(sum(map(ord, name)))
    values = {(k,): rng.uniform(0.2, 0.9, (2, 3)) * rng.choice([-1.0, 1.0], (2, 3)) for k in "ab"}
    trace = trace_forward(decl, values)
    assert trace.ok, trace.note
    outs, _ = fn(values[("a",)].copy(), values[("b",)].copy())
    np.testing.assert_allclose(trace.values()["out"], outs, rtol=1e-14, atol=1e-15)
    up = {"out": rng.standard_normal(np.shape(outs))}
    traced = trace.vjp(up)
    bb = blackbox_vjp(decl, Case({"N": 2, "D": 3}, values, up))
    assert agreement(traced, bb.grads) <= 1e-9, (bb.method, agreement(traced, bb.grads))
    assert any(np.any(g) for g in traced.values())


def test_every_function_course_code_uses_is_supported():
    for name in ("tanh", "exp", "log", "maximum", "dot", "outer", "sum", "concatenate", "vstack", "hstack", "split",
                 "copy", "zeros", "zeros_like", "mean", "max", "where", "clip", "sqrt", "stack", "reshape"):
        assert name in SUPPORTED


@pytest.mark.parametrize("expr,what", [
    ("np.einsum('nd,nd->n', a, b)", "np.einsum"),
    ("np.cumsum(a, axis=1)", "np.cumsum"),
    ("float(a[0, 0]) * b", "float() of a traced value"),
    ("a.cumprod()", "the array method .cumprod"),
    ("np.sum(a, out=np.zeros(3), axis=0)", "np.sum(…, out=…)"),
])
def test_what_the_namespace_cannot_record_is_refused_with_its_name_and_line(tmp_path, expr, what):
    path = tmp_path / "untraceable.py"
    path.write_text(textwrap.dedent(f"""\
        import numpy as np

        def f(a, b):
            out = {expr}
            return out, (a, b)
        """))
    spec = importlib.util.spec_from_file_location("untraceable_for_tracing", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    decl = gradlab.check.layer(mod.f, lambda dout, cache: None, inputs="a: N,D; b: N,D")
    values = {("a",): np.full((2, 3), 0.3), ("b",): np.full((2, 3), -0.4)}
    trace = trace_forward(decl, values)
    assert not trace.ok
    assert what in trace.note
    assert trace.where is not None and trace.where.lineno == 4 and trace.where.filename == str(path)
