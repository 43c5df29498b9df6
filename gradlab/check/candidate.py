r"""The derivation contract: loading a derivation file, calling its ``gradient(params, data)`` safely,
and turning every way it can go wrong into a message with the file and line.

A derivation module defines

* ``MODEL`` — a spec from :mod:`gradlab.specs` (e.g. ``gradlab.specs.elman(loss="mse_half")``);
* ``gradient(params, data)`` — returns {parameter name: array of that parameter's shape}, optionally
  with intermediate adjoints such as ``delta_s`` (∂E/∂s_t for t = 1..T, an array (T, H));
* optionally ``EXPECT = "wrong"`` and ``WRONG = ("W_x",)`` (or ``"all"``) for a deliberately wrong
  derivation: it is as expected when the checker finds exactly those parameters wrong;
* its derivation in lecture notation in the docstring, or in a Markdown file with the same stem.
"""
from __future__ import annotations

import difflib
import importlib.util
import inspect
import linecache
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

__all__ = ["DerivationError", "Candidate", "load_derivation", "import_derivation", "as_candidate", "find_derivations",
           "scan", "scan_file", "Scanned", "CONTRACT_NAMES", "PRODUCT_NAMES", "short_path"]


class DerivationError(ValueError):
    """A derivation file breaks the contract or raised an error; the message names the file and line."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, hint: str | None = None):
        self.path, self.line, self.hint, self.reason = path, line, hint, message
        where = f"{short_path(path)}:{line}: " if path and line else f"{short_path(path)}: " if path else ""
        if path and line and ", cell " in str(path):   # a notebook cell (gradlab.check.loaders): its own lines
            where = f"{short_path(path)}, line {line}: "
        text = where + message + (f"\n  hint: {hint}" if hint else "")
        super().__init__(text)


def short_path(path):
    """Return ``path`` relative to the working directory when it lies below it, else as given."""
    if not path:
        return path
    try:
        rel = os.path.relpath(path)
        return rel if not rel.startswith("..") else path
    except ValueError:
        return path


class _Lookup(dict):
    """A dict whose missing keys raise a KeyError that lists the keys it has."""

    what = "params"

    def __missing__(self, key):
        have = ", ".join(self)
        close = difflib.get_close_matches(str(key), list(self), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _NamedKeyError(f"{self.what} has no {key!r}; it has {have}{hint}")


class _NamedKeyError(KeyError):
    def __str__(self):
        return str(self.args[0])


class _Data(_Lookup):
    what = "data"


@dataclass
class Candidate:
    r"""A hand-derived gradient ready to be called: ``fn(params, data) -> dict`` plus what the file says
    about itself (``spec``, ``expect`` ``"right"``/``"wrong"``, ``wrong`` parameter names, ``doc``)."""

    fn: Callable
    name: str
    spec: object = None
    expect: str = "right"
    wrong: tuple = ()
    path: str | None = None
    doc: str = ""
    module: object = None
    calls: int = 0
    warnings: list = field(default_factory=list)
    sizes: dict | None = None       # fixed sizes (a symbolic candidate is written for one size)
    symbolic: tuple | None = None   # (formulas, keyword arguments of gradlab.symbolic) for a symbolic candidate

    @property
    def def_line(self) -> int | None:
        """The line of ``def gradient``."""
        code = getattr(self.fn, "__code__", None)
        return code.co_firstlineno if code is not None else None

    @property
    def source_file(self) -> str | None:
        """The file the gradient function is written in."""
        code = getattr(self.fn, "__code__", None)
        return code.co_filename if code is not None else self.path

    def line_of(self, text: str) -> int | None:
        """Return the line inside the gradient function where the key ``text`` is set (a dict entry
        ``"W_x": …`` or an assignment ``grads["W_x"] = …``), else where it is mentioned, else the def line."""
        import inspect as _inspect

        try:
            lines, start = _inspect.getsourcelines(self.fn)
        except (OSError, TypeError):
            return self.def_line
        q = r"""["']""" + re.escape(text) + r"""["']"""
        setting = re.compile(q + r"\s*:|\[" + q + r"\]\s*[-+*/]?=(?!=)")
        mention = re.compile(q)
        for pattern in (setting, mention):
            for i, line in enumerate(lines):
                if pattern.search(line):
                    return start + i
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].strip().startswith("return"):
                return start + i
        return self.def_line

    def error(self, message: str, line: int | None = None, hint: str | None = None) -> DerivationError:
        """Return a :class:`DerivationError` located in the candidate's file (at ``line`` or the def line)."""
        return DerivationError(message, self.source_file, line or self.def_line, hint)

    def __call__(self, params: Mapping, data: Mapping) -> dict:
        """Call the candidate on copies of ``params`` and ``data``; return its result as a dict of arrays.

        The candidate gets copies, so changing them cannot change the references; when it does change
        them in place, or returns arrays that are views of them, a note is added to :attr:`warnings`.
        Returned arrays are copied, so a candidate that reuses a buffer cannot change an earlier result.
        Raises :class:`DerivationError` (file and line in the user's code) when it raises or returns
        something that is not a dict."""
        handed = {"params": {k: np.array(v, copy=True) for k, v in params.items()},
                  "data": {k: np.array(v, copy=True) for k, v in data.items()}}
        p = _Lookup(handed["params"])
        d = _Data(handed["data"])
        self.calls += 1
        try:
            with np.errstate(all="ignore"):
                out = self.fn(p, d)
        except Exception as exc:  # the user's code: report it at the user's line
            raise self._located(exc) from None
        if not isinstance(out, Mapping):
            raise self.error(f"gradient(params, data) returned {type(out).__name__}, expected a dict "
                             f"{{parameter name: array}}", hint="end the function with e.g. "
                             "return {\"W_x\": dW_x, \"W_s\": dW_s, ...}")
        self._note_changes(handed, {"params": params, "data": data}, out)
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in out.items()}

    def _note_changes(self, handed, originals, out) -> None:
        """Add a note (once per input) when the candidate changed an input in place or returned a view of one."""
        for group, arrays in handed.items():
            for k, arr in arrays.items():
                ref = originals[group].get(k) if hasattr(originals[group], "get") else None
                if ref is None:
                    continue
                try:
                    changed = arr.shape != np.shape(ref) or not np.array_equal(arr, ref, equal_nan=True)
                except (TypeError, ValueError):
                    changed = False
                if changed:
                    self._note(f"gradient() changed {group}[{k!r}] in place. gradlab hands it a copy, so the check "
                               f"is not affected, but in training code this changes the model's "
                               f"{'weights' if group == 'params' else 'data'}: compute into new arrays instead.")
                for name, v in out.items():
                    if isinstance(v, np.ndarray) and np.may_share_memory(v, arr):
                        self._note(f"gradient() returned {name!r} as a view of {group}[{k!r}] (it shares its "
                                   f"memory). gradlab copied it, but a caller that changes one changes the other: "
                                   f"return a new array (e.g. with .copy()).")

    def _note(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def _located(self, exc: BaseException) -> DerivationError:
        tb = traceback.extract_tb(exc.__traceback__)
        src = self.source_file
        frames = [f for f in tb if src and os.path.abspath(f.filename) == os.path.abspath(src)]
        frame = frames[-1] if frames else (tb[-1] if tb else None)
        line = frame.lineno if frame else self.def_line
        code = (frame.line or "").strip() if frame else ""
        func = frame.name if frame else "gradient"
        kind = "KeyError" if isinstance(exc, _NamedKeyError) else type(exc).__name__  # not our helper's name
        msg = f"{kind} in {func}(): {exc}"
        if code:
            msg += f"\n    {line} | {code}"
        hint = None
        if isinstance(exc, ValueError) and any(w in str(exc) for w in ("shapes", "broadcast", "core dimension", "aligned")):
            hint = "check the shapes in lecture notation: W_x is (H, D), W_s is (H, H), x_t is (D,), s_t is (H,)"
        path = frame.filename if frame else src
        return DerivationError(msg, path, line, hint)


def as_candidate(obj, spec=None, name: str | None = None) -> Candidate:
    """Return a :class:`Candidate` for a function ``gradient(params, data)``, a module or object with a
    ``gradient`` attribute (and ``MODEL``), or a Candidate."""
    if isinstance(obj, Candidate):
        if spec is not None and obj.spec is None:
            obj.spec = spec
        return obj
    if callable(obj) and not hasattr(obj, "gradient"):
        fn = obj
        return Candidate(fn, name or getattr(fn, "__name__", "gradient"), spec=spec,
                         path=getattr(getattr(fn, "__code__", None), "co_filename", None), doc=fn.__doc__ or "")
    fn = getattr(obj, "gradient", None)
    if fn is None or not callable(fn):
        raise TypeError(f"expected a function gradient(params, data) or a module defining one, got {obj!r}")
    return _from_namespace(obj, fn, spec, name)


def _from_namespace(mod, fn, spec, name) -> Candidate:
    path = getattr(mod, "__file__", None)
    cand = Candidate(fn, name or (os.path.basename(path) if path else getattr(mod, "__name__", "gradient")),
                     spec=spec if spec is not None else getattr(mod, "MODEL", None), path=path,
                     doc=(getattr(mod, "__doc__", None) or ""), module=mod)
    if isinstance(fn, Candidate):   # gradient = gradlab.check.call(...): the author's function, declared
        fn.name, fn.spec, fn.path, fn.doc, fn.module = cand.name, cand.spec, cand.path, cand.doc, mod
        cand = fn
    expect = getattr(mod, "EXPECT", "right")
    if expect not in ("right", "wrong"):
        raise cand.error(f"EXPECT must be \"right\" or \"wrong\", got {expect!r}", _assign_line(path, "EXPECT"))
    cand.expect = expect
    wrong = getattr(mod, "WRONG", ())
    if isinstance(wrong, str):
        wrong = (wrong,)
    cand.wrong = tuple(wrong)
    if expect == "wrong" and not cand.wrong:
        raise cand.error("EXPECT = \"wrong\" needs WRONG, the parameters the checker must find wrong",
                         _assign_line(path, "EXPECT"), hint='e.g. WRONG = ("W_x",) or WRONG = "all"')
    return cand


def _assign_line(path, name) -> int | None:
    if not path:
        return None
    for i, line in enumerate(linecache.getlines(path), 1):
        if re.match(rf"\s*{re.escape(name)}\s*=", line):
            return i
    return None


def import_derivation(path: str):
    r"""Import the derivation file ``path`` as a fresh module (its folder on ``sys.path`` while it is imported)
    and return ``(module, its name)``; an error while importing is a :class:`DerivationError` at its line."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise DerivationError("no such file", path)
    stem = os.path.splitext(os.path.basename(path))[0]
    mod_name = f"gradlab_derivation_{re.sub(r'[^0-9A-Za-z_]', '_', stem)}_{abs(hash(path)) % 10**8}"
    spec_ = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec_)
    linecache.checkcache(path)
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)  # a derivation may import helpers that sit beside it
    try:
        sys.modules[mod_name] = module
        spec_.loader.exec_module(module)
    except SyntaxError as exc:
        raise DerivationError(f"SyntaxError: {exc.msg}", path, exc.lineno) from None
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        frames = [f for f in tb if os.path.abspath(f.filename) == path]
        line = frames[-1].lineno if frames else None
        code = (frames[-1].line or "").strip() if frames else ""
        msg = f"{type(exc).__name__} while importing: {exc}" + (f"\n    {line} | {code}" if code else "")
        hint = None
        if isinstance(exc, AttributeError) and "gradlab.specs" in str(exc) or "specs" in str(exc):
            from .. import specs

            hint = f"the model specs are: {', '.join(specs.SPECS)}"
        raise DerivationError(msg, path, line, hint) from None
    finally:
        sys.modules.pop(mod_name, None)
        if sys.path and sys.path[0] == folder:
            del sys.path[0]
    return module, mod_name


def load_derivation(path: str) -> Candidate:
    r"""Import the derivation file ``path`` and return its :class:`Candidate`, checked against the
    contract (``MODEL`` a spec, ``gradient`` a function of two arguments, ``WRONG`` names real parameters).

    Raises :class:`DerivationError` with the file and line for every breach and for errors raised
    while importing it."""
    from ..specs import Spec

    path = os.path.abspath(path)
    module, mod_name = import_derivation(path)
    fn = getattr(module, "gradient", None)
    if fn is None and isinstance(getattr(module, "GRADIENT", None), dict):
        return _symbolic_derivation(module, path)
    if fn is None:
        names = [n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == mod_name]
        close = difflib.get_close_matches("gradient", names, n=1)
        hint = (f"rename {close[0]}() to gradient()" if close else
                "define def gradient(params, data): ... returning {\"W_x\": ..., ...}")
        raise DerivationError("defines no function gradient(params, data)", path, None, hint)
    if not inspect.isfunction(fn) and not isinstance(fn, Candidate):
        raise DerivationError(f"gradient must be a function, got {type(fn).__name__}", path, _assign_line(path, "gradient"))
    n_req = [p for p in inspect.signature(fn).parameters.values()
             if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)] \
        if inspect.isfunction(fn) else [None, None]
    if len(n_req) != 2:
        raise DerivationError(f"gradient must take two arguments (params, data), it takes "
                              f"{len(n_req)}: ({', '.join(p.name for p in n_req)})", path, fn.__code__.co_firstlineno)
    model = getattr(module, "MODEL", None)
    if model is None:
        raise DerivationError("defines no MODEL: say which model the derivation is for", path, None,
                              "e.g. MODEL = gradlab.specs.elman(loss=\"mse_half\")")
    if not isinstance(model, Spec):
        raise DerivationError(f"MODEL must be a spec from gradlab.specs, got {type(model).__name__}",
                              path, _assign_line(path, "MODEL"), "e.g. MODEL = gradlab.specs.elman(loss=\"mse_half\")")
    cand = _from_namespace(module, fn, model, os.path.basename(path))
    cand.path = path
    md = os.path.splitext(path)[0] + ".md"
    if not (cand.doc or "").strip() and os.path.isfile(md):
        with open(md, encoding="utf-8") as fh:
            cand.doc = fh.read()
    if cand.wrong and cand.wrong != ("all",):
        try:
            names = list(model.param_shapes())
        except ValueError as exc:
            raise DerivationError(str(exc), path, _assign_line(path, "MODEL")) from None
        for w in cand.wrong:
            if w not in names:
                close = difflib.get_close_matches(w, names, n=1)
                raise DerivationError(f"WRONG names {w!r}, which is not a parameter of {model.describe()}; "
                                      f"its parameters are {', '.join(names)}", path, _assign_line(path, "WRONG"),
                                      f"did you mean {close[0]!r}?" if close else None)
    return cand


def _symbolic_derivation(module, path: str) -> Candidate:
    r"""Return the Candidate of a derivation that gives its gradient as formulas: ``GRADIENT`` maps every
    parameter to text, LaTeX or SymPy in the lecture's symbols (parsed without evaluating code), written
    for the fixed sizes ``SIZES = {"T": …, "D": …, "H": …, "O": …}``."""
    from ..specs import Spec
    from ..symbolic.candidate import to_numeric

    model = getattr(module, "MODEL", None)
    if not isinstance(model, Spec):
        raise DerivationError("a symbolic derivation needs MODEL, a spec from gradlab.specs", path,
                              _assign_line(path, "MODEL"), "e.g. MODEL = gradlab.specs.elman()")
    if model.kind == "feedforward" or model.loss != "mse_half" or getattr(model, "activation", "tanh") != "tanh" \
            or model.options:
        raise DerivationError(f"symbolic derivations are supported for the recurrent cells with tanh units and "
                              f"E = Σ_t ½‖y_t − d_t‖² and no cell options; MODEL is {model!r}", path,
                              _assign_line(path, "MODEL"))
    sizes = getattr(module, "SIZES", None)
    if not isinstance(sizes, dict) or set(sizes) != {"T", "D", "H", "O"} or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes.values()):
        raise DerivationError("a symbolic derivation needs SIZES, the sizes its formulas are written for, as "
                              "positive ints T, D, H, O", path, _assign_line(path, "SIZES"),
                              'e.g. SIZES = {"T": 2, "D": 1, "H": 1, "O": 1}')
    kw = {"T": sizes["T"], "hidden": sizes["H"], "inputs": sizes["D"], "outputs": sizes["O"], "mode": model.mode}
    formulas = module.GRADIENT
    missing = [n for n in model.param_shapes() if n not in formulas]
    if missing:
        raise DerivationError(f"GRADIENT gives no formula for {', '.join(missing)}", path,
                              _assign_line(path, "GRADIENT"), "give one formula per parameter (element-wise as a "
                                                              "nested list for vectors and matrices)")
    try:
        fn = to_numeric(formulas, model.kind, **kw)
    except (ValueError, TypeError) as exc:
        raise DerivationError(str(exc), path, _assign_line(path, "GRADIENT")) from None
    cand = _from_namespace(module, fn, model, os.path.basename(path))
    cand.path, cand.sizes, cand.symbolic = path, dict(sizes), (formulas, kw)
    return cand


#: the functions a curvature-product derivation defines beside ``MODEL`` (:mod:`gradlab.check.curvature`)
PRODUCT_NAMES = ("gauss_newton", "hessian")
#: the module-level names that make a file a derivation (the contract shared with layer mode)
CONTRACT_NAMES = ("MODEL", "gradient", "GRADIENT", "LAYER", "LAYERS") + PRODUCT_NAMES
_CONTRACT_HINTS = CONTRACT_NAMES + ("EXPECT", "WRONG", "SIZES")
_SKIP_FOLDERS = {"__pycache__", "node_modules", "site-packages", "venv", "env"}


@dataclass
class Scanned:
    r"""What :func:`scan_file` found without running anything: ``kind`` is ``"derivation"`` (with
    ``mode`` ``"gradient"``, ``"formulas"``, ``"layer"`` or ``"product"``: a curvature product), ``"skip"`` (not a derivation; ``reason``)
    or ``"error"`` (the file cannot be read as Python; ``error`` is a :class:`DerivationError`)."""

    path: str
    kind: str
    mode: str | None = None
    reason: str | None = None
    error: DerivationError | None = None
    names: frozenset = frozenset()


def _module_bindings(tree) -> set:
    """The names a module binds at module level (assignments, defs, classes, imports), also inside
    module-level ``if``/``try``/``with``/``for``/``while``/``match`` blocks, never inside functions or classes."""
    import ast

    names: set = set()

    def targets(t):
        if isinstance(t, ast.Name):
            names.add(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                targets(e)
        elif isinstance(t, ast.Starred):
            targets(t.value)

    def walk(body):
        for node in body:
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    targets(t)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets(node.target)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    names.add(a.asname or a.name.split(".")[0])
            for field_name in ("body", "orelse", "finalbody"):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    walk(getattr(node, field_name, None) or [])
            for handler in getattr(node, "handlers", None) or []:
                walk(handler.body)
            for case in getattr(node, "cases", None) or []:
                walk(case.body)

    walk(tree.body)
    return names


def scan_file(path: str) -> Scanned:
    r"""Decide from the file's syntax tree, without running it, whether ``path`` is a derivation: it is when
    at module level it assigns ``MODEL`` and defines (or assigns, or imports) ``gradient``, ``gauss_newton``
    or ``hessian``, or assigns ``GRADIENT``, or assigns ``LAYER`` or ``LAYERS``. A file that is not UTF-8 (or the encoding its
    coding line declares) or not valid Python is an ``"error"`` with the line."""
    import ast
    import io
    import tokenize

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return Scanned(path, "error", error=DerivationError(f"cannot be read: {exc.strerror or exc}", path))
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        return Scanned(path, "error", error=DerivationError(f"SyntaxError: {exc.msg}", path,
                                                            getattr(exc, "lineno", None)))
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        msg = (f"is not {'UTF-8' if encoding in ('utf-8', 'utf-8-sig') else encoding} text: byte "
               f"0x{data[exc.start]:02x} at line {line}, column {col} is not a character in that encoding")
        return Scanned(path, "error", error=DerivationError(msg, path, line, "save the file as UTF-8 (every "
                                                            "editor can; it is Python's default encoding)"))
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return Scanned(path, "error", error=DerivationError(f"SyntaxError: {exc.msg}", path, exc.lineno))
    except (ValueError, RecursionError, MemoryError) as exc:
        return Scanned(path, "error", error=DerivationError(f"is not valid Python: {type(exc).__name__}: {exc}", path))
    names = frozenset(_module_bindings(tree) & set(_CONTRACT_HINTS))
    if "LAYER" in names or "LAYERS" in names:
        return Scanned(path, "derivation", mode="layer", names=names)
    if "GRADIENT" in names:
        return Scanned(path, "derivation", mode="formulas", names=names)
    if "MODEL" in names and any(n in names for n in PRODUCT_NAMES):
        return Scanned(path, "derivation", mode="product", names=names)
    if "MODEL" in names and "gradient" in names:
        return Scanned(path, "derivation", mode="gradient", names=names)
    if "MODEL" in names:
        reason = "assigns MODEL but defines no gradient (nor gauss_newton, hessian, GRADIENT, LAYER or LAYERS)"
    elif "gradient" in names or any(n in names for n in PRODUCT_NAMES):
        reason = f"defines {next(n for n in ('gradient',) + PRODUCT_NAMES if n in names)} but assigns no MODEL"
    else:
        reason = "not a derivation (no MODEL + gradient, GRADIENT, LAYER or LAYERS)"
    return Scanned(path, "skip", reason=reason, names=names)


def scan(paths) -> list:
    r"""Return a :class:`Scanned` for every file under ``paths``, without running any of them: a file given
    by name is a derivation when it uses any of the contract's names (so that a broken one gets the
    contract's messages), otherwise skipped; a folder is searched recursively (not into hidden folders,
    ``__pycache__`` or virtual environments) for ``*.py`` files not starting with ``_``, and only the
    derivations among them are checked."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_FOLDERS
                                 and not os.path.exists(os.path.join(root, d, "pyvenv.cfg")))
                found += [os.path.join(root, f) for f in files if f.endswith(".py") and not f.startswith("_")]
            out += [scan_file(f) for f in sorted(found, key=lambda f: os.path.relpath(f, p).split(os.sep))]
        else:
            s = scan_file(p)
            if s.kind == "skip" and s.names:
                s = Scanned(p, "derivation", mode="gradient", names=s.names)
            out.append(s)
    return out


def find_derivations(paths) -> list:
    """Return the derivation files under ``paths`` (files as given when they use the contract's names;
    folders: their derivations, found from each file's syntax tree without running it; see :func:`scan`)."""
    return [s.path for s in scan(paths) if s.kind == "derivation"]
