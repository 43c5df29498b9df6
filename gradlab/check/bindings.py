r"""The author's own function as a derivation, by declarations alone: :func:`call`.

A course's code computes its gradient in its own way: min-char-rnn's ``lossFun(inputs, targets,
hprev)`` reads its weights from module globals and returns ``loss, dWxh, dWhh, dWhy, dbh, dby, h``;
a word-level language model's ``bptt(self, x, y)`` reads ``self.U, self.V, self.W`` and returns
``[dLdU, dLdV, dLdW]``. :func:`call` says, in a few declarations, where each quantity of the model
goes, and gradlab does the calling; nothing is transposed, permuted or reshaped by hand (the spec's
options describe the layout, see :mod:`gradlab.specs`)::

    gradient = gradlab.check.call(
        load_function("min_char_rnn.py", "lossFun"),
        args="inputs=xs, targets=ds, hprev=s_0",          # the function's arguments
        globals="Wxh, Whh, Why, bh, by, vocab_size",      # module globals it reads
        returns="loss, dWxh, dWhh, dWhy, dbh, dby, hprev=s_T")

Every binding is ``name=quantity`` or a bare ``name`` (the quantity of the same name). A quantity is

* a parameter, by the spec's names (``names=`` in the spec gives the code's own names);
* ``params``: the dict of all parameters (for code that takes a ``parameters`` dict), ``data``: the
  dict of all data (so a gradlab-style ``gradient(params, data)`` can be wrapped, e.g. to declare ``clip``);
* a data entry: ``xs``, ``ds`` or ``d``, ``s_0``, ``c_0`` … (``spec.data_names()``);
* a size: ``steps`` (T), ``input_size`` (D), ``hidden_size`` (H), ``output_size`` (O),
  ``vocab_size`` (V), ``batch_size`` (B);
* ``truncate``: the spec's truncation depth k; or a number.

``self=`` binds the attributes of the instance a method is called on (the instance is made without
running the class's ``__init__``). ``returns=`` names what the function returns, in order: a
gradient ``dX`` (also ``dLdX``, ``dEdX``, ``grad_X``, ``X_grad``) of the parameter X, the loss
(``loss``, ``cost``, ``E``, ``L``, ``J``: compared with the model's E, so that a forward that computes
another model is reported as such), the final state (``h=s_T``, ``c=c_T``: compared too), ``grads``
(a dict of gradients) or ``_`` (ignored). A function that returns a dict of gradients needs no
``returns=``. Arguments that ``args=`` leaves out are bound by name when they are called like a
quantity or a usual alias (``x``, ``inputs`` -> ``xs``; ``y``, ``targets`` -> ``ds``; ``h0``, ``hprev``
-> ``s_0``; ``c0`` -> ``c_0``).

``clip=b`` declares that the code clips every gradient it returns to [−b, b] on purpose (min-char-rnn
clips at ±5): the references are clipped the same way. Without it, a clipped gradient is reported
as clipped only where the evidence shows it (values saturated at ±b where the true gradient is larger).
"""
from __future__ import annotations

import difflib
import inspect
import os
import re
import sys
import traceback
from typing import Mapping

import numpy as np

from .candidate import Candidate, DerivationError

__all__ = ["call", "Call", "SIZE_WORDS", "LOSS_NAMES"]

#: the words that name a size in a binding
SIZE_WORDS = {"steps": "T", "input_size": "D", "hidden_size": "H", "output_size": "O", "vocab_size": "V",
              "batch_size": "B"}
#: returned names read as the loss
LOSS_NAMES = ("loss", "cost", "E", "L", "J", "error")
_GRAD_PREFIXES = ("dLd", "dEd", "dJd", "grad_", "d_", "d")
_GRAD_SUFFIXES = ("_grad", "_gradient")
_ALIASES = {
    "xs": ("x", "xs", "X", "inputs", "input", "x_seq", "seq", "words", "chars"),
    "ds": ("y", "ys", "Y", "d", "ds", "targets", "target", "labels"),
    "d": ("y", "d", "target", "label"),
    "x": ("x", "X", "inputs", "input"),
    "s_0": ("h0", "hprev", "h_prev", "h_0", "s0", "s_0", "a0", "a_prev", "a_0", "state"),
    "c_0": ("c0", "cprev", "c_prev", "c_0"),
}
_MISSING = object()


def _bindings(spec, what: str, where) -> list:
    """Parse ``"a=b, c"`` (or a dict) into [(target, source)], source a str, a number or None (= target)."""
    if spec is None:
        return []
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, str):
        items = []
        for part in [p.strip() for p in spec.split(",")]:
            if not part:
                continue
            target, eq, source = (x.strip() for x in part.partition("="))
            items.append((target, source if eq else None))
    elif isinstance(spec, (list, tuple)):
        items = [(str(x), None) for x in spec]
    else:
        raise DerivationError(f"{what}= must be a string like \"a=b, c\" or a dict, got {type(spec).__name__}",
                              *where)
    out = []
    for target, source in items:
        if not isinstance(target, str) or not target.isidentifier():
            raise DerivationError(f"{what}=: {target!r} is not a name", *where)
        if isinstance(source, str):
            source = source.strip()
            if re.fullmatch(r"[-+]?\d+", source):
                source = int(source)
            elif re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", source):
                source = float(source)
            elif not source.isidentifier():
                raise DerivationError(f"{what}=: {target}={source} — the right side must be a quantity's name "
                                      f"or a number", *where)
        out.append((target, source))
    return out


def _grad_of(name: str, params) -> str | None:
    """The parameter whose gradient a returned name is by the usual conventions (dW, dLdW, W_grad …)."""
    for prefix in _GRAD_PREFIXES:
        if name.startswith(prefix) and name[len(prefix):] in params:
            return name[len(prefix):]
    for suffix in _GRAD_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in params:
            return name[: -len(suffix)]
    return None


class Call(Candidate):
    r"""A candidate made of the author's own function and the declarations of :func:`call`: called
    with ``(params, data)`` it binds arguments, globals and attributes, calls the function, and
    returns {parameter: gradient, ``"E"``: loss, ``"s_T"``: final state} as the checker reads them."""

    def __init__(self, fn, *, args=None, globals=None, attributes=None, returns=None, clip=None, name=None,
                 declared_at=(None, None)):
        self.declared_at = declared_at
        bound = inspect.ismethod(fn)
        func = fn.__func__ if bound else fn
        if not callable(func) or not hasattr(func, "__code__"):
            raise DerivationError(f"call: expected a Python function (e.g. from load_function), got "
                                  f"{type(fn).__name__}", *declared_at)
        super().__init__(func, name or getattr(func, "__qualname__", "gradient"), doc=func.__doc__ or "")
        self.instance = fn.__self__ if bound else None
        self.loaded = getattr(func, "__gradlab_loaded__", None)
        self.args = _bindings(args, "args", declared_at)
        self.globals = _bindings(globals, "globals", declared_at)
        self.attributes = _bindings(attributes, "self", declared_at)
        self.returns = _bindings(returns, "returns", declared_at) if returns is not None else None
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or clip <= 0):
            raise DerivationError(f"call: clip must be a positive number (the bound b of np.clip(g, -b, b)), "
                                  f"got {clip!r}", *declared_at)
        self.clip = None if clip is None else float(clip)
        self._plans: dict = {}
        self._check_declarations()

    # ------------------------------------------------------------------------ where things are
    @property
    def source_file(self) -> str | None:
        """The author's file (a notebook's cell for a notebook)."""
        return self.fn.__code__.co_filename

    @property
    def def_line(self) -> int | None:
        """The line of the author's ``def``."""
        return self.fn.__code__.co_firstlineno

    def line_of(self, text: str) -> int | None:
        """The line in the author's function where the gradient of parameter ``text`` is set."""
        variable = self._returned_name(text)
        try:
            lines, start = inspect.getsourcelines(self.fn)
        except (OSError, TypeError):
            return self.def_line
        if variable:
            setting = re.compile(rf"\b{re.escape(variable)}\b\s*(\[[^\]]*\])?\s*([-+*/@]?=)(?!=)")
            for i in range(len(lines) - 1, -1, -1):
                if setting.search(lines[i]):
                    return start + i
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].strip().startswith("return"):
                return start + i
        return self.def_line

    def _returned_name(self, param: str) -> str | None:
        for target, source in self.returns or ():
            if source == param or (source is None and _grad_of(target, [param])):
                return target
            if isinstance(source, str) and _grad_of(source, [param]):
                return target
        return None

    def _declaration_error(self, message: str, hint: str | None = None) -> DerivationError:
        return DerivationError(message, self.declared_at[0], self.declared_at[1], hint)

    # ---------------------------------------------------------------------- the declarations
    def _signature(self):
        try:
            return inspect.signature(self.fn)
        except (TypeError, ValueError):
            return None

    def _method_owner(self):
        if self.instance is not None:
            return type(self.instance)
        if self.loaded is not None and self.loaded.owner is not None:
            return self.loaded.owner
        qual = getattr(self.fn, "__qualname__", "")
        if "." in qual and "<locals>" not in qual:
            return self.fn.__globals__.get(qual.split(".")[0])
        return None

    def _check_declarations(self) -> None:
        """What can be checked before the model is known: argument names, globals the function reads."""
        sig = self._signature()
        fname = getattr(self.fn, "__name__", "the function")
        if sig is not None:
            names = list(sig.parameters)
            if self.instance is None and self._method_owner() is not None and names and names[0] == "self":
                names = names[1:]
            elif self.instance is None and names and names[0] == "self" and self.attributes:
                names = names[1:]
            for target, _ in self.args:
                if target not in names:
                    close = difflib.get_close_matches(target, names, n=1)
                    raise self._declaration_error(
                        f"args= binds {target!r}, but {fname}() has no argument {target!r}; its arguments are "
                        f"{', '.join(names) or 'none'}", f"did you mean {close[0]!r}?" if close else None)
        if self.attributes and self.instance is None and self._method_owner() is None:
            raise self._declaration_error(f"self= binds attributes, but {fname}() is not a method of a class "
                                          f"gradlab can find; load it as 'Class.method'")
        if self.loaded is not None:
            info = self.loaded
            declared = {t for t, _ in self.globals}
            unsupplied = [n for n in info.needs if n not in declared]
            if unsupplied:
                n = unsupplied[0]
                raise self._declaration_error(
                    f"{fname}() reads the global {n}, which gradlab did not define ({info.needs[n]}); "
                    f"supply it in globals=", f"e.g. globals=\"{', '.join(sorted(declared | set(unsupplied)))}\" — "
                    f"each one a parameter, a data entry, a size (e.g. vocab_size) or a number")
            known = set(info.namespace) | set(info.needs) | set(info.supplied)
            for target in declared:
                if target not in known:
                    close = difflib.get_close_matches(target, sorted(known - {"__builtins__"}), n=1)
                    raise self._declaration_error(
                        f"globals= sets {target!r}, which {fname}() never reads",
                        f"did you mean {close[0]!r}?" if close else None)

    def _plan(self, spec):
        """Resolve every binding against the model: (argument plan, globals plan, attribute plan, returns plan)."""
        key = id(spec)
        if key in self._plans:
            return self._plans[key]
        if spec is None:
            raise self._declaration_error("call: the model is not known: give MODEL in the derivation file, or "
                                          "the spec to check_gradient / verify")
        params = list(spec.param_shapes())
        data = list(spec.data_names())
        fname = getattr(self.fn, "__name__", "the function")

        def resolve(target, source, what):
            src = target if source is None else source
            if isinstance(src, (int, float)):
                return ("number", src)
            if src in params:
                return ("param", src)
            if src in data:
                return ("data", src)
            if src in ("params", "parameters"):
                return ("params", None)
            if src == "data":
                return ("all data", None)
            if src in SIZE_WORDS and SIZE_WORDS[src] in spec.size_names:
                return ("size", SIZE_WORDS[src])
            if src == "vocab_size" and not spec.vocabulary and "D" in spec.size_names:
                return ("size", "D")
            if src == "truncate":
                if spec.opt("truncate") is None:
                    raise self._declaration_error(f"{what}: {target}=truncate, but the model has no truncation "
                                                  f"(give truncate=k in the spec)")
                return ("number", spec.opt("truncate"))
            words = [w for w, letter in SIZE_WORDS.items() if letter in spec.size_names]
            vocab = params + data + words + ["params", "data"] + (["truncate"] if spec.opt("truncate") is not None else [])
            close = difflib.get_close_matches(str(src), vocab, n=1)
            note = ""
            if src in SIZE_WORDS:
                note = f" (this model has no size {SIZE_WORDS[src]}; its sizes are {', '.join(spec.size_names)})"
            elif src in ("s_0", "c_0", "h_0") and spec.opt("initial_state") == "zero":
                note = " (the model's initial state is fixed to zero, so it is not in the data)"
            raise self._declaration_error(
                f"{what}: {src!r} is not a quantity of {spec.describe()}{note}; the quantities are the parameters "
                f"{', '.join(params)}, the data {', '.join(data)}, the sizes {', '.join(words)}, params",
                f"did you mean {close[0]!r}?" if close else None)

        sig = self._signature()
        names = list(sig.parameters) if sig is not None else []
        takes_self = bool(names) and names[0] == "self" and (self.instance is None) and \
            (self._method_owner() is not None)
        if takes_self:
            names = names[1:]
        if self.instance is not None and names and names[0] == "self":
            names = names[1:]
        declared = dict(self.args)
        arg_plan = []
        for n in names:
            p = sig.parameters[n]
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if n in declared:
                arg_plan.append((n, resolve(n, declared[n], "args=")))
                continue
            auto = self._alias(n, params, data)
            if auto is not None:
                arg_plan.append((n, auto))
            elif p.default is p.empty:
                raise self._declaration_error(
                    f"{fname}()'s argument {n!r} is not bound: say which quantity it is in args=",
                    f"e.g. args=\"{n}={data[0]}\"; the data are {', '.join(data)}")
        glob_plan = [(t, resolve(t, s, "globals=")) for t, s in self.globals]
        attr_plan = [(t, resolve(t, s, "self=")) for t, s in self.attributes]
        ret_plan = self._returns_plan(spec, params, fname)
        given = {q[1] for _, q in arg_plan + glob_plan + attr_plan if q[0] == "param"}
        if not any(q[0] == "params" for _, q in arg_plan + glob_plan + attr_plan):
            missing = [p for p in params if p not in given]
            if missing:
                raise self._declaration_error(
                    f"the parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    f"{'are' if len(missing) > 1 else 'is'} not given to {fname}(): bind each one as an argument "
                    f"(args=), a global (globals=) or an attribute (self=)")
        plan = (arg_plan, glob_plan, attr_plan, ret_plan, takes_self)
        self._plans[key] = plan
        return plan

    @staticmethod
    def _alias(name, params, data):
        if name in params:
            return ("param", name)
        if name in data:
            return ("data", name)
        if name in ("params", "parameters"):
            return ("params", None)
        if name == "data" and "data" not in data:
            return ("all data", None)
        for key, aliases in _ALIASES.items():
            if key in data and name in aliases:
                return ("data", key)
        return None

    def _returns_plan(self, spec, params, fname):
        if self.returns is None:
            return None
        states = [f"{s[:-2]}_T" for s in spec._state_names()] if spec.recurrent else []
        plan = []
        for target, source in self.returns:
            src = target if source is None else source
            if src == "_":
                plan.append((target, ("ignore", None)))
            elif src in LOSS_NAMES:
                plan.append((target, ("E", None)))
            elif src in states:
                plan.append((target, ("state", src)))
            elif src in ("grads", "gradients"):
                plan.append((target, ("grads", None)))
            elif _grad_of(str(src), params):
                plan.append((target, ("grad", _grad_of(str(src), params))))
            elif src in params:
                raise self._declaration_error(
                    f"returns=: {target!r} names the parameter {src} itself; the gradient is d{src}",
                    f"write returns=\"…, {target}=d{src}\"")
            else:
                vocab = [f"d{p}" for p in params] + ["loss", "_", "grads"] + states
                close = difflib.get_close_matches(str(src), vocab, n=1)
                raise self._declaration_error(
                    f"returns=: {src!r} is neither a gradient (d + a parameter: {', '.join('d' + p for p in params)}) "
                    f"nor the loss (loss, E) nor a final state ({', '.join(states) or 'none'}); "
                    f"write {target}=<what it is>, or {target}=_ to ignore it",
                    f"did you mean {close[0]!r}?" if close else None)
        named = [q[1] for _, q in plan if q[0] == "grad"]
        if not any(q[0] == "grads" for _, q in plan):
            missing = [p for p in params if p not in named]
            if missing:
                raise self._declaration_error(
                    f"returns= names no gradient of {', '.join(missing)}",
                    f"name them as the code does, e.g. returns=\"…, d{missing[0]}\"")
        return plan

    # ------------------------------------------------------------------------------- calling
    def __call__(self, params: Mapping, data: Mapping) -> dict:
        """Call the author's function on copies of ``params`` and ``data``; return its gradients (and
        loss and final state) by parameter name."""
        spec = self.spec
        arg_plan, glob_plan, attr_plan, ret_plan, takes_self = self._plan(spec)
        if set(params) != set(spec.param_shapes()) or not set(data) <= set(spec.data_names()):
            raise self._declaration_error(
                f"this declaration belongs to {spec.describe()} (parameters {', '.join(spec.param_shapes())}), but "
                f"it is being checked with parameters {', '.join(params)} and data {', '.join(data)}: check it "
                f"with the same spec, or declare a new call(...) for the other model")
        p = {k: np.array(v, copy=True) for k, v in params.items()}
        d = {k: np.array(v, copy=True) for k, v in data.items()}
        sizes = spec.sizes_of(p, d)

        def value(q):
            kind, what = q
            if kind == "param":
                return p[what]
            if kind == "data":
                return d[what]
            if kind == "params":
                return p
            if kind == "all data":
                return d
            if kind == "size":
                return sizes[what]
            return what

        kwargs = {n: value(q) for n, q in arg_plan}
        self.calls += 1
        g = self.fn.__globals__
        saved = {t: dict.get(g, t, _MISSING) for t, _ in glob_plan}
        instance = self.instance
        saved_attrs = {}
        try:
            for t, q in glob_plan:
                g[t] = value(q)
            if takes_self or attr_plan:
                if instance is None:
                    owner = self._method_owner()
                    instance = owner.__new__(owner)
                for t, q in attr_plan:
                    saved_attrs[t] = getattr(instance, t, _MISSING)
                    setattr(instance, t, value(q))
            with np.errstate(all="ignore"):
                if instance is not None and (takes_self or self.instance is not None):
                    out = self.fn(instance, **kwargs)
                else:
                    out = self.fn(**kwargs)
        except DerivationError:
            raise
        except Exception as exc:  # the author's code: report it at the author's line
            raise self._located(exc, kwargs, glob_plan, attr_plan, value) from None
        finally:
            for t, old in saved.items():
                if old is _MISSING:
                    g.pop(t, None)
                else:
                    g[t] = old
            if self.instance is not None:
                for t, old in saved_attrs.items():
                    if old is _MISSING:
                        delattr(instance, t)
                    else:
                        setattr(instance, t, old)
        return self._collect(out, ret_plan, spec)

    def _collect(self, out, plan, spec) -> dict:
        fname = getattr(self.fn, "__name__", "the function")
        params = list(spec.param_shapes())
        if plan is None:
            if isinstance(out, Mapping):
                return self._from_dict(out, params)
            raise self.error(f"{fname}() returned {type(out).__name__}; say what it returns with returns=",
                             self.line_of(""), "e.g. returns=\"loss, dW, db\"")
        if len(plan) == 1:
            values = [out]
        elif isinstance(out, (tuple, list)):
            values = list(out)
            if len(values) != len(plan):
                raise self.error(f"{fname}() returned {len(values)} values, but returns= names {len(plan)}: "
                                 f"{', '.join(t for t, _ in plan)}", self.line_of(""))
        else:
            raise self.error(f"{fname}() returned {type(out).__name__}, but returns= names {len(plan)} values: "
                             f"{', '.join(t for t, _ in plan)}", self.line_of(""))
        result = {}
        for (target, (kind, what)), v in zip(plan, values):
            if kind == "grad":
                result[what] = v
            elif kind == "E":
                try:
                    result["E"] = np.asarray(v).reshape(())
                    float(result["E"])
                except (TypeError, ValueError):
                    raise self.error(f"{fname}() returned {target} = {v!r}, which is not one number (the loss)",
                                     self.line_of("")) from None
            elif kind == "state":
                result[what] = np.asarray(v, dtype=float)
            elif kind == "grads":
                if not isinstance(v, Mapping):
                    raise self.error(f"{fname}() returned {target} as {type(v).__name__}, expected a dict of "
                                     f"gradients", self.line_of(""))
                result.update(self._from_dict(v, params))
        return result

    def _from_dict(self, out, params) -> dict:
        result = {}
        for k, v in out.items():
            name = k if k in params else _grad_of(str(k), params)
            if name is not None:
                result[name] = v
            elif str(k) in LOSS_NAMES:
                result["E"] = float(np.asarray(v, dtype=float).reshape(()))
        return result

    def _located(self, exc: BaseException, kwargs, glob_plan, attr_plan, value) -> DerivationError:
        tb = traceback.extract_tb(exc.__traceback__)
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        mine = [f for f in tb if not os.path.abspath(f.filename).startswith(here + os.sep)
                and not f.filename.startswith("<")]
        src = self.source_file or ""
        base = src.split(", cell ")[0]
        folder = os.path.dirname(os.path.abspath(base))
        author = [f for f in mine if f.filename.split(", cell ")[0] == base      # the author's file, or a
                  or os.path.dirname(os.path.abspath(f.filename)) == folder] or mine   # helper beside it
        frame = author[-1] if author else None
        line = frame.lineno if frame else self.def_line
        code = (frame.line or "").strip() if frame else ""
        func = frame.name if frame else getattr(self.fn, "__name__", "gradient")
        msg = f"{type(exc).__name__} in {func}(): {exc}"
        if code:
            msg += f"\n    {line} | {code}"
        hint = None
        if isinstance(exc, AttributeError) and "object has no attribute" in str(exc):
            attr = str(exc).rsplit("'", 2)[-2] if str(exc).count("'") >= 4 else "…"
            hint = f"declare it: self=\"…, {attr}=<quantity>\" (the instance is made without running __init__)"
        elif isinstance(exc, (ValueError, IndexError, TypeError)):
            shown = [f"{n}={_shape(value(q))}" for n, q in
                     [(n, q) for n, q in self._plans[id(self.spec)][0]] + glob_plan + attr_plan]
            layout = self.spec.opt("layout")
            what = {"vector": "1-D vectors", "column": "column vectors (n, 1)",
                    "row": "row vectors, weights (inputs, outputs)"}[layout]
            hint = (f"the check passed {', '.join(shown)}: the spec declares layout={layout!r} ({what}); "
                    f"code written for another layout needs that option")
        return DerivationError(msg, frame.filename if frame else src, line, hint)


def _shape(v) -> str:
    if isinstance(v, np.ndarray):
        kind = " ints" if v.dtype.kind in "iu" else ""
        return f"{v.shape}{kind}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_shape(x)}" for k, x in v.items()) + "}"
    return repr(v)


def call(fn, *, args=None, globals=None, self=None, returns=None, clip=None, name=None) -> Call:  # noqa: A002
    r"""Return the derivation candidate that calls the author's function ``fn`` as declared.

    ``args`` binds the function's arguments, ``globals`` the module globals it reads (for a function
    from :func:`~gradlab.check.loaders.load_function`, every global gradlab could not define must be
    bound here), ``self`` the attributes of the instance a method is called on, each as
    ``"name=quantity, name, …"`` or a dict; ``returns`` names what it returns, in order; ``clip``
    declares an intended element-wise clip of the returned gradients. The quantities and naming
    conventions are listed in the module docstring. Use the result as ``gradient`` in a derivation
    file (with ``MODEL``), or pass it to :func:`gradlab.check_gradient` / :func:`gradlab.verify` with
    the spec. Raises :class:`DerivationError` at the line of the declaration for a declaration that
    cannot be right (an argument the function does not have, a global it needs left unbound).
    """
    frame = sys._getframe(1)
    where = (frame.f_code.co_filename, frame.f_lineno)
    return Call(fn, args=args, globals=globals, attributes=self, returns=returns, clip=clip, name=name,
                declared_at=where)
