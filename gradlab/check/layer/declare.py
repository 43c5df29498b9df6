r"""Declarations: what a layer-mode file says about the author's forward and backward, and nothing else.

A declaration names the two functions and describes, in the author's own size letters, the arrays
the forward takes::

    LAYER = gradlab.check.layer(rnn_forward, rnn_backward, style="cs231n", time="T",
                                inputs="x: N,T,D; h0: N,H; Wx: D,H; Wh: H,H; b: H")

The input grammar, one entry per argument of the forward, separated by ``;``:

* ``name: dims`` — a float array; ``dims`` are size expressions separated by commas: a letter (``N``,
  ``n_a``, ``T_x``), a number, a multiple (``4H`` or ``4*H``: a stacked-gates axis) or a sum
  (``n_a+n_x``: a concatenation). ``()`` is a scalar. Several names may share one shape:
  ``Wf, Wi: n_a, n_a+n_x``.
* ``name: dims < V`` — integer indices in 0 … V−1 (word indices, targets); ``name: dims bool`` — a mask.
  Neither gets a gradient.
* ``name: {entries}`` — a dict of arrays (Coursera's ``parameters``), with the same entries inside.

Styles say how the backward's arguments and results map to the inputs:

* ``"cs231n"`` — ``forward(*inputs) -> (out_1, …, cache)``; ``backward(dout_1, …, cache)`` returns the
  gradients of the float inputs **in input order**, as a tuple (a bare array when there is one). Without
  a backward, the forward is a loss that returns its own gradient: ``(loss, dx, …)``.
* ``"coursera"`` — the same calls, but the backward returns a dict keyed ``"d" + name``, dict inputs
  included (``dWax`` for ``parameters["Wax"]``); a gradient whose reference is zero for the upstream
  gradient given may be left out (``rnn_backward`` returns no ``dWya``).

The upstream gradient flows into the first k outputs, k the backward's arguments before the cache, and
they are named after those arguments (``dnext_h`` -> ``next_h``, ``da`` -> ``a``); ``upstream=`` and
``outputs=`` override that. ``time`` is the size letter of the time axis; ``gates`` the order of stacked
gate blocks along the axis written ``kH`` (``"ifog"`` for CS231n).
"""
from __future__ import annotations

import inspect
import os
import re
import sys
from dataclasses import dataclass, field

__all__ = ["Dim", "ArraySpec", "LayerDecl", "layer", "parse_inputs", "parse_dims", "STYLES", "GATE_WORDS"]

STYLES = ("cs231n", "coursera")

#: plain words for the usual gate letters
GATE_WORDS = {"i": "input gate", "f": "forget gate", "o": "output gate", "g": "candidate (g)",
              "c": "candidate (c)", "z": "update gate", "r": "reset gate", "n": "new-state (n)",
              "u": "update gate"}

# default sizes: the time letter gets 5, the others these values in order of first appearance, all
# different, so that an output's axes can be read off its shape, and a factor 1/N is not mistaken for ½
_TIME_DEFAULT = 5
_DEFAULTS = (3, 4, 2, 6, 7, 8, 9, 10, 11, 12, 13)


@dataclass(frozen=True)
class Dim:
    """One axis length written with size letters: Σ coefficient × letter (a letter of None is a constant)."""

    terms: tuple
    text: str

    def value(self, sizes: dict) -> int:
        """Return the length for the given letter sizes."""
        return sum(c * (1 if k is None else sizes[k]) for c, k in self.terms)

    @property
    def letters(self) -> tuple:
        """The size letters used, in order."""
        return tuple(k for _, k in self.terms if k is not None)

    @property
    def letter(self) -> str | None:
        """The letter when the axis is exactly one letter (``T``), else None."""
        return self.terms[0][1] if len(self.terms) == 1 and self.terms[0][0] == 1 else None

    @property
    def stacked(self) -> tuple | None:
        """``(k, letter)`` for an axis ``kH`` with k > 1 (k stacked blocks of H), else None."""
        if len(self.terms) == 1 and self.terms[0][1] is not None and self.terms[0][0] > 1:
            return self.terms[0]
        return None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ArraySpec:
    r"""One input (or output) of the forward: ``name``, ``dims`` (a tuple of :class:`Dim`, None when not
    declared), ``kind`` (``"float"``, ``"int"`` or ``"bool"``), ``bound`` (for ``int``: the exclusive
    upper bound) and ``children`` (for a dict input: its entries)."""

    name: str
    dims: tuple | None = None
    kind: str = "float"
    bound: Dim | None = None
    children: tuple | None = None

    def shape(self, sizes: dict) -> tuple:
        """Return the shape for the given letter sizes."""
        return tuple(d.value(sizes) for d in self.dims)

    def letters_text(self) -> str:
        """The shape in letters, e.g. ``(N, T, D)``."""
        if self.dims is None:
            return "(?)"
        inner = ", ".join(map(str, self.dims))
        return f"({inner},)" if len(self.dims) == 1 else f"({inner})"

    def axis_of(self, letter: str) -> int | None:
        """Return the axis whose length is exactly ``letter``, or None."""
        for i, d in enumerate(self.dims or ()):
            if d.letter == letter:
                return i
        return None

    def leaves(self, prefix=()) -> list:
        """Return ``[(path, spec)]`` for every array under this input (a dict input's entries)."""
        if self.children is None:
            return [(prefix + (self.name,), self)]
        out = []
        for c in self.children:
            out.extend(c.leaves(prefix + (self.name,)))
        return out


# ------------------------------------------------------------------------------- the grammar
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<sym>[:;,{}+*<()]))")


def _tokens(text: str, what: str) -> list:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            rest = text[pos:].strip()
            if not rest:
                break
            raise ValueError(f"{what}: cannot read {rest[:20]!r} at column {pos + 1} of {text!r}; write "
                             f"entries like \"x: N,T,D; h0: N,H\" (letters, numbers, 4H, n_a+n_x)")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Reader:
    def __init__(self, text: str, what: str):
        self.text, self.what = text, what
        self.toks = _tokens(text, what)
        self.i = 0

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None, len(self.text))

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value):
        kind, v, pos = self.take()
        if v != value:
            got = "the end" if kind is None else repr(v)
            raise ValueError(f"{self.what}: expected {value!r} at column {pos + 1} of {self.text!r}, found {got}")

    def fail(self, message):
        _, _, pos = self.peek()
        raise ValueError(f"{self.what}: {message} at column {pos + 1} of {self.text!r}")


def _dim(r: _Reader) -> Dim:
    start = r.peek()[2]
    terms = []
    while True:
        kind, v, _ = r.peek()
        coef, letter = 1, None
        if kind == "num":
            r.take()
            coef = int(v)
            k2, v2, _ = r.peek()
            if v2 == "*":
                r.take()
                k2, v2, _ = r.peek()
                if k2 != "name":
                    r.fail("expected a size letter after '*'")
            if k2 == "name" and r.peek()[1] not in ("bool", "int"):
                r.take()
                letter = v2
        elif kind == "name" and v not in ("bool", "int"):
            r.take()
            letter = v
            if r.peek()[1] == "*" and r.peek(1)[0] == "num":
                r.take()
                coef = int(r.take()[1])
        else:
            r.fail("expected a size (a letter such as N, a number, 4H or n_a+n_x)")
        terms.append((coef, letter))
        if r.peek()[1] == "+":
            r.take()
            continue
        break
    end = r.peek()[2]
    text = re.sub(r"\s+", "", r.text[start:end]) if end > start else r.text[start:].strip()
    return Dim(tuple(terms), text)


def _dims(r: _Reader) -> tuple:
    if r.peek()[1] == "(" and r.peek(1)[1] == ")":
        r.take(), r.take()
        return ()
    dims = [_dim(r)]
    while r.peek()[1] == ",":
        r.take()
        dims.append(_dim(r))
    return tuple(dims)


def _entries(r: _Reader, closing=None) -> list:
    specs = []
    while True:
        names = []
        while True:
            kind, v, pos = r.take()
            if kind != "name":
                raise ValueError(f"{r.what}: expected an input name at column {pos + 1} of {r.text!r}, found "
                                 f"{'the end' if v is None else repr(v)}")
            names.append(v)
            if r.peek()[1] == ",":
                r.take()
                continue
            break
        r.expect(":")
        if r.peek()[1] == "{":
            r.take()
            children = tuple(_entries(r, "}"))
            r.expect("}")
            for n in names:
                specs.append(ArraySpec(n, None, "dict", None, children))
        else:
            dims = _dims(r)
            kind, bound = "float", None
            if r.peek()[1] == "bool":
                r.take()
                kind = "bool"
            elif r.peek()[1] == "int" or r.peek()[1] == "<":
                if r.peek()[1] == "int":
                    r.take()
                r.expect("<")
                kind, bound = "int", _dim(r)
            for n in names:
                specs.append(ArraySpec(n, dims, kind, bound))
        k, v, _ = r.peek()
        if v == ";":
            r.take()
            if r.peek()[1] == closing or r.peek()[0] is None:
                break
            continue
        if v == closing or k is None:
            break
        r.fail(f"expected ';' between entries, found {v!r}")
    return specs


def parse_dims(text: str, what: str = "shape") -> tuple:
    """Return the :class:`Dim` tuple of a shape written in letters, e.g. ``"N,T,4H"``."""
    r = _Reader(text, what)
    dims = _dims(r)
    if r.peek()[0] is not None:
        r.fail("unexpected text after the shape")
    return dims


def parse_inputs(spec, what: str = "inputs") -> list:
    r"""Return the :class:`ArraySpec` list of an inputs declaration: the string grammar of this module,
    or a dict {name: "dims" | {name: "dims"}}."""
    if isinstance(spec, dict):
        out = []
        for name, v in spec.items():
            if isinstance(v, dict):
                out.append(ArraySpec(name, None, "dict", None, tuple(parse_inputs(v, f"{what}[{name!r}]"))))
            elif isinstance(v, str):
                (one,) = _entries(_Reader(f"{name}: {v}", f"{what}[{name!r}]"))
                out.append(one)
            else:
                raise TypeError(f"{what}[{name!r}]: give the shape in letters as a string (\"N,T,D\"), got {v!r}")
        return out
    if not isinstance(spec, str):
        raise TypeError(f"{what}: give the shapes as a string like \"x: N,T,D; h0: N,H\" or a dict, got {spec!r}")
    r = _Reader(spec, what)
    out = _entries(r)
    if r.peek()[0] is not None:
        r.fail("unexpected text")
    return out


# ------------------------------------------------------------------------------- the declaration
@dataclass
class LayerDecl:
    r"""A checkable layer: the author's ``forward`` and ``backward`` (None: the forward returns its own
    gradient), the inputs in the forward's argument order, the style, the upstream outputs, the time
    letter, the gate order, default sizes and where the declaration was written (file, line)."""

    forward: object
    backward: object
    inputs: list
    style: str
    upstream: tuple
    outputs: list
    time: str | None = None
    gates: str | None = None
    grads: dict = field(default_factory=dict)     # returned name -> path of the input it belongs to
    order: tuple = ()                             # cs231n: the paths in the order the tuple returns them
    sizes: dict = field(default_factory=dict)
    max_sizes: dict = field(default_factory=dict)
    name: str = ""
    where: tuple = (None, None)

    # ---------------------------------------------------------------- derived facts
    @property
    def letters(self) -> list:
        """Every size letter, in order of first appearance (inputs, bounds, outputs)."""
        seen = []
        specs = [s for inp in self.inputs for _, s in inp.leaves()] + [o for o in self.outputs if o.dims]
        for s in specs:
            for d in (s.dims or ()) + ((s.bound,) if s.bound is not None else ()):
                for k in d.letters:
                    if k not in seen:
                        seen.append(k)
        return seen

    def leaves(self) -> list:
        """``[(path, spec)]`` of every array input, dict entries included."""
        out = []
        for inp in self.inputs:
            out.extend(inp.leaves())
        return out

    def float_leaves(self) -> list:
        """The array inputs that get a gradient, in input order."""
        return [(p, s) for p, s in self.leaves() if s.kind == "float"]

    def grad_name(self, path) -> str:
        """The author's name of the gradient of the input at ``path`` (``dWh``)."""
        for k, v in self.grads.items():
            if v == tuple(path):
                return k
        return "d" + path[-1]

    def default_sizes(self) -> dict:
        """Sizes for the main check: the declared ones, else distinct defaults (time letter 5)."""
        out, pool = {}, [v for v in _DEFAULTS if v not in self.sizes.values()]
        for k in self.letters:
            if k in self.sizes:
                out[k] = int(self.sizes[k])
            elif k == self.time:
                out[k] = _TIME_DEFAULT if _TIME_DEFAULT not in self.sizes.values() else pool.pop(0)
            else:
                out[k] = pool.pop(0)
        return out

    def describe(self) -> str:
        """One line: which functions, in which style."""
        if self.backward is None:
            return f"{_fname(self.forward)} (a loss returning its own gradient, {self.style} style)"
        how = "gradients in input order" if self.style == "cs231n" else "gradients by \"d\" + name"
        return f"{_fname(self.backward)} against the VJP of {_fname(self.forward)} ({self.style} style: {how})"

    @property
    def label(self) -> str:
        """A short name: the backward's function name (the forward's for a loss)."""
        return self.name or _fname(self.backward if self.backward is not None else self.forward)


def _fname(fn) -> str:
    return getattr(fn, "__name__", None) or repr(fn)


def _caller_location():
    f = sys._getframe(2)
    here = os.path.dirname(os.path.abspath(__file__))
    while f is not None and os.path.dirname(os.path.abspath(f.f_code.co_filename)) == here:
        f = f.f_back
    return (f.f_code.co_filename, f.f_lineno) if f is not None else (None, None)


def _params(fn, what):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise TypeError(f"layer: the {what} must be a Python function, got {fn!r}") from None
    return [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def layer(forward, backward=None, *, inputs, style: str = "cs231n", outputs=None, upstream=None,
          time: str | None = None, gates: str | None = None, grads=None, sizes: dict | None = None,
          max_sizes: dict | None = None, name: str | None = None) -> LayerDecl:
    r"""Return a :class:`LayerDecl`: the author's ``forward`` and hand-written ``backward``, declared for
    checking (nothing is run here).

    ``inputs`` gives every argument of the forward with its shape in size letters (the grammar is in
    this module's docstring); ``style`` is ``"cs231n"`` (gradients returned in input order) or
    ``"coursera"`` (a dict keyed ``"d" + name``); ``outputs`` names the forward's outputs before the
    cache, optionally with shapes (``"h: N,T,H"``); ``upstream`` the outputs the upstream gradient flows
    into (default: the first k, k the backward's arguments before the cache); ``time`` the size letter
    of the time axis; ``gates`` the order of stacked gate blocks (``"ifog"``) along the axis written
    ``kH``; ``grads`` the returned names when they are not ``"d" + input name`` (a sequence in the
    returned order, or {returned name: input name}); ``sizes`` default sizes, ``max_sizes`` the
    search's largest sizes per letter. Without ``backward`` the forward is a loss returning
    ``(loss, gradients…)``. Raises ``TypeError``/``ValueError`` naming what does not fit.
    """
    if not callable(forward):
        raise TypeError(f"layer: the forward must be a function, got {forward!r}")
    if backward is not None and not callable(backward):
        raise TypeError(f"layer: the backward must be a function or None, got {backward!r}")
    if style not in STYLES:
        raise ValueError(f"layer: style must be one of {STYLES}, got {style!r} (cs231n: gradients returned in "
                         f"input order; coursera: a dict keyed \"d\" + name)")
    specs = parse_inputs(inputs)
    fparams = _params(forward, "forward")
    by_name = {s.name: s for s in specs}
    if len(by_name) != len(specs):
        dup = sorted({s.name for s in specs if sum(t.name == s.name for t in specs) > 1})
        raise ValueError(f"layer: inputs declares {', '.join(dup)} twice")
    unknown = [n for n in by_name if n not in [p.name for p in fparams]]
    if unknown:
        raise ValueError(f"layer: {_fname(forward)}() has no argument {unknown[0]!r}; its arguments are "
                         f"{', '.join(p.name for p in fparams)}")
    ordered = []
    for p in fparams:
        if p.name in by_name:
            ordered.append(by_name[p.name])
        elif p.default is p.empty:
            raise ValueError(f"layer: {_fname(forward)}() takes {p.name!r}, but inputs gives no shape for it "
                             f"(e.g. \"{p.name}: N,H\")")
    leaves = [p for inp in ordered for p in inp.leaves()]
    leaf_names = [p[-1] for p, _ in leaves]
    if len(set(leaf_names)) != len(leaf_names):
        raise ValueError("layer: two arrays share a name (a dict entry and an argument?); gradients are named "
                         "after them, so names must differ")
    if style == "cs231n" and any(s.children is not None for s in ordered):
        raise ValueError("layer: a dict input (Coursera's parameters) needs style=\"coursera\"")
    floats = [p for p, s in leaves if s.kind == "float"]
    if not floats:
        raise ValueError("layer: no float input, so there is no gradient to check")

    # returned gradient names
    gmap = {"d" + p[-1]: p for p in floats}
    order = tuple(floats)
    if grads is not None:
        by_leaf = {p[-1]: p for p in floats}
        if isinstance(grads, str):
            grads = [g.strip() for g in grads.split(",") if g.strip()]
        if isinstance(grads, dict):
            gmap = {}
            for k, v in grads.items():
                if v not in by_leaf:
                    raise ValueError(f"layer: grads maps {k!r} to {v!r}, which is not a float input "
                                     f"({', '.join(by_leaf)})")
                gmap[k] = by_leaf[v]
            order = tuple(gmap.values())
        else:
            gmap, order_l = {}, []
            for g in grads:
                leaf = g[1:] if g.startswith("d") and g[1:] in by_leaf else None
                if leaf is None:
                    raise ValueError(f"layer: grads names {g!r}, which is not \"d\" + a float input "
                                     f"({', '.join('d' + n for n in by_leaf)}); give a dict "
                                     f"{{returned name: input name}} for other names")
                gmap[g] = by_leaf[leaf]
                order_l.append(by_leaf[leaf])
            order = tuple(order_l)

    # outputs and upstream
    out_specs = []
    if outputs is not None:
        if isinstance(outputs, str):
            for part in [p.strip() for p in outputs.split(";") if p.strip()]:
                if ":" in part:
                    (one,) = parse_inputs(part, "outputs")
                    out_specs.append(one)
                else:
                    out_specs.extend(ArraySpec(n.strip()) for n in part.split(",") if n.strip())
        else:
            out_specs = [ArraySpec(n) for n in outputs]
    if backward is None:
        up = ("loss",)
        if upstream not in (None, "loss", ("loss",)):
            raise ValueError("layer: a forward without backward is a loss; its upstream gradient is 1 on the loss")
        out_specs = [ArraySpec("loss", ())]
    else:
        bparams = _params(backward, "backward")
        if not bparams:
            raise ValueError(f"layer: {_fname(backward)}() takes no arguments; it should take the upstream "
                             f"gradient(s) and the cache")
        k = len(bparams) - 1
        if k < 1:
            raise ValueError(f"layer: {_fname(backward)}({bparams[0].name}) takes only one argument; it should take "
                             f"the upstream gradient(s) and then the cache, e.g. backward(dout, cache)")
        guessed = [p.name[1:] if p.name.startswith("d") and len(p.name) > 1 else p.name for p in bparams[:k]]
        if upstream is None:
            up = tuple(o.name for o in out_specs[:k]) if len(out_specs) >= k else tuple(guessed)
        else:
            up = tuple(u.strip() for u in upstream.split(",")) if isinstance(upstream, str) else tuple(upstream)
            if len(up) != k:
                raise ValueError(f"layer: upstream names {len(up)} output(s), but {_fname(backward)}() takes {k} "
                                 f"upstream gradient(s) before the cache ({', '.join(p.name for p in bparams[:k])})")
        if not out_specs:
            out_specs = [ArraySpec(n) for n in up]
        missing = [u for u in up if u not in [o.name for o in out_specs]]
        if missing:
            raise ValueError(f"layer: upstream names {missing[0]!r}, which is not among the outputs "
                             f"({', '.join(o.name for o in out_specs)})")
    decl = LayerDecl(forward, backward, ordered, style, up, out_specs, time, gates, dict(gmap), order,
                     dict(sizes or {}), dict(max_sizes or {}), name or "", _caller_location())
    letters = decl.letters
    if time is not None:
        if not isinstance(time, str) or time not in letters:
            raise ValueError(f"layer: time={time!r} is not a size letter of the inputs ({', '.join(letters)}); "
                             f"give the letter of the time axis, e.g. time=\"T\"")
    if gates is not None:
        if not isinstance(gates, str) or not gates.isalpha() or len(set(gates)) != len(gates):
            raise ValueError(f"layer: gates must be the gate letters in block order, e.g. \"ifog\", got {gates!r}")
        k = len(gates)
        if not any(d.stacked and d.stacked[0] == k for _, s in leaves for d in (s.dims or ())):
            raise ValueError(f"layer: gates={gates!r} names {k} gates, but no input has an axis of {k} stacked "
                             f"blocks (written {k}H)")
    for k_, v in (sizes or {}).items():
        if k_ not in letters:
            raise ValueError(f"layer: sizes gives {k_!r}, which is not a size letter ({', '.join(letters)})")
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"layer: sizes[{k_!r}] must be a positive int, got {v!r}")
    return decl
