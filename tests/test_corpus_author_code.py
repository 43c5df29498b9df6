"""The acceptance corpus of course code checked as it is written: min-char-rnn's lossFun (a script
that trains at import, and the same code in a notebook) and a word-level RNN language model's
bptt (a class, no biases, intended truncated BPTT). Each correct version passes, also under the
Hypothesis search and through `gradlab check FILE`; each planted mistake is caught with exactly the
planted gradients named and the kind or time step stated; the declarations are a few lines, no glue."""
import ast
from pathlib import Path

import pytest

from gradlab.check.cli import check_file
from gradlab.cli import main
from strategies import budget

CORPUS = Path(__file__).resolve().parent / "corpus"
CORRECT = ["minchar/min_char_rnn.py", "minchar/min_char_rnn_notebook.py", "wordlm/rnn_lm.py"]
PLANTED = {   # file -> what the report must say about the mistake
    "minchar/wrong_no_tanh_prime.py": ["wrong already for T = 1", "an activation's or a gate's derivative"],
    "minchar/wrong_no_recurrent_term.py": ["no recurrent term at all", "wrong from T = 2"],
    "minchar/wrong_h_t_for_h_prev.py": ["∂E/∂Whh is wrong already for T = 1"],
    "minchar/wrong_mean_on_dwhy.py": ["∂E/∂Why is exactly 1/T × the reference everywhere",
                                      "your gradient averages over time, but the loss sums over time"],
    "minchar/wrong_transposed_dwhh.py": ["∂E/∂Whh equals the transpose of the reference"],
    "minchar/wrong_clip_at_1.py": ["there yours is exactly ±1: the gradient is clipped", "intends clip=5"],
    "wordlm/wrong_no_tanh_prime.py": ["wrong already for T = 1", "an activation's or a gate's derivative"],
    "wordlm/wrong_no_recurrent_term.py": ["no recurrent term at all", "wrong from T = 2"],
    "wordlm/wrong_s_t_for_s_prev.py": ["∂E/∂W is wrong already for T = 1"],
    "wordlm/wrong_mean_on_dv.py": ["∂E/∂V is exactly 1/T × the reference everywhere (T = 7"],
    "wordlm/wrong_transposed_dw.py": ["∂E/∂W equals the transpose of the reference"],
    "wordlm/wrong_clip_inside.py": ["there yours is exactly ±0.5: the gradient is clipped"],
    "wordlm/wrong_truncation_off_by_one.py": ["truncated after 5 steps", "declares truncation after 4 steps"],
}


@pytest.mark.parametrize("name", CORRECT)
def test_each_correct_version_passes_the_check_and_the_search(name):
    res = check_file(str(CORPUS / name), examples=budget(8))
    assert res["status"] == "ok", res["error"] or res["report"].format()
    assert res["search"].ok and res["report"].references_agree


@pytest.mark.parametrize("name", list(PLANTED))
def test_each_planted_mistake_is_caught_in_exactly_its_gradients_with_its_kind(name):
    res = check_file(str(CORPUS / name), examples=0)
    assert res["status"] == "caught", res["error"] or res["report"].format()
    assert set(res["found_wrong"]) == set(res["expected_wrong"])      # nothing untouched is flagged
    text = " ".join(res["report"].format().split())       # the report's lines are wrapped
    for words in PLANTED[name]:
        assert words in text, res["report"].format()


def test_the_search_reaches_sequences_long_enough_for_the_truncation_to_matter():
    res = check_file(str(CORPUS / "wordlm/wrong_truncation_off_by_one.py"), examples=budget(10))
    ce = res["search"].counterexample
    assert not res["search"].ok and ce.sizes["T"] == 6 and "U" in ce.wrong   # (W's extra term can vanish: s_0 = 0)


def test_gradlab_check_runs_the_corpus_files_as_a_student_would(capsys):
    status = main(["check", str(CORPUS / "minchar/min_char_rnn_notebook.py"), str(CORPUS / "wordlm/rnn_lm.py"),
                   "--examples", "3"])
    out = capsys.readouterr().out
    assert status == 0 and "ok      min_char_rnn_notebook.py" in out and "ok      rnn_lm.py" in out
    status = main(["check", str(CORPUS / "wordlm/wrong_truncation_off_by_one.py"), "--examples", "0"])
    out = " ".join(capsys.readouterr().out.split())
    assert status == 0 and "caught wrong_truncation_off_by_one.py U, W wrong, as planted" in out
    assert "truncated after 5 steps" in out


def _declarations(path):
    tree = ast.parse(path.read_text())
    body = tree.body[1:] if isinstance(tree.body[0], ast.Expr) else tree.body     # the docstring
    return [node for node in body if not isinstance(node, (ast.Import, ast.ImportFrom))], tree


@pytest.mark.parametrize("path", sorted((CORPUS / "minchar").glob("*.py")) + sorted((CORPUS / "wordlm").glob("*.py")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_students_file_is_a_few_lines_of_declarations_without_glue(path):
    statements, tree = _declarations(path)
    names = [t.id for node in statements for t in node.targets]
    assert set(names) <= {"MODEL", "gradient", "EXPECT", "WRONG"} and {"MODEL", "gradient"} <= set(names)
    lines = sum(node.end_lineno - node.lineno + 1 for node in statements if node.targets[0].id in ("MODEL", "gradient"))
    assert lines <= 6                      # the model with its options, and the declared call: a few lines
    for node in ast.walk(tree):            # no glue: no functions, loops, lambdas, transposes or reshapes
        assert not isinstance(node, (ast.FunctionDef, ast.Lambda, ast.For, ast.While, ast.ListComp))
        assert not (isinstance(node, ast.Attribute) and node.attr in ("T", "transpose", "reshape", "swapaxes"))
