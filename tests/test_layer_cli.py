"""`gradlab check` on layer-mode files: the same one line per file, exit status, JSON and result dict as
for every derivation; the old MODEL + gradient files beside them keep working."""
import json
import shutil
import textwrap
from pathlib import Path

from gradlab.check.cli import check_file
from gradlab.check.layer import is_layer_file
from gradlab.cli import main

CORPUS = Path(__file__).resolve().parent / "corpus"
DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"


def run_cli(capsys, *argv):
    status = main(["check", *map(str, argv)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_a_layer_file_is_recognised_from_its_syntax_tree_without_running_it(tmp_path):
    path = tmp_path / "never_run.py"
    path.write_text("raise SystemExit('must not run')\nLAYER = object()\n")
    assert is_layer_file(path)
    (tmp_path / "plain.py").write_text("MODEL = 1\ndef gradient(p, d):\n    return {}\n")
    assert not is_layer_file(tmp_path / "plain.py")
    assert not is_layer_file(DERIVATIONS / "elman_bptt.py")


def test_check_file_returns_the_contract_keys_for_a_layer_file():
    res = check_file(str(CORPUS / "cs231n" / "wrong_rnn_transposed_dWh.py"), examples=0)
    for key in ("status", "expect", "expected_wrong", "found_wrong", "elapsed", "error", "report", "search"):
        assert key in res
    assert res["status"] == "caught" and res["expect"] == "wrong"
    assert res["expected_wrong"] == ["dWh"] and res["found_wrong"] == ["dWh"]
    rep = res["report"]
    assert rep.verdict == "fail" and rep.wrong == ["dWh"]
    assert json.dumps(rep.to_dict()) and "dWh" in rep.format()


def test_a_folder_of_layer_files_and_old_derivations_is_checked_together(tmp_path, capsys):
    for name in ("rnn_step.py", "wrong_rnn_dh0_only.py"):
        shutil.copy(CORPUS / "cs231n" / name, tmp_path / name)
    shutil.copy(DERIVATIONS / "wrong_elman_no_recurrent_term.py", tmp_path / "wrong_elman_no_recurrent_term.py")
    status, out, _ = run_cli(capsys, tmp_path, "--examples", "0")
    assert status == 0, out
    assert "3 derivations: 1 correct, 2 planted errors caught: all as expected." in out
    assert "dh0 wrong, as planted" in out and "your dh0 is the gradient of next_h" in out
    assert "W_x, b_s, W_s wrong, as planted" in out or "W_x, W_s, b_s wrong, as planted" in out
    assert "Traceback" not in out


def test_a_wrong_layer_that_claims_to_be_right_fails_with_its_report(tmp_path, capsys):
    text = (CORPUS / "coursera" / "wrong_rnn_no_recurrent_term.py").read_text()
    text = text.replace('EXPECT = "wrong"\n', "").replace('WRONG = ("dx", "da0", "dWax", "dWaa", "dba")\n', "")
    path = tmp_path / "mine.py"
    path.write_text(text)
    status, out, _ = run_cli(capsys, path, "--examples", "0")
    assert status == 1 and "FAIL" in out and "NOT as expected" in out
    assert "dx, da0, dWax, dWaa, dba wrong" in out
    flat = " ".join(out.split())
    assert "dx is correct for t ≥ 4 and wrong from t = 3 back" in flat
    assert "dx[" in out and "yours" in out and "reference" in out        # the worst element in the author's indices


def test_a_planted_mistake_labelled_with_the_wrong_gradient_is_missed(tmp_path, capsys):
    text = (CORPUS / "cs231n" / "wrong_rnn_batch_mean_dWh.py").read_text().replace('WRONG = ("dWh",)', 'WRONG = ("dWx",)')
    path = tmp_path / "mislabelled.py"
    path.write_text(text)
    status, out, _ = run_cli(capsys, path, "--examples", "0")
    assert status == 1 and "MISSED" in out and "found dWh wrong, planted dWx" in out


def test_wrong_names_a_gradient_the_layer_does_not_have(tmp_path, capsys):
    text = (CORPUS / "cs231n" / "wrong_rnn_batch_mean_dWh.py").read_text().replace('WRONG = ("dWh",)', 'WRONG = ("dW_h",)')
    path = tmp_path / "typo.py"
    path.write_text(text)
    status, out, _ = run_cli(capsys, path, "--examples", "0")
    assert status == 1 and "ERROR" in out
    assert "WRONG names 'dW_h'" in out and "did you mean 'dWh'?" in out and "typo.py:" in out


def test_json_output_of_a_layer_file_is_machine_readable(capsys):
    status, out, _ = run_cli(capsys, CORPUS / "coursera" / "wrong_rnn_one_over_T.py", "--json", "--examples", "0")
    doc = json.loads(out)
    (entry,) = doc["files"]
    assert status == 0 and entry["status"] == "caught" and entry["found_wrong"] == ["dWax"]
    report = entry["report"]
    assert report["routes"]["traced"].startswith("your forward recorded") and report["wrong"] == ["dWax"]
    assert any(f["kind"] == "scale" for p in report["params"] for f in p["findings"])


def test_several_layers_in_one_file_are_named_by_layer(tmp_path, capsys):
    src = (CORPUS / "cs231n" / "word_layers.py").read_text()
    bad = src.replace("    db = dout.sum(axis=(0, 1))\n", "    db = dout.sum(axis=(0, 1)) / N\n")
    bad = bad.replace("LAYERS = [", 'EXPECT = "wrong"\nWRONG = ("temporal_affine_backward.db",)\n\nLAYERS = [')
    path = tmp_path / "captioning.py"
    path.write_text(bad)
    res = check_file(str(path), examples=0)
    assert res["status"] == "caught", res
    assert res["found_wrong"] == ["temporal_affine_backward.db"]
    assert res["report"].wrong == ["temporal_affine_backward.db"]
    assert "divided by N = 3" in " ".join(res["report"].format().split())


def test_the_shipped_derivations_still_pass_next_to_the_layer_mode(capsys):
    files = [DERIVATIONS / n for n in ("elman_bptt.py", "wrong_lstm_no_cell_path.py")]
    status, out, _ = run_cli(capsys, *files, "--examples", "0")
    assert status == 0 and "all as expected" in out


def test_an_exception_in_the_authors_backward_is_an_error_at_the_authors_line(tmp_path, capsys):
    text = (CORPUS / "cs231n" / "rnn_step.py").read_text().replace("    dx = da.dot(Wx.T)\n", "    dx = da.dot(Wx)\n")
    path = tmp_path / "slip.py"
    path.write_text(textwrap.dedent(text))
    status, out, _ = run_cli(capsys, path, "--examples", "0")
    assert status == 1 and "ERROR" in out
    assert "slip.py:17" in out and "ValueError in rnn_step_backward()" in out and "dx = da.dot(Wx)" in out
    assert "Wx (D, H) = (4, 2)" in out and "Traceback" not in out


def test_figure_writes_the_picture_of_the_time_step_probe_for_a_layer_file(tmp_path, capsys):
    status, out, err = run_cli(capsys, CORPUS / "cs231n" / "wrong_rnn_no_recurrent_term.py", "--examples", "0",
                               "--figure", tmp_path)
    assert status == 0 and "no figure" not in err
    (svg,) = tmp_path.glob("*.svg")
    text = svg.read_text()
    assert svg.name == "wrong_rnn_no_recurrent_term.svg" and "<svg" in text
    res = check_file(str(CORPUS / "cs231n" / "wrong_rnn_no_recurrent_term.py"), examples=0)
    probe = res["report"].probe
    assert set(probe) == {"dx", "dh0", "dWx", "dWh", "db"}
    assert all(row[0] == 0.0 and max(row[1:]) > 0.1 for row in probe.values())   # right at lag 0, wrong from 1
