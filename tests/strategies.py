"""Hypothesis strategies, in one place. Each op's valid input domain is declared here, away from
its edges (log away from 0, division away from 0, ReLU and maximum away from their kinks), so
that a test exercises the op where its derivative is meaningful and non-trivial."""
from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = ["budget", "floats", "arrays", "shapes", "broadcast_pair", "OP_CASES"]

def budget(n: int) -> int:
    """Return the example count for a test that sets its own: ``n`` under the deterministic ``ci``
    profile (25 examples by default), scaled up with the active profile (16 n under ``explore``), so
    that ``--hypothesis-profile=explore`` widens every test, not only those without their own count."""
    from hypothesis import settings

    return max(1, n * settings.default.max_examples // 25)


floats = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False, width=64)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def arrays(shape, lo=-3.0, hi=3.0):
    """float64 arrays of ``shape`` with elements in [lo, hi]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False, width=64))


def away_from(x, point, margin):
    """Shift elements of ``x`` that lie within ``margin`` of ``point`` to ``point ± 2·margin``."""
    near = np.abs(x - point) < margin
    return np.where(near, point + np.where(x >= point, 2 * margin, -2 * margin), x)


@st.composite
def broadcast_pair(draw, lo=-3.0, hi=3.0):
    """Two arrays whose shapes broadcast against each other (including shapes of different rank)."""
    (a, b), _ = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    return draw(arrays(a, lo, hi)), draw(arrays(b, lo, hi))


@st.composite
def _binary(draw):
    x, y = draw(broadcast_pair())
    return (x, y), {}


@st.composite
def _div(draw):
    x, y = draw(broadcast_pair())
    return (x, away_from(y, 0.0, 0.5)), {}


@st.composite
def _unary(draw, lo=-3.0, hi=3.0):
    return (draw(arrays(draw(shapes), lo, hi)),), {}


@st.composite
def _relu(draw):
    (x,), _ = draw(_unary())
    return (away_from(x, 0.0, 1e-2),), {}


@st.composite
def _power(draw):
    x = draw(arrays(draw(shapes), 0.2, 3.0))
    return (x,), {"p": draw(st.sampled_from([2, 3, 0.5, -1, 1.5, -2.5]))}


@st.composite
def _matmul(draw):
    n, k, m, b = (draw(st.integers(1, 4)) for _ in range(4))
    kind = draw(st.sampled_from(["mm", "vm", "mv", "vv", "batched", "broadcast_w"]))
    sx, sw = {"mm": ((n, k), (k, m)), "vm": ((k,), (k, m)), "mv": ((n, k), (k,)), "vv": ((k,), (k,)),
              "batched": ((b, n, k), (b, k, m)), "broadcast_w": ((b, n, k), (k, m))}[kind]
    return (draw(arrays(sx)), draw(arrays(sw))), {}


@st.composite
def _transpose(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    axes = draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)))
    return (draw(arrays(shape)),), {"axes": axes}


@st.composite
def _reshape(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    new = draw(st.sampled_from([(-1,), tuple(reversed(shape)), (1, -1)]))
    return (draw(arrays(shape)),), {"shape": new}


@st.composite
def _getitem(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    if draw(st.booleans()):
        key = draw(hnp.basic_indices(shape, allow_newaxis=False, allow_ellipsis=True))
    else:  # integer-array indexing along axis 0, repeats allowed (the VJP must add, not assign)
        key = np.asarray(draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=5)))
    return (draw(arrays(shape)),), {"key": key}


@st.composite
def _sum(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                          hnp.valid_tuple_axes(len(shape), min_size=1)))
    return (draw(arrays(shape)),), {"axis": axis, "keepdims": draw(st.booleans())}


@st.composite
def _softmax(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    return (draw(arrays(shape)),), {"axis": draw(st.integers(-len(shape), len(shape) - 1))}


@st.composite
def _joined(draw, new_axis):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    axis = draw(st.integers(0, len(shape) if new_axis else len(shape) - 1))
    n = draw(st.integers(1, 3))
    xs = []
    for _ in range(n):
        s = list(shape)
        if not new_axis:
            s[axis] = draw(st.integers(1, 3))
        xs.append(draw(arrays(tuple(s))))
    return tuple(xs), {"axis": axis}


@st.composite
def _maximum(draw):
    x, y = draw(broadcast_pair())
    xb, yb = np.broadcast_arrays(x, y)
    assume(np.min(np.abs(xb - yb)) > 1e-2)  # no ties: maximum is smooth there
    return (x, y), {}


@st.composite
def _where(draw):
    x, y = draw(broadcast_pair())
    shape = np.broadcast_shapes(x.shape, y.shape)
    mask = draw(hnp.arrays(np.bool_, shape))
    return (mask, x, y), {}


@st.composite
def _clip(draw):
    (x,), _ = draw(_unary())
    lo, hi = -1.0, 1.5
    return (away_from(away_from(x, lo, 1e-2), hi, 1e-2),), {"lo": lo, "hi": hi}


@st.composite
def _linear(draw):
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(st.sampled_from([(), (2,), (3, 2)]))
    x, W = draw(arrays(batch + (n_in,))), draw(arrays((n_out, n_in)))
    return ((x, W, draw(arrays((n_out,)))) if draw(st.booleans()) else (x, W)), {}


# op name -> strategy of (inputs, attrs); inputs listed in the op's positional order.
OP_CASES = {
    "add": _binary(), "sub": _binary(), "mul": _binary(), "div": _div(), "neg": _unary(),
    "power": _power(), "matmul": _matmul(), "linear": _linear(), "transpose": _transpose(), "reshape": _reshape(),
    "getitem": _getitem(), "sum": _sum(), "tanh": _unary(), "sigmoid": _unary(-6.0, 6.0), "relu": _relu(),
    "exp": _unary(), "log": _unary(0.1, 5.0), "softmax": _softmax(), "log_softmax": _softmax(),
    "concat": _joined(False), "stack": _joined(True), "maximum": _maximum(), "where": _where(), "clip": _clip(),
}


@st.composite
def _setitem(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    if draw(st.booleans()):
        key = draw(hnp.basic_indices(shape, allow_newaxis=False, allow_ellipsis=True))
    else:  # integer positions along axis 0, each named once (a repeat would make the last write win)
        key = np.asarray(draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=shape[0], unique=True)))
    target = np.empty(shape)[key].shape
    value = draw(st.sampled_from([target, target[1:], ()]))   # the written value may broadcast
    return (draw(arrays(shape)), draw(arrays(value))), {"key": key}


OP_CASES["setitem"] = _setitem()   # functional slice assignment (layer mode's traced buffers)


# ==================================================================================================
# RNN strategies (owned by the RNN layer: cells, sequences, weights). Sizes are kept small so that
# finite differences and HIPS autograd replays stay fast.
# ==================================================================================================
CELL_KINDS = ("elman", "jordan", "lstm", "peephole", "gru", "fourgate")

# the options each cell kind can be built with (one is drawn per example)
CELL_OPTIONS = {
    "elman": [{"activation": "tanh"}, {"activation": "identity"}, {"activation": "sigmoid"}],
    "jordan": [{"activation": "tanh"}],
    "lstm": [{}, {"forget_bias": 1.0}],
    "peephole": [{}],
    "gru": [{"reset": "after"}, {"reset": "before"}],
    "fourgate": [{}],
}


@st.composite
def rnn_configs(draw, kinds=CELL_KINDS, max_T=5, max_batch=3, max_size=4, output=None, learn_initial=None):
    """An RNN configuration: dict(kind, options, T, B (None = unbatched), D, H, O, learn_initial_state, seed).

    ``output`` True/False forces an output layer on/off (Jordan always has one); ``learn_initial``
    likewise forces the learned initial state.
    """
    kind = draw(st.sampled_from(list(kinds)))
    options = dict(draw(st.sampled_from(CELL_OPTIONS[kind])))
    with_output = draw(st.booleans()) if output is None else output
    O = draw(st.integers(1, max_size)) if (with_output or kind == "jordan") else None
    return dict(kind=kind, options=options, T=draw(st.integers(1, max_T)),
                B=draw(st.one_of(st.none(), st.integers(1, max_batch))),
                D=draw(st.integers(1, max_size)), H=draw(st.integers(1, max_size)), O=O,
                learn_initial_state=draw(st.booleans()) if learn_initial is None else learn_initial,
                seed=draw(st.integers(0, 2**16)))


def rnn_weights(cell, rng, scale=0.8):
    """Give every parameter of ``cell`` fresh N(0, scale²) values from ``rng`` (learned initial states too)
    and return {lecture name: array}: weights well away from the zero initialisations."""
    out = {}
    for name, p in cell.parameters_by_name().items():
        p.data = rng.normal(0.0, scale, p.shape)
        out[name] = p.data
    return out


def rnn_sequence(config, rng, scale=1.0):
    """Inputs for ``config``: ``(T, B, D)``, or ``(T, D)`` when B is None."""
    batch = () if config["B"] is None else (config["B"],)
    return rng.normal(0.0, scale, (config["T"],) + batch + (config["D"],))


def build_cell(config, name="cell"):
    """The gradlab cell described by ``config`` (weights from its seed; see :func:`rnn_weights`)."""
    from gradlab import nn

    return nn.CELLS[config["kind"]](config["D"], config["H"], config["O"], name=name, rng=config["seed"],
                                    learn_initial_state=config["learn_initial_state"], **config["options"])


__all__ += ["CELL_KINDS", "CELL_OPTIONS", "rnn_configs", "rnn_weights", "rnn_sequence", "build_cell"]
