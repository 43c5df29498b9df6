r"""``gradlab derive CELL --T N``: print the BPTT derivation of a cell in lecture notation.

Examples::

    gradlab derive elman --T 3                                  # Markdown, backward recursion
    gradlab derive lstm --T 2 --form sum-of-paths --latex       # LaTeX align* blocks for slides
    gradlab derive elman --T 2 --hidden-size 2 --form expanded -o elman_expanded.md
    gradlab derive --write-md derivations/symbolic --T 3        # every cell, every form, as Markdown
"""
from __future__ import annotations

import os
import sys

__all__ = ["add_arguments", "run"]



def add_arguments(parser) -> None:
    """Add the ``derive`` options to ``parser``."""
    from ..cli import add_cell_arguments

    add_cell_arguments(parser, sizes=(1, 1, 1), optional=True, extra="; omit with --write-md for all. Sizes "
                       "default to 1: the scalar lecture form")
    parser.add_argument("--T", type=int, default=3, help="number of time steps (default 3)")
    parser.add_argument("--form", default="recursion", choices=["recursion", "sum-of-paths", "expanded"],
                        help="backward recursion (default), accumulative sum over paths, or fully expanded (tiny T)")
    parser.add_argument("--mode", default="many_to_many", choices=["many_to_many", "many_to_one"],
                        help="E = sum of E_t (default) or E = E_T")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_const", const="latex", dest="fmt", help="print LaTeX (align* blocks)")
    fmt.add_argument("--markdown", action="store_const", const="markdown", dest="fmt", help="print Markdown (default)")
    parser.add_argument("-o", "--output", default=None, help="write to this file instead of standard output")
    parser.add_argument("--write-md", metavar="DIR", default=None,
                        help="write DIR/<cell>_<form>.md for the cell (or every cell) and every form")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the numeric check of every form against the engine")
    parser.add_argument("--force", action="store_true",
                        help="replace output files that gradlab did not write (and links, never their targets)")


def _text(d, form, fmt) -> str:
    return d.latex(form) if fmt == "latex" else d.markdown(form)


def run(args) -> int:
    """Run ``gradlab derive``; return the exit status (0, 2 for a usage error, 3 when a file could not be
    written). Files are written by :mod:`gradlab.files`: atomically, never through a link, and a file
    that gradlab did not write is kept unless ``--force``."""
    from ..files import OutputError, write_text
    from ..nn.registry import cell_names
    from .derivation import derive

    failed = 0
    try:
        if args.write_md:
            cells = [args.cell] if args.cell else cell_names()
            for cell in cells:
                d = derive(cell, args.T, hidden=args.hidden_size, inputs=args.input_size, outputs=args.output_size,
                           mode=args.mode)
                if not args.no_check:
                    d.check()
                for form in ("recursion", "sum-of-paths", "expanded"):
                    if form == "expanded" and args.T > 2:
                        continue    # the expanded form is for tiny T only
                    path = os.path.join(args.write_md, f"{d.model.kind}_{form.replace('-', '_')}.md")
                    try:
                        write_text(path, d.markdown(form), fmt="md", force=args.force, make_folder=True)
                    except OutputError as e:
                        failed += 1
                        print(f"gradlab derive: --write-md {e}", file=sys.stderr)
                        continue
                    print(f"wrote {path}")
            return 3 if failed else 0
        if not args.cell:
            print("gradlab derive: name a cell (e.g. gradlab derive elman --T 3), or use --write-md DIR",
                  file=sys.stderr)
            return 2
        d = derive(args.cell, args.T, hidden=args.hidden_size, inputs=args.input_size, outputs=args.output_size,
                   form=args.form, mode=args.mode)
        if not args.no_check:
            d.check(forms=(args.form if args.form != "expanded" else "expanded", "diff"))
        text = _text(d, args.form, args.fmt)
    except ValueError as e:
        print(f"gradlab derive: {str(e).removeprefix('derive: ')}", file=sys.stderr)
        return 2
    if args.output:
        try:
            write_text(args.output, text, fmt="tex" if args.fmt == "latex" else "md", force=args.force,
                       make_folder=True)
        except OutputError as e:
            print(f"gradlab derive: -o {e}", file=sys.stderr)
            return 3
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0
