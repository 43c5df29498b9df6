r"""Calling the author's functions, and the three references for the vector–Jacobian product.

The quantity every reference computes is the VJP of the author's forward for the upstream gradient
``g`` (one array per upstream output ``o``): for every float input θ,

.. math::  \bar\theta = \frac{\partial}{\partial\theta} \sum_o \langle g_o, o(\theta) \rangle ,

which is what a correct ``backward(g, cache)`` returns. The routes share nothing but the forward:

* **traced** — the forward recorded through gradlab's engine (:mod:`.trace`) and differentiated by its
  reverse mode, seeded with g at the outputs. It also gives every node's source site, which the
  time-step localisation and the "what exactly is missing" explanations use.
* **black box** — the forward called with perturbed inputs. Complex step, Im L(θ + i h e_k) / h with
  h = 10⁻²⁰, is exact to rounding when the forward is analytic and keeps the imaginary part; a
  ComplexWarning (a complex value written into a float ``np.zeros`` buffer: NumPy drops the imaginary
  part) or a real result shows it did not, and then central differences with two levels of Richardson
  extrapolation (error O(h⁶)) are used instead. Which one was used, and why, is reported.
* **autograd** — HIPS autograd differentiating the forward with its ``np`` rebound to
  ``autograd.numpy``; autograd cannot record slice assignment into arrays, so a forward that fills
  buffers is skipped with a note naming the line.
"""
from __future__ import annotations

import contextlib
import io
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np

from ...engine.autodiff import requires_grad, reverse, toposort
from ...engine.backend import unbroadcast
from .rebind import is_library_file, rebind
from ...engine.tensor import Tensor
from ..candidate import short_path
from .trace import TracedArray, Tracer, Untraceable

__all__ = ["Case", "AuthorError", "build_args", "split_result", "run_forward", "run_backward", "Trace",
           "trace_forward", "BlackBox", "blackbox_vjp", "autograd_vjp", "author_frame", "RICHARDSON_STEP"]

try:
    from numpy.exceptions import ComplexWarning
except ImportError:  # NumPy < 1.25
    ComplexWarning = np.ComplexWarning


@dataclass
class Case:
    r"""One concrete check: letter ``sizes``, input ``values`` ({path: array}, dict entries by path
    ``("parameters", "Wax")``), the ``upstream`` gradient ({output name: array}) and the ``seed``."""

    sizes: dict
    values: dict
    upstream: dict = field(default_factory=dict)
    seed: int = 0

    def with_upstream(self, upstream: dict) -> "Case":
        """The same inputs with another upstream gradient."""
        return Case(self.sizes, self.values, upstream, self.seed)


class AuthorError(Exception):
    """The author's own code raised ``exc`` (``func`` is forward or backward); ``frame`` is the author's
    innermost frame of the traceback (file, line, function, source text), or None."""

    def __init__(self, exc: BaseException, func: str, frame):
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.exc, self.func, self.frame = exc, func, frame


def _quiet():
    """Swallow what the author's code prints: the black box calls the forward hundreds of times."""
    return contextlib.redirect_stdout(io.StringIO())


def author_frame(tb):
    """Return the innermost traceback entry in the author's code (not gradlab, NumPy or the library)."""
    frames = [f for f in traceback.extract_tb(tb) if not is_library_file(f.filename)]
    return frames[-1] if frames else None


def build_args(decl, values: dict, convert) -> list:
    """Return the forward's positional arguments: ``convert(path, spec, value)`` for every array, a dict
    for a dict input."""
    args = []
    for inp in decl.inputs:
        if inp.children is not None:
            args.append({c.name: convert((inp.name, c.name), c, values[(inp.name, c.name)]) for c in inp.children})
        else:
            args.append(convert((inp.name,), inp, values[(inp.name,)]))
    return args


def _copy(path, spec, value):
    return np.array(value, copy=True)


def split_result(decl, res):
    r"""Return ({output name: value}, cache, returned gradients of a loss) from the forward's result."""
    fname = getattr(decl.forward, "__name__", "forward")
    if decl.backward is None:
        if not isinstance(res, tuple) or len(res) < 2:
            raise TypeError(f"{fname}() returned {type(res).__name__}; a loss checked without a backward must "
                            f"return (loss, gradient of each float input, …), e.g. (loss, dx)")
        return {"loss": res[0]}, None, res[1:]
    if not isinstance(res, tuple) or len(res) < 2:
        raise TypeError(f"{fname}() returned {type(res).__name__}; a forward checked with {decl.backward.__name__}() "
                        f"must return (outputs…, cache), e.g. (next_h, cache)")
    outs = res[:-1]
    names = [o.name for o in decl.outputs]
    named = {}
    for i, v in enumerate(outs):
        named[names[i] if i < len(names) else f"output {i + 1}"] = v
    missing = [u for u in decl.upstream if u not in named]
    if missing:
        raise TypeError(f"{fname}() returned {len(outs)} output(s) before the cache, but the upstream gradient "
                        f"should flow into {', '.join(decl.upstream)}")
    return named, res[-1], ()


def run_forward(decl, values: dict, convert=_copy):
    """Call the author's forward on copies of ``values``; return (outputs, cache, loss gradients).
    Raises :class:`AuthorError` when the author's code raises."""
    args = build_args(decl, values, convert)
    try:
        with np.errstate(all="ignore"), _quiet():
            res = decl.forward(*args)
    except Exception as exc:  # noqa: BLE001 - the author's code
        raise AuthorError(exc, getattr(decl.forward, "__name__", "forward"), author_frame(exc.__traceback__)) from None
    return split_result(decl, res)


def run_backward(decl, case: Case, cache):
    """Call the author's backward with copies of the upstream gradient and ``cache``; return its result."""
    douts = [np.array(case.upstream[n], copy=True) for n in decl.upstream]
    try:
        with np.errstate(all="ignore"), _quiet():
            return decl.backward(*douts, cache)
    except Exception as exc:  # noqa: BLE001 - the author's code
        raise AuthorError(exc, decl.backward.__name__, author_frame(exc.__traceback__)) from None


# ------------------------------------------------------------------------------ traced
@dataclass
class Trace:
    r"""A recorded forward: ``leaves`` {path: Parameter}, ``outputs`` {name: Tensor or plain value},
    ``tracer`` (the nodes' sites) and ``note`` (why it is unusable, when ``ok`` is False)."""

    leaves: dict
    outputs: dict
    tracer: Tracer | None
    ok: bool = True
    note: str = ""
    where: object = None

    def values(self) -> dict:
        """The traced forward's output values."""
        return {k: (v.data if isinstance(v, Tensor) else np.asarray(v)) for k, v in self.outputs.items()}

    def vjp(self, upstream: dict, override=None) -> dict:
        r"""Return {path: VJP} for the upstream gradient {output name: array}; ``override`` replaces some
        nodes' VJPs (a mutated reverse pass, see :func:`_reverse_with`)."""
        seeds: dict = {}
        for name, g in upstream.items():
            t = self.outputs.get(name)
            if t is None or not hasattr(t, "requires_grad") or not t.requires_grad:
                continue
            g = np.asarray(g, dtype=float)
            seeds[t] = seeds[t] + g if t in seeds else g
        leaves = list(self.leaves.values())
        if not seeds:
            return {p: np.zeros(leaf.shape) for p, leaf in self.leaves.items()}
        order = toposort(list(seeds), follow=requires_grad)
        if override is None:
            got = reverse(order, seeds)
        else:
            got = _reverse_with(order, seeds, override)
        return {p: np.array(got.get(leaf, np.zeros(leaf.shape)), dtype=float) for p, leaf in zip(self.leaves, leaves)}


def _reverse_with(order, seeds, override) -> dict:
    """Plain reverse mode over ``order`` with some nodes' VJPs replaced (for the "what if this were
    missing" explanations): ``override(node, g, inputs)`` returns None (the node's own VJPs) or
    {node: gradient} to add instead (any earlier node, not only the parents). No batching, no pool:
    a few hundred nodes at the checker's sizes."""
    grads = dict(seeds)
    out = {}
    for node in order:
        g = grads.pop(node, None)
        if g is None:
            continue
        if node.op is None:
            out[node] = g
            continue
        inputs = [p.data for p in node.parents]
        sent = override(node, g, inputs)
        if sent is None:
            sent = {}
            for i, p in enumerate(node.parents):
                if p.requires_grad:
                    pg = node.op.input_vjp(i, g, node.data, inputs, np, node.attrs)
                    if pg is not None:
                        sent[p] = _add(sent.get(p), _fit(pg, p))
        for p, pg in sent.items():
            if p.requires_grad:
                grads[p] = _add(grads.get(p), _fit(pg, p))
    return out


def _fit(g, node):
    g = np.array(g, dtype=float)
    return g if g.shape == node.shape else unbroadcast(np, g, node.shape)


def _add(a, b):
    return b if a is None else a + b


def trace_forward(decl, values: dict) -> Trace:
    """Record the author's forward through gradlab's engine (see :mod:`.trace`)."""
    tracer = Tracer()
    leaves = {}

    def convert(path, spec, value):
        if spec.kind != "float":
            return np.array(value, copy=True)
        t = tracer.leaf(value, path[-1])
        leaves[path] = t.t
        return t

    forward = rebind(decl.forward, tracer.ns)
    args = build_args(decl, values, convert)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            res = forward(*args)
        outs, _, _ = split_result(decl, res)
    except Exception as exc:  # noqa: BLE001 - anything the namespace cannot do, or a gap in ours
        frame = author_frame(exc.__traceback__)
        what = exc.what if isinstance(exc, Untraceable) else f"{type(exc).__name__}: {exc}"
        tracer.close()
        return Trace(leaves, {}, None, False, what, frame)
    tracer.close()
    tensors = {k: (v.t if isinstance(v, TracedArray) else v) for k, v in outs.items()}
    return Trace(leaves, tensors, tracer)


# ------------------------------------------------------------------------------ black box
def _loss(decl, values: dict, upstream: dict):
    outs, _, _ = run_forward(decl, values)
    total = 0.0
    for name in decl.upstream:
        o = outs[name]
        total = total + np.sum(np.asarray(upstream[name]) * o)
    return total


@dataclass
class BlackBox:
    """The black-box VJP: ``grads`` {path: array}, ``method`` (``"complex"`` or ``"richardson"``), why."""

    grads: dict
    method: str
    note: str = ""
    evaluations: int = 0


def _richardson(f, h: float) -> float:
    r"""Central differences D(h), D(h/2), D(h/4) combined by two levels of Richardson extrapolation:
    R₁ = (4 D(h/2) − D(h)) / 3 cancels the h² term, R₂ = (16 R₁(h/2) − R₁(h)) / 15 the h⁴ term."""
    d = [(f(s) - f(-s)) / (2 * s) for s in (h, h / 2, h / 4)]
    r1 = [(4 * d[1] - d[0]) / 3, (4 * d[2] - d[1]) / 3]
    return (16 * r1[1] - r1[0]) / 15


RICHARDSON_STEP = 2e-3


def blackbox_vjp(decl, case: Case, method: str = "auto") -> BlackBox:
    r"""Return the VJP of the forward for ``case.upstream`` from the forward as a black box: complex step
    when it survives the forward, else central differences with Richardson extrapolation."""
    floats = [p for p, s in decl.float_leaves()]
    count = [0]
    base = {p: np.asarray(v) for p, v in case.values.items()}

    def L(path, value):
        count[0] += 1
        vals = dict(base)
        vals[path] = value
        return _loss(decl, vals, case.upstream)

    note = ""
    use = method
    if method in ("auto", "complex"):
        use, note = _complex_usable(decl, base, case, floats, L)
        if method == "complex" and use != "complex":
            raise ValueError(f"complex step is not usable for this forward: {note}")
    grads = {}
    h = 1e-20
    for path in floats:
        v0 = np.asarray(base[path], dtype=float)
        g = np.zeros(v0.shape)
        for idx in np.ndindex(*v0.shape):
            if use == "complex":
                v = v0.astype(complex)
                v[idx] += 1j * h
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ComplexWarning)
                    g[idx] = float(np.imag(L(path, v))) / h
            else:
                def f(s, idx=idx):
                    v = v0.copy()
                    v[idx] += s
                    return float(np.real(L(path, v)))
                g[idx] = _richardson(f, RICHARDSON_STEP * max(1.0, abs(float(v0[idx]))))
        grads[path] = g
    return BlackBox(grads, use, note, count[0])


def _complex_usable(decl, base, case, floats, L):
    """Return ("complex", "") when a complex step survives the forward, else ("richardson", why)."""
    path = next(iter(floats))
    v = np.asarray(base[path], dtype=complex).copy()
    v.flat[0] += 1e-20j
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ComplexWarning)
            out = L(path, v)
    except AuthorError as err:
        if isinstance(err.exc, ComplexWarning):
            return "richardson", (f"complex step dropped at {_where(err.frame)}: NumPy discards the imaginary part "
                                  f"of a complex value written into a float buffer (np.zeros)")
        return "richardson", f"complex step failed with {type(err.exc).__name__} at {_where(err.frame)}"
    if not np.iscomplexobj(out):
        return "richardson", ("complex step dropped: the forward's result is real for a complex input (the imaginary "
                              "part is lost inside it)")
    # a forward that keeps complex numbers but is not analytic (abs, comparisons) gives a wrong complex
    # step without any warning: it must agree with Richardson on one random direction before it is used
    rng = np.random.default_rng(0xC0FFEE)
    u = {p: rng.uniform(0.5, 1.5, np.shape(base[p])) * rng.choice([-1.0, 1.0], np.shape(base[p])) for p in floats}

    def along(t):
        vals = dict(base)
        for p in floats:
            vals[p] = np.asarray(base[p]) + t * u[p]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ComplexWarning)
            return _loss(decl, vals, case.upstream)

    cs = float(np.imag(along(1e-20j))) / 1e-20
    ri = _richardson(lambda s: float(np.real(along(s))), RICHARDSON_STEP)
    if abs(cs - ri) > 1e-6 * max(abs(cs) + abs(ri), 1e-8):
        return "richardson", (f"complex step not used: it disagrees with central differences along a random "
                              f"direction ({cs:.6g} against {ri:.6g}), so the forward is not analytic")
    return "complex", ""


def _where(frame) -> str:
    if frame is None:
        return "an unknown place"
    code = (frame.line or "").strip()
    return f"{short_path(frame.filename)}:{frame.lineno}" + (f" (`{code}`)" if code else "")



# ------------------------------------------------------------------------------ autograd
def autograd_vjp(decl, case: Case):
    r"""Return ({path: VJP}, "") by HIPS autograd on the forward rebound to ``autograd.numpy``, or
    (None, why) when autograd cannot run it (slice assignment into an array, for one)."""
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:  # pragma: no cover - autograd is a dependency
        return None, "HIPS autograd is not installed"
    floats = [p for p, s in decl.float_leaves()]
    forward = rebind(decl.forward, anp)

    def loss(arrays):
        vals = dict(case.values)
        vals.update(zip(floats, arrays))
        args = build_args(decl, vals, lambda p, s, v: v if s.kind == "float" else np.array(v, copy=True))
        res = forward(*args)
        outs, _, _ = split_result(decl, res)
        total = 0.0
        for name in decl.upstream:
            total = total + anp.sum(anp.asarray(case.upstream[name]) * outs[name])
        return total

    arrays = [np.array(case.values[p], dtype=float) for p in floats]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            grads = autograd.grad(loss)(arrays)
    except Exception as exc:  # noqa: BLE001 - autograd cannot run this forward
        frame = author_frame(exc.__traceback__)
        text = str(exc).splitlines()[0] if str(exc) else ""
        if any(w in text for w in ("does not support item assignment", "setting an array element",
                                   "float() argument", "must be real number")):
            return None, f"HIPS autograd skipped: autograd cannot record writing into an array, as at {_where(frame)}"
        if isinstance(exc, AttributeError) and "ArrayBox" in text:
            attr = text.rsplit("attribute", 1)[-1].strip(" '\"")
            return None, (f"HIPS autograd skipped: autograd's arrays have no .{attr} method (the function "
                          f"np.{attr} would do), used at {_where(frame)}")
        return None, f"HIPS autograd skipped: {type(exc).__name__}: {text} at {_where(frame)}"
    return {p: np.asarray(g, dtype=float) for p, g in zip(floats, grads)}, ""
