r"""Size-free model specs: what a hand derivation is *for*, without the sizes.

A derivation says ``MODEL = gradlab.specs.elman(loss="mse_half")``; the checker then draws sizes
(T, D, H, O), weights and data, records the loss graph with gradlab's own modules, and compares the
derivation with references computed on that graph. A spec knows

* the parameter names in lecture notation and their shapes as formulas in the sizes
  (Elman: ``W_x (H, D)``, ``W_s (H, H)``, ``b_s (H,)``, ``W_y (O, H)``, ``b_y (O,)``),
* what data a derivation receives (``xs`` (T, D), targets, initial state ``s_0``),
* how to record the loss E so that every reference is a replay of the same graph.

Losses (``loss=``): ``"mse_half"`` E_t = ½‖y_t − d_t‖², ``"mse"`` E_t = ‖y_t − d_t‖² / O (the mean),
``"softmax_cross_entropy"`` E_t = −Σ_k d_{t,k} log softmax(y_t)_k with d_t a probability vector.
Modes (``mode=``): ``"many_to_many"`` E = Σ_{t=1}^{T} E_t, a target d_t at every step (``ds`` (T, O));
``"many_to_one"`` E = E_N with N = T, one target at the last step (``d`` (O,)), the lecture's E_N.

>>> import gradlab
>>> p = gradlab.specs.feedforward().draw({"D": 2, "H": 3, "O": 1}, seed=0)
>>> sorted(p.params), p.params["W_1"].shape
(['W_1', 'W_2', 'b_1', 'b_2'], (3, 2))
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

__all__ = ["Spec", "Problem", "Recording", "feedforward", "elman", "jordan", "lstm", "peephole_lstm",
           "four_gate_lstm", "gru", "SPECS", "LOSSES", "MODES"]

LOSSES = ("mse_half", "mse", "softmax_cross_entropy")
MODES = ("many_to_many", "many_to_one")
_LOSS_TEXT = {
    "mse_half": "E_t = ½‖y_t − d_t‖²",
    "mse": "E_t = ‖y_t − d_t‖²/O",
    "softmax_cross_entropy": "E_t = −Σ_k d_tk log softmax(y_t)_k",
}
@dataclass
class Recording:
    """One recorded loss graph: ``loss`` (a scalar Tensor), ``graph`` (its :class:`gradlab.Graph`),
    ``params`` {lecture name: Parameter leaf}, ``inputs`` {data name: leaf}, ``adjoints``
    {``"delta_s"``: [s_1 … s_T], …} the intermediate tensors whose ∂E/∂(·) a derivation may return."""

    loss: object
    graph: object
    params: dict
    inputs: dict
    adjoints: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    r"""A size-free model: a cell kind (or ``"feedforward"``), its activation, output layer, loss and
    sequence mode. :meth:`draw` makes a concrete :class:`Problem` for given sizes and seed."""

    kind: str
    loss: str = "mse_half"
    activation: str = "tanh"
    mode: str = "many_to_many"
    options: tuple = ()

    # --------------------------------------------------------------------------- description
    @property
    def recurrent(self) -> bool:
        """True for the sequence models (everything but ``feedforward``)."""
        return self.kind != "feedforward"

    def describe(self) -> str:
        """Return a one-line description in lecture notation, e.g. ``Elman RNN (tanh), E = Σ_t E_t, …``."""
        if not self.recurrent:
            return f"feedforward, one hidden layer ({self.activation}), E = ½‖d − y‖²" if self.loss == "mse_half" \
                else f"feedforward, one hidden layer ({self.activation}), loss {self.loss}"
        name = _cell_kind(self.kind).title
        act = f" ({self.activation})" if self.kind in ("elman", "jordan") else ""
        total = "E = Σ_t E_t" if self.mode == "many_to_many" else "E = E_N (last step)"
        return f"{name}{act}, {total}, {_LOSS_TEXT[self.loss]}"

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.options)
        return f"gradlab.specs.{self.kind}(loss={self.loss!r}, activation={self.activation!r}, mode={self.mode!r}{extra})"

    @property
    def size_names(self) -> tuple:
        """The sizes this spec is drawn with: ``("D", "H", "O")`` or ``("T", "D", "H", "O")``."""
        return ("T", "D", "H", "O") if self.recurrent else ("D", "H", "O")

    def default_sizes(self) -> dict:
        """Return the sizes a single check uses unless told otherwise (small, all different)."""
        return {"T": 3, "D": 2, "H": 3, "O": 2} if self.recurrent else {"D": 2, "H": 3, "O": 2}

    def data_names(self) -> tuple:
        """Return the keys of ``data`` a derivation receives, e.g. ``("xs", "ds", "s_0")``."""
        if not self.recurrent:
            return ("x", "d")
        return ("xs", "ds" if self.mode == "many_to_many" else "d") + tuple(self._state_names())

    def _state_names(self) -> tuple:
        return tuple(f"{part}_0" for part in _cell_class(self.kind).state_names)

    def adjoint_names(self) -> tuple:
        r"""Return the intermediate adjoints a derivation may return: ``delta_s`` is ∂E/∂s_t for t = 1..T
        (an array (T, H)), one per part of the state (``delta_c`` for the LSTM cell state); for the
        feedforward net ``delta_h`` is ∂E/∂h."""
        if not self.recurrent:
            return ("delta_h",)
        return tuple(f"delta_{part}" for part in _cell_class(self.kind).state_names)

    # ------------------------------------------------------------------------------- building
    def _sizes(self, sizes) -> dict:
        full = self.default_sizes()
        for k, v in dict(sizes or {}).items():
            if k not in full:
                raise ValueError(f"{self!r}: unknown size {k!r}; this model is drawn with sizes {self.size_names}")
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{self!r}: size {k} must be a positive int, got {v!r}")
            full[k] = int(v)
        return full

    def build_module(self, sizes, rng=None):
        """Return the gradlab module (a cell, or the two Dense layers) for ``sizes``."""
        from .nn.module import Dense, Module, make_rng

        sizes = self._sizes(sizes)
        rng = make_rng(rng)
        if not self.recurrent:
            net = Module(name="net")
            net.layer1 = Dense(sizes["D"], sizes["H"], name="layer1", weight_name="W_1", bias_name="b_1", rng=rng)
            net.layer2 = Dense(sizes["H"], sizes["O"], name="layer2", weight_name="W_2", bias_name="b_2", rng=rng)
            return net
        cls = _cell_class(self.kind)
        kwargs = dict(self.options)
        if self.kind in ("elman", "jordan"):
            kwargs.setdefault("activation", self.activation)
        return _construct(cls, sizes["D"], sizes["H"], sizes["O"], rng=rng, **kwargs)

    def param_shapes(self, sizes=None) -> dict:
        """Return {lecture name: shape} for ``sizes``, in the module's order."""
        sizes = self._sizes(sizes)
        return dict(_shapes(self, tuple(sorted(sizes.items()))))

    def shape_formula(self, name: str) -> str:
        """Return a parameter's shape written with size letters, e.g. ``"(H, D)"`` or ``"(4H, H)"``."""
        # distinct primes make the letters recoverable from the numbers
        probe = {"H": 13, "D": 11, "O": 17}
        shape = self.param_shapes(probe)[name]
        parts = [_letters(n, probe) for n in shape]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def draw(self, sizes=None, seed: int = 0, *, dtype=np.float64, scale: float = 1.0) -> "Problem":
        r"""Return a concrete :class:`Problem`: weights, inputs, targets and initial state drawn from
        well-conditioned ranges with ``numpy.random.default_rng(seed)``.

        Weights are uniform in ±scale·(0.2 … 1)/√fan_in with random signs (never 0, rarely saturating);
        biases, inputs and the initial state uniform in ±(0.1 … 0.9); targets uniform in ±1 (a
        probability vector for cross-entropy).
        """
        sizes = self._sizes(sizes)
        rng = np.random.default_rng(seed)
        module = self.build_module(sizes, rng=np.random.default_rng(seed))
        params = {}
        for name, p in module.parameters_by_name().items():
            fan_in = p.shape[-1] if p.ndim == 2 else 1
            mag = rng.uniform(0.2, 1.0, p.shape) * (scale / math.sqrt(fan_in) if p.ndim == 2 else 0.5 * scale)
            params[name] = (mag * rng.choice([-1.0, 1.0], p.shape)).astype(dtype)
        data = {}

        def away(shape):
            return rng.uniform(0.1, 0.9, shape) * rng.choice([-1.0, 1.0], shape)

        def target(shape):
            if self.loss == "softmax_cross_entropy":
                z = rng.uniform(0.1, 1.0, shape)
                return z / z.sum(axis=-1, keepdims=True)
            return rng.uniform(-1.0, 1.0, shape)

        if not self.recurrent:
            data["x"] = away((sizes["D"],)).astype(dtype)
            data["d"] = target((sizes["O"],)).astype(dtype)
        else:
            T = sizes["T"]
            data["xs"] = away((T, sizes["D"])).astype(dtype)
            if self.mode == "many_to_many":
                data["ds"] = target((T, sizes["O"])).astype(dtype)
            else:
                data["d"] = target((sizes["O"],)).astype(dtype)
            for name, n in zip(self._state_names(), module.state_sizes()):
                data[name] = (0.5 * away((n,))).astype(dtype)
        return Problem(self, sizes, seed, params, data, module)


@functools.lru_cache(maxsize=256)
def _shapes(spec, sizes) -> tuple:
    module = spec.build_module(dict(sizes))
    return tuple((name, tuple(p.shape)) for name, p in module.parameters_by_name().items())


def _letters(n: int, probe: dict) -> str:
    for k, v in probe.items():
        if n == v:
            return k
    for k, v in probe.items():
        if n % v == 0 and n // v < 10:
            return f"{n // v}{k}"
    for k, v in probe.items():
        for k2, v2 in probe.items():
            if k2 != k and n == v + v2:
                return f"{k} + {k2}"
    return str(n)


def _cell_kind(kind):
    """The entry of ``kind`` in the one table of cell kinds (gradlab.nn.registry)."""
    from .nn.registry import cell_kind

    return cell_kind(kind)


def _cell_class(kind):
    return _cell_kind(kind).cls


def _construct(cls, D, H, O, rng, **kwargs):
    """Build a cell with the contract's sizes; the output layer maps s_t (H) to y_t (O)."""
    import inspect

    sig = inspect.signature(cls)
    names = list(sig.parameters)
    kw = {k: v for k, v in kwargs.items() if k in sig.parameters}
    if "rng" in sig.parameters:
        kw["rng"] = rng
    for key, value in (("input_size", D), ("hidden_size", H), ("output_size", O)):
        if key in sig.parameters:
            kw[key] = value
    if "input_size" in kw:
        return cls(**kw)
    return cls(D, H, O, **{k: v for k, v in kw.items() if k not in names[:3]})


@dataclass
class Problem:
    r"""A concrete model: ``spec``, ``sizes``, ``seed``, ``params`` {lecture name: array} and ``data``
    {``xs``, ``ds`` or ``d``, ``s_0`` …: array}. :meth:`record` records the loss graph E."""

    spec: Spec
    sizes: dict
    seed: int
    params: dict
    data: dict
    module: object = None

    @property
    def dtype(self):
        """The dtype of the drawn arrays."""
        return next(iter(self.params.values())).dtype

    def copy(self, params=None, data=None) -> "Problem":
        """Return a copy with ``params`` / ``data`` entries replaced (arrays are copied)."""
        p = {k: np.array(v, copy=True) for k, v in self.params.items()}
        d = {k: np.array(v, copy=True) for k, v in self.data.items()}
        p.update({k: np.asarray(v) for k, v in (params or {}).items()})
        d.update({k: np.asarray(v) for k, v in (data or {}).items()})
        return replace(self, params=p, data=d)

    def astype(self, dtype) -> "Problem":
        """Return a copy with every array cast to ``dtype``."""
        return replace(self, params={k: v.astype(dtype) for k, v in self.params.items()},
                       data={k: v.astype(dtype) for k, v in self.data.items()})

    def prefix(self, T: int) -> "Problem":
        """Return the same model and data on the first ``T`` time steps (targets cut to match)."""
        if not self.spec.recurrent:
            raise ValueError("prefix: a feedforward model has no time steps")
        if not 1 <= T <= self.sizes["T"]:
            raise ValueError(f"prefix: T must be in 1..{self.sizes['T']}, got {T}")
        data = dict(self.data)
        data["xs"] = self.data["xs"][:T]
        if "ds" in data:
            data["ds"] = self.data["ds"][:T]
        return replace(self, sizes={**self.sizes, "T": T}, data=data)

    def describe(self) -> str:
        """Return e.g. ``T=3, D=2, H=3, O=2, seed 0``."""
        return ", ".join(f"{k}={v}" for k, v in self.sizes.items()) + f", seed {self.seed}"

    def record(self, *, dtype=None) -> Recording:
        """Record the loss graph E with the gradlab modules and return a :class:`Recording`."""
        from .tensor import tensor as _leaf
        from .graph import Graph

        dtype = dtype or self.dtype
        spec = self.spec
        # a fresh module per recording: graphs recorded earlier keep their own leaves and values
        mod = spec.build_module(self.sizes)
        named = mod.parameters_by_name()
        for name, p in named.items():
            p.data = np.array(self.params[name], dtype=dtype, copy=True)
            p.grad = None
        inputs = {k: _leaf(np.asarray(v, dtype=dtype), name=k) for k, v in self.data.items()}
        adjoints: dict = {}
        if not spec.recurrent:
            a1 = mod.layer1(inputs["x"])
            h = _activation(spec.activation)(a1)
            y = mod.layer2(h)
            loss = _loss(spec.loss, y, inputs["d"])
            adjoints["delta_h"] = [h]
        else:
            from .nn.unroll import unroll as _unroll

            state = tuple(inputs[k] for k in spec._state_names())
            state = state[0] if len(state) == 1 else state
            run = _unroll(mod, inputs["xs"], state=state,
                                 outputs="all" if spec.mode == "many_to_many" else "last")
            if spec.mode == "many_to_many":
                ds = inputs["ds"]
                terms = [_loss(spec.loss, y, ds[t]) for t, y in enumerate(run.outputs)]
                loss = terms[0]
                for e in terms[1:]:
                    loss = loss + e
            else:
                loss = _loss(spec.loss, run.outputs[-1], inputs["d"])
            for k, key in enumerate(spec.adjoint_names()):
                adjoints[key] = [st[k] if isinstance(st, tuple) else st for st in run.states]
        return Recording(loss, Graph(loss), {n: named[n] for n in self.params}, inputs, adjoints)


def _activation(name):
    from .nn.module import ACTIVATIONS

    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _loss(name, y, d):
    from . import ops

    if name == "mse_half":
        r = y - d
        return (r * r).sum() * 0.5
    if name == "mse":
        r = y - d
        return (r * r).mean()
    if name == "softmax_cross_entropy":
        return -(d * ops.log_softmax(y, axis=-1)).sum()
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")


def _make(kind: str, loss: str, activation: str, mode: str, **options) -> Spec:
    if loss not in LOSSES:
        raise ValueError(f"gradlab.specs.{kind}: unknown loss {loss!r}; choose one of {LOSSES}")
    if mode not in MODES:
        raise ValueError(f"gradlab.specs.{kind}: unknown mode {mode!r}; choose one of {MODES}")
    if activation not in ("tanh", "sigmoid", "relu", "identity"):
        raise ValueError(f"gradlab.specs.{kind}: unknown activation {activation!r}; "
                         f"choose one of 'tanh', 'sigmoid', 'relu', 'identity'")
    return Spec(kind, loss, activation, mode, tuple(sorted(options.items())))


def feedforward(loss: str = "mse_half", activation: str = "tanh") -> Spec:
    r"""Return the spec of a one-hidden-layer network h = f(W_1 x + b_1), y = W_2 h + b_2, E = ½‖d − y‖²."""
    return _make("feedforward", loss, activation, "many_to_one")


def elman(loss: str = "mse_half", activation: str = "tanh", mode: str = "many_to_many") -> Spec:
    r"""Return the spec of an Elman RNN s_t = f(W_x x_t + W_s s_{t−1} + b_s), y_t = W_y s_t + b_y."""
    return _make("elman", loss, activation, mode)


def jordan(loss: str = "mse_half", activation: str = "tanh", mode: str = "many_to_many") -> Spec:
    r"""Return the spec of a Jordan RNN, whose state feeds back the previous output y_{t−1}."""
    return _make("jordan", loss, activation, mode)


def lstm(loss: str = "mse_half", mode: str = "many_to_many") -> Spec:
    r"""Return the spec of the standard LSTM (gates i, f, g, o; cell state c_t; s_t = o_t ⊙ tanh(c_t))."""
    return _make("lstm", loss, "tanh", mode)


def peephole_lstm(loss: str = "mse_half", mode: str = "many_to_many") -> Spec:
    r"""Return the spec of the peephole LSTM (gates also read the cell state)."""
    return _make("peephole_lstm", loss, "tanh", mode)


def four_gate_lstm(loss: str = "mse_half", mode: str = "many_to_many") -> Spec:
    r"""Return the spec of the lecture's learn / forget / remember / use LSTM."""
    return _make("four_gate_lstm", loss, "tanh", mode)


def gru(loss: str = "mse_half", mode: str = "many_to_many") -> Spec:
    r"""Return the spec of the GRU (update gate z_t, reset gate r_t, candidate state)."""
    return _make("gru", loss, "tanh", mode)


SPECS: dict[str, Callable[..., Spec]] = {
    "feedforward": feedforward, "elman": elman, "jordan": jordan, "lstm": lstm,
    "peephole_lstm": peephole_lstm, "four_gate_lstm": four_gate_lstm, "gru": gru,
}
