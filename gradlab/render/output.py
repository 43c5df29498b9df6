"""Writing figures: the format comes from the file suffix, and a missing ``dot`` program is a clear
message plus the DOT source written instead, never a bare traceback.

Files are written by :mod:`gradlab.files`: atomically, never through a symbolic link, with gradlab's
generator mark, and an existing file that gradlab did not write is kept unless ``force=True``.

A :class:`Figure` is a ``graphviz.Digraph``: its ``.source`` is the DOT text (built without ``dot``),
and in Jupyter it displays inline (SVG) when ``dot`` is installed, or shows what to install and the
DOT source when it is not.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import graphviz

__all__ = ["Figure", "write", "dot_available", "MISSING_DOT", "FORMATS"]

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".json": "json",
           ".plain": "plain"}

MISSING_DOT = ("the Graphviz 'dot' program is not installed, so no {fmt} could be drawn; the DOT source was "
               "written to {path} instead. Install Graphviz to get images: Debian/Ubuntu `sudo apt-get install "
               "graphviz`, Fedora `sudo dnf install graphviz`, macOS `brew install graphviz`, conda `conda install "
               "-c conda-forge graphviz` (or run `make test`/`make demo`, which install it where they can).")


def dot_available() -> bool:
    """Return whether the Graphviz ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


class Figure(graphviz.Digraph):
    """A ``graphviz.Digraph`` that knows how to write itself by file suffix (:meth:`write`) and degrades to
    its DOT source in Jupyter when ``dot`` is missing."""

    def write(self, path, *, force: bool = False) -> Path:
        """Write the figure to ``path`` (format from the suffix) and return the path written."""
        return write(self, path, force=force)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        if dot_available():
            try:
                return super()._repr_mimebundle_(include, exclude, **kwargs)
            except graphviz.ExecutableNotFound:
                pass
        msg = MISSING_DOT.split(";")[0].format(fmt="image", path="") + ". Showing the DOT source."
        return {"text/plain": f"{msg}\n\n{self.source}"}


def write(fig: graphviz.Digraph, path, *, quiet: bool = False, force: bool = False,
          make_folder: bool = True) -> Path:
    """Write ``fig`` to ``path``: ``.svg``, ``.png``, ``.pdf`` (drawn by ``dot``), ``.dot``/``.gv`` (source).

    Returns the path written. Without the ``dot`` program, writes ``<path>.dot`` next to it, warns
    (``RuntimeWarning``) with what to install, and returns that path (so a caller compares it with
    ``path``: ``gradlab render`` then exits with status 4). Missing folders are created unless
    ``make_folder=False`` (then :class:`gradlab.files.OutputError` names the missing folder, as
    ``gradlab render`` does without ``--mkdir``); an existing file that gradlab did not write, or a link,
    raises :class:`gradlab.files.OutputError` unless ``force`` (see :mod:`gradlab.files`).
    """
    from ..files import write_bytes, write_text

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"write: cannot tell the format of {str(path)!r} from its suffix; use one of "
                         f"{', '.join(sorted(FORMATS))}")
    if fmt == "dot":
        return write_text(path, fig.source, fmt="dot", force=force, make_folder=make_folder)
    try:
        data = fig.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        fallback = write_text(path.with_suffix(path.suffix + ".dot"), fig.source, fmt="dot", force=force,
                              make_folder=make_folder)
        if not quiet:
            warnings.warn(MISSING_DOT.format(fmt=fmt.upper(), path=fallback), RuntimeWarning, stacklevel=2)
        return fallback
    except graphviz.CalledProcessError as e:
        raise RuntimeError(f"write: the Graphviz 'dot' program failed on this figure ({path}): "
                           f"{(e.stderr or b'').decode(errors='replace').strip()}") from None
    return write_bytes(path, data, fmt=fmt, force=force, make_folder=make_folder)
