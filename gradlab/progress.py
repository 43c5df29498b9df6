r"""Progress bars, one kind everywhere: ``tqdm`` through ``tqdm.auto``, so that a Jupyter notebook gets a
widget (where ``ipywidgets`` is installed) and a terminal gets a bar redrawn in place.

:func:`progress_bar` is what training (:func:`gradlab.nn.fit`), the checker's Hypothesis search
(:func:`gradlab.verify`) and the layer-mode search use. Its ``enabled`` follows one rule:

* ``True`` — drawn from the start (to ``stream`` when one is given, else the notebook widget or stderr);
* ``False`` — never drawn;
* ``None`` (the default) — drawn only where someone watches: when stderr is a terminal or the code runs in a
  Jupyter kernel, and only once the run has lasted ``delay`` seconds, so short runs stay silent and a
  script whose output goes to a file or a pipe gets no bar.

Bars never go to standard output (a ``--json`` document there stays clean). Nothing is imported from
``tqdm`` until a bar is made.
"""
from __future__ import annotations

import sys

__all__ = ["progress_bar", "in_notebook"]


def in_notebook() -> bool:
    """Return whether this code runs in a Jupyter (IPython) kernel, where rich output is displayed."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # noqa: BLE001 - an IPython too old or half-imported: no notebook
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def _isatty(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):       # a closed stream
        return False


def _tqdm_class(stream):
    """The bar class: the notebook widget through ``tqdm.auto`` for the default stream, the plain bar for an
    explicit ``stream`` (a widget cannot write to a file)."""
    import warnings

    with warnings.catch_warnings():     # tqdm.auto warns once when a notebook lacks ipywidgets: a text bar is fine
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    if stream is not None:
        from tqdm.std import tqdm
    return tqdm


def progress_bar(total=None, desc: str = "", *, enabled: bool | None = None, stream=None, unit: str = "it",
                 delay: float = 1.0, leave: bool = True, **options):
    r"""Return a ``tqdm`` bar (use it as a context manager, or call ``close()``).

    ``total``: the number of steps when known; ``desc``: the text in front of the bar; ``enabled``: True,
    False or None (drawn only on a terminal or in a notebook, after ``delay`` seconds — see the module
    docstring); ``stream``: where the text bar goes (default: standard error; never standard output unless
    given). On a stream that is not a terminal the bar is redrawn at most every 5 seconds, so a log file
    stays short. ``leave``: keep the finished bar on screen. Other keywords go to ``tqdm``.
    """
    if enabled not in (True, False, None):
        raise TypeError(f"progress_bar: enabled must be True, False or None, got {enabled!r}")
    target = sys.stderr if stream is None else stream
    tty = _isatty(target)
    if enabled is None:
        show = tty or (stream is None and in_notebook())
    else:
        show = enabled
    cls = _tqdm_class(stream)
    kwargs = dict(total=total, desc=desc or None, unit=unit, disable=not show, file=target,
                  leave=leave, dynamic_ncols=tty,
                  delay=0.0 if enabled else delay, mininterval=0.1 if tty else 5.0)
    kwargs.update(options)
    try:
        return cls(**kwargs)
    except ImportError:                 # a notebook widget that cannot be drawn: the text bar instead
        from tqdm.std import tqdm

        return tqdm(**kwargs)
