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

Data and model options
----------------------
Code that students hand in is rarely written in gradlab's own conventions. Every spec takes keyword
options that describe the code's model and data instead, so that no adapter has to be written
(``gradlab.specs.OPTIONS`` lists them with their defaults; a bad value is a ``ValueError`` naming the
choices). The defaults are the conventions above.

* ``inputs="index"``: each x_t is a class index (a character or word), the one-hot vector is implied:
  W_x x_t is the column W_x[:, x_t]. ``xs`` holds integers (T,).
* ``targets="index"``: each d_t is a class index and E_t = −log softmax(y_t)_{d_t} (needs
  ``loss="softmax_cross_entropy"``). ``ds`` holds integers (T,) (``d`` one integer in many-to-one mode).
  With index inputs *and* index targets the model is a language model over one vocabulary of size V:
  the sizes are (T, V, H) and D = O = V.
* ``batch="sum"`` or ``"mean"``: the data carry a batch of B sequences (size ``B``), run side by side
  with the same weights; E = Σ_b E⁽ᵇ⁾ or (1/B) Σ_b E⁽ᵇ⁾.
* ``initial_state="zero"``: s_0 (and c_0 for the LSTMs) is fixed to zero, as in code that starts from
  ``np.zeros``; the data then hold no ``s_0``. The default ``"given"`` draws it and passes it in. A dict
  fixes some parts only: ``initial_state={"c_0": "zero"}`` is an LSTM whose s_0 is given and whose
  c_0 starts at zero (as in code that takes ``h0`` and sets ``c = np.zeros_like(h0)``).
* ``layout``: how vectors and weights are stored. ``"vector"`` (the default): 1-D vectors, weights
  (outputs, inputs) applied as W x. ``"column"``: every vector is a column, x_t (D, 1), s_t and
  s_0 (H, 1), the biases (H, 1) and (O, 1); a batch is side by side in columns (D, B); weights as in
  the lecture, (outputs, inputs). ``"row"``: weights are stored transposed, (inputs, outputs), and
  applied as x_t W (so the code's Wx is W_xᵀ); vectors 1-D, a batch stacked in rows (B, H) and
  sequences batch-first (B, T, D).
* ``gates`` (LSTM): ``"ifgo"`` (the default: rows of W_x, W_s, b_s stacked i, f, g, o), ``"ifog"``
  (stacked i, f, o, g), or ``"concat"``: separate per-gate weights on the concatenation
  [s_{t−1}; x_t], ``W_i, W_f, W_g, W_o`` (H, H + D) and ``b_i, b_f, b_g, b_o`` (H,):
  a_i = W_i [s_{t−1}; x_t] + b_i, likewise for f, g, o.
* ``biases=False``: the model has no biases (every b_… is 0 and is not a parameter).
* ``truncate=k``: truncated BPTT is intended, so the reference computes the truncated gradient and
  a derivation that truncates in the same way is right. *Truncated after k steps* means: the error
  E_t is propagated back through the steps t, t−1, …, max(1, t − k) and no further; the state
  s_{max(1,t−k)−1} that enters the first of them is treated as a constant. So k = 0 keeps only each
  step's own term (no recurrence), and k ≥ T − 1 is full BPTT. In 0-based code this is the common
  word-level RNN tutorial's ``for step in range(max(0, t - k), t + 1)[::-1]``. The loss E itself
  is unchanged.
* ``over_time="mean"``: E = (1/T) Σ_t E_t instead of the sum (many-to-many mode).
* ``names={"Wxh": "W_x", ...}``: the code's parameter names, mapped to the lecture's. The
  parameters are then called by the code's names everywhere: in ``params``, in the gradient a
  derivation returns, in ``WRONG`` and in every report.

>>> spec = gradlab.specs.elman(loss="softmax_cross_entropy", inputs="index", targets="index",
...                            layout="column", names={"Wxh": "W_x", "Whh": "W_s", "bh": "b_s",
...                                                    "Why": "W_y", "by": "b_y"})
>>> spec.param_shapes({"T": 3, "V": 4, "H": 3})
{'Wxh': (3, 4), 'bh': (3, 1), 'Whh': (3, 3), 'Why': (4, 3), 'by': (4, 1)}
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

__all__ = ["Spec", "Problem", "Recording", "feedforward", "elman", "jordan", "lstm", "peephole_lstm",
           "four_gate_lstm", "gru", "SPECS", "LOSSES", "MODES", "OPTIONS"]

LOSSES = ("mse_half", "mse", "softmax_cross_entropy")
MODES = ("many_to_many", "many_to_one")
_LOSS_TEXT = {
    "mse_half": "E_t = ½‖y_t − d_t‖²",
    "mse": "E_t = ‖y_t − d_t‖²/O",
    "softmax_cross_entropy": "E_t = −Σ_k d_tk log softmax(y_t)_k",
}
#: The data and model options every spec takes: name -> (default, allowed values, what it means).
#: The module docstring says what each one does to the model, the data and the parameters.
OPTIONS = {
    "inputs": ("vector", ("vector", "index"), "x_t a vector, or a class index with the one-hot vector implied"),
    "targets": ("vector", ("vector", "index"), "d_t a vector, or a class index (softmax cross-entropy)"),
    "batch": (None, (None, "sum", "mean"), "no batch axis, or B sequences with E summed or averaged over them"),
    "initial_state": ("given", ("given", "zero"), "s_0 given in the data, or fixed to zero (a dict: per part)"),
    "layout": ("vector", ("vector", "column", "row"), "1-D vectors; column vectors (n, 1); or row vectors "
               "with weights stored transposed (inputs, outputs)"),
    "gates": ("ifgo", ("ifgo", "ifog", "concat"), "LSTM: stacked gate order, or per-gate weights on [s_{t−1}; x_t]"),
    "biases": (True, (True, False), "whether the model has biases"),
    "truncate": (None, "None or an int k ≥ 0", "intended truncated BPTT: E_t flows back through steps t … max(1, t − k)"),
    "over_time": ("sum", ("sum", "mean"), "E = Σ_t E_t or (1/T) Σ_t E_t"),
    "names": ({}, "a dict {the code's name: lecture name}", "the code's parameter names"),
}
_RECURRENT_ONLY = ("initial_state", "truncate", "over_time")
_SIZE_WORDS = {"T": "steps", "D": "input_size", "H": "hidden_size", "O": "output_size", "V": "vocab_size",
               "B": "batch_size"}


@dataclass
class Recording:
    """One recorded loss graph: ``loss`` (a scalar Tensor), ``graph`` (its :class:`gradlab.Graph`),
    ``params`` {parameter name: Parameter leaf}, ``inputs`` {data name: leaf}, ``adjoints``
    {``"delta_s"``: [s_1 … s_T], …} the intermediate tensors whose ∂E/∂(·) a derivation may return;
    ``outputs`` the outputs the loss reads ([y_1 … y_T], [y_T] or [y]; empty for a truncated E), the z of
    E = L(z) for Gauss–Newton products."""

    loss: object
    graph: object
    params: dict
    inputs: dict
    adjoints: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)


@dataclass(frozen=True)
class Spec:
    r"""A size-free model: a cell kind (or ``"feedforward"``), its activation, output layer, loss and
    sequence mode, and the data and model options (:data:`OPTIONS`). :meth:`draw` makes a concrete
    :class:`Problem` for given sizes and seed."""

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

    def opt(self, key: str):
        """Return the value of the option ``key`` (its default when the spec does not set it)."""
        for k, v in self.options:
            if k == key:
                return dict(v) if key == "names" else v
        if key in OPTIONS:
            default = OPTIONS[key][0]
            return dict(default) if isinstance(default, dict) else default
        return None

    @property
    def vocabulary(self) -> bool:
        """True when inputs and targets are both class indices over one vocabulary of size V (D = O = V)."""
        return self.opt("inputs") == "index" and self.opt("targets") == "index"

    def describe(self) -> str:
        """Return a one-line description in lecture notation, e.g. ``Elman RNN (tanh), E = Σ_t E_t, …``."""
        if not self.recurrent:
            text = (f"feedforward, one hidden layer ({self.activation}), E = ½‖d − y‖²" if self.loss == "mse_half"
                    else f"feedforward, one hidden layer ({self.activation}), loss {self.loss}")
        else:
            name = _cell_kind(self.kind).title
            act = f" ({self.activation})" if self.kind in ("elman", "jordan") else ""
            convention = [f"{k}={v!r}" for k, v in self.options if self.kind == "gru" and k in ("update", "reset")]
            if convention:
                act = " (" + ", ".join(convention) + ")"
            if self.mode != "many_to_many":
                total = "E = E_N (last step)"
            else:
                total = "E = (1/T) Σ_t E_t" if self.opt("over_time") == "mean" else "E = Σ_t E_t"
            text = f"{name}{act}, {total}, {self._loss_text()}"
        extra = self._option_words()
        return text + (f"; {', '.join(extra)}" if extra else "")

    def _loss_text(self) -> str:
        if self.loss == "softmax_cross_entropy" and self.opt("targets") == "index":
            return "E_t = −log softmax(y_t)_{d_t}"
        return _LOSS_TEXT[self.loss]

    def _option_words(self) -> list:
        words = []
        if self.opt("inputs") == "index":
            words.append("index inputs (one-hot x_t)")
        if self.opt("targets") == "index":
            words.append("index targets")
        if self.opt("batch"):
            words.append(f"a batch of B sequences, E {'averaged' if self.opt('batch') == 'mean' else 'summed'} over it")
        zero = self.zero_states()
        if zero and len(zero) == len(self._state_names()):
            words.append("initial state fixed to zero")
        elif zero:
            words.append(f"{', '.join(zero)} fixed to zero")
        layout = self.opt("layout")
        if layout == "column":
            words.append("column vectors")
        elif layout == "row":
            words.append("row vectors (weights stored transposed)")
        gates = self.opt("gates")
        if gates == "ifog":
            words.append("gates stacked i, f, o, g")
        elif gates == "concat":
            words.append("per-gate weights on [s_{t−1}; x_t]")
        if not self.opt("biases"):
            words.append("no biases")
        if self.opt("truncate") is not None:
            words.append(f"BPTT truncated after {self.opt('truncate')} steps")
        return words

    def equations(self) -> str:
        r"""Return the model's equations in lecture notation with the options applied, one per line,
        followed by the code's names for the parameters when they differ (``Wxh = W_x, …``)."""
        lines = _equations(self)
        names = self.opt("names")
        if names:
            lines.append("your names: " + ", ".join(f"{a} = {lec}" for a, lec in names.items()))
        return "\n".join(lines)

    def with_options(self, **changes) -> "Spec":
        """Return the same spec with some options changed (checked like the spec functions' own)."""
        current = {k: (dict(v) if k == "names" or isinstance(v, tuple) else v) for k, v in self.options}
        current.update(changes)
        return _make(self.kind, self.loss, self.activation, self.mode, **current)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={(dict(v) if isinstance(v, tuple) else v)!r}" for k, v in self.options)
        return f"gradlab.specs.{self.kind}(loss={self.loss!r}, activation={self.activation!r}, mode={self.mode!r}{extra})"

    @property
    def size_names(self) -> tuple:
        """The sizes this spec is drawn with: ``("D", "H", "O")`` or ``("T", "D", "H", "O")``; ``V`` stands
        for D = O with index inputs and targets, and ``B`` is the batch size with ``batch=``."""
        names = ["T"] if self.recurrent else []
        names += ["V", "H"] if self.vocabulary else ["D", "H", "O"]
        if self.opt("batch"):
            names.append("B")
        return tuple(names)

    def default_sizes(self) -> dict:
        """Return the sizes a single check uses unless told otherwise (small, all different; with
        ``truncate=k`` the sequence is k + 3 steps long, so that the truncation and its neighbours k ± 1
        give different gradients)."""
        base = {"T": 3, "D": 2, "H": 3, "O": 2, "V": 4, "B": 2}
        k = self.opt("truncate")
        if k is not None:
            base["T"] = max(3, k + 3)
        return {n: base[n] for n in self.size_names}

    def data_names(self) -> tuple:
        """Return the keys of ``data`` a derivation receives, e.g. ``("xs", "ds", "s_0")``."""
        if not self.recurrent:
            return ("x", "d")
        states = tuple(n for n in self._state_names() if n not in self.zero_states())
        return ("xs", "ds" if self.mode == "many_to_many" else "d") + states

    def _state_names(self) -> tuple:
        return tuple(f"{part}_0" for part in _cell_class(self.kind).state_names)

    def zero_states(self) -> tuple:
        """The parts of the initial state fixed to zero (``initial_state=``), e.g. ``("s_0", "c_0")``."""
        if not self.recurrent:
            return ()
        value = self.opt("initial_state")
        if value == "zero":
            return self._state_names()
        if isinstance(value, tuple):
            return tuple(k for k, v in value if v == "zero")
        return ()

    def adjoint_names(self) -> tuple:
        r"""Return the intermediate adjoints a derivation may return: ``delta_s`` is ∂E/∂s_t for t = 1..T
        (an array (T, H)), one per part of the state (``delta_c`` for the LSTM cell state); for the
        feedforward net ``delta_h`` is ∂E/∂h."""
        if not self.recurrent:
            return ("delta_h",)
        return tuple(f"delta_{part}" for part in _cell_class(self.kind).state_names)

    def lecture_name(self, name: str) -> str:
        """Return the lecture name of a parameter given by the code's name (``"Whh"`` -> ``"W_s"``)."""
        return self.opt("names").get(name, name)

    def output_layer_names(self) -> tuple:
        """The parameters of the output layer (W_y, b_y, or W_2, b_2), by the code's names."""
        inverse = {lec: a for a, lec in self.opt("names").items()}
        lecture = ("W_2", "b_2") if not self.recurrent else ("W_y", "b_y")
        return tuple(inverse.get(n, n) for n in lecture)

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

    def _native_sizes(self, sizes) -> dict:
        """The sizes of gradlab's own module: D and O (equal to V for a vocabulary)."""
        s = self._sizes(sizes)
        if "V" in s:
            s["D"] = s["O"] = s.pop("V")
        return s

    def cell_options(self) -> dict:
        """The options that are passed on to the cell's constructor (not data and model options)."""
        return {k: v for k, v in self.options if k not in OPTIONS}

    def build_module(self, sizes, rng=None):
        """Return the gradlab module (a cell, or the two Dense layers) for ``sizes``."""
        return self._build(self._native_sizes(sizes), rng)

    def _build(self, sizes: dict, rng=None):
        """The module for native sizes (D, H, O; no V)."""
        from .nn.module import Dense, Module, make_rng

        rng = make_rng(rng)
        if not self.recurrent:
            net = Module(name="net")
            net.layer1 = Dense(sizes["D"], sizes["H"], name="layer1", weight_name="W_1", bias_name="b_1", rng=rng)
            net.layer2 = Dense(sizes["H"], sizes["O"], name="layer2", weight_name="W_2", bias_name="b_2", rng=rng)
            return net
        cls = _cell_class(self.kind)
        kwargs = self.cell_options()
        if self.kind in ("elman", "jordan"):
            kwargs.setdefault("activation", self.activation)
        return _construct(cls, sizes["D"], sizes["H"], sizes["O"], rng=rng, **kwargs)

    def _layout(self, sizes) -> "_ParamLayout":
        native = self._native_sizes(sizes)
        return _param_layout(self, tuple(sorted(native.items())))

    def param_shapes(self, sizes=None) -> dict:
        """Return {parameter name: shape} for ``sizes``, in the module's order (the code's names and
        storage layout when the spec has ``names=`` or ``layout=``)."""
        return dict(self._layout(sizes).author_shapes)

    def shape_formula(self, name: str) -> str:
        """Return a parameter's shape written with size letters, e.g. ``"(H, D)"`` or ``"(4H, H)"``."""
        # distinct primes make the letters recoverable from the numbers
        probe = {"H": 13, "V": 19} if self.vocabulary else {"H": 13, "D": 11, "O": 17}
        shape = self.param_shapes(probe)[name]
        parts = [_letters(n, probe) for n in shape]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def fan_in(self, name: str, sizes=None) -> int | None:
        """Return the number of inputs a weight matrix acts on (None for a vector parameter)."""
        lay = self._layout(sizes)
        shape = lay.lecture_shapes[lay.lecture_of[name]]
        return shape[1] if len(shape) == 2 else None

    # --------------------------------------------------------------------------------- data
    def _data_role(self, key: str):
        """(is a sequence, holds class indices, number of classes or features as a size letter)."""
        if key in ("xs", "x"):
            return key == "xs", self.opt("inputs") == "index", "V" if self.vocabulary else "D"
        if key in ("ds", "d"):
            return key == "ds", self.opt("targets") == "index", "V" if self.vocabulary else "O"
        return False, False, "O" if self.kind == "jordan" and key == "y_0" else "H"

    def index_classes(self, key: str, sizes=None) -> int | None:
        """Return the number of classes of an index data entry (``xs`` or ``ds``/``d``), else None."""
        _, index, letter = self._data_role(key)
        return self._sizes(sizes)[letter] if index else None

    def time_axis(self, key: str) -> int | None:
        """Return the time axis of a data entry as the code stores it (None when it has none)."""
        seq, _, _ = self._data_role(key)
        if not seq:
            return None
        return 1 if self.opt("layout") == "row" and self.opt("batch") else 0

    def data_shapes(self, sizes=None) -> dict:
        """Return {data name: shape} as a derivation receives them (index data hold integers)."""
        s = self._sizes(sizes)
        return {k: self._to_author_data(k, np.zeros(self._native_data_shape(k, s))).shape for k in self.data_names()}

    def sizes_of(self, params: dict, data: dict) -> dict:
        """Return the sizes ({T, D, H, O} …) that the arrays ``params`` and ``data`` were drawn with."""
        probe = {"T": 5, "B": 7, "D": 11, "H": 13, "O": 17, "V": 19}
        probe = {k: probe[k] for k in self.size_names}
        letter = {v: k for k, v in probe.items()}
        shapes = dict(self.param_shapes(probe))
        shapes.update(self.data_shapes(probe))
        found = {}
        for key, shape in shapes.items():
            arr = params.get(key) if key in params else data.get(key)
            if arr is None or len(np.shape(arr)) != len(shape):
                continue
            for n_probe, n in zip(shape, np.shape(arr)):
                if n_probe in letter:
                    found.setdefault(letter[n_probe], int(n))
        return {k: found[k] for k in self.size_names if k in found}

    def _native_data_shape(self, key, sizes) -> tuple:
        seq, index, letter = self._data_role(key)
        n = sizes[letter] if letter in sizes else self._native_sizes(sizes)[letter]
        batch = (sizes["B"],) if "B" in sizes else ()
        lead = ((sizes["T"],) if seq else ()) + batch
        return lead if index else lead + (n,)

    def _to_author_data(self, key, a):
        """gradlab's layout ((T, [B,] n) sequences, ([B,] n) vectors, index arrays (T, [B])) -> the code's."""
        seq, index, _ = self._data_role(key)
        layout, batch = self.opt("layout"), bool(self.opt("batch"))
        if index:
            return a.T if seq and batch and layout == "row" else a
        if layout == "column":
            if seq:
                return a[..., None] if not batch else np.transpose(a, (0, 2, 1))
            return a[..., None] if not batch else a.T
        if layout == "row" and seq and batch:
            return np.transpose(a, (1, 0, 2))
        return a

    def _to_native_data(self, key, a, sizes):
        """The code's layout -> gradlab's (index arrays stay integers); ``ValueError`` for a wrong shape."""
        a = np.asarray(a)
        want = self._to_author_data(key, np.zeros(self._native_data_shape(key, sizes))).shape
        if a.shape != want:
            raise ValueError(f"{self.describe()}: data[{key!r}] has shape {a.shape}, expected {want}")
        seq, index, _ = self._data_role(key)
        layout, batch = self.opt("layout"), bool(self.opt("batch"))
        if index:
            return a.T if seq and batch and layout == "row" else a
        if layout == "column":
            if seq:
                return a[..., 0] if not batch else np.transpose(a, (0, 2, 1))
            return a[..., 0] if not batch else a.T
        if layout == "row" and seq and batch:
            return np.transpose(a, (1, 0, 2))
        return a

    def draw(self, sizes=None, seed: int = 0, *, dtype=np.float64, scale: float = 1.0) -> "Problem":
        r"""Return a concrete :class:`Problem`: weights, inputs, targets and initial state drawn from
        well-conditioned ranges with ``numpy.random.default_rng(seed)``.

        Weights are uniform in ±scale·(0.2 … 1)/√fan_in with random signs (never 0, rarely saturating);
        biases, inputs and the initial state uniform in ±(0.1 … 0.9); targets uniform in ±1 (a
        probability vector for cross-entropy); class indices uniform over the classes.
        """
        sizes = self._sizes(sizes)
        native_sizes = self._native_sizes(sizes)
        rng = np.random.default_rng(seed)
        module = self.build_module(sizes, rng=np.random.default_rng(seed))
        native = {}
        for name, p in module.parameters_by_name().items():
            fan_in = p.shape[-1] if p.ndim == 2 else 1
            mag = rng.uniform(0.2, 1.0, p.shape) * (scale / math.sqrt(fan_in) if p.ndim == 2 else 0.5 * scale)
            native[name] = (mag * rng.choice([-1.0, 1.0], p.shape)).astype(dtype)
        params = self._layout(sizes).from_native(native)
        data = {}
        batch = (sizes["B"],) if "B" in sizes else ()

        def away(shape):
            return rng.uniform(0.1, 0.9, shape) * rng.choice([-1.0, 1.0], shape)

        def target(shape):
            if self.loss == "softmax_cross_entropy":
                z = rng.uniform(0.1, 1.0, shape)
                return z / z.sum(axis=-1, keepdims=True)
            return rng.uniform(-1.0, 1.0, shape)

        def values(key, shape, make):
            n = self.index_classes(key, sizes)
            if n is not None:
                return rng.integers(0, n, shape[:-1])
            return make(shape).astype(dtype)

        if not self.recurrent:
            data["x"] = values("x", batch + (native_sizes["D"],), away)
            data["d"] = values("d", batch + (native_sizes["O"],), target)
        else:
            T = sizes["T"]
            data["xs"] = values("xs", (T,) + batch + (native_sizes["D"],), away)
            if self.mode == "many_to_many":
                data["ds"] = values("ds", (T,) + batch + (native_sizes["O"],), target)
            else:
                data["d"] = values("d", batch + (native_sizes["O"],), target)
            for name, n in zip(self._state_names(), module.state_sizes()):
                if name not in self.zero_states():
                    data[name] = (0.5 * away(batch + (n,))).astype(dtype)
        data = {k: self._to_author_data(k, v) for k, v in data.items()}
        return Problem(self, sizes, seed, params, data, module)


class _ParamLayout:
    r"""The parameters as the code stores them (names, shapes, layout, gate blocks) and how they make
    gradlab's own parameters (the *native* ones of the cell). Every map here only moves elements
    (transpose, reshape, slices and concatenations), so it is a bijection between the code's elements
    and the native ones, and ∂E/∂(the code's parameter) is ∂E/∂(native) moved back the same way."""

    def __init__(self, spec: Spec, native_shapes: dict, sizes: dict):
        self.native_shapes = dict(native_shapes)
        self.H, self.D = sizes["H"], sizes["D"]
        self.layout, self.gates, self.biases = spec.opt("layout"), spec.opt("gates"), spec.opt("biases")
        H, D = self.H, self.D
        lecture = {}
        if self.gates == "concat":
            for g in "ifgo":
                lecture[f"W_{g}"] = (H, H + D)
            if self.biases:
                for g in "ifgo":
                    lecture[f"b_{g}"] = (H,)
            for n in ("W_y", "b_y"):
                if n in native_shapes and (self.biases or not _is_bias(n)):
                    lecture[n] = native_shapes[n]
        else:
            lecture = {n: s for n, s in native_shapes.items() if self.biases or not _is_bias(n)}
        self.lecture_shapes = lecture
        self.author_of = {lec: lec for lec in lecture}
        for author, lec in spec.opt("names").items():
            self.author_of[lec] = author
        self.lecture_of = {a: lec for lec, a in self.author_of.items()}
        self.author_shapes = {self.author_of[lec]: self._stored(s) for lec, s in lecture.items()}
        self.identity = (not spec.opt("names") and self.layout == "vector" and self.gates == "ifgo" and self.biases)

    def _stored(self, shape) -> tuple:
        if len(shape) == 2 and self.layout == "row":
            return shape[::-1]
        if len(shape) == 1 and self.layout == "column":
            return (shape[0], 1)
        return tuple(shape)

    def to_native(self, values: dict, lib) -> dict:
        """{the code's name: array or Tensor} -> {native name: array or Tensor}; absent biases are left out."""
        H = self.H
        lec = {}
        for a, x in values.items():
            name = self.lecture_of[a]
            shape = self.lecture_shapes[name]
            if len(shape) == 2 and self.layout == "row":
                x = lib.T(x)
            elif len(shape) == 1 and self.layout == "column":
                x = lib.reshape(x, shape)
            lec[name] = x
        if self.gates == "concat":
            out = {"W_x": lib.cat([lec[f"W_{g}"][:, H:] for g in "ifgo"], 0),
                   "W_s": lib.cat([lec[f"W_{g}"][:, :H] for g in "ifgo"], 0)}
            if self.biases:
                out["b_s"] = lib.cat([lec[f"b_{g}"] for g in "ifgo"], 0)
            out.update({n: lec[n] for n in ("W_y", "b_y") if n in lec})
            return out
        if self.gates == "ifog":   # the code's blocks i, f, o, g -> gradlab's i, f, g, o
            lec = dict(lec)
            for n in ("W_x", "W_s", "b_s"):
                if n in lec:
                    x = lec[n]
                    lec[n] = lib.cat([x[: 2 * H], x[3 * H:], x[2 * H: 3 * H]], 0)
        return lec

    def from_native(self, native: dict) -> dict:
        """{native name: array} -> {the code's name: array} (the inverse of :meth:`to_native`)."""
        if self.identity:
            return dict(native)
        ids, offset = {}, 0
        for a, shape in self.author_shapes.items():
            n = int(np.prod(shape, dtype=int))
            ids[a] = np.arange(offset, offset + n).reshape(shape)
            offset += n
        flat = np.zeros(offset, dtype=next(iter(native.values())).dtype)
        for name, where in self.to_native(ids, _NUMPY_LIB).items():
            flat[np.asarray(where).ravel()] = np.asarray(native[name]).ravel()
        return {a: flat[i] for a, i in ids.items()}


class _NumpyLib:
    T = staticmethod(np.transpose)
    reshape = staticmethod(np.reshape)

    @staticmethod
    def cat(xs, axis):
        return np.concatenate(xs, axis=axis)


class _TensorLib:
    @staticmethod
    def T(x):
        from . import ops

        return ops.transpose(x)

    @staticmethod
    def reshape(x, shape):
        from . import ops

        return ops.reshape(x, shape)

    @staticmethod
    def cat(xs, axis):
        from . import ops

        return ops.concat(xs, axis=axis)


_NUMPY_LIB, _TENSOR_LIB = _NumpyLib(), _TensorLib()


def _is_bias(name: str) -> bool:
    return name.startswith("b_")


@functools.lru_cache(maxsize=256)
def _shapes(spec, sizes) -> tuple:
    module = spec._build(dict(sizes))
    return tuple((name, tuple(p.shape)) for name, p in module.parameters_by_name().items())


@functools.lru_cache(maxsize=256)
def _param_layout(spec, native_sizes) -> _ParamLayout:
    sizes = dict(native_sizes)
    return _ParamLayout(spec, dict(_shapes(spec, native_sizes)), sizes)


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


def _substitute(module, values: dict) -> None:
    """Make ``module`` compute with ``values`` {native name: Tensor} in place of its own Parameters
    (the module is a fresh one, built for this recording only)."""
    stack = [module]
    while stack:
        mod = stack.pop()
        for key, p in list(mod._registry("_params").items()):
            if p.name in values:
                object.__setattr__(mod, key, values[p.name])
        stack.extend(mod._registry("_modules").values())


@dataclass
class Problem:
    r"""A concrete model: ``spec``, ``sizes``, ``seed``, ``params`` {parameter name: array} and ``data``
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
        """Return a copy with every array of numbers cast to ``dtype`` (class indices stay integers)."""
        return replace(self, params={k: v.astype(dtype) for k, v in self.params.items()},
                       data={k: v if np.asarray(v).dtype.kind in "iub" else v.astype(dtype)
                             for k, v in self.data.items()})

    def prefix(self, T: int) -> "Problem":
        """Return the same model and data on the first ``T`` time steps (targets cut to match)."""
        if not self.spec.recurrent:
            raise ValueError("prefix: a feedforward model has no time steps")
        if not 1 <= T <= self.sizes["T"]:
            raise ValueError(f"prefix: T must be in 1..{self.sizes['T']}, got {T}")
        data = dict(self.data)
        for k, v in self.data.items():
            axis = self.spec.time_axis(k)
            if axis is not None:
                data[k] = v[:T] if axis == 0 else v[:, :T]
        return replace(self, sizes={**self.sizes, "T": T}, data=data)

    def describe(self) -> str:
        """Return e.g. ``T=3, D=2, H=3, O=2, seed 0``."""
        return ", ".join(f"{k}={v}" for k, v in self.sizes.items()) + f", seed {self.seed}"

    def record(self, *, dtype=None) -> Recording:
        """Record the loss graph E with the gradlab modules and return a :class:`Recording`."""
        from .tensor import Parameter, Tensor
        from .tensor import tensor as _leaf
        from .graph import Graph

        dtype = dtype or self.dtype
        spec = self.spec
        # a fresh module per recording: graphs recorded earlier keep their own leaves and values
        mod = spec.build_module(self.sizes)
        named = mod.parameters_by_name()
        layout = spec._layout(self.sizes)
        if layout.identity:
            for name, p in named.items():
                p.data = np.array(self.params[name], dtype=dtype, copy=True)
                p.grad = None
            leaves = {n: named[n] for n in self.params}
        else:   # the code's parameters are the leaves; the cell computes with what they make
            leaves = {n: Parameter(np.array(self.params[n], dtype=dtype, copy=True), name=n) for n in layout.author_shapes}
            native = layout.to_native(leaves, _TENSOR_LIB)
            for name, p in named.items():
                if name not in native:          # a bias the model does not have
                    native[name] = Tensor(np.zeros(p.shape, dtype=dtype))
            _substitute(mod, native)
        sizes = self.sizes
        inputs = {}
        for k, v in self.data.items():
            a = spec._to_native_data(k, v, sizes)
            n = spec.index_classes(k, sizes)
            if n is not None:
                a = _one_hot(a, n, k, dtype)
            inputs[k] = _leaf(np.asarray(a, dtype=dtype), name=k)
        batched = bool(spec.opt("batch"))
        adjoints: dict = {}
        outputs: list = []
        if not spec.recurrent:
            a1 = mod.layer1(inputs["x"])
            h = _activation(spec.activation)(a1)
            y = mod.layer2(h)
            loss = _loss(spec.loss, y, inputs["d"], batched)
            adjoints["delta_h"] = [h]
            outputs = [y]
        else:
            from .nn.unroll import unroll as _unroll

            xs = inputs["xs"]
            zero = spec.zero_states()
            batch_shape = tuple(xs.shape[1:-1])
            state = tuple(mod.zeros(batch_shape + (n,)) if k in zero else inputs[k]
                          for k, n in zip(spec._state_names(), mod.state_sizes()))
            state = state[0] if len(state) == 1 else state
            k = spec.opt("truncate")
            if k is None:
                run = _unroll(mod, xs, state=state, outputs="all" if spec.mode == "many_to_many" else "last")
                if spec.mode == "many_to_many":
                    ds = inputs["ds"]
                    terms = [_loss(spec.loss, y, ds[t], batched) for t, y in enumerate(run.outputs)]
                    loss = terms[0]
                    for e in terms[1:]:
                        loss = loss + e
                    outputs = list(run.outputs)
                else:
                    loss = _loss(spec.loss, run.outputs[-1], inputs["d"], batched)
                    outputs = [run.outputs[-1]]
                for j, key in enumerate(spec.adjoint_names()):
                    adjoints[key] = [st[j] if isinstance(st, tuple) else st for st in run.states]
            else:
                loss = _truncated_loss(spec, mod, inputs, state, k, batched)
            if spec.opt("over_time") == "mean":
                loss = loss * (1.0 / xs.shape[0])
        if spec.opt("batch") == "mean":
            loss = loss * (1.0 / sizes["B"])
        return Recording(loss, Graph(loss), leaves, inputs, adjoints, outputs)


def _truncated_loss(spec, mod, inputs, state, k: int, batched: bool):
    r"""E recorded so that its gradient is the gradient truncated after k steps: for each output step t
    the cell is recorded again over the steps max(1, t − k) … t only, starting from the state before
    them as a constant (its value from an unrecorded forward pass). The value is E itself."""
    from .context import no_grad
    from .nn.unroll import unroll as _unroll
    from .tensor import Tensor

    xs = inputs["xs"].data
    T = xs.shape[0]
    with no_grad():
        free = _unroll(mod, xs, state=state, outputs="none")

    def const(st):
        return tuple(Tensor(p.data) for p in st) if isinstance(st, tuple) else Tensor(st.data)

    states = [state] + [const(st) for st in free.states]     # states[j]: the state after step j
    steps = range(1, T + 1) if spec.mode == "many_to_many" else [T]
    loss = None
    for t in steps:
        first = max(1, t - k)
        run = _unroll(mod, xs[first - 1: t], state=states[first - 1], start=first, outputs="last")
        d = inputs["ds"][t - 1] if spec.mode == "many_to_many" else inputs["d"]
        e = _loss(spec.loss, run.outputs[-1], d, batched)
        loss = e if loss is None else loss + e
    return loss


def _one_hot(a, n: int, key: str, dtype):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ValueError(f"data[{key!r}] must hold class indices (integers), got dtype {a.dtype}")
    bad = (a < 0) | (a >= n)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if a.ndim else ()
        raise ValueError(f"data[{key!r}]: class index {int(a[where])} at position {where} is outside 0..{n - 1}")
    return np.eye(n, dtype=dtype)[a]


def _activation(name):
    from .nn.module import ACTIVATIONS

    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _loss(name, y, d, batched: bool = False):
    r"""E_t for one step (summed over a batch: the mean squared error is a mean per example)."""
    from . import ops

    if name == "mse_half":
        r = y - d
        return (r * r).sum() * 0.5
    if name == "mse":
        r = y - d
        return (r * r).mean() if not batched else (r * r).sum() * (1.0 / y.shape[-1])
    if name == "softmax_cross_entropy":
        return -(d * ops.log_softmax(y, axis=-1)).sum()
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")


# ----------------------------------------------------------------------------------- equations
_CELL_EQUATIONS = {
    "elman": ["s_t = {f}(W_x x_t + W_s s_{{t−1}} + b_s)"],
    "jordan": ["s_t = {f}(W_x x_t + W_s y_{{t−1}} + b_s)"],
    "lstm": ["[a_i; a_f; a_g; a_o] = W_x x_t + W_s s_{{t−1}} + b_s",
             "i_t = σ(a_i), f_t = σ(a_f), g_t = tanh(a_g), o_t = σ(a_o)",
             "c_t = f_t ⊙ c_{{t−1}} + i_t ⊙ g_t", "s_t = o_t ⊙ tanh(c_t)"],
    "peephole_lstm": ["[a_i; a_f; a_g; a_o] = W_x x_t + W_s s_{{t−1}} + b_s",
                      "i_t = σ(a_i + p_i ⊙ c_{{t−1}}), f_t = σ(a_f + p_f ⊙ c_{{t−1}}), g_t = tanh(a_g)",
                      "c_t = f_t ⊙ c_{{t−1}} + i_t ⊙ g_t", "o_t = σ(a_o + p_o ⊙ c_t), s_t = o_t ⊙ tanh(c_t)"],
    "four_gate_lstm": ["N_t = tanh(W_n [STM_{{t−1}}; x_t] + b_n), i_t = σ(W_i [STM_{{t−1}}; x_t] + b_i)",
                       "f_t = σ(W_f [STM_{{t−1}}; x_t] + b_f), V_t = σ(W_v [STM_{{t−1}}; x_t] + b_v)",
                       "LTM_t = LTM_{{t−1}} ⊙ f_t + N_t ⊙ i_t",
                       "STM_t = tanh(W_u (LTM_{{t−1}} ⊙ f_t) + b_u) ⊙ V_t"],
    "gru": ["[a_r; a_z; a_n] = W_x x_t + b_x, [h_r; h_z; h_n] = W_s s_{{t−1}} + b_s",
            "r_t = σ(a_r + h_r), z_t = σ(a_z + h_z), n_t = tanh(a_n + r_t ⊙ h_n)",
            "s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_{{t−1}}"],
}


def _equations(spec: Spec) -> list:
    """The model's equations, line by line, with the options applied."""
    f = spec.activation
    if not spec.recurrent:
        lines = [f"h = {f}(W_1 x + b_1)", "y = W_2 h + b_2", spec._loss_text().replace("_t", "")]
    else:
        lines = [line.format(f=f) for line in _CELL_EQUATIONS[spec.kind]]
        if spec.opt("gates") == "concat":
            lines[0] = "a_i = W_i [s_{t−1}; x_t] + b_i, a_f = W_f [s_{t−1}; x_t] + b_f, likewise a_g, a_o"
        elif spec.opt("gates") == "ifog":
            lines[0] = "[a_i; a_f; a_o; a_g] = W_x x_t + W_s s_{t−1} + b_s   (gate blocks stacked i, f, o, g)"
        if spec.kind != "jordan":
            lines.append("y_t = W_y s_t + b_y")
        else:
            lines.append("y_t = W_y s_t + b_y   (fed back at the next step)")
        lines.append(spec._loss_text())
        if spec.mode == "many_to_one":
            lines.append("E = E_T (the last step only)")
        else:
            lines.append("E = (1/T) Σ_{t=1}^{T} E_t" if spec.opt("over_time") == "mean" else "E = Σ_{t=1}^{T} E_t")
    if spec.opt("batch"):
        lines.append(f"over a batch of B sequences: E = {'(1/B) ' if spec.opt('batch') == 'mean' else ''}Σ_b E⁽ᵇ⁾")
    if not spec.opt("biases"):
        lines = [_drop_biases(line) for line in lines]
    if spec.opt("inputs") == "index":
        lines.append("x_t = one-hot(xs[t]): W_x x_t is the column of W_x picked by the index")
    if spec.recurrent:
        zero = spec.zero_states()
        given = [n for n in spec._state_names() if n not in zero]
        parts = ([", ".join(f"{n} = 0" for n in zero) + " (fixed)"] if zero else []) + \
            ([", ".join(given) + " given in the data"] if given else [])
        lines.append("; ".join(parts))
    if spec.opt("layout") == "column":
        lines.append(f"stored as column vectors: x_t ({'V' if spec.vocabulary else 'D'}, 1), s_t (H, 1), biases (n, 1)")
    elif spec.opt("layout") == "row":
        lines.append("stored as row vectors: your weight matrices are the transposes (inputs, outputs), x_t W")
    k = spec.opt("truncate")
    if k is not None:
        lines.append(f"∂E/∂θ truncated after {k} steps: E_t flows back through steps t, t−1, …, max(1, t−{k}) only")
    return lines


def _drop_biases(line: str) -> str:
    import re

    return re.sub(r" \+ b_[a-z0-9]+", "", line)


# ------------------------------------------------------------------------------------ makers
def _make(kind: str, loss: str, activation: str, mode: str, **options) -> Spec:
    if loss not in LOSSES:
        raise ValueError(f"gradlab.specs.{kind}: unknown loss {loss!r}; choose one of {LOSSES}")
    if mode not in MODES:
        raise ValueError(f"gradlab.specs.{kind}: unknown mode {mode!r}; choose one of {MODES}")
    if activation not in ("tanh", "sigmoid", "relu", "identity"):
        raise ValueError(f"gradlab.specs.{kind}: unknown activation {activation!r}; "
                         f"choose one of 'tanh', 'sigmoid', 'relu', 'identity'")
    stored = {}
    for key, value in options.items():
        if key in OPTIONS:
            value = _check_option(kind, loss, mode, key, value)
            default = OPTIONS[key][0]
            if value == default and type(value) is type(default):
                continue
            stored[key] = tuple(value.items()) if key == "names" else value
        elif kind == "feedforward" or not _cell_accepts(kind, key):
            import difflib

            close = difflib.get_close_matches(key, list(OPTIONS), n=1)
            raise ValueError(f"gradlab.specs.{kind}: unknown option {key!r}"
                             + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; the options are {', '.join(OPTIONS)}")
        else:
            stored[key] = value        # passed on to the cell's constructor
    names = dict(stored.pop("names", ()))
    spec = Spec(kind, loss, activation, mode, tuple(sorted(stored.items())))
    if names:
        lecture = list(spec.param_shapes())
        for author, lec in names.items():
            if lec not in lecture:
                import difflib

                close = difflib.get_close_matches(str(lec), lecture, n=1)
                raise ValueError(f"gradlab.specs.{kind}: names maps {author!r} to {lec!r}, which is not a parameter of "
                                 f"{spec.describe()}; its parameters are {', '.join(lecture)}"
                                 + (f" (did you mean {close[0]!r}?)" if close else ""))
            if author != lec and author in lecture and author not in names.values():
                raise ValueError(f"gradlab.specs.{kind}: names gives {lec!r} the name {author!r}, which is already "
                                 f"the name of another parameter; rename that one too")
        reserved = [a for a in names if a == "E" or re.fullmatch(r"[A-Za-z]+_T", a)]
        if reserved:
            raise ValueError(f"gradlab.specs.{kind}: names may not call a parameter {reserved[0]!r}: a derivation "
                             f"returns its loss as \"E\" and its final state as \"s_T\" beside the gradients")
        if len(set(names.values())) != len(names):
            raise ValueError(f"gradlab.specs.{kind}: names maps two of the code's names to the same parameter: {names}")
        stored["names"] = tuple(names.items())
        spec = Spec(kind, loss, activation, mode, tuple(sorted(stored.items())))
    return spec


def _cell_accepts(kind: str, key: str) -> bool:
    import inspect

    try:
        return key in inspect.signature(_cell_class(kind)).parameters
    except ValueError:
        return False


def _check_option(kind, loss, mode, key, value):
    default, allowed, _ = OPTIONS[key]
    where = f"gradlab.specs.{kind}"
    if kind == "feedforward" and key in _RECURRENT_ONLY + ("gates",) and value != default:
        raise ValueError(f"{where}: {key}= is an option of the recurrent models")
    if key == "gates" and kind != "lstm" and value != default:
        raise ValueError(f"{where}: gates= is an option of gradlab.specs.lstm() only")
    if key == "truncate":
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
            raise ValueError(f"{where}: truncate must be None (full BPTT) or an int k ≥ 0, got {value!r}")
        return None if value is None else int(value)
    if key == "names":
        if not isinstance(value, dict) or not all(isinstance(a, str) and a.isidentifier() for a in value):
            raise ValueError(f"{where}: names must be a dict {{the code's name: lecture name}} with names that are "
                             f"Python identifiers, got {value!r}")
        return dict(value)
    if key == "initial_state" and isinstance(value, dict) and kind != "feedforward":
        parts = tuple(f"{p}_0" for p in _cell_class(kind).state_names)
        for part, how in value.items():
            if part not in parts or how not in ("given", "zero"):
                raise ValueError(f"{where}: initial_state maps the parts of the initial state {', '.join(parts)} to "
                                 f"\"given\" or \"zero\", got {value!r}")
        hows = {value.get(p, "given") for p in parts}
        return hows.pop() if len(hows) == 1 else tuple((p, value.get(p, "given")) for p in parts)
    if key == "biases":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: biases must be True or False, got {value!r}")
        return value
    if value not in allowed:
        raise ValueError(f"{where}: {key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if key == "targets" and value == "index" and loss != "softmax_cross_entropy":
        raise ValueError(f"{where}: index targets need loss=\"softmax_cross_entropy\" (E_t = −log softmax(y_t)_{{d_t}}), "
                         f"got loss={loss!r}")
    if key == "over_time" and value == "mean" and mode != "many_to_many":
        raise ValueError(f"{where}: over_time=\"mean\" averages E_t over the steps, so it needs mode=\"many_to_many\"")
    return value


_OPTIONS_DOC = ("Data and model options (keyword arguments; see :data:`OPTIONS` and the module docstring): "
                "``inputs``, ``targets``, ``batch``, ``initial_state``, ``layout``, ``biases``, ``truncate``, "
                "``over_time``, ``names``.")


def feedforward(loss: str = "mse_half", activation: str = "tanh", **options) -> Spec:
    r"""Return the spec of a one-hidden-layer network h = f(W_1 x + b_1), y = W_2 h + b_2, E = ½‖d − y‖².

    Options: ``inputs``, ``targets``, ``batch``, ``layout``, ``biases``, ``names`` (see :data:`OPTIONS`)."""
    return _make("feedforward", loss, activation, "many_to_one", **options)


def elman(loss: str = "mse_half", activation: str = "tanh", mode: str = "many_to_many", **options) -> Spec:
    r"""Return the spec of an Elman RNN s_t = f(W_x x_t + W_s s_{t−1} + b_s), y_t = W_y s_t + b_y.

    {options}"""
    return _make("elman", loss, activation, mode, **options)


def jordan(loss: str = "mse_half", activation: str = "tanh", mode: str = "many_to_many", **options) -> Spec:
    r"""Return the spec of a Jordan RNN, whose state feeds back the previous output y_{t−1}.

    {options}"""
    return _make("jordan", loss, activation, mode, **options)


def lstm(loss: str = "mse_half", mode: str = "many_to_many", **options) -> Spec:
    r"""Return the spec of the standard LSTM (gates i, f, g, o; cell state c_t; s_t = o_t ⊙ tanh(c_t)).

    ``gates="ifog"`` stacks the gate blocks of W_x, W_s, b_s as i, f, o, g; ``gates="concat"`` has one
    weight per gate on [s_{t−1}; x_t] (``W_i, W_f, W_g, W_o`` (H, H + D), ``b_i, b_f, b_g, b_o``).
    {options}"""
    return _make("lstm", loss, "tanh", mode, **options)


def peephole_lstm(loss: str = "mse_half", mode: str = "many_to_many", **options) -> Spec:
    r"""Return the spec of the peephole LSTM (gates also read the cell state).

    {options}"""
    return _make("peephole_lstm", loss, "tanh", mode, **options)


def four_gate_lstm(loss: str = "mse_half", mode: str = "many_to_many", **options) -> Spec:
    r"""Return the spec of the lecture's learn / forget / remember / use LSTM.

    {options}"""
    return _make("four_gate_lstm", loss, "tanh", mode, **options)


def gru(loss: str = "mse_half", mode: str = "many_to_many", *, update: str = "keep", reset: str = "after",
        **options) -> Spec:
    r"""Return the spec of the GRU (update gate z_t, reset gate r_t, candidate state n_t).

    The published GRUs differ in two places, each an option (see :class:`gradlab.nn.cells.GRUCell`):
    ``update="keep"`` s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_{t−1} (PyTorch, Keras, Cho et al. 2014) or
    ``"replace"`` s_t = z_t ⊙ n_t + (1 − z_t) ⊙ s_{t−1} (Chung et al. 2014); ``reset="after"``
    n_t = tanh(a_n + r_t ⊙ (W_{s,n} s_{t−1} + b_{s,n})) (PyTorch, cuDNN) or ``"before"``
    n_t = tanh(a_n + W_{s,n} (r_t ⊙ s_{t−1}) + b_{s,n}) (Cho et al. 2014).

    {options}"""
    if update not in ("keep", "replace"):
        raise ValueError(f"gradlab.specs.gru: update must be 'keep' or 'replace', got {update!r}")
    if reset not in ("after", "before"):
        raise ValueError(f"gradlab.specs.gru: reset must be 'after' or 'before', got {reset!r}")
    convention = {k: v for k, v in (("update", update), ("reset", reset)) if v != {"update": "keep", "reset": "after"}[k]}
    return _make("gru", loss, "tanh", mode, **convention, **options)


for _f in (elman, jordan, lstm, peephole_lstm, four_gate_lstm, gru):
    _f.__doc__ = _f.__doc__.replace("{options}", _OPTIONS_DOC)
del _f

SPECS: dict[str, Callable[..., Spec]] = {
    "feedforward": feedforward, "elman": elman, "jordan": jordan, "lstm": lstm,
    "peephole_lstm": peephole_lstm, "four_gate_lstm": four_gate_lstm, "gru": gru,
}
