"""The ``gradlab`` command line. Sub-commands are registered in ``COMMANDS``; each lives in its own
module and is imported only when it runs, so ``gradlab --help`` stays fast."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from . import __version__

__all__ = ["main", "COMMANDS", "add_cell_arguments"]

# name -> (module, one-line help). The module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("gradlab.check.cli", "check hand-derived gradients (derivation files or folders) against four references"),
    "derive": ("gradlab.symbolic.cli", "print the BPTT derivation of a cell in lecture notation (LaTeX or Markdown)"),
    "render": ("gradlab.render.cli", "draw a folded, unfolded, cell, op-level or gradient-flow figure of a cell"),
    "lecture": ("gradlab.lecture", "write a slide deck (Beamer PDF + Markdown) on one cell: figures, BPTT in matrix "
                "form, a checked wrong derivation"),
}


def add_cell_arguments(parser, *, sizes=(3, 4, 2), optional: bool = False, extra: str = "") -> None:
    """Add what every command that takes a cell accepts: the cell's name (any spelling of
    ``gradlab.nn.cell_kind``; a typo gets a "did you mean") and its sizes ``--input-size/--hidden-size/
    --output-size`` (D, H, O; ``--inputs/--hidden/--outputs`` are the same options), with ``sizes`` the defaults."""
    from .nn.registry import KINDS

    names = ", ".join(KINDS)
    aliases = ", ".join(a for k in KINDS.values() for a in k.aliases)
    parser.add_argument("cell", nargs="?" if optional else None, default=None,
                        help=f"the cell: {names} (also: {aliases}){extra}")
    for flag, alias, letter, default in zip(("--input-size", "--hidden-size", "--output-size"),
                                            ("--inputs", "--hidden", "--outputs"), "DHO", sizes):
        parser.add_argument(flag, alias, type=int, default=default, metavar=letter,
                            dest=flag[2:].replace("-", "_"), help=f"{letter} (default {default})")


def _available(module: str) -> bool:
    """Return True when ``module`` (``package.cli``) exists, without importing its package."""
    package, _, leaf = module.rpartition(".")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(os.path.exists(os.path.join(loc, leaf + ".py")) for loc in spec.submodule_search_locations)


def _parser(argv) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gradlab",
        description="Backpropagation through time, checked: verify hand-derived RNN gradients, "
                    "derive BPTT symbolically, draw folded and unfolded networks.",
    )
    p.add_argument("--version", action="version", version=f"gradlab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in COMMANDS.items():
        if not _available(module):
            continue  # a sub-system not installed in this version
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(_module=module)
        if name == chosen:  # only the command that runs pays for its imports
            importlib.import_module(module).add_arguments(sp)
    return p


def main(argv=None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default) and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
