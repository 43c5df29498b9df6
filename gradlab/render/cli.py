"""``gradlab render CELL --T N --view VIEW -o FILE``: draw a lecture figure of a cell (format from the
suffix of FILE: .svg, .png, .pdf or .dot).

Examples::

    gradlab render lstm --T 4 --view unfolded -o lstm_unfolded.svg
    gradlab render elman --T 30 --view gradients --truncate 10 --elide 3 -o bptt.png
    gradlab render elman --T 12 --view gradients --loss-at last --weight-scale 0.8 -o vanishing.png
    gradlab render gru --view cell --theme dark --fontsize 18 --size 1280x720 -o gru_cell.png

Exit status: 0 written; 2 bad arguments; 3 the file could not be written (a missing folder without
``--mkdir``, a link, a file gradlab did not write without ``--force``); 4 the Graphviz ``dot`` program is
missing, so no SVG/PNG/PDF could be drawn (the DOT source is written next to the file instead).
"""
from __future__ import annotations

import json
import sys

__all__ = ["add_arguments", "run", "NO_DOT"]

NO_DOT = 4      # exit status when the image could not be drawn for want of `dot`


def add_arguments(parser) -> None:
    """Add the ``render`` options to ``parser``."""
    from . import DETAILS, MAX_STEPS, VIEWS
    from .source import LOSS_AT
    from .style import LABELS, THEMES

    from ..cli import add_cell_arguments

    add_cell_arguments(parser, sizes=(3, 4, 2))
    parser.add_argument("--T", type=int, default=4, help="number of time steps (default 4)")
    parser.add_argument("--view", choices=VIEWS, default="unfolded", help="which figure (default unfolded)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="where to write; the suffix picks the format: .svg .png .pdf .dot")
    parser.add_argument("--detail", choices=DETAILS, default="cell",
                        help="unfolded view: one box per step (cell), each step's gates, or every op")
    parser.add_argument("--shared", choices=("label", "once"), default="label",
                        help="shared parameters: their name on every copy (label) or drawn once, in a legend, "
                             "with the edges they act on in their colour (once)")
    seq = parser.add_argument_group("long sequences")
    seq.add_argument("--elide", type=int, default=None, metavar="K",
                     help="keep the first and last K steps, elide the middle")
    seq.add_argument("--fit", default="auto", metavar="W:H",
                     help="fit this aspect ratio (e.g. 16:9, 4:3; 'none': never): every step in 2-3 bands where "
                          "that is readable, else the middle steps elided; then spaced out to exactly that ratio. "
                          "Default: 16:9 for the gradients view, none for the others")
    seq.add_argument("--wrap", type=int, default=None, metavar="N",
                     help="unfolded and gradients views: N steps per band, the bands one under the other (every "
                          "step drawn, no fitting by eliding)")
    seq.add_argument("--all-steps", action="store_true",
                     help=f"draw every step even above {MAX_STEPS} (longer sequences are elided to their first "
                          f"and last steps by default: dot needs minutes and gigabytes for thousands of steps)")
    grads = parser.add_argument_group("gradients view")
    grads.add_argument("--truncate", type=int, default=None, metavar="K",
                       help="truncated BPTT, the gradient stops every K steps")
    grads.add_argument("--loss-at", choices=LOSS_AT, default="all",
                       help="the loss: E = Σ_t E_t (all, default) or the last step's E_T only (last: shows how far "
                            "back the error signal reaches)")
    grads.add_argument("--weight-scale", type=float, default=None, metavar="C",
                       help="multiply every weight by C before unrolling (below 1 the gradient vanishes faster)")
    look = parser.add_argument_group("slide options")
    look.add_argument("--theme", choices=THEMES, default="light", help="light (default) or dark background")
    look.add_argument("--fontsize", type=float, default=None, metavar="PT",
                      help="node font size in points (default 14); every font of the figure scales with it")
    look.add_argument("--labels", choices=LABELS, default="all",
                      help="edge labels: all (default), few (each distinct label once), none")
    look.add_argument("--size", default=None, metavar="WxH",
                      help="scale the drawing to fit W×H pixels (e.g. 1280x720; add ! to also enlarge a small one)")
    look.add_argument("--dpi", type=float, default=None, help="resolution of PNG output (default 96)")
    parser.add_argument("--findings", default=None, metavar="JSON",
                        help="check view: a JSON file {param: {steps, index, candidate, reference, rel_err}}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and data drawn (default 0)")
    parser.add_argument("--title", default=None, help="a title under the figure")
    parser.add_argument("--force", action="store_true",
                        help="replace an output file that gradlab did not write (or a link, never its target)")
    parser.add_argument("--mkdir", action="store_true", help="create the output folder if it is missing")


def _figure(args):
    from . import to_dot
    from .source import make_cell

    cell = make_cell(args.cell, input_size=args.input_size, hidden_size=args.hidden_size,
                     output_size=args.output_size, rng=args.seed)
    findings = None
    if args.view == "check":
        if not args.findings:
            raise ValueError("--view check needs --findings FILE.json")
        with open(args.findings, encoding="utf-8") as f:
            findings = json.load(f)
    fit = None if str(args.fit).lower() == "none" else args.fit
    return to_dot(cell, args.view, T=args.T, detail=args.detail, shared=args.shared, elide=args.elide, fit=fit,
                  wrap=args.wrap, all_steps=args.all_steps, truncate=args.truncate, findings=findings, title=args.title,
                  rng=args.seed, loss_at=args.loss_at, weight_scale=args.weight_scale, theme=args.theme,
                  fontsize=args.fontsize, labels=args.labels, size=args.size, dpi=args.dpi)


def run(args) -> int:
    """Draw the figure asked for in ``args`` and return the exit status (see the module docstring)."""
    from ..files import OutputError
    from .output import MISSING_DOT, write

    try:
        fig = _figure(args)
        written = write(fig, args.output, quiet=True, force=args.force, make_folder=args.mkdir)
    except OutputError as e:
        hint = " (add --mkdir to create it)" if "no such folder" in str(e) else ""
        print(f"gradlab render: -o {e}{hint}", file=sys.stderr)
        return 3
    except (ValueError, TypeError, OSError) as e:
        print(f"gradlab render: {str(e).removeprefix('render: ')}", file=sys.stderr)
        return 2
    kept = getattr(fig, "kept", None)
    if kept is not None and args.elide is None and args.view not in ("folded", "cell"):
        from . import MAX_STEPS

        why = (f"(above {MAX_STEPS} steps; --all-steps draws them all)" if args.T > MAX_STEPS else
               "to fit the aspect ratio (--fit none draws them all)")
        print(f"gradlab render: {args.T} steps: the first and last {kept} are drawn, the middle is elided "
              f"{why}; --elide K chooses how many", file=sys.stderr)
    if str(written) != str(args.output):
        fmt = args.output.rsplit(".", 1)[-1].upper()
        print("gradlab render: error: " + MISSING_DOT.format(fmt=fmt, path=written), file=sys.stderr)
        return NO_DOT
    print(f"gradlab render: wrote {written}", file=sys.stderr)
    return 0
