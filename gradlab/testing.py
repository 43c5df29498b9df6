r"""Gradient checks for a course's own pytest suite: an assertion and the Hypothesis strategies.

In a test file (``my_gradient`` follows the derivation contract of ``derivations/README.md``)::

    import gradlab
    from gradlab.testing import assert_gradient_matches

    def test_my_bptt():
        assert_gradient_matches(my_gradient, gradlab.specs.elman())  # AssertionError with the report

Strategies (all draw from well-conditioned ranges: weights ±(0.1 … 0.9)/√fan_in, inputs ±(0.1 … 0.9),
never exactly zero; they shrink towards short sequences, small sizes and simple values). A drawn
problem is never vacuous: a draw in which some parameter's reference gradient vanishes although E
depends on it (equal rows cancelling by symmetry, targets equal to the outputs) is rejected, since a
check on it cannot tell a right gradient for that parameter from a wrong one (:func:`vacuous`):

* :func:`sizes` — {T, D, H, O} for a spec;
* :func:`sequences` — input sequences ``xs`` of shape (T, D);
* :func:`weights` — one weight array of a given shape;
* :func:`problems` — whole concrete models (a :class:`gradlab.specs.Problem`) for one spec;
* :func:`rnn_configs` — a spec (cell kind, activation, loss, mode) and a problem for it.

The deterministic CI profile and the wider ``explore`` profile are registered in the project's
``tests/conftest.py``; select one with ``pytest --hypothesis-profile=explore``.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

__all__ = ["assert_gradient_matches", "sizes", "sequences", "weights", "problems", "rnn_configs", "values",
           "vacuous"]


@functools.lru_cache(maxsize=64)
def values(scale: float = 1.0):
    """Strategy for one value ±(0.1 … 0.9)·scale in steps of 0.1·scale (never 0; shrinks to 0.1·scale)."""
    return st.builds(lambda sign, k: sign * k * scale / 10, st.sampled_from([1.0, -1.0]), st.integers(1, 9))


@functools.lru_cache(maxsize=256)
def _flat(scale: float, size: int):
    return st.lists(values(scale), min_size=size, max_size=size)


def _array(draw, shape, scale, dtype=np.float64):
    shape = tuple(shape)
    return np.asarray(draw(_flat(float(scale), int(np.prod(shape, dtype=int)))), dtype=dtype).reshape(shape)


def weights(shape, scale: float | None = None, dtype=np.float64):
    """Strategy for a weight array of ``shape``: entries ±(0.1 … 0.9)/√fan_in (fan_in = last axis)."""
    shape = tuple(shape)
    if scale is None:
        scale = 1.0 / math.sqrt(shape[-1]) if len(shape) == 2 else 0.5
    return _flat(float(scale), int(np.prod(shape, dtype=int))).map(lambda v: np.asarray(v, dtype=dtype).reshape(shape))


def sizes(spec=None, *, max_T: int = 4, max_D: int = 3, max_H: int = 3, max_O: int = 2, max_V: int | None = None,
          max_B: int = 2):
    """Strategy for the sizes of ``spec`` ({T, D, H, O}, no T for a feedforward spec; V instead of D and
    O for a language model with index inputs and targets, at least 2 classes; B with a batch); shrinks
    to 1 each. With ``truncate=k`` the sequence may be up to k + 3 steps long, so the truncation matters."""
    parts = {"D": st.integers(1, max_D), "H": st.integers(1, max_H), "O": st.integers(1, max_O)}
    if spec is None or spec.recurrent:
        k = None if spec is None else spec.opt("truncate")
        parts = {"T": st.integers(1, max(max_T, k + 3) if k is not None else max_T), **parts}
    if spec is not None:
        if spec.vocabulary:
            parts.pop("D"), parts.pop("O")
            parts["V"] = st.integers(2, max(2, max_V if max_V is not None else max(max_D, max_O)))
        if "B" in spec.size_names:
            parts["B"] = st.integers(1, max_B)
        parts = {k: parts[k] for k in spec.size_names}
    return st.fixed_dictionaries(parts)


def sequences(T: int, D: int, dtype=np.float64):
    """Strategy for an input sequence xs of shape (T, D), entries ±(0.1 … 0.9)."""
    return weights((T, D), 1.0, dtype)


@functools.lru_cache(maxsize=256)
def _base(spec, sizes: tuple, dtype: str):
    return spec.draw(dict(sizes), seed=0, dtype=np.dtype(dtype))


def vacuous(problem) -> list:
    """Return the parameters whose reference gradient vanishes in ``problem`` although E depends on them
    (empty for a problem on which a check can catch a mistake in every parameter)."""
    from .check.references import engine_gradient, vanishing

    rec = problem.astype(np.float64).record()
    return vanishing(rec, engine_gradient(rec)[0])[0]


@st.composite
def problems(draw, spec, *, max_T: int = 4, max_D: int = 3, max_H: int = 3, max_O: int = 2, max_V: int | None = None,
             max_B: int = 2, dtype=np.float64):
    """Strategy for a concrete :class:`~gradlab.specs.Problem` of ``spec``: sizes, weights, inputs,
    targets and initial states, all drawn by Hypothesis (so a failure shrinks to simple values); class
    indices (``inputs="index"``, ``targets="index"``) are drawn over all classes and shrink to 0."""
    sz = draw(sizes(spec, max_T=max_T, max_D=max_D, max_H=max_H, max_O=max_O, max_V=max_V, max_B=max_B))
    base = _base(spec, tuple(sorted(sz.items())), np.dtype(dtype).str)
    params = {}
    for k, v in base.params.items():
        fan_in = spec.fan_in(k, sz)
        scale = 1.0 / math.sqrt(fan_in) if fan_in else 0.5
        params[k] = _array(draw, v.shape, scale, dtype)
    data = {}
    for k, v in base.data.items():
        classes = spec.index_classes(k, sz)
        if classes is not None:
            flat = draw(st.lists(st.integers(0, classes - 1), min_size=v.size, max_size=v.size))
            data[k] = np.asarray(flat, dtype=np.int64).reshape(v.shape)
        elif k in ("d", "ds") and spec.loss == "softmax_cross_entropy":
            raw = np.abs(_array(draw, v.shape, 10.0, dtype))
            axis = _class_axis(spec, k)
            data[k] = (raw / raw.sum(axis=axis, keepdims=True)).astype(dtype)
        else:
            data[k] = _array(draw, v.shape, 1.0 if k in ("xs", "x", "d", "ds") else 0.5, dtype)
    problem = base.copy(params, data)
    assume(not vacuous(problem))
    return problem


def _class_axis(spec, key) -> int:
    """The axis of a target array that holds the classes, in the code's layout."""
    if spec.opt("layout") == "column":
        return 1 if (key == "ds") else 0
    return -1


@st.composite
def rnn_configs(draw, kinds=None, *, max_T: int = 3, max_size: int = 3):
    """Strategy for (spec, problem): a cell kind (any of ``gradlab.nn.KINDS`` by default), activation
    (Elman/Jordan), loss and mode, and a model."""
    from . import specs
    from .nn.registry import cell_kind, cell_names

    kind = cell_kind(draw(st.sampled_from(list(kinds or cell_names())))).name
    loss = draw(st.sampled_from(["mse_half", "mse", "softmax_cross_entropy"]))
    mode = draw(st.sampled_from(["many_to_many", "many_to_one"]))
    if kind in ("elman", "jordan"):
        spec = specs.SPECS[kind](loss=loss, activation=draw(st.sampled_from(["tanh", "sigmoid", "relu"])), mode=mode)
    else:
        spec = specs.SPECS[kind](loss=loss, mode=mode)
    problem = draw(problems(spec, max_T=max_T, max_D=max_size, max_H=max_size, max_O=max_size))
    return spec, problem


def assert_gradient_matches(candidate, spec=None, *, sizes=None, seed: int = 0, mode: str = "fast",
                            problem=None, **kwargs):
    r"""Run :func:`gradlab.check_gradient` and return its report; raise ``AssertionError`` carrying the
    full report (worst element, where BPTT goes wrong, pitfalls) when the verdict is not ``"pass"``."""
    from .check import check_gradient

    report = check_gradient(candidate, spec, sizes=sizes, seed=seed, mode=mode, problem=problem, **kwargs)
    if report.verdict != "pass":
        raise AssertionError(f"gradient check {report.verdict}:\n{report.format()}")
    return report
