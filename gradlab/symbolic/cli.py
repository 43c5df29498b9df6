r"""``gradlab derive CELL --T N``: print the BPTT derivation of a cell in lecture notation.

Examples::

    gradlab derive elman --T 3                                  # Markdown: matrix form, then element form
    gradlab derive lstm --T 4 --hidden 2 --form matrix --latex --document article -o lstm.tex
    gradlab derive gru --T 3 --loss softmax_cross_entropy --mode last --outputs 3
    gradlab derive lstm --T 2 --form sum-of-paths --latex       # LaTeX align* blocks for slides
    gradlab derive elman --T 2 --hidden-size 2 --form expanded -o elman_expanded.md
    gradlab derive --write-md derivations/symbolic --T 3        # every cell, every form, as Markdown
"""
from __future__ import annotations

import os
import sys

__all__ = ["add_arguments", "run", "check_derivation"]

_MODES = {"all": "many_to_many", "last": "many_to_one"}


def _losses():
    from ..specs import LOSSES

    return LOSSES


def check_derivation(d, form: str = "recursion", full: bool = False) -> dict:
    r"""Check derivation ``d`` the way ``gradlab derive`` does and return {route: max difference}: the
    printed form(s) at the full T against the engine (the matrix form's forward values and ∂E/∂W; the
    element recursion; the sum of paths or the expanded form when printed), and route (a), SymPy ``diff``
    of the forward definitions, which checks the op table's rules. Route (a) runs at T = min(T, 3)
    unless ``full``: its rules do not depend on T (steps 1, 2, 3 cover the first step, a middle step
    and the last), and at T = 50 it is nine tenths of the command's time."""
    from .derivation import derive

    forms = {"recursion": ("matrix", "recursion"), "matrix": ("matrix",), "sum-of-paths": ("sum-of-paths",),
             "expanded": ("expanded",)}[form]
    worst = d.check(forms=forms + (("diff",) if full or d.model.T <= 3 else ()))
    if not full and d.model.T > 3:
        m = d.model
        small = derive(m.kind, 3, hidden=m.sizes["H"], inputs=m.sizes["D"], outputs=m.sizes["O"],
                       mode=m.spec.mode, loss=m.spec.loss)
        worst["diff (T=3)"] = small.check(forms=("diff",))["diff"]
    return worst



def add_arguments(parser) -> None:
    """Add the ``derive`` options to ``parser``."""
    from ..cli import add_cell_arguments

    add_cell_arguments(parser, sizes=(1, 1, 1), optional=True, extra="; omit with --write-md for all. Sizes "
                       "default to 1: the scalar lecture form")
    parser.add_argument("--T", type=int, default=3, help="number of time steps (default 3)")
    parser.add_argument("--form", default="recursion", choices=["recursion", "matrix", "sum-of-paths", "expanded"],
                        help="backward recursion: matrix form then element form (default); the matrix form only; "
                             "accumulative sum over paths; or fully expanded (tiny T)")
    parser.add_argument("--mode", default="many_to_many", choices=["many_to_many", "many_to_one", "all", "last"],
                        help="E = sum of E_t over all steps (many_to_many, the default; also 'all') or E = E_T, "
                             "the last step only (many_to_one; also 'last')")
    parser.add_argument("--loss", default="mse_half", choices=list(_losses()),
                        help="E_t: mse_half = ½‖y_t − d_t‖² (default), mse = ‖y_t − d_t‖²/O, softmax_cross_entropy = "
                             "−Σ_k d_tk log softmax(y_t)_k (O defaults to 2 then: a softmax of one output is constant)")
    parser.add_argument("--document", choices=["article", "beamer"], default=None,
                        help="with --latex: a whole document that compiles with pdflatex (rows broken to the width)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_const", const="latex", dest="fmt", help="print LaTeX (align* blocks)")
    fmt.add_argument("--markdown", action="store_const", const="markdown", dest="fmt", help="print Markdown (default)")
    parser.add_argument("-o", "--output", default=None, help="write to this file instead of standard output")
    parser.add_argument("--write-md", metavar="DIR", default=None,
                        help="write DIR/<cell>_<form>.md for the cell (or every cell) and every form")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the numeric check of every form against the engine")
    parser.add_argument("--full-check", action="store_true",
                        help="run the second, SymPy-diff route at the full T too (by default it runs at T = min(T, 3): "
                             "it checks the op table's derivative rules, which are the same at every step, and it is "
                             "the slow part at long T: 8.5 s of CPU for an LSTM at T = 50)")
    parser.add_argument("--force", action="store_true",
                        help="replace output files that gradlab did not write (and links, never their targets)")


def run(args) -> int:
    """Run ``gradlab derive``; return the exit status (0, 2 for a usage error, 3 when a file could not be
    written). Files are written by :mod:`gradlab.files`: atomically, never through a link, and a file
    that gradlab did not write is kept unless ``--force``."""
    from ..files import OutputError, write_text
    from ..nn.registry import cell_names
    from .derivation import derive

    failed = 0
    args.mode = _MODES.get(args.mode, args.mode)
    if args.loss == "softmax_cross_entropy" and args.output_size == 1:
        print("gradlab derive: a softmax over one output is constant; using O = 2 (set --outputs)", file=sys.stderr)
        args.output_size = 2
    if args.document and args.fmt != "latex":
        args.fmt = "latex"
    try:
        if args.write_md:
            cells = [args.cell] if args.cell else cell_names()
            for cell in cells:
                if cell not in cell_names():
                    from ..nn.registry import cell_kind

                    cell = cell_kind(cell).name
                d = derive(cell, args.T, hidden=args.hidden_size, inputs=args.input_size, outputs=args.output_size,
                           mode=args.mode, loss=args.loss)
                if not args.no_check:
                    check_derivation(d, "recursion", args.full_check)
                for form in ("recursion", "matrix", "sum-of-paths", "expanded"):
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
                   form=args.form, mode=args.mode, loss=args.loss)
        if not args.no_check:
            check_derivation(d, args.form, args.full_check)
        text = d.latex(args.form, document=args.document) if args.fmt == "latex" else d.markdown(args.form)
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
