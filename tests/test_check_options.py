"""check_gradient's options: one CheckOptions dataclass, the keywords of before still accepted (and
the renamed one deprecated), unknown options refused by name, no private keyword in the signature."""
import inspect
from pathlib import Path

import pytest

from gradlab.check import CheckOptions, check_gradient, load_derivation

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"


def test_options_as_a_dataclass_and_as_keywords_give_the_same_report():
    cand = load_derivation(str(DERIVATIONS / "wrong_elman_no_recurrent_term.py"))
    a = check_gradient(cand, options=CheckOptions(mode="fast", references=("engine", "fd")))
    b = check_gradient(cand, mode="fast", references=("engine", "fd"))
    assert a.to_dict()["params"] == b.to_dict()["params"]
    assert a.mode == b.mode == "fast" and a.references == b.references == ("engine", "fd")


def test_an_unknown_option_is_refused_with_the_list_of_options():
    cand = load_derivation(str(DERIVATIONS / "elman_bptt.py"))
    with pytest.raises(TypeError, match="unknown option modus.*mode"):
        check_gradient(cand, modus="fast")
    with pytest.raises(ValueError, match="mode must be"):
        CheckOptions(mode="quick")


def test_the_old_localise_keyword_still_works_and_is_deprecated():
    cand = load_derivation(str(DERIVATIONS / "wrong_elman_no_recurrent_term.py"))
    with pytest.warns(DeprecationWarning, match="localise="):
        report = check_gradient(cand, localise_errors=False)
    assert report.verdict == "fail" and report.localisation == []


def test_the_public_signature_has_no_private_keyword():
    params = inspect.signature(check_gradient).parameters
    assert not [p for p in params if p.startswith("_")]
    assert len([p for p in params.values() if p.kind is not p.VAR_KEYWORD]) <= 10
