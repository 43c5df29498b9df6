"""`gradlab check`: one line per derivation, exit status, JSON, and the documented file-and-line
messages for derivation files that break the contract (never a traceback from gradlab)."""
import json
import textwrap
from pathlib import Path

import pytest

from gradlab.check import DerivationError, check_gradient, load_derivation
from gradlab.cli import main

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"

GOOD_BODY = '''
import numpy as np
import gradlab

MODEL = gradlab.specs.feedforward()


def gradient(params, data):
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    x, d = data["x"], data["d"]
    h = np.tanh(W_1 @ x + b_1)
    e = W_2 @ h + b_2 - d
    a = (W_2.T @ e) * (1 - h * h)
    return {"W_1": np.outer(a, x), "b_1": a, "W_2": np.outer(e, h), "b_2": e}
'''


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run_cli(capsys, *argv):
    status = main(["check", *map(str, argv)])
    out = capsys.readouterr()
    return status, out.out, out.err


# ---------------------------------------------------------------------------- the command
def test_check_of_the_shipped_derivations_is_all_as_expected(capsys):
    files = [DERIVATIONS / n for n in ("elman_bptt_sequence.py", "wrong_elman_no_recurrent_term.py",
                                       "wrong_feedforward_missing_half.py")]
    status, out, _ = run_cli(capsys, *files, "--examples", "0")
    assert status == 0
    lines = [l for l in out.splitlines() if l.startswith("  ok") or l.startswith("  caught")]
    assert len(lines) == 3
    assert "correct for T = 1, wrong from T = 2" in out
    assert "exactly 2 × the reference" in out
    assert "all as expected" in out
    assert "Traceback" not in out


def test_a_wrong_derivation_that_claims_to_be_right_makes_the_exit_status_non_zero(tmp_path, capsys):
    text = (DERIVATIONS / "wrong_elman_no_recurrent_term.py").read_text().replace('EXPECT = "wrong"\n', "")
    text = text.replace('WRONG = ("W_x", "W_s", "b_s")\n', "")
    path = write(tmp_path, "mine.py", text)
    status, out, _ = run_cli(capsys, path, "--examples", "0")
    assert status == 1
    assert "FAIL" in out and "W_x, b_s, W_s wrong" in out
    assert "worst rel err" in out and "where:" in out and "NOT as expected" in out


def test_a_planted_error_in_the_wrong_parameter_is_reported_as_missed(tmp_path, capsys):
    text = (DERIVATIONS / "wrong_elman_no_recurrent_term.py").read_text()
    path = write(tmp_path, "mislabelled.py", text.replace('WRONG = ("W_x", "W_s", "b_s")', 'WRONG = ("W_y",)'))
    status, out, _ = run_cli(capsys, path, "--examples", "0")
    assert status == 1 and "MISSED" in out


def test_json_output_is_machine_readable(capsys):
    status, out, _ = run_cli(capsys, DERIVATIONS / "wrong_elman_wx_slip.py", "--json", "--examples", "0", "--fast")
    doc = json.loads(out)
    assert status == 0 and doc["ok"] is True
    (entry,) = doc["files"]
    assert entry["status"] == "caught" and entry["found_wrong"] == ["W_x"]
    assert entry["report"]["verdict"] == "fail" and entry["report"]["mode"] == "fast"


def test_no_derivation_found_exits_with_2(tmp_path, capsys):
    status, _, err = run_cli(capsys, tmp_path)
    assert status == 2 and "no derivation files" in err


# ----------------------------------------------------------------------- broken derivations
BROKEN = {
    "no_gradient.py": ("import gradlab\nMODEL = gradlab.specs.elman()\ndef grad(params, data):\n    return {}\n",
                       None, ["defines no function gradient(params, data)", "rename grad() to gradient()"]),
    "no_model.py": ("def gradient(params, data):\n    return {}\n", None, ["defines no MODEL"]),
    "model_not_spec.py": ('MODEL = "elman"\ndef gradient(params, data):\n    return {}\n', 1,
                          ["MODEL must be a spec from gradlab.specs, got str"]),
    "one_argument.py": ("import gradlab\nMODEL = gradlab.specs.elman()\ndef gradient(params):\n    return {}\n", 3,
                        ["gradient must take two arguments (params, data)"]),
    "syntax.py": ("import gradlab\nMODEL = gradlab.specs.elman()\ndef gradient(params, data)\n    return {}\n", 3,
                  ["SyntaxError"]),
    "import_error.py": ("import gradlab\nMODEL = gradlab.specs.elmann()\n", 2,
                        ["AttributeError while importing", "the model specs are"]),
    "unknown_read.py": ("import gradlab\nMODEL = gradlab.specs.elman()\ndef gradient(params, data):\n"
                        "    W = params['W_h']\n    return {}\n", 4,
                        ["KeyError in gradient(): params has no 'W_h'", "did you mean", "W = params['W_h']"]),
    "wrong_weight_constraint.py": ("import gradlab\nMODEL = gradlab.specs.elman()\nEXPECT = 'wrong'\nWRONG = ('W_z',)\n"
                                   "def gradient(params, data):\n    return {}\n", 4,
                                   ["WRONG names 'W_z', which is not a parameter"]),
    "expect_without_wrong.py": ("import gradlab\nMODEL = gradlab.specs.elman()\nEXPECT = 'wrong'\n"
                                "def gradient(params, data):\n    return {}\n", 3, ["needs WRONG"]),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_derivation_file_gets_a_message_with_file_and_line(tmp_path, capsys, name):
    text, line, phrases = BROKEN[name]
    path = write(tmp_path, name, text)
    status, out, _ = run_cli(capsys, path, "--examples", "0")
    assert status == 1
    assert "ERROR" in out and "Traceback" not in out
    where = f"{name}:{line}" if line else name
    assert where in out
    for phrase in phrases:
        assert phrase in out


CALL_ERRORS = {
    "unknown_returned": ('    return {"W_h": 1.0}\n', "gradient returned 'W_h', which is not a parameter", 14),
    "missing": ('    g = {"W_1": np.outer(a, x), "b_1": a, "W_2": np.outer(e, h)}\n    return g\n',
                "gradient did not return b_2", None),
    "not_a_dict": ("    return [a, e]\n", "returned list, expected a dict", None),
    "int_dtype": ('    return {"W_1": np.zeros((3, 2), dtype=int), "b_1": a, "W_2": np.outer(e, h), "b_2": e}\n',
                  "gradient['W_1'] has dtype int64 (integers)", 14),
    "complex_dtype": ('    return {"W_1": np.outer(a, x) + 0j, "b_1": a, "W_2": np.outer(e, h), "b_2": e}\n',
                      "complex numbers", 14),
    "raises": ("    return {'W_1': x @ W_1}\n", "ValueError in gradient()", 14),
}


@pytest.mark.parametrize("case", sorted(CALL_ERRORS))
def test_a_gradient_that_breaks_the_contract_is_reported_at_its_line(tmp_path, case):
    body, phrase, line = CALL_ERRORS[case]
    text = GOOD_BODY.split("    return {")[0] + body
    path = write(tmp_path, f"{case}.py", text)
    with pytest.raises(DerivationError) as info:
        check_gradient(load_derivation(str(path)))
    msg = str(info.value)
    assert phrase in msg
    assert f"{case}.py" in msg
    if line is not None:
        assert info.value.line == line, msg


def test_a_wrong_shape_is_a_wrong_verdict_with_file_and_line(tmp_path):
    text = GOOD_BODY.replace('"W_1": np.outer(a, x)', '"W_1": np.outer(x, a)')
    path = write(tmp_path, "shape.py", text)
    report = check_gradient(load_derivation(str(path)))
    assert report.wrong == ["W_1"]
    msg = report.param("W_1").findings[0].message
    assert "shape.py:14" in msg and "has shape (2, 3), but W_1 has shape (3, 2) = (H, D)" in msg
    assert "transpose" in msg


def test_nan_in_a_gradient_is_a_wrong_verdict(tmp_path):
    path = write(tmp_path, "nan.py", GOOD_BODY.replace('"b_2": e}', '"b_2": e * np.nan}'))
    report = check_gradient(load_derivation(str(path)))
    assert report.wrong == ["b_2"]
    assert "NaN" in report.format()


def test_a_good_file_passes_from_the_command_line(tmp_path, capsys):
    path = write(tmp_path, "good.py", GOOD_BODY)
    status, out, _ = run_cli(capsys, path, "--examples", "2", "--seed", "3")
    assert status == 0 and "  ok" in out and "seed 3" in out


def test_figure_writes_one_picture_per_derivation_with_wrong_parameters(tmp_path, capsys):
    render = pytest.importorskip("gradlab.render")
    if not hasattr(render, "failure_figure"):
        pytest.skip("this gradlab.render has no failure_figure")
    out_dir = tmp_path / "figs"
    status, _, err = run_cli(capsys, DERIVATIONS / "wrong_elman_no_recurrent_term.py", DERIVATIONS / "elman_bptt.py",
                             "--examples", "0", "--figure", out_dir)
    assert status == 0
    written = sorted(p.name for p in out_dir.iterdir())
    assert len(written) == 1 and written[0].startswith("wrong_elman_no_recurrent_term.")
    assert "wrote" in err


def test_a_float32_warning_is_shown_without_verbose(tmp_path):
    import subprocess
    import sys

    f = tmp_path / "f32.py"
    f.write_text('''"""Feedforward backprop computed in float32."""
import numpy as np, gradlab
MODEL = gradlab.specs.feedforward()
def gradient(params, data):
    W_1, b_1, W_2, b_2 = (params[k].astype(np.float32) for k in ("W_1", "b_1", "W_2", "b_2"))
    x, d = data["x"].astype(np.float32), data["d"].astype(np.float32)
    h = np.tanh(W_1 @ x + b_1); y = W_2 @ h + b_2; e = y - d
    dh = (W_2.T @ e) * (1 - h * h)
    return {"W_1": np.outer(dh, x), "b_1": dh, "W_2": np.outer(e, h), "b_2": e}
''')
    out = subprocess.run([sys.executable, "-m", "gradlab.cli", "check", str(f), "--examples", "0"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning: the check ran with float32 values" in out.stdout


def test_a_missing_parameter_name_is_reported_as_a_plain_key_error(tmp_path):
    import subprocess
    import sys

    f = tmp_path / "typo.py"
    f.write_text('import gradlab\nMODEL = gradlab.specs.elman()\ndef gradient(params, data):\n    return {"W_x": params["W_h"]}\n')
    out = subprocess.run([sys.executable, "-m", "gradlab.cli", "check", str(f), "--examples", "0"],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "typo.py:4" in out.stdout and "KeyError in gradient(): params has no 'W_h'" in out.stdout
    assert "_NamedKeyError" not in out.stdout and "Traceback" not in out.stdout + out.stderr


def _run_check(*paths):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "gradlab.cli", "check", *map(str, paths), "--examples", "0"],
                          capture_output=True, text=True)


def test_a_derivation_given_as_formulas_is_checked_symbolically_and_numerically():
    out = _run_check("derivations/elman_formulas_T2.py", "derivations/wrong_elman_formulas_missing_tanh_prime.py")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "simplifies to 0 for W_x, W_s, b_s, W_y, b_y" in out.stdout
    assert "W_s wrong, as planted" in out.stdout and "W_s differs from the derived gradient" in out.stdout


def test_a_formula_derivation_without_sizes_or_with_code_in_a_formula_is_refused(tmp_path):
    no_sizes = tmp_path / "no_sizes.py"
    no_sizes.write_text('import gradlab\nMODEL = gradlab.specs.elman()\nGRADIENT = {"W_s": "s_1"}\n')
    out = _run_check(no_sizes)
    assert out.returncode == 1 and "needs SIZES" in out.stdout and "Traceback" not in out.stdout + out.stderr
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text('import gradlab\nMODEL = gradlab.specs.elman()\nSIZES = {"T": 1, "D": 1, "H": 1, "O": 1}\n'
                      'GRADIENT = {"W_x": "__import__(\'os\').system(\'touch PWNED\')", "W_s": "0", "b_s": "0",\n'
                      '            "W_y": "0", "b_y": "0"}\n')
    out = _run_check(sneaky)
    assert out.returncode == 1 and "sneaky.py:4" in out.stdout
    assert not (tmp_path / "PWNED").exists()
