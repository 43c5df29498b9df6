r"""The one table of cell kinds: every part of gradlab that names a cell (the specs a derivation declares,
the symbolic derivations, the figures, the command line) reads it here.

A kind has one canonical name (``"peephole_lstm"``), the other spellings accepted for it (``"peephole"``),
its class, a title for prose (``"peephole LSTM"``), a short label for figures (``"LSTM (peephole)"``) and
the order of its stacked gates, as written in the class's docstring.

>>> cell_kind("four-gate").name, cell_kind("GRU").gates
('four_gate_lstm', ('r', 'z', 'n'))
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from .cells import ElmanCell, FourGateLSTMCell, GRUCell, JordanCell, LSTMCell, PeepholeLSTMCell

__all__ = ["CellKind", "KINDS", "CELLS", "cell_kind", "cell_names"]


@dataclass(frozen=True)
class CellKind:
    """One kind of recurrent cell: its names, class, titles and gate order."""

    name: str
    cls: type
    title: str
    label: str
    gates: tuple = ()
    aliases: tuple = ()


KINDS: dict[str, CellKind] = {k.name: k for k in (
    CellKind("elman", ElmanCell, "Elman RNN", "Elman"),
    CellKind("jordan", JordanCell, "Jordan RNN", "Jordan"),
    CellKind("lstm", LSTMCell, "LSTM", "LSTM", ("i", "f", "g", "o")),
    CellKind("peephole_lstm", PeepholeLSTMCell, "peephole LSTM", "LSTM (peephole)", ("i", "f", "g", "o"),
             ("peephole",)),
    CellKind("four_gate_lstm", FourGateLSTMCell, "four-gate (lecture) LSTM", "LSTM (four gates)",
             ("n", "i", "f", "v"), ("fourgate", "four_gate")),
    CellKind("gru", GRUCell, "GRU", "GRU", ("r", "z", "n")),
)}

_SPELLINGS = {spelling: k for k in KINDS.values() for spelling in (k.name, *k.aliases)}

#: every accepted spelling -> class (the names ``gradlab.nn.CELLS`` has always accepted among them)
CELLS = {spelling: k.cls for spelling, k in _SPELLINGS.items()}


def cell_names() -> list:
    """Return the canonical names of the cell kinds, in the table's order."""
    return list(KINDS)


def cell_kind(name) -> CellKind:
    """Return the kind called ``name`` (any accepted spelling: case, ``-`` and spaces do not matter), a
    :class:`CellKind`, or a cell class; raise ``ValueError`` naming the kinds, with a "did you mean"."""
    if isinstance(name, CellKind):
        return name
    if isinstance(name, type):
        for k in KINDS.values():
            if k.cls is name:
                return k
        raise ValueError(f"{name.__name__} is not one of the cell kinds: {', '.join(KINDS)}")
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key in _SPELLINGS:
        return _SPELLINGS[key]
    close = difflib.get_close_matches(key, list(_SPELLINGS), n=1, cutoff=0.6)
    hint = f": did you mean {_SPELLINGS[close[0]].name!r}?" if close else "."
    raise ValueError(f"unknown cell {name!r}{hint} The cells: {', '.join(KINDS)} "
                     f"(also: {', '.join(a for k in KINDS.values() for a in k.aliases)})")
