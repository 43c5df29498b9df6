r"""What ``gradient(params, data)`` returns, checked against the contract: one float array per
parameter, of that parameter's shape, optionally the adjoints ``delta_s`` … (:mod:`gradlab.check.candidate`
loads a derivation; this module reads what it returned). A breach of the contract is a
:class:`~gradlab.check.candidate.DerivationError` at the file and line; a wrong shape or a NaN is a wrong
verdict for that parameter, said in a :class:`~gradlab.check.report.Finding`.
"""
from __future__ import annotations

import numpy as np

from .candidate import DerivationError
from .report import Finding

__all__ = ["validate", "same_output", "formula"]


def formula(spec, name) -> str:
    """The shape of parameter ``name`` in size letters, e.g. ``(H, D)`` (empty when unknown)."""
    try:
        return spec.shape_formula(name)
    except Exception:  # noqa: BLE001 - a description only
        return ""


def _at(cand, line, text: str) -> str:
    """``text`` prefixed with the candidate's file and line, as every contract message is."""
    return str(DerivationError(text, cand.source_file, line))


def validate(cand, spec, p64, out):
    """Return (gradients {name: float array}, adjoints, findings, dtype of the returned arrays), raising
    :class:`DerivationError` for a breach of the contract."""
    names = list(p64.params)
    adj_names = spec.adjoint_names()
    _check_keys(cand, spec, names, adj_names, out)
    grads, findings, dtypes = {}, [], []
    for n in names:
        arr = _as_gradient_array(cand, n, out[n])
        dtypes.append(arr.dtype)
        want = p64.params[n].shape
        if arr.shape != want:
            findings.append(_shape_finding(cand, spec, p64, n, arr.shape, want))
            continue
        if not np.all(np.isfinite(arr)):
            findings.append(Finding("nan", _at(cand, cand.line_of(n), f"∂E/∂{n} contains NaN or Inf."), "error", n))
        grads[n] = arr.astype(np.float64)
    adjoints = {}
    for k in adj_names:
        if k in out:
            try:
                adjoints[k] = np.asarray(out[k], dtype=np.float64)
            except (TypeError, ValueError):
                pass
    low = [d for d in dtypes if d.itemsize < 8]
    return grads, adjoints, findings, (low[0] if low else np.dtype(np.float64))


def _check_keys(cand, spec, names, adj_names, out) -> None:
    """Raise a :class:`DerivationError` for a returned name that is not a parameter or adjoint, or a
    parameter without a gradient."""
    import difflib

    unknown = [k for k in out if k not in names and k not in adj_names]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(str(k), names + list(adj_names), n=1)
        raise cand.error(f"gradient returned {k!r}, which is not a parameter of {spec.describe()}; "
                         f"its parameters are {', '.join(names)}"
                         + (f" (intermediate adjoints: {', '.join(adj_names)})" if adj_names else ""),
                         cand.line_of(str(k)), f"did you mean {close[0]!r}?" if close else None)
    missing = [n for n in names if n not in out]
    if missing:
        shapes = ", ".join(f"{n} {formula(spec, n)}" for n in missing)
        raise cand.error(f"gradient did not return {', '.join(missing)}; every parameter needs its gradient "
                         f"({shapes})", None, "return a dict with one entry per parameter: " + ", ".join(names))


def _as_gradient_array(cand, n, v):
    """The returned value for parameter ``n`` as a float array, or a :class:`DerivationError`."""
    if v is None:
        raise cand.error(f"gradient[{n!r}] is None; return an array of {n}'s shape (zeros if E does not "
                         f"depend on {n})", cand.line_of(n))
    try:
        arr = np.asarray(v)
    except Exception as exc:  # noqa: BLE001
        raise cand.error(f"gradient[{n!r}] cannot be made an array: {exc}", cand.line_of(n)) from None
    if arr.dtype.kind not in "f":
        what = {"i": "integers", "u": "integers", "b": "booleans", "c": "complex numbers",
                "O": "Python objects", "U": "strings"}.get(arr.dtype.kind, str(arr.dtype))
        raise cand.error(f"gradient[{n!r}] has dtype {arr.dtype} ({what}); a gradient must be an array of "
                         f"real floats (float64)", cand.line_of(n),
                         "e.g. np.zeros_like(params[\"%s\"]) starts a float64 accumulator" % n)
    return arr


def _shape_finding(cand, spec, p64, n, got, want) -> Finding:
    hint = ""
    if len(got) == 2 and got == want[::-1]:
        hint = " (the transpose: ∂E/∂W has W's shape, outputs × inputs)"
    else:
        for other, v2 in p64.params.items():
            if other != n and np.shape(v2) == got:
                hint = f" (the shape of {other}: a term of ∂E/∂{other} used for ∂E/∂{n}?)"
                break
    text = f"∂E/∂{n} has shape {got}, but {n} has shape {want} = {formula(spec, n)}{hint}."
    return Finding("shape", _at(cand, cand.line_of(n), text), "error", n, got)


def same_output(a, b) -> bool:
    """True when two returns of the candidate hold the same numbers (the same input must give them)."""
    if set(a) != set(b):
        return False
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape or x.dtype.kind not in "fiu" or y.dtype.kind not in "fiu":
            continue
        if not np.array_equal(x, y, equal_nan=True):
            return False
    return True
