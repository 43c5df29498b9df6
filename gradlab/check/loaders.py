r"""Loading one function out of a script or a Jupyter notebook, without running the rest of it.

Course code is rarely a module: min-char-rnn reads its data file, draws its weights and trains at the
top level; a notebook mixes the function with plots and shell commands. :func:`load_function` reads
the file's syntax tree and executes only what the requested function needs: the imports it uses,
the functions and classes it calls, and constant assignments (``hidden_size = 100``,
``seq_length = 2 * n``), each found by following the names the function reads back to the last
top-level statement that binds them. Training loops, plotting, file I/O and anything inside
``if __name__ == "__main__":`` are never executed.

A name the function reads whose definition is not safe to run (``Wxh = np.random.randn(H, V) * 0.01``
next to the data file being read; anything bound in a loop) is *reported*, with the reason, in
``needed_globals(fn)``; the check supplies it (``gradlab.check.call(..., globals="Wxh, …")``), or
``load_function(..., globals={"Wxh": …})`` does.

Notebooks (``.ipynb``): the code cells, top to bottom, are one script; IPython lines (``%magic``,
``!shell``, ``x = !cmd``) are skipped and cells under a non-Python cell magic (``%%bash``) too. Cells
are numbered from 1 from the top, Markdown cells included, and every message names the cell and the
line inside it: ``lab.ipynb, cell 4, line 7``.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import inspect
import json
import linecache
import os
import re
import symtable
import sys
from dataclasses import dataclass, field

from .candidate import DerivationError, short_path

__all__ = ["load_function", "needed_globals", "LoadedFunction"]

#: builtins a constant assignment may call: they compute a value and touch nothing else
_PURE_CALLS = {"range", "len", "int", "float", "complex", "str", "bool", "tuple", "list", "dict", "set",
               "frozenset", "abs", "min", "max", "round", "sum", "sorted", "reversed", "enumerate", "zip", "pow"}
#: functions of numpy and math a constant assignment may call: deterministic, no I/O, no hidden state
_PURE_MODULE_CALLS = {
    "numpy": {"zeros", "ones", "eye", "identity", "full", "arange", "linspace", "array", "asarray", "zeros_like",
              "ones_like", "full_like", "sqrt", "exp", "log", "log2", "log10", "tanh", "sin", "cos", "abs",
              "float64", "float32", "int64", "int32", "prod", "sum", "max", "min", "concatenate", "stack", "diag",
              "outer", "dot", "maximum", "minimum", "floor", "ceil", "round"},
    "math": None,    # every function of math
}
#: cell magics whose body is still Python
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_MAIN_GUARD = "if __name__ == \"__main__\":"


@dataclass
class LoadedFunction:
    r"""What :func:`load_function` learned about the function it loaded: the file, where it is defined,
    and ``needs`` {global name: why gradlab did not define it} — the globals the caller must supply."""

    path: str
    name: str
    filename: str
    lineno: int
    needs: dict = field(default_factory=dict)
    supplied: tuple = ()
    owner: object = None           # the class of a method
    namespace: dict = field(default_factory=dict, repr=False)

    def where(self, line: int | None = None) -> str:
        """Return ``file:line`` (``notebook.ipynb, cell N, line L`` for a notebook)."""
        line = self.lineno if line is None else line
        return _where(self.filename, line)


def needed_globals(fn) -> dict:
    """Return {name: reason} for the globals ``fn`` (loaded by :func:`load_function`) reads but gradlab did
    not define, and that nothing supplied yet ({} for any other function)."""
    info = getattr(fn, "__gradlab_loaded__", None)
    return dict(info.needs) if info is not None else {}


def _where(filename: str, line: int | None) -> str:
    short = short_path(filename)
    if ", cell " in filename:
        return f"{short}, line {line}" if line else short
    return f"{short}:{line}" if line else short



class _Namespace(dict):
    """The loaded file's globals. A name that gradlab left undefined on purpose raises a ``NameError``
    that says why and how to supply it (other misses fall through to the builtins, as usual)."""

    needs: dict = {}

    def __missing__(self, key):
        reason = self.needs.get(key)
        if reason is None:
            raise KeyError(key)
        raise NameError(f"name {key!r} is not defined: {reason}. Supply it: load_function(..., "
                        f"globals={{{key!r}: ...}}) or the check's globals=\"{key}\"")


# ------------------------------------------------------------------------------------ reading
@dataclass
class _Stmt:
    node: ast.stmt
    filename: str
    order: int
    kind: str                    # import, star, def, const, other
    binds: tuple
    safe: bool
    reason: str = ""
    now: frozenset = frozenset()      # names read while the statement runs
    later: frozenset = frozenset()    # names read when the functions it defines are called

    @property
    def line(self) -> int:
        return self.node.lineno

    def text(self) -> str:
        return _text(self.node, self.filename)


def _read(path: str):
    """Return (statements, syntax errors [(filename, line, message)], display name of the file)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if path.endswith(".ipynb"):
        return _read_notebook(path, text)
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise DerivationError(f"SyntaxError: {exc.msg}", path, exc.lineno) from None
    linecache.checkcache(path)
    stmts = _statements(tree.body, path, 0)
    _recheck_purity(stmts)
    return stmts, []


def _read_notebook(path: str, text: str):
    try:
        nb = json.loads(text)
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError):
        raise DerivationError("is not a Jupyter notebook (no JSON with \"cells\")", path) from None
    stmts, errors = [], []
    for number, cell in enumerate(cells, 1):
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        code = _strip_magics(src)
        if code is None:
            continue
        name = f"{path}, cell {number}"
        lines = code.splitlines(keepends=True)
        linecache.cache[name] = (len(code), None, lines, name)
        try:
            tree = ast.parse(code, filename=name)
        except SyntaxError as exc:
            errors.append((name, exc.lineno, exc.msg, code))
            continue
        stmts += _statements(tree.body, name, number * 100000)
    _recheck_purity(stmts)
    return stmts, errors


def _strip_magics(src: str) -> str | None:
    """The cell's Python: IPython lines become ``pass`` (line numbers kept); None for a non-Python cell."""
    lines = src.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split()[0] if lines[0].lstrip()[2:].split() else ""
        if magic not in _PYTHON_CELL_MAGICS:
            return None
        lines[0] = "pass"
    out = []
    for line in lines:
        body = line.lstrip()
        indent = line[: len(line) - len(body)]
        if body.startswith(("%", "!")) or re.match(r"[\w.,\s]+=\s*[%!]", body) or body.endswith("?") and \
                not body.startswith("#") and re.fullmatch(r"[\w.]+\?\??", body):
            out.append(indent + "pass")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _statements(body, filename: str, base: int) -> list:
    return [_classify(node, filename, base + i) for i, node in enumerate(body)]


def _import_aliases(stmts) -> dict:
    """{name bound by an import: what it is, e.g. "np" -> "numpy", "sqrt" -> "math.sqrt"}."""
    out = {}
    for s in stmts:
        node = s.node
        if isinstance(node, ast.Import):
            for a in node.names:
                out[_alias_name(a)] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    out[_alias_name(a)] = f"{node.module}.{a.name}"
    return out


def _pure_call(func, aliases: dict) -> bool:
    """Whether calling ``func`` (an expression) computes a value and does nothing else."""
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return False
    if not parts and func.id in _PURE_CALLS and func.id not in aliases:
        return True
    full = ".".join([aliases.get(func.id, "")] + parts[::-1]) if func.id in aliases else ""
    module, _, name = full.rpartition(".")
    if module not in _PURE_MODULE_CALLS:
        return False
    allowed = _PURE_MODULE_CALLS[module]
    return allowed is None or name in allowed


def _recheck_purity(stmts) -> None:
    """Constant assignments may call numpy's and math's pure functions, once the imports are known."""
    aliases = _import_aliases(stmts)
    for s in stmts:
        if s.kind == "other" and isinstance(s.node, (ast.Assign, ast.AnnAssign)) and s.node.value is not None \
                and " calls " in s.reason and _impure(s.node.value, aliases) is None:
            s.kind, s.safe, s.reason = "const", True, ""
            s.now, s.later = _reads(s.node)


def _target_names(target) -> tuple:
    """(names bound, names changed in place) by an assignment target."""
    if isinstance(target, ast.Name):
        return (target.id,), ()
    if isinstance(target, (ast.Tuple, ast.List)):
        bound, changed = (), ()
        for elt in target.elts:
            b, c = _target_names(elt)
            bound, changed = bound + b, changed + c
        return bound, changed
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    base = target
    while isinstance(base, (ast.Attribute, ast.Subscript)):
        base = base.value
    return (), ((base.id,) if isinstance(base, ast.Name) else ())


def _stored_names(node) -> tuple:
    """Every name a compound statement may bind, anywhere inside it."""
    names = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.append(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names += [_alias_name(a) for a in sub.names if a.name != "*"]
        elif isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, ast.Store):
            names += list(_target_names(sub)[1])
    return tuple(dict.fromkeys(names))


def _alias_name(alias) -> str:
    return alias.asname or alias.name.split(".")[0]


def _is_main_guard(node) -> bool:
    if not isinstance(node, ast.If):
        return False
    t = node.test
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.comparators) == 1 and isinstance(t.comparators[0], ast.Constant)
            and t.comparators[0].value == "__main__")


def _only_imports(body) -> bool:
    return all(isinstance(n, (ast.Import, ast.ImportFrom, ast.Pass)) or
               isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def _classify(node, filename: str, order: int) -> _Stmt:
    def stmt(kind, binds, safe, reason=""):
        s = _Stmt(node, filename, order, kind, tuple(binds), safe, reason)
        if safe:
            s.now, s.later = _reads(node)
        return s

    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if any(a.name == "*" for a in node.names):
            return stmt("star", (), True)
        return stmt("import", [_alias_name(a) for a in node.names], True)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return stmt("def", (node.name,), True)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None:
            return stmt("other", (), False)
        bound, changed = (), ()
        for t in targets:
            b, c = _target_names(t)
            bound, changed = bound + b, changed + c
        if changed:
            return stmt("other", bound + changed, False, f"`{_text(node, filename)}` changes {changed[0]} in place")
        why = _impure(node.value)
        if why:
            return stmt("other", bound, False, f"`{_text(node, filename)}` {why}")
        return stmt("const", bound, True)
    if isinstance(node, ast.AugAssign):
        b, c = _target_names(node.target)
        return stmt("other", b + c, False, f"`{_text(node, filename)}` changes it")
    if isinstance(node, ast.Try) and all(_only_imports(b) for b in
                                         [node.body, node.orelse, node.finalbody] + [h.body for h in node.handlers]):
        return stmt("import", _stored_names(node), True)
    if _is_main_guard(node):
        return stmt("other", _stored_names(node), False, f"it is set inside `{_MAIN_GUARD}`, which gradlab does not run")
    if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)) or \
            type(node).__name__ in ("Match", "TryStar"):
        what = {"For": "a for loop", "AsyncFor": "a for loop", "While": "a while loop", "If": "an if block",
                "With": "a with block", "AsyncWith": "a with block"}.get(type(node).__name__, "a block")
        return stmt("other", _stored_names(node), False, f"it is set inside {what} (line {node.lineno}), "
                                                         f"which gradlab does not run")
    if isinstance(node, ast.Delete):
        return stmt("other", _stored_names(node), False, f"`{_text(node, filename)}` deletes it")
    return stmt("other", _stored_names(node), False, f"it is set by `{_text(node, filename)}`, which gradlab does not run")


def _text(node, filename: str | None = None) -> str:
    """The statement's first line as written (or as unparsed), shortened."""
    first = linecache.getline(filename, node.lineno).strip() if filename and hasattr(node, "lineno") else ""
    if not first:
        first = ast.unparse(node).splitlines()[0]
    return first if len(first) <= 60 else first[:57] + "..."


def _line_ref(filename: str, line: int) -> str:
    """``line 7`` (``cell 3, line 7`` in a notebook)."""
    if ", cell " in filename:
        return f"cell {filename.rsplit(', cell ', 1)[1]}, line {line}"
    return f"line {line}"


def _impure(expr, aliases: dict | None = None) -> str | None:
    """Why evaluating ``expr`` could do more than compute a constant (None when it cannot)."""
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Call):
            f = sub.func
            if not (isinstance(f, ast.Name) and f.id in _PURE_CALLS) and not _pure_call(f, aliases or {}):
                return f"calls {ast.unparse(f)}()"
        elif isinstance(sub, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return "is not a constant expression"
    return None


def _reads(node) -> tuple:
    """(names read when ``node`` runs at the top level, names read when its functions are called)."""
    try:
        table = symtable.symtable(ast.unparse(node), "<statement>", "exec")
    except SyntaxError:   # e.g. a return outside a function in a notebook cell: no names
        return frozenset(), frozenset()
    now = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    later: set = set()
    stack = [(t, t.get_type() == "class") for t in table.get_children()]
    while stack:   # a class body at the top runs with the class statement; function bodies when called
        t, runs_now = stack.pop()
        for s in t.get_symbols():
            if s.is_global() and s.is_referenced():
                (now if runs_now else later).add(s.get_name())
        stack.extend((c, False) for c in t.get_children())
    return frozenset(now), frozenset(later)


def _global_writers(stmts) -> dict:
    """{name: statement} for names that functions assign with a ``global`` statement."""
    out = {}
    for s in stmts:
        if s.kind != "def":
            continue
        for sub in ast.walk(s.node):
            if isinstance(sub, ast.Global):
                for n in sub.names:
                    out.setdefault(n, s)
    return out


# --------------------------------------------------------------------------------- resolving
class _Resolver:
    """Follows names back to the statements that define them; chooses what may run."""

    def __init__(self, stmts, supplied):
        self.stmts = stmts
        self.supplied = set(supplied)
        self.selected: dict = {}           # order -> set of import aliases (or True)
        self.needs: dict = {}              # name -> reason
        self.star_names: set = set()
        self._done: dict = {}
        self.writers = _global_writers(stmts)

    def binder(self, name, before):
        found = None
        for s in self.stmts:
            if s.order >= before:
                break
            if name in s.binds:
                found = s
        return found

    def stars(self, before):
        return [s for s in self.stmts if s.kind == "star" and s.order < before]

    def define(self, name, before, *, report=True) -> str | None:
        """Make ``name`` (as bound before position ``before``) available; return why not, or None."""
        if name in self.supplied:
            return None
        key = (name, before)
        if key in self._done:
            return self._done[key]
        self._done[key] = None                      # a cycle (mutual recursion) resolves to itself
        why = self._define(name, before)
        self._done[key] = why
        if why and report:
            self.needs.setdefault(name, why)
        return why

    def _define(self, name, before) -> str | None:
        s = self.binder(name, before)
        if s is None:
            if name in self.writers:
                w = self.writers[name]
                return f"it is set only by {w.node.name}() (a global statement), which gradlab does not call"
            if hasattr(builtins, name) or name in ("__name__", "__file__", "__builtins__", "__doc__"):
                return None
            stars = self.stars(before)
            if stars:
                for st in stars:
                    self.selected.setdefault(st.order, True)
                self.star_names.add(name)
                return None
            return "the file never defines it"
        if not s.safe:
            return f"{_line_ref(s.filename, s.line)}: {s.reason}"
        if s.kind == "import":
            aliases = self.selected.setdefault(s.order, set())
            if aliases is not True:
                aliases.add(name)
            return None
        return self.define_statement(s)

    def define_statement(self, s) -> str | None:
        """Select a definition or constant and what it reads; return why it cannot run, or None."""
        for dep in sorted(s.now):
            if dep in s.binds and s.kind == "def":
                continue
            why = self.define(dep, s.order, report=False)
            if why:
                return f"{_line_ref(s.filename, s.line)}: `{s.text()}` depends on {dep}; {why}"
        self.selected[s.order] = True
        for dep in sorted(s.later):
            if dep not in s.binds:
                self.define(dep, float("inf"))
        return None


# ------------------------------------------------------------------------------------ loading
def load_function(path: str, name: str, *, globals=None):
    r"""Return the function (or class) ``name`` defined in the script or notebook ``path``, having run
    only what it needs: its imports, the functions and classes it uses and constant assignments.

    ``name`` is a top-level function or class, or ``"Class.method"`` (the method's plain function is
    returned; the check makes the instance). ``path`` is a ``.py`` file or a Jupyter notebook
    (``.ipynb``); a relative path is looked up beside the file that calls ``load_function`` first, then
    in the working directory. ``globals`` supplies module globals: a dict {name: value}, or a list of
    names the caller will supply later (as ``gradlab.check.call(..., globals=...)`` does).

    Globals the function reads that gradlab did not define (their definition is not safe to run) are
    listed by :func:`needed_globals` with the reason. Raises :class:`DerivationError` naming the file
    and line (and the cell of a notebook) for a missing file, a syntax error, or a missing function.
    """
    path = _find(path, sys._getframe(1))
    supplied = dict(globals) if isinstance(globals, dict) else {n: None for n in (globals or ())}
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)?", name):
        raise TypeError(f"load_function: name must be a function name or 'Class.method', got {name!r}")
    stmts, errors = _read(path)
    top, _, method = name.partition(".")
    target = None
    for s in stmts:
        if s.kind == "def" and s.node.name == top:
            target = s
    broken = [e for e in errors if re.search(rf"^\s*(def|class)\s+{re.escape(top)}\b", e[3], re.M)]
    if broken or (target is None and errors):
        fname, line, msg, _ = (broken or errors)[0]
        raise DerivationError(f"SyntaxError: {msg}", fname, line)
    if target is None:
        raise _not_found(path, top, stmts)
    if method and not isinstance(target.node, ast.ClassDef):
        raise DerivationError(f"{top} is a function, not a class; load {top!r} itself", target.filename, target.line)
    if method:
        names = [n.name for n in target.node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if method not in names:
            close = difflib.get_close_matches(method, names, n=1)
            raise DerivationError(f"class {top} has no method {method!r}; its methods are {', '.join(names) or 'none'}",
                                  target.filename, target.line, f"did you mean {top}.{close[0]}?" if close else None)
    res = _Resolver(stmts, [n for n in supplied])
    why = res.define_statement(target)        # the definition itself, even if the script rebinds the name later
    if why:
        raise DerivationError(f"{top} cannot be defined without running more of the file: {why}",
                              target.filename, target.line)
    ns = _Namespace({"__name__": "gradlab_loaded_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0]),
                     "__file__": path, "__builtins__": builtins})
    ns.update({k: v for k, v in supplied.items() if isinstance(globals, dict)})
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)   # the script's own helpers (``from utils import softmax``) sit beside it
    try:
        for s in stmts:
            if s.order not in res.selected:
                continue
            node = s.node
            aliases = res.selected[s.order]
            if isinstance(node, (ast.Import, ast.ImportFrom)) and aliases is not True:
                node = _only_aliases(node, aliases)
            _run(node, s, ns)
    finally:
        if sys.path and sys.path[0] == folder:
            del sys.path[0]
    for n in sorted(res.star_names):
        if n not in ns and not hasattr(builtins, n):
            res.needs.setdefault(n, "the file never defines it (nor do its `import *`)")
    needs = {k: (f"{short_path(path)}, {v}" if v.startswith(("line ", "cell ")) else v)
             for k, v in res.needs.items() if k not in supplied}
    ns.needs = needs
    obj = dict.get(ns, top)
    if obj is None or not (inspect.isfunction(obj) or inspect.isclass(obj)):
        raise DerivationError(f"{top} is rebound after its definition, and gradlab loads the definition only",
                              target.filename, target.line)
    owner = None
    if method:
        owner = obj
        obj = inspect.getattr_static(owner, method)
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
    lineno = getattr(getattr(obj, "__code__", None), "co_firstlineno", target.line)
    info = LoadedFunction(path, name, target.filename, lineno, needs, tuple(supplied), owner, ns)
    try:
        obj.__gradlab_loaded__ = info
    except (AttributeError, TypeError):
        pass
    return obj


def _find(path: str, frame) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_function: path must be a file name, got {path!r}")
    path = os.fspath(path)
    tried = []
    if not os.path.isabs(path):
        caller = frame.f_globals.get("__file__") if frame is not None else None
        if caller:
            beside = os.path.join(os.path.dirname(os.path.abspath(caller)), path)
            tried.append(beside)
            if os.path.isfile(beside):
                return beside
    full = os.path.abspath(path)
    tried.append(full)
    if os.path.isfile(full):
        return full
    raise DerivationError("no such file" + (f" (looked for {' and '.join(short_path(t) for t in tried)})"
                                            if len(tried) > 1 else ""), path)


def _not_found(path, name, stmts) -> DerivationError:
    defined = [s.node.name for s in stmts if s.kind == "def"]
    methods = [f"{s.node.name}.{n.name}" for s in stmts if isinstance(s.node, ast.ClassDef)
               for n in s.node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = None
    for s in stmts:
        for sub in ast.walk(s.node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub.name == name \
                    and s.kind != "def":
                nested = (s, sub)
                break
        if nested:
            break
    if nested:
        s, sub = nested
        block = f"`{_MAIN_GUARD}`" if _is_main_guard(s.node) else f"a `{type(s.node).__name__.lower()}` block"
        return DerivationError(f"{name} is defined inside {block}, not at the top level; gradlab loads only "
                               f"top-level definitions (it never runs such blocks)", s.filename, sub.lineno,
                               "move the definition out of the block")
    method_names = {m.split(".")[1]: m for m in methods}
    if name in method_names:
        return DerivationError(f"{name} is a method; load it as {method_names[name]!r}", path, None)
    close = difflib.get_close_matches(name, defined + methods, n=1)
    listing = ", ".join(defined) if defined else "no functions or classes"
    return DerivationError(f"defines no function or class {name!r} at the top level (it defines {listing})",
                           path, None, f"did you mean {close[0]!r}?" if close else None)


def _only_aliases(node, aliases):
    keep = [a for a in node.names if _alias_name(a) in aliases]
    new = ast.Import(names=keep) if isinstance(node, ast.Import) else \
        ast.ImportFrom(module=node.module, names=keep, level=node.level)
    return ast.copy_location(new, node)


def _run(node, s: _Stmt, ns) -> None:
    module = ast.Module(body=[node], type_ignores=[])
    ast.fix_missing_locations(module)
    try:
        code = compile(module, s.filename, "exec")
        exec(code, ns)  # noqa: S102 - the selected definitions only: imports, defs, constants
    except Exception as exc:  # noqa: BLE001 - reported at the user's line
        what = {"import": "importing", "star": "importing", "def": "defining", "const": "assigning"}[s.kind]
        raise DerivationError(f"{type(exc).__name__} while {what} `{s.text()}`: {exc}", s.filename, s.line,
                              "is the module installed for this Python?" if isinstance(exc, ImportError) else None) \
            from None
