"""The checker for hand-written curvature products (``gauss_newton(params, data, v)`` / ``hessian(...)`` beside
``MODEL``): right products pass against gradlab, HIPS autograd and differences; a planted wrong Gauss–Newton
product is caught and named; what the theory says about a product (symmetric, G positive semi-definite, H ≠ G)
is reported; contract breaches are messages with the file and line."""
from pathlib import Path

import numpy as np
import pytest

import gradlab
from gradlab.check.candidate import DerivationError, scan_file
from gradlab.check.curvature import ProductCandidate, check_product, check_product_file, load_product

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"


def _product(fn, spec, product="gauss_newton"):
    return ProductCandidate(fn, fn.__name__, spec=spec, product=product)


def _right():
    return load_product(str(DERIVATIONS / "elman_gauss_newton.py"))


@pytest.mark.parametrize("name", ["elman_gauss_newton.py", "elman_softmax_gauss_newton.py"])
def test_right_gauss_newton_derivations_pass_against_every_reference(name):
    res = check_product_file(str(DERIVATIONS / name), examples=1)
    assert res["status"] == "ok", res["report"].format(verbose=True)
    report = res["report"]
    assert report.references_agree and set(report.agreement) == {"engine ↔ autograd", "engine ↔ finite differences"}
    assert all(set(p.per_reference) == {"engine", "autograd", "fd"} for p in report.params)
    assert len(report.coverage) == 3                          # default sizes, larger sizes, one more draw


def test_the_planted_wrong_gauss_newton_product_is_caught_and_located_in_time():
    res = check_product_file(str(DERIVATIONS / "wrong_elman_gauss_newton_tangent_stops.py"))
    assert res["status"] == "caught"
    assert res["found_wrong"] == ["W_x", "b_s", "W_s", "W_y", "b_y"]
    assert any("wrong from T = 2" in line for line in res["report"].localisation)


def test_a_product_off_by_a_factor_is_caught_and_the_factor_named():
    cand = _right()

    def gauss_newton(params, data, v):
        return {k: 2.0 * a for k, a in cand.fn(params, data, v).items()}

    report = check_product(_product(gauss_newton, cand.spec), seed=1)
    assert report.verdict == "fail" and len(report.wrong) == 5
    assert any(f.kind == "factor" and "times 2" in f.message for f in report.findings)


def test_a_product_that_is_not_symmetric_or_not_semidefinite_is_told_so():
    cand = _right()

    def gauss_newton(params, data, v):            # G v + K v with K skew: x ↦ (x_Ws shifted into W_x)
        g = cand.fn(params, data, v)
        g["W_x"] = g["W_x"] + 0.5 * v["W_s"][:, :2]
        g["W_s"] = g["W_s"] - 0.5 * np.pad(v["W_x"], ((0, 0), (0, 1)))
        return g

    report = check_product(_product(gauss_newton, cand.spec))
    assert any(f.kind == "symmetry" for f in report.findings), report.format()

    def negative(params, data, v):
        return {k: -a for k, a in cand.fn(params, data, v).items()}

    report = check_product(_product(negative, cand.spec))
    assert any(f.kind == "definite" for f in report.findings), report.format()


def _autograd_hessian(spec):
    """A right H v written with HIPS autograd (independent of gradlab's derivatives)."""
    import autograd
    import autograd.numpy as anp

    def hessian(params, data, v):
        names = list(params)

        def E(*ws):
            p = dict(zip(names, ws))
            s, total = data["s_0"], 0.0
            for t in range(len(data["xs"])):
                s = anp.tanh(p["W_x"] @ data["xs"][t] + p["W_s"] @ s + p["b_s"])
                r = p["W_y"] @ s + p["b_y"] - data["ds"][t]
                total = total + 0.5 * anp.sum(r * r)
            return total

        ws = [params[n] for n in names]
        out = {}
        for i, n in enumerate(names):
            grad_i = autograd.grad(E, i)
            out[n] = sum(autograd.make_jvp(grad_i, j)(*ws)(v[m])[1] for j, m in enumerate(names))
        return out

    return _product(hessian, spec, "hessian")


def test_a_right_hessian_product_passes_and_a_gauss_newton_product_in_its_place_is_named():
    spec = gradlab.specs.elman(loss="mse_half")
    report = check_product(_autograd_hessian(spec))
    assert report.verdict == "pass", report.format()
    gn = _right()
    as_hessian = _product(gn.fn, spec, "hessian")
    report = check_product(as_hessian)
    assert report.verdict == "fail"
    assert "b_y" not in report.wrong                          # the output bias block of H is G's
    assert any(f.kind == "other_product" for f in report.findings)


def test_product_files_are_recognised_from_their_syntax_tree(tmp_path):
    f = tmp_path / "gn.py"
    f.write_text("import gradlab\nMODEL = gradlab.specs.elman()\ndef gauss_newton(params, data, v):\n    return {}\n")
    assert scan_file(str(f)).mode == "product"
    g = tmp_path / "h.py"
    g.write_text("def hessian(params, data, v):\n    return {}\n")
    s = scan_file(str(g))
    assert s.kind == "skip" and "hessian but assigns no MODEL" in s.reason


@pytest.mark.parametrize("body, message", [
    ("MODEL = gradlab.specs.elman()\ndef gauss_newton(params, data):\n    return {}\n", "three arguments"),
    ("MODEL = gradlab.specs.elman()\ndef gauss_newton(p, d, v):\n    return {}\ndef hessian(p, d, v):\n    return {}\n",
     "both gauss_newton and hessian"),
    ("def gauss_newton(p, d, v):\n    return {}\n", "no MODEL"),
    ("MODEL = gradlab.specs.elman(truncate=2)\ndef gauss_newton(p, d, v):\n    return {}\n", "truncate"),
    ("MODEL = gradlab.specs.elman()\nEXPECT = 'wrong'\nWRONG = ('W_q',)\ndef gauss_newton(p, d, v):\n    return {}\n",
     "W_q"),
    ("MODEL = gradlab.specs.elman()\ndef gauss_newton(p, d, v):\n    return [1.0]\n", "returned list"),
    ("MODEL = gradlab.specs.elman()\ndef gauss_newton(p, d, v):\n    return {'W_x': p['W_x'] @ v['W_s']}\n",
     "ValueError in gauss_newton"),
])
def test_contract_breaches_are_errors_with_file_and_line(tmp_path, body, message):
    f = tmp_path / "product.py"
    f.write_text("import gradlab\n" + body)
    res = check_product_file(str(f), examples=0)
    assert res["status"] == "ERROR"
    assert isinstance(res["error"], DerivationError) and message in str(res["error"])
    assert "product.py" in str(res["error"])


def test_gradlab_check_reports_a_product_file_like_a_gradient_file(tmp_path):
    from gradlab.check.cli import check_file

    res = check_file(str(DERIVATIONS / "wrong_elman_gauss_newton_tangent_stops.py"), examples=0)
    assert res["status"] == "caught" and res["mode"] == "product"
    d = res["report"].to_dict()
    assert d["verdict"] == "fail" and d["wrong"] == ["W_x", "b_s", "W_s", "W_y", "b_y"]


def test_the_failure_figure_of_a_wrong_product_draws_its_network_and_calls_the_blocks_wrong():
    # `gradlab check derivations/ --figure` (the demo) draws one for each caught file, products included
    from gradlab.check.cli import check_file
    from gradlab.render.checkview import failure_dot

    res = check_file(str(DERIVATIONS / "wrong_elman_gauss_newton_tangent_stops.py"))
    src = failure_dot(res["report"]).source
    assert "subgraph cluster_t" in src                          # the unfolded Elman network
    assert "its block of the product wrong" in src and "gradient wrong" not in src
