"""Layer mode's declarations: the shape grammar in the author's size letters, the errors that name what
does not fit, and the point of it all — each convention's adapter-free form is a few lines."""
import ast
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gradlab
from gradlab.check.layer import check_layer, check_layer_file, verify_layer
from gradlab.check.layer.declare import parse_dims, parse_inputs

from .strategies import budget

CORPUS = Path(__file__).resolve().parent / "corpus"


def test_shapes_are_written_in_size_letters_with_multiples_and_sums():
    dims = parse_dims("N, T_x, 4H, 4*H, n_a+n_x, 3")
    sizes = {"N": 2, "T_x": 5, "H": 3, "n_a": 2, "n_x": 7}
    assert [d.value(sizes) for d in dims] == [2, 5, 12, 12, 9, 3]
    assert dims[2].stacked == (4, "H") and dims[4].stacked is None and dims[1].letter == "T_x"


def test_inputs_declare_floats_indices_masks_dicts_and_shared_shapes():
    specs = parse_inputs("x: N,T < V; W: V,D; mask: N,T bool; s: (); "
                         "parameters: {Wf, Wi: n_a, n_a+n_x; bf: n_a,1}")
    kinds = {s.name: s.kind for s in specs}
    assert kinds == {"x": "int", "W": "float", "mask": "bool", "s": "float", "parameters": "dict"}
    assert specs[0].bound.letter == "V" and specs[3].dims == ()
    leaves = [p for p, _ in specs[4].leaves()]
    assert leaves == [("parameters", "Wf"), ("parameters", "Wi"), ("parameters", "bf")]
    assert specs[4].children[0].letters_text() == "(n_a, n_a+n_x)"
    same = parse_inputs({"x": "N,D", "parameters": {"W": "D,H"}})
    assert [s.name for s in same] == ["x", "parameters"] and same[1].children[0].dims[1].letter == "H"


@pytest.mark.parametrize("text,words", [
    ("x: N,,D", "expected a size"),
    ("x N,D", "expected ':'"),
    ("x: N,D h0: N,H", "expected ';'"),
    ("x: N,D; h0: N,H$", "cannot read '$'"),
])
def test_a_malformed_shape_declaration_says_where(text, words):
    with pytest.raises(ValueError, match="column"):
        parse_inputs(text)
    with pytest.raises(ValueError) as info:
        parse_inputs(text)
    assert words in str(info.value)


def _fwd(x, h0, Wx):
    return x, None


def _bwd(dout, cache):
    return dout, dout, dout


@pytest.mark.parametrize("kwargs,words", [
    (dict(inputs="x: N,D; h0: N,H"), "takes 'Wx', but inputs gives no shape for it"),
    (dict(inputs="x: N,D; h0: N,H; Wx: D,H; Wh: H,H"), "has no argument 'Wh'"),
    (dict(inputs="x: N,D; h0: N,H; Wx: D,H", style="pytorch"), "style must be one of"),
    (dict(inputs="x: N,D; h0: N,H; Wx: D,H", time="T"), "time='T' is not a size letter"),
    (dict(inputs="x: N,D; h0: N,H; Wx: D,H", gates="ifog"), "no input has an axis of 4 stacked blocks"),
    (dict(inputs="x: N,D; h0: N,H; Wx: D,H", grads=("dx", "dWh")), "grads names 'dWh'"),
    (dict(inputs="x: N,D; h0: N,H; Wx: D,H", upstream="a, b"), "upstream names 2 output(s)"),
    (dict(inputs="x: N,D; h0: N,H; Wx: D,H", sizes={"Q": 2}), "sizes gives 'Q'"),
])
def test_a_declaration_that_does_not_fit_the_functions_names_what_is_wrong(kwargs, words):
    with pytest.raises((ValueError, TypeError)) as info:
        gradlab.check.layer(_fwd, _bwd, **kwargs)
    assert words in str(info.value)


def test_default_sizes_are_distinct_so_factors_and_axes_can_be_read_off():
    decl = gradlab.check.layer(_fwd, _bwd, inputs="x: N,T,D; h0: N,H; Wx: D,4H", time="T", grads="dx, dh0, dWx")
    sizes = decl.default_sizes()
    assert sizes["T"] == 5 and len(set(sizes.values())) == len(sizes)
    assert gradlab.check.layer(_fwd, _bwd, inputs="x: N,T,D; h0: N,H; Wx: D,H", sizes={"H": 6}).default_sizes()["H"] == 6


def _declaration_lines(path: Path) -> int:
    """Lines of a file that are neither the course's own code (functions, imports) nor its docstring."""
    tree = ast.parse(path.read_text())
    lines = 0
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        lines += node.end_lineno - node.lineno + 1
    return lines


@pytest.mark.parametrize("style,module,names,decl", [
    ("cs231n", "rnn_sequence", "rnn_forward, rnn_backward",
     'gradlab.check.layer(rnn_forward, rnn_backward, time="T", inputs="x: N,T,D; h0: N,H; Wx: D,H; Wh: H,H; b: H")'),
    ("coursera", "rnn_sequence", "rnn_forward, rnn_backward",
     'gradlab.check.layer(rnn_forward, rnn_backward, style="coursera", time="T_x",\n'
     '                            inputs="x: n_x,m,T_x; a0: n_a,m; parameters: {Wax: n_a,n_x; Waa: n_a,n_a; '
     'Wya: n_y,n_a; ba: n_a,1; by: n_y,1}")'),
])
def test_each_conventions_adapter_free_form_is_a_few_lines_of_declarations(tmp_path, style, module, names, decl):
    course = CORPUS / style
    # the course's module as the student has it (its own LAYER line taken out), and a check file beside it
    src = (course / f"{module}.py").read_text()
    (tmp_path / f"{style}_{module}.py").write_text(src[:src.index("\nLAYER")] + "\n")
    text = f"import gradlab\nfrom {style}_{module} import {names}\n\nLAYER = {decl}\n"
    path = tmp_path / f"my_{style}_check.py"
    path.write_text(text)
    code_lines = [l for l in text.splitlines() if l.strip()]
    assert len(code_lines) <= 4                 # two imports and one declaration: no adapter code at all
    res = check_layer_file(str(path), examples=0)
    assert res["status"] == "ok", res["error"] or res["report"].format()
    # the corpus files themselves: the course code plus at most four lines of declarations
    for f in sorted(course.glob("*.py")):
        assert _declaration_lines(f) <= 6, f


def test_the_python_api_checks_and_searches_without_a_file():
    ns = {}
    exec(compile(textwrap.dedent((CORPUS / "cs231n" / "rnn_step.py").read_text()), str(CORPUS / "cs231n" / "rnn_step.py"),
                 "exec"), ns)
    decl = ns["LAYER"]
    report = gradlab.check.check_layer(decl, sizes={"N": 2, "D": 3, "H": 4}, seed=5)
    assert report.verdict == "pass" and report.sizes == {"N": 2, "D": 3, "H": 4}
    assert [p.name for p in report.params] == ["dx", "dprev_h", "dWx", "dWh", "db"]
    x = np.full((2, 3), 0.5)
    fixed = check_layer(decl, sizes={"N": 2, "D": 3, "H": 4}, values={"x": x}, seed=5)
    assert fixed.verdict == "pass"
    search = verify_layer(decl, max_examples=budget(5), seed=1)
    assert search.ok and search.examples == budget(5)
    d = report.to_dict()
    assert d["verdict"] == "pass" and d["routes"]["blackbox"].startswith("complex step") and d["layer"] == "rnn_step_backward"


def test_declared_output_shapes_give_the_time_axis_when_sizes_coincide():
    # with N = T the time axis of h cannot be read off its shape; declaring the output says it
    text = (CORPUS / "cs231n" / "wrong_rnn_no_recurrent_term.py").read_text()
    ns = {"__file__": str(CORPUS / "cs231n" / "wrong_rnn_no_recurrent_term.py")}
    exec(compile(text, ns["__file__"], "exec"), ns)
    guessed = ns["LAYER"]
    declared = gradlab.check.layer(ns["rnn_forward"], ns["rnn_backward"], time="T", outputs="h: N,T,H",
                                   inputs="x: N,T,D; h0: N,H; Wx: D,H; Wh: H,H; b: H")
    sizes = {"N": 4, "T": 4, "D": 3, "H": 2}
    flat = lambda r: " ".join(" ".join(r.localisation).split())
    assert "one step τ only" not in flat(check_layer(guessed, sizes=sizes))
    assert "wrong from one step back" in flat(check_layer(declared, sizes=sizes))
    assert "dx is correct for t ≥ 3 and wrong from t = 2 back" in flat(check_layer(declared, sizes=sizes))
