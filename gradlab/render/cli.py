"""``gradlab render CELL --T N --view VIEW -o FILE``: draw a lecture figure of a cell (format from the
suffix of FILE: .svg, .png, .pdf or .dot).

Examples::

    gradlab render lstm --T 4 --view unfolded -o lstm_unfolded.svg
    gradlab render elman --T 30 --view gradients --truncate 10 --elide 3 -o bptt.png
    gradlab render gru --view cell -o gru_cell.pdf
"""
from __future__ import annotations

import json
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser) -> None:
    """Add the ``render`` options to ``parser``."""
    from . import DETAILS, VIEWS

    from ..cli import add_cell_arguments

    add_cell_arguments(parser, sizes=(3, 4, 2))
    parser.add_argument("--T", type=int, default=4, help="number of time steps (default 4)")
    parser.add_argument("--view", choices=VIEWS, default="unfolded", help="which figure (default unfolded)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="where to write; the suffix picks the format: .svg .png .pdf .dot")
    parser.add_argument("--detail", choices=DETAILS, default="cell",
                        help="unfolded view: one box per step (cell), each step's gates, or every op")
    parser.add_argument("--shared", choices=("label", "once"), default="label",
                        help="shared parameters: their name on every copy (label) or drawn once with coloured edges")
    parser.add_argument("--elide", type=int, default=None, metavar="K",
                        help="long sequences: keep the first and last K steps, elide the middle")
    parser.add_argument("--truncate", type=int, default=None, metavar="K",
                        help="gradients view: truncated BPTT, the gradient stops every K steps")
    parser.add_argument("--findings", default=None, metavar="JSON",
                        help="check view: a JSON file {param: {steps, index, candidate, reference, rel_err}}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and data drawn (default 0)")
    parser.add_argument("--title", default=None, help="a title under the figure")
    parser.add_argument("--force", action="store_true",
                        help="replace an output file that gradlab did not write (or a link, never its target)")


def run(args) -> int:
    """Draw the figure asked for in ``args`` and return the exit status (0: written, 2: bad arguments, 3: the
    file could not be written — a link, a file gradlab did not write (without ``--force``), a folder that
    cannot be made or written)."""
    from ..files import OutputError
    from .output import write
    from . import to_dot
    from .source import make_cell

    try:
        cell = make_cell(args.cell, input_size=args.input_size, hidden_size=args.hidden_size,
                         output_size=args.output_size, rng=args.seed)
        findings = None
        if args.view == "check":
            if not args.findings:
                print("gradlab render: --view check needs --findings FILE.json", file=sys.stderr)
                return 2
            with open(args.findings, encoding="utf-8") as f:
                findings = json.load(f)
        fig = to_dot(cell, args.view, T=args.T, detail=args.detail, shared=args.shared, elide=args.elide,
                     truncate=args.truncate, findings=findings, title=args.title, rng=args.seed)
        written = write(fig, args.output, quiet=True, force=args.force)
    except OutputError as e:
        print(f"gradlab render: -o {e}", file=sys.stderr)
        return 3
    except (ValueError, TypeError, OSError) as e:
        print(f"gradlab render: {str(e).removeprefix('render: ')}", file=sys.stderr)
        return 2
    if str(written) != str(args.output):
        from .output import MISSING_DOT

        fmt = args.output.rsplit(".", 1)[-1].upper()
        print("gradlab render: " + MISSING_DOT.format(fmt=fmt, path=written), file=sys.stderr)
    else:
        print(f"gradlab render: wrote {written}", file=sys.stderr)
    return 0
