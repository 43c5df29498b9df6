r"""Gradient checks for a course's own pytest suite: an assertion and the Hypothesis strategies.

In a test file (``my_gradient`` follows the derivation contract of ``derivations/README.md``)::

    import gradlab
    from gradlab.testing import assert_gradient_matches

    def test_my_bptt():
        assert_gradient_matches(my_gradient, gradlab.specs.elman())  # AssertionError with the report

Strategies (all draw from well-conditioned ranges: weights ±(0.1 … 0.9)/√fan_in, inputs ±(0.1 … 0.9),
never exactly zero, so a check is never vacuous; they shrink towards short sequences, small sizes and
simple values):

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
from hypothesis import strategies as st

__all__ = ["assert_gradient_matches", "sizes", "sequences", "weights", "problems", "rnn_configs", "values"]


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


def sizes(spec=None, *, max_T: int = 4, max_D: int = 3, max_H: int = 3, max_O: int = 2):
    """Strategy for {T, D, H, O} (no T for a feedforward spec); shrinks to 1 each."""
    parts = {"D": st.integers(1, max_D), "H": st.integers(1, max_H), "O": st.integers(1, max_O)}
    if spec is None or spec.recurrent:
        parts = {"T": st.integers(1, max_T), **parts}
    return st.fixed_dictionaries(parts)


def sequences(T: int, D: int, dtype=np.float64):
    """Strategy for an input sequence xs of shape (T, D), entries ±(0.1 … 0.9)."""
    return weights((T, D), 1.0, dtype)


@functools.lru_cache(maxsize=256)
def _base(spec, sizes: tuple, dtype: str):
    return spec.draw(dict(sizes), seed=0, dtype=np.dtype(dtype))


@st.composite
def problems(draw, spec, *, max_T: int = 4, max_D: int = 3, max_H: int = 3, max_O: int = 2, dtype=np.float64):
    """Strategy for a concrete :class:`~gradlab.specs.Problem` of ``spec``: sizes, weights, inputs,
    targets and initial states, all drawn by Hypothesis (so a failure shrinks to simple values)."""
    sz = draw(sizes(spec, max_T=max_T, max_D=max_D, max_H=max_H, max_O=max_O))
    base = _base(spec, tuple(sorted(sz.items())), np.dtype(dtype).str)
    params = {}
    for k, v in base.params.items():
        scale = 1.0 / math.sqrt(v.shape[-1]) if v.ndim == 2 else 0.5
        params[k] = _array(draw, v.shape, scale, dtype)
    data = {}
    for k, v in base.data.items():
        if k in ("d", "ds") and spec.loss == "softmax_cross_entropy":
            raw = np.abs(_array(draw, v.shape, 10.0, dtype))
            data[k] = (raw / raw.sum(axis=-1, keepdims=True)).astype(dtype)
        else:
            data[k] = _array(draw, v.shape, 1.0 if k in ("xs", "x", "d", "ds") else 0.5, dtype)
    return base.copy(params, data)


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
