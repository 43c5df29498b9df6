r"""Messages in the author's names and layout.

The detection is the checker's own (:mod:`gradlab.check.pitfalls`: constant factors, transposes,
clipping, zeros; :mod:`gradlab.check.compare` for the numbers); what changes here is the words. A
gradient is called by the author's name (``dWh``), elements by the author's indices (``dWh[1, 0]``),
shapes by the declared size letters (``(D, 4H) = (4, 8)``), stacked gate weights by gate ("the
forget-gate block of Wx, columns 2–3"), a factor by the size it matches ("divided by N = 3, axis 0 of
x"), and layout advice by the author's convention: row layout (CS231n: ``x·W``, so ``dW = xᵀ·δ``) or
column layout (Coursera: ``W·a``, so ``dW = δ·aᵀ``).
"""
from __future__ import annotations

import inspect
import os

import numpy as np

from ..candidate import DerivationError
from ..compare import compare, tolerance
from ..pitfalls import _clipped, _scale_factor, exact_factor, wrong_param_findings
from ..report import Finding, fmt
from .declare import GATE_WORDS

__all__ = ["shape_text", "gate_block", "shape_finding", "value_findings", "gate_findings", "swap_findings",
           "shared_scale_finding", "author_error", "layout_hint", "letter_role", "return_line"]


def shape_text(spec, sizes) -> str:
    """``(D, 4H) = (4, 8)``: the declared letters and the sizes of this check."""
    shape = spec.shape(sizes)
    nums = f"({shape[0]},)" if len(shape) == 1 else str(tuple(shape))
    return f"{spec.letters_text()} = {nums}"


def letter_role(decl, letter: str) -> str:
    """Where a size letter lives, in words: ``the time axis`` or ``axis 0 of x``."""
    if letter == decl.time:
        return "the time axis"
    for path, spec in decl.leaves():
        ax = spec.axis_of(letter)
        if ax is not None:
            return f"axis {ax} of {path[-1]}"
    return "a size of the layer"


def layout_hint(decl, name: str) -> str:
    """How a weight's gradient is formed in the author's layout."""
    if decl.style == "coursera":
        return (f"in the column layout (examples are columns) a weight used as {name}·a has the gradient "
                f"d{name} = (gradient at {name}·a)·aᵀ, of {name}'s shape")
    return (f"in the row layout (examples are rows) a weight used as x·{name} has the gradient "
            f"d{name} = xᵀ·(gradient at x·{name}), of {name}'s shape")


def gate_block(decl, spec, index, sizes) -> str | None:
    """Return "the forget-gate block of Wx (columns 2–3)" for an element of a stacked-gates array."""
    if not decl.gates or spec.dims is None or index is None:
        return None
    for axis, d in enumerate(spec.dims):
        st = d.stacked
        if st and st[0] == len(decl.gates):
            width = sizes[st[1]]
            block = int(index[axis]) // width
            letter = decl.gates[block]
            word = GATE_WORDS.get(letter, f"gate {letter!r}").replace(" gate", "-gate")
            where = ("entries" if len(spec.dims) == 1 else "columns" if axis == len(spec.dims) - 1 else "rows"
                     if axis == 0 else f"positions along axis {axis}")
            return f"the {word} block of {spec.name} ({where} {block * width}–{(block + 1) * width - 1})"
    return None


def _stacked_axis(decl, spec):
    if not decl.gates or spec.dims is None:
        return None
    for axis, d in enumerate(spec.dims):
        if d.stacked and d.stacked[0] == len(decl.gates):
            return axis, d.stacked[1]
    return None


def shape_finding(decl, gname, spec, got, sizes, where: str = "") -> Finding:
    """The finding for a returned gradient of the wrong shape, with the likely reason."""
    want = spec.shape(sizes)
    got = tuple(got)
    hint = ""
    if len(got) == 2 and got == tuple(want)[::-1] and got != tuple(want):
        hint = f": the transpose — {layout_hint(decl, spec.name)}"
    else:
        for path, other in decl.float_leaves():
            if other is not spec and other.shape(sizes) == got:
                hint = f": the shape of {other.name} {shape_text(other, sizes)} (a term of d{other.name} used for {gname}?)"
                break
        if not hint and len(got) == len(want) + 1:
            for ax in range(len(got)):
                if got[:ax] + got[ax + 1:] == tuple(want):
                    letters = [k for k, v in sizes.items() if v == got[ax]]
                    who = f"{letters[0]} = {got[ax]}, {letter_role(decl, letters[0])}" if letters else f"{got[ax]}"
                    hint = f": one axis too many (axis {ax}, of length {who}) — a sum over it is missing"
                    break
        if not hint and len(got) + 1 == len(want):
            for ax in range(len(want)):
                if tuple(want[:ax]) + tuple(want[ax + 1:]) == got:
                    hint = f": axis {ax} ({spec.dims[ax]}) is missing — summed over where it should be kept?"
                    break
    return Finding("shape", f"{where}your {gname} has shape {got}, but {spec.name} has shape {shape_text(spec, sizes)}"
                   f"{hint}.", "error", gname, got)


def _scale_words(k: float, decl, sizes) -> str | None:
    """Read a constant factor as a size: ``divided by N = 3 (axis 0 of x)``."""
    for letter, n in sizes.items():
        if n < 2:
            continue
        role = letter_role(decl, letter)
        if abs(k * n - 1) < 1e-9:
            return f"divided by {letter} = {n} ({role}): a mean over {letter} where the forward sums"
        if abs(k - n) < 1e-9 * n:
            return f"multiplied by {letter} = {n} ({role})"
    return None


def value_findings(decl, path, gname, spec, cand, ref, sizes) -> list:
    r"""Findings that explain why ``cand`` differs from ``ref``: the checker's pitfall detectors
    (:func:`gradlab.check.pitfalls.wrong_param_findings`), said in the author's words."""
    kinds = [f.kind for f in wrong_param_findings(gname, cand, ref)]
    k = exact_factor(cand, ref)       # one draw: layer mode names the factor and its size letter below
    if k is not None:
        kinds.insert(0, "factor_2" if abs(k - 2) < 1e-6 else "factor_half" if abs(k - 0.5) < 1e-6 else
                     "sign" if abs(k + 1) < 1e-6 else "scale")
    c, r = np.asarray(cand, float), np.asarray(ref, float)
    out = []
    if "zeros" in kinds:
        return [Finding("zeros", f"your {gname} is zero everywhere: never filled in, or a term that is never "
                        f"added.", "error", gname)]
    sf = _scale_factor(c, r) if c.shape == r.shape else None
    for kind in kinds:
        if kind in ("factor_2", "factor_half", "sign", "scale") and sf is not None:
            k = sf[0]
            words = _scale_words(k, decl, sizes)
            if words:
                out.append(Finding("scale", f"your {gname} is the reference {words}; the upstream gradient "
                                   f"already carries any averaging, so a gradient is never divided again (and "
                                   f"the other gradients are not).", "error", gname, k))
            elif kind == "sign":
                out.append(Finding("sign", f"your {gname} is exactly −1 × the reference: a sign error.", "error",
                                   gname, k))
            elif kind == "factor_2":
                out.append(Finding("factor_2", f"your {gname} is exactly 2 × the reference everywhere: a term "
                                   f"added twice?", "error", gname, k))
            elif kind == "factor_half":
                out.append(Finding("factor_half", f"your {gname} is exactly ½ × the reference everywhere.", "error",
                                   gname, k))
            else:
                out.append(Finding("scale", f"your {gname} is the reference times {fmt(k)} everywhere: a constant "
                                   f"factor (a learning rate, a mean, a clipping factor applied inside the backward?).",
                                   "error", gname, k))
        elif kind == "transposed":
            out.append(Finding("transposed", f"your {gname} is the transpose of the reference ({gname}[i, j] holds "
                               f"the reference's {gname}[j, i]): {layout_hint(decl, spec.name)}.", "error", gname))
        elif kind == "clipped":
            b = _clipped(c, r)
            out.append(Finding("clipped", f"your {gname} agrees with the reference except where the reference is "
                               f"larger than {fmt(b)} in magnitude, and there yours is exactly ±{fmt(b)}: it is "
                               f"clipped inside the backward. Clipping belongs in the training step, after the "
                               f"check.", "error", gname, b))
    out.extend(gate_findings(decl, gname, spec, c, r, sizes))
    return out


def gate_findings(decl, gname, spec, c, r, sizes) -> list:
    """For a stacked-gates gradient: blocks in another order than the forward's, or which gate blocks are wrong."""
    st = _stacked_axis(decl, spec)
    if st is None or c.shape != r.shape:
        return []
    axis, letter = st
    k, w = len(decl.gates), sizes[letter]
    cb = np.split(c, k, axis=axis)
    rb = np.split(r, k, axis=axis)
    tol = tolerance("exact")
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    same = [[compare(cb[i], rb[j], tol, scale=scale).n_bad == 0 and np.any(rb[j]) for j in range(k)] for i in range(k)]
    perm = []
    for i in range(k):
        js = [j for j in range(k) if same[i][j]]
        perm.append(js[0] if len(js) == 1 else None)
    where = "entries" if c.ndim == 1 else "columns" if axis == c.ndim - 1 else "rows"
    if all(p is not None for p in perm) and sorted(perm) == list(range(k)) and perm != list(range(k)):
        yours = ", ".join(decl.gates[p] for p in perm)
        return [Finding("gate_order", f"the gate blocks of your {gname} are the reference's in another order: yours "
                        f"hold ({yours}) where the forward's order is ({', '.join(decl.gates)}): the backward "
                        f"stacks the gate gradients in a different order from the one the forward slices.",
                        "error", gname)]
    bad = [i for i in range(k) if not same[i][i]]
    if bad and len(bad) < k:
        parts = ", ".join(f"{GATE_WORDS.get(decl.gates[i], decl.gates[i])} ({where} {i * w}–{(i + 1) * w - 1})"
                          for i in bad)
        good = ", ".join(GATE_WORDS.get(decl.gates[i], decl.gates[i]) for i in range(k) if i not in bad)
        return [Finding("gate_blocks", f"in your {gname} only these gate blocks are wrong: {parts}; the "
                        f"{good} blocks are right.", "error", gname)]
    return []


def swap_findings(wrong: dict, refs: dict, names: dict) -> list:
    """A wrong gradient that equals another input's reference gradient: the two are swapped."""
    out = []
    tol = tolerance("exact")
    for path, c in wrong.items():
        for other, r in refs.items():
            if other == path or np.shape(r) != np.shape(c) or not np.any(r):
                continue
            if compare(c, r, tol).n_bad == 0:
                out.append(Finding("swapped", f"your {names[path]} equals the reference gradient of {other[-1]} "
                                   f"({names[other]}): the two are mixed up (a gate or weight confused with "
                                   f"another?).", "error", names[path]))
                break
    return out


def shared_scale_finding(cands: dict, refs: dict, names: dict) -> Finding | None:
    """Every gradient the same factor k < 1 times the reference: clipped by global norm."""
    ks = [exact_factor(cands[p], refs[p]) if p in cands and np.shape(cands[p]) == np.shape(refs[p]) else None
          for p in refs]
    if len(ks) < 2 or any(k is None or not 0 < k < 1 for k in ks) or not np.allclose(ks, ks[0], rtol=1e-6):
        return None
    k = ks[0]
    return Finding("clipped_norm", f"every gradient ({', '.join(names[p] for p in cands)}) is the reference times the "
                   f"same factor {fmt(k)}: the whole gradient was rescaled to a fixed norm (clipping by global norm). "
                   f"Clip in the training step, not in the backward you check.", "error")


def return_line(fn) -> int | None:
    """The line of the last ``return`` in ``fn`` (where its results are handed back)."""
    code = getattr(fn, "__code__", None)
    if code in _RETURN_LINES:
        return _RETURN_LINES[code]
    line = _RETURN_LINES[code] = _return_line(fn)
    return line


_RETURN_LINES: dict = {}


def _return_line(fn):
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip().startswith("return"):
            return start + i
    return start


def author_error(decl, err, sizes) -> DerivationError:
    """A :class:`DerivationError` at the author's failing line, with the declared shapes as a hint."""
    frame = err.frame
    msg = f"{type(err.exc).__name__} in {frame.name if frame else err.func}(): {err.exc}"
    if frame is not None and frame.line:
        msg += f"\n    {frame.lineno} | {frame.line.strip()}"
    shapes = "; ".join(f"{p[-1]} {shape_text(s, sizes)}" for p, s in decl.leaves() if s.dims is not None)
    hint = None
    text = str(err.exc)
    if isinstance(err.exc, (ValueError, IndexError)) and any(w in text for w in ("shape", "broadcast", "aligned",
                                                                                 "dimension", "index")):
        hint = f"the shapes in this check: {shapes}"
    path = frame.filename if frame is not None else getattr(getattr(decl.forward, "__code__", None), "co_filename", None)
    return DerivationError(msg, path, frame.lineno if frame is not None else None, hint)


def short(path) -> str:
    """``path`` relative to the working folder when it is inside it."""
    try:
        rel = os.path.relpath(path)
        return rel if not rel.startswith("..") else path
    except (ValueError, TypeError):
        return str(path)
