r"""How a report names an element of a gradient: in the lecture's convention, indices counting from 1.

A matrix element is written ``W_s[1,2]`` (row 1, column 2: NumPy's ``W_s[0, 1]``), the convention of
the lecture notes and of the symbols a derivation given as formulas uses. The gated cells stack their
gates' rows in one matrix (LSTM: i, f, g, o; GRU: r, z, n, each a block of H rows, the order written in
each cell's docstring); an element there is named by its gate and its row within the gate's block:
``W_s, forget-gate block, row 2, column 1``.
"""
from __future__ import annotations

__all__ = ["GATES", "gate_block", "element_text", "INDEX_NOTE"]

#: the stacked gates of each cell, in row order, with their names in words
GATES = {
    "lstm": (("i", "input gate"), ("f", "forget gate"), ("g", "candidate"), ("o", "output gate")),
    "peephole_lstm": (("i", "input gate"), ("f", "forget gate"), ("g", "candidate"), ("o", "output gate")),
    "gru": (("r", "reset gate"), ("z", "update gate"), ("n", "candidate")),
}

#: said once in a report that names elements
INDEX_NOTE = "element indices count from 1, as in the lecture: W[1,1] is NumPy's W[0, 0]"


def gate_block(kind: str, shape: tuple, hidden: int | None) -> tuple | None:
    """Return the gates ((letter, words), …) whose blocks of ``hidden`` rows make up a parameter of
    ``shape``, or None when the parameter is not stacked."""
    gates = GATES.get(kind)
    if not gates or not hidden or not shape or shape[0] != len(gates) * hidden:
        return None
    return gates


def element_text(name: str, index, kind: str = "", hidden: int | None = None, shape: tuple = ()) -> str:
    """Return the element ``index`` (0-based, NumPy's) of parameter ``name`` in the lecture's words, e.g.
    ``W_s[1,2]`` or ``W_s, forget-gate block, row 2, column 1``; ``kind`` and ``hidden`` (the cell
    kind and H) name the gate of a stacked parameter of ``shape``."""
    index = tuple(int(i) for i in index)
    gates = gate_block(kind, tuple(shape), hidden) if index else None
    if gates is None:
        return f"{name}[{','.join(str(i + 1) for i in index)}]" if index else name
    gate, row = divmod(index[0], hidden)
    letter, words = gates[gate]
    text = f"{name}, {words} ({letter}) block, row {row + 1}"
    if len(index) == 2:
        text += f", column {index[1] + 1}"
    return text
