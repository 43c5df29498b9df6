r"""Run an author's function against another array namespace, without touching the author's module.

:func:`rebind` returns a copy of a function whose globals are a copy of its module's globals in which
the ``numpy`` module (under whatever name it was imported, ``np`` usually) is replaced by a namespace
of ours, and names imported from NumPy (``from numpy import tanh``) by that namespace's function of
the same name. The author's other functions that it calls (``rnn_forward`` calling
``rnn_step_forward`` and ``sigmoid``) are rebound the same way, recursively, sharing one copied
globals dict per module, so the calls between them resolve to the rebound copies. Library code
(NumPy itself, the standard library, installed packages, gradlab) is never rebound.

What it cannot reach: NumPy imported *inside* a function body, or a helper reached through a module
attribute (``helpers.sigmoid(x)``). Those calls meet the traced arrays with plain NumPy; the traced
arrays answer by routing the call to the namespace when they can, and by raising
:class:`~gradlab.check.layer.trace.Untraceable` (with the author's file and line) when they cannot.
"""
from __future__ import annotations

import os
import sys
import sysconfig
import types

import numpy

__all__ = ["rebind", "is_library_file"]

_GRADLAB = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _library_dirs() -> tuple:
    dirs = {os.path.dirname(os.path.abspath(numpy.__file__))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            dirs.add(os.path.abspath(sysconfig.get_paths()[key]))
        except KeyError:
            pass
    for p in sys.path:
        if p and ("site-packages" in p or "dist-packages" in p):
            dirs.add(os.path.abspath(p))
    return tuple(sorted(dirs))


_LIBRARY_DIRS: tuple | None = None
_KNOWN: dict = {}     # filename -> bool: asked for every frame of every recorded node


def is_library_file(filename: str | None) -> bool:
    """Return True for code that is not the author's: gradlab, NumPy, the standard library, installed
    packages, frozen modules."""
    known = _KNOWN.get(filename)
    if known is None:
        known = _KNOWN[filename] = _is_library(filename)
        if len(_KNOWN) > 4096:
            _KNOWN.clear()
    return known


def _is_library(filename) -> bool:
    global _LIBRARY_DIRS
    if not filename:
        return True
    if filename.startswith("<frozen") or filename.startswith("<built-in"):
        return True
    if filename.startswith("<"):
        return False          # code compiled from a string (a notebook cell) is the author's
    if _LIBRARY_DIRS is None:
        _LIBRARY_DIRS = _library_dirs()
    path = os.path.abspath(filename)
    if path.startswith(_GRADLAB + os.sep):
        return True
    return any(path.startswith(d + os.sep) for d in _LIBRARY_DIRS)


def _numpy_name(value) -> str | None:
    """The name under which ``value`` is a public attribute of NumPy (``numpy.tanh``), else None."""
    name = getattr(value, "__name__", None)
    if not isinstance(name, str):
        return None
    try:
        return name if getattr(numpy, name, None) is value else None
    except Exception:  # noqa: BLE001 - exotic objects
        return None


def rebind(fn, namespace, memo: dict | None = None):
    r"""Return ``fn`` running against ``namespace`` instead of NumPy (see the module docstring); a
    function of library code, or anything that is not a Python function, is returned unchanged."""
    memo = {} if memo is None else memo
    if not isinstance(fn, types.FunctionType) or is_library_file(fn.__code__.co_filename):
        return fn
    key = ("fn", id(fn))
    if key in memo:
        return memo[key][1]
    new_globals = _globals_for(fn.__globals__, memo)
    new = types.FunctionType(fn.__code__, new_globals, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    new.__dict__.update(fn.__dict__)
    new.__wrapped_original__ = fn
    memo[key] = (fn, new)   # keep fn alive: its id must not be reused while the memo lives
    _fill(fn.__globals__, namespace, memo)
    return new


def _globals_for(g: dict, memo) -> dict:
    key = ("globals", id(g))
    if key not in memo:
        memo[key] = (g, dict(g), [False])
    return memo[key][1]


def _fill(g: dict, namespace, memo) -> None:
    original, new, done = memo[("globals", id(g))]
    if done[0]:
        return
    done[0] = True
    for k, v in original.items():
        if v is numpy:
            new[k] = namespace
        elif isinstance(v, types.FunctionType) and not is_library_file(v.__code__.co_filename):
            new[k] = rebind(v, namespace, memo)
        else:
            name = _numpy_name(v)
            if name is not None and not isinstance(v, (types.ModuleType, type)):
                replacement = getattr(namespace, name, None)
                if replacement is not None:
                    new[k] = replacement
