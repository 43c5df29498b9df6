"""The one table of cell kinds (gradlab/nn/registry.py): every spelling names one kind, every part of
gradlab that names cells reads it, and every command takes the same names and size flags, with a
"did you mean" for a typo."""
from __future__ import annotations

import pytest

from gradlab import nn, specs
from gradlab.cli import main
from gradlab.nn.registry import KINDS, cell_kind, cell_names

SPELLINGS = [(s, k.name) for k in KINDS.values() for s in (k.name, *k.aliases)]


@pytest.mark.parametrize("spelling, name",
                         SPELLINGS + [("Four-Gate LSTM", "four_gate_lstm"), ("PEEPHOLE", "peephole_lstm")])
def test_every_spelling_names_one_kind_and_its_class(spelling, name):
    kind = cell_kind(spelling)
    assert kind.name == name and cell_kind(kind.cls) is kind and nn.CELLS[kind.name] is kind.cls


def test_the_tables_that_name_cells_read_the_registry():
    from gradlab.render.interior import GATE_NAMES
    from gradlab.render.source import CELL_TITLES
    from gradlab.symbolic.model import CELL_KINDS, GATES

    assert set(specs.SPECS) - {"feedforward"} == set(cell_names())
    assert {CELL_KINDS[s] for s, _ in SPELLINGS} == set(cell_names()) and all(CELL_KINDS[s] == n for s, n in SPELLINGS)
    for k in KINDS.values():
        assert specs.SPECS[k.name]().describe().startswith(k.title)
        assert CELL_TITLES[k.cls.__name__] == k.label
        assert GATES.get(k.name, ()) == k.gates and GATE_NAMES.get(k.label, "") == "".join(k.gates)
        if k.gates:   # the gate order is the one the class writes (in its docstring, or its _GATES)
            assert ", ".join(k.gates) in k.cls.__doc__ or getattr(k.cls, "_GATES", None) == k.gates


@pytest.mark.parametrize("typo, meant", [("lstn", "lstm"), ("peephol", "peephole_lstm"), ("elmann", "elman"),
                                         ("fourgatelstm", "four_gate_lstm")])
def test_a_misspelt_cell_gets_a_did_you_mean(typo, meant):
    with pytest.raises(ValueError, match=f"did you mean '{meant}'"):
        cell_kind(typo)


def test_an_unknown_cell_lists_the_cells_without_a_guess():
    with pytest.raises(ValueError, match=r"unknown cell 'zzz'\. The cells: elman, jordan") as e:
        cell_kind("zzz")
    assert "did you mean" not in str(e.value)


@pytest.mark.parametrize("command", ["render", "derive"])
def test_every_command_offers_did_you_mean_for_a_misspelt_cell(command, capsys, tmp_path):
    extra = ["-o", str(tmp_path / "x.dot")] if command == "render" else []
    assert main([command, "lstn", *extra]) == 2
    err = capsys.readouterr().err
    assert f"gradlab {command}: unknown cell 'lstn': did you mean 'lstm'?" in err and "Traceback" not in err


@pytest.mark.parametrize("spelling", ["four_gate_lstm", "fourgate", "peephole_lstm", "peephole"])
@pytest.mark.parametrize("flags", [["--input-size", "2", "--hidden-size", "2", "--output-size", "1"],
                                   ["--inputs", "2", "--hidden", "2", "--outputs", "1"]])
def test_every_command_takes_the_same_names_and_size_flags(spelling, flags, tmp_path, capsys):
    out = tmp_path / "fig.dot"
    assert main(["render", spelling, "--T", "2", *flags, "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")
    assert main(["derive", spelling, "--T", "1", *flags, "--no-check"]) == 0
    assert "BPTT derivation" in capsys.readouterr().out
