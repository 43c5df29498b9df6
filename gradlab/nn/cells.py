r"""Recurrent cells: one time step of an RNN, built from shared :class:`~gradlab.nn.Dense` layers.

A cell is the feedforward network that an unfolded RNN repeats at every time step. Unrolling it
(:func:`gradlab.nn.unroll`) calls the *same* cell object T times, so its Parameters are shared and
reverse mode sums their gradients over the steps (BPTT). Every cell speaks the same small protocol:

* ``cell.initial_state(batch_shape=(B,))`` -> the state before the first input (``s_0``): zeros, or
  the learned ``s_0`` broadcast over the batch when the cell was made with ``learn_initial_state=True``;
* ``cell.step(x_t, state)`` -> the new state (a Tensor, or a tuple for cells with several parts);
* ``cell.hidden(state)`` -> ``s_t``, the tensor the output layer reads;
* ``cell.output(s_t)`` -> ``y_t = W_y s_t + b_y`` (``y_t = s_t`` when the cell has no output layer).

Shapes: inputs ``x_t`` are rows ``(..., D)`` (``D = input_size``; ``...`` is the batch shape, empty for
one unbatched sequence), states ``(..., H)``, outputs ``(..., O)``. Parameters carry the lecture's
names (``W_x``, ``W_s``, ``b_s``, ``W_y``, ``b_y``, ...), unique inside a cell, so
``cell.parameters_by_name()["W_s"]`` (or simply ``cell.W_s``) finds them. Stacked gate weights list
the gates in the order written once in each cell's docstring.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..engine import ops
from ..engine.backend import get_xp
from ..engine.context import current, scope
from ..engine.tensor import Parameter, Tensor
from .module import ACTIVATIONS, Dense, Module, make_rng

__all__ = ["RecurrentCell", "ElmanCell", "JordanCell", "LSTMCell", "PeepholeLSTMCell", "GRUCell",
           "FourGateLSTMCell", "CELLS"]


def _positive(cls: str, what: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"{cls}: {what} must be a positive int, got {n!r}")
    return int(n)


class RecurrentCell(Module):
    r"""Base class of the cells: sizes, the output layer, the initial state and the step protocol.

    Subclasses set ``state_names`` (the parts of the state, e.g. ``("s", "c")``), build their layers
    and implement ``_step(x, state)`` (the literal step from the cell's equations) and, for the fused
    unrolling, ``_project(x)`` (the non-recurrent input part, for many steps at once) and
    ``_recur(u, state, w)`` (the rest of the step, given the projected input ``u`` and the prepared
    recurrent weights ``w = _recurrent_weights()``).
    """

    state_names: tuple = ("s",)
    #: the parts of the state that ``learn_initial_state=True`` makes Parameters (None: all of them)
    learned_state_parts: tuple | None = None
    #: whether ``unroll(..., fused=True)`` may apply the output layer to all steps at once
    #: (False when the output feeds back into the state, as in the Jordan network)
    output_after_loop: bool = True

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None, *,
                 learn_initial_state: bool = False, name: str | None = "cell", rng=None, dtype=np.float64):
        super().__init__(name)
        cls = type(self).__name__
        self.input_size = _positive(cls, "input_size", input_size)
        self.hidden_size = _positive(cls, "hidden_size", hidden_size)
        self.output_size = None if output_size is None else _positive(cls, "output_size", output_size)
        self.dtype = np.dtype(dtype)
        self.learn_initial_state = bool(learn_initial_state)
        self._rng = make_rng(rng)

    # ---------------------------------------------------------------------------- construction
    def _dense(self, n_in: int, n_out: int, weight: str, bias: str | None) -> Dense:
        return Dense(n_in, n_out, bias=bias is not None, name=weight, weight_name=weight,
                     bias_name=bias or "b", rng=self._rng, dtype=self.dtype)

    def _finish_init(self) -> None:
        """Add the output layer ``W_y, b_y`` and the learnable initial state, then drop the rng."""
        if self.output_size is not None and "output_layer" not in self.__dict__:
            self.output_layer = self._dense(self.hidden_size, self.output_size, "W_y", "b_y")
        if self.learn_initial_state:
            for part, size in zip(self.state_names, self.state_sizes()):
                if not self._learned(part):
                    continue
                setattr(self, f"{part}_0", Parameter(np.zeros(size, dtype=self.dtype), name=f"{part}_0"))
        object.__delattr__(self, "_rng")
        params = self.parameters()     # any one parameter tells the namespace (it is asked per unrolling)
        object.__setattr__(self, "_anchor", params[0] if params else None)

    def __getattr__(self, key: str):
        # lecture names: ``cell.W_s`` is the Parameter named "W_s" wherever it lives in the cell
        if key.startswith("_") or "_params" not in self.__dict__:
            raise AttributeError(key)
        for p in self.named_parameters().values():
            if p.name == key:
                return p
        raise AttributeError(f"{type(self).__name__} has no attribute or parameter named {key!r}")

    # ------------------------------------------------------------------------------- protocol
    @property
    def xp(self):
        """The array namespace of the cell's parameters (NumPy, or CuPy after ``to_device``)."""
        anchor = self.__dict__.get("_anchor")
        if anchor is None:
            params = self.parameters()
            return get_xp(params[0].data) if params else np
        return get_xp(anchor.data)

    def zeros(self, shape) -> Tensor:
        """Return a constant Tensor of zeros of ``shape`` on the cell's device and dtype."""
        return Tensor(self.xp.zeros(tuple(shape), dtype=self.dtype))

    def as_array(self, value):
        """Return ``value`` as an array of the cell's namespace and dtype (complex values are refused: casting
        them to real would drop their imaginary part without a word)."""
        if self.xp.iscomplexobj(value):
            raise TypeError(f"{self.describe()}: got complex values (dtype {self.xp.asarray(value).dtype}), but the "
                            f"cell computes in {self.dtype}; pass real inputs (complex-step differentiation replays "
                            f"the recorded graph: gradlab.Graph(loss).replay(...))")
        return self.xp.asarray(value, dtype=self.dtype)

    def state_sizes(self) -> tuple:
        """Return the last-axis size of each part of the state, in ``state_names`` order."""
        return (self.hidden_size,) * len(self.state_names)

    def _learned(self, part: str) -> bool:
        return self.learn_initial_state and (self.learned_state_parts is None or part in self.learned_state_parts)

    def _pack(self, parts):
        return parts[0] if len(self.state_names) == 1 else tuple(parts)

    def initial_state(self, batch_shape=()):
        r"""Return the state before the first input: zeros of shape ``batch_shape + (H,)`` per part, or the
        learned initial state (Parameters ``s_0``, ``c_0``, ...) broadcast over ``batch_shape``."""
        batch_shape = tuple(batch_shape)
        parts = []
        with scope(self.name):
            for part, size in zip(self.state_names, self.state_sizes()):
                if not self._learned(part):
                    parts.append(self.zeros(batch_shape + (size,)))
                    continue
                p = self.__dict__[f"{part}_0"]
                parts.append(p if not batch_shape else ops.add(self.zeros(batch_shape + (size,)), p))
        return self._pack(parts)

    def check_state(self, state, batch_shape=None, *, where: str = "") -> object:
        """Return ``state`` as Tensors after checking its parts and shapes (``ValueError`` naming the
        cell, the part and the shapes otherwise)."""
        cls, n = self.describe(), len(self.state_names)
        at = f" {where}" if where else ""
        if n == 1:
            parts = (state,)
        else:
            if not isinstance(state, (tuple, list)) or len(state) != n:
                raise TypeError(f"{cls}{at}: the state must be a tuple of {n} parts {self.state_names}, "
                                f"got {type(state).__name__}")
            parts = tuple(state)
        out = []
        for part, size, value in zip(self.state_names, self.state_sizes(), parts):
            t = value if isinstance(value, Tensor) else Tensor(self.as_array(value))
            if t.ndim == 0 or t.shape[-1] != size:
                raise ValueError(f"{cls}{at}: state part {part!r} must have {size} features on its last axis, "
                                 f"got shape {t.shape}")
            if batch_shape is not None and t.ndim > 1 and tuple(t.shape[:-1]) != tuple(batch_shape):
                raise ValueError(f"{cls}{at}: batch mismatch: state part {part!r} has batch shape "
                                 f"{tuple(t.shape[:-1])} but the inputs have batch shape {tuple(batch_shape)}")
            out.append(t)
        return self._pack(out)

    def describe(self) -> str:
        """Return the cell's class and name, e.g. ``"ElmanCell 'cell'"``, for messages."""
        return f"{type(self).__name__} {self.name!r}"

    def check_input(self, x, t=None) -> Tensor:
        """Return ``x`` as a Tensor after checking its feature size (``ValueError`` naming cell and t)."""
        x = x if isinstance(x, Tensor) else Tensor(self.as_array(x))
        if x.ndim == 0 or x.shape[-1] != self.input_size:
            t = current().scope.t if t is None else t
            at = "" if t is None else f" at t={t}"
            got = "a scalar" if x.ndim == 0 else f"{x.shape[-1]} features"
            raise ValueError(f"{self.describe()}{at}: expected x_t with {self.input_size} features "
                             f"(input_size), got {got} (x_t shape {x.shape})")
        return x

    def step(self, x, state):
        """Return the new state after reading input ``x`` (one time step, the literal equations)."""
        x = self.check_input(x)
        with scope(self.name):
            return self._step(x, state)

    def forward(self, x, state):
        """Calling the cell is one :meth:`step`."""
        return self._step(self.check_input(x), state)

    def hidden(self, state) -> Tensor:
        """Return ``s_t``: the part of the state that the output layer reads."""
        return state if len(self.state_names) == 1 else state[0]

    def output(self, s: Tensor) -> Tensor:
        """Return ``y_t = W_y s_t + b_y`` (``s_t`` itself when the cell has no output layer)."""
        layer = self.__dict__.get("output_layer")
        if layer is None:
            return s
        inside = not self.name or current().scope.path[-1:] == (self.name,)
        with contextlib.nullcontext() if inside else scope(self.name):
            return layer(s)

    def emit(self, state) -> Tensor:
        """Return ``y_t`` for a state: ``output(hidden(state))`` (the Jordan cell already holds it)."""
        return self.output(self.hidden(state))

    # --------------------------------------------------------------------- pieces for unrolling
    def _step(self, x, state):
        return self._recur(self._project(x), state, self._recurrent_weights())

    def _project(self, x):
        """The non-recurrent part of the step, ``W_x x + b`` (any number of leading axes)."""
        return self.input_layer(x)

    def _split_projection(self, u_all):
        """The projected inputs of all steps as ``_recur`` wants them per step: ``u_all`` itself, or a
        tuple of Tensors (each indexed by step) for a cell that slices ``u`` the same way at every step."""
        return u_all

    def _recurrent_weights(self):
        """Whatever ``_recur`` needs of the recurrent weights beyond the layers themselves, prepared once
        per unrolling in the fused path and once per step in the literal one (None for most cells)."""
        return None

    def _recurrent(self, s):
        """``W_s s (+ b_s)``: the recurrent layer applied to the previous state (one ``linear`` node)."""
        layer = self.recurrent_layer
        with scope(layer.name):
            return ops.linear(s, layer.weight, layer.bias)

    def _recur(self, u, state, w):  # pragma: no cover - every cell overrides it
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"D={self.input_size}, H={self.hidden_size}, O={self.output_size}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, {self.extra_repr()})"


def _cols(x, lo: int, hi: int):
    """Features lo..hi-1 of x (the rows of one gate, in stacked-gate layout)."""
    return ops.getitem(x, (Ellipsis, slice(lo, hi)))


def _split2(x, H: int):
    return _cols(x, 0, H), _cols(x, H, 2 * H)


def _cols_split(u, H: int):
    """A GRU's projection split into its r, z columns and its n columns."""
    return _cols(u, 0, 2 * H), _cols(u, 2 * H, 3 * H)


def _gru_rows(layer, H: int):
    """``(W_rz, b_rz, W_n, b_n)``: the r, z rows and the n rows of a GRU's recurrent weight and bias."""
    w, b = layer.weight, layer.bias
    return w[: 2 * H], b[: 2 * H], w[2 * H:], b[2 * H:]


# ------------------------------------------------------------------------------------ Elman
class ElmanCell(RecurrentCell):
    r"""The simple (Elman) recurrent cell of the lecture.

    .. math::
        s_t = \varphi(W_x x_t + W_s s_{t-1} + b_s), \qquad y_t = W_y s_t + b_y

    φ is ``tanh`` by default (``activation="relu"``, ``"identity"`` or ``"sigmoid"`` selectable).
    Shapes: ``W_x (H, D)``, ``W_s (H, H)``, ``b_s (H,)``, ``W_y (O, H)``, ``b_y (O,)``; ``x_t (..., D)``,
    ``s_t (..., H)``, ``y_t (..., O)``. Layers: ``input_layer`` (``W_x``, ``b_s``), ``recurrent_layer``
    (``W_s``), ``output_layer`` (``W_y``, ``b_y``; absent when ``output_size`` is None, then y_t = s_t).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None, *,
                 activation: str = "tanh", **kwargs):
        super().__init__(input_size, hidden_size, output_size, **kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"ElmanCell: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        H, D = self.hidden_size, self.input_size
        self.input_layer = self._dense(D, H, "W_x", "b_s")
        self.recurrent_layer = self._dense(H, H, "W_s", None)
        self._finish_init()

    def _recur(self, u, s, w):
        layer = self.recurrent_layer
        with scope(layer.name):   # W_s s_{t-1} + (W_x x_t + b_s) as one node
            a = ops.linear(s, layer.weight, u)
        return ACTIVATIONS[self.activation](a)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"


# ----------------------------------------------------------------------------------- Jordan
class JordanCell(RecurrentCell):
    r"""The Jordan network: the state is fed from the previous *output* rather than the previous state.

    .. math::
        s_t = \varphi(W_x x_t + W_s y_{t-1} + b_s), \qquad y_t = W_y s_t + b_y

    The state is the pair ``(s_t, y_t)`` (``y_0`` is zeros, or the Parameter ``y_0`` with
    ``learn_initial_state=True``; ``s_0`` is zeros and never read). Shapes: ``W_x (H, D)``,
    ``W_s (H, O)``, ``b_s (H,)``, ``W_y (O, H)``, ``b_y (O,)``. The output layer is part of the recurrence,
    so ``output_size`` is required and ``unroll(..., fused=True)`` cannot batch it over the steps.
    """

    state_names = ("s", "y")
    learned_state_parts = ("y",)
    output_after_loop = False

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, activation: str = "tanh",
                 **kwargs):
        if output_size is None:
            raise ValueError("JordanCell: output_size is required (the previous output is the recurrent input)")
        super().__init__(input_size, hidden_size, output_size, **kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"JordanCell: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.input_layer = self._dense(self.input_size, self.hidden_size, "W_x", "b_s")
        self.recurrent_layer = self._dense(self.output_size, self.hidden_size, "W_s", None)
        self._finish_init()

    def state_sizes(self) -> tuple:
        return (self.hidden_size, self.output_size)

    def _recur(self, u, state, w):
        _, y_prev = state
        s = ACTIVATIONS[self.activation](ops.add(u, self._recurrent(y_prev)))
        return (s, self.output_layer(s))

    def emit(self, state) -> Tensor:
        return state[1]


# ------------------------------------------------------------------------------------- LSTM
class LSTMCell(RecurrentCell):
    r"""The standard LSTM cell (no peepholes), gates in the order **i, f, g, o**.

    .. math::
        \begin{aligned}
        [a_i; a_f; a_g; a_o] &= W_x x_t + W_s s_{t-1} + b_s \\
        i_t &= \sigma(a_i), \quad f_t = \sigma(a_f), \quad g_t = \tanh(a_g), \quad o_t = \sigma(a_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        s_t &= o_t \odot \tanh(c_t), \qquad y_t = W_y s_t + b_y
        \end{aligned}

    The state is the tuple ``(s_t, c_t)``. Shapes: ``W_x (4H, D)``, ``W_s (4H, H)``, ``b_s (4H,)`` (rows
    stacked i, f, g, o, as in the common frameworks), ``W_y (O, H)``, ``b_y (O,)``. ``forget_bias`` sets
    the f-rows of ``b_s`` at initialisation (1.0 is a common choice that keeps memories early on).
    """

    state_names = ("s", "c")

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None, *,
                 forget_bias: float = 0.0, **kwargs):
        super().__init__(input_size, hidden_size, output_size, **kwargs)
        H, D = self.hidden_size, self.input_size
        self.forget_bias = float(forget_bias)
        self.input_layer = self._dense(D, 4 * H, "W_x", "b_s")
        self.recurrent_layer = self._dense(H, 4 * H, "W_s", None)
        self.input_layer.bias.data[H:2 * H] = self.forget_bias
        self._build_extra()
        self._finish_init()

    def _build_extra(self) -> None:
        pass

    def _gates(self, u, s, w):
        layer = self.recurrent_layer
        with scope(layer.name):   # W_s s_{t-1} + (W_x x_t + b_s) as one node
            a = ops.linear(s, layer.weight, u)
        return ops.chunk(a, 4, axis=-1)

    def _recur(self, u, state, w):
        s, c = state
        a_i, a_f, a_g, a_o = self._gates(u, s, w)
        i, f, g, o = ops.sigmoid(a_i), ops.sigmoid(a_f), ops.tanh(a_g), ops.sigmoid(a_o)
        c_new = ops.add(ops.mul(f, c), ops.mul(i, g))
        return (ops.mul(o, ops.tanh(c_new)), c_new)


class PeepholeLSTMCell(LSTMCell):
    r"""LSTM with diagonal peephole connections: the input and forget gates see ``c_{t-1}``, the output
    gate sees ``c_t``. Gate order **i, f, g, o**.

    .. math::
        \begin{aligned}
        [a_i; a_f; a_g; a_o] &= W_x x_t + W_s s_{t-1} + b_s \\
        i_t &= \sigma(a_i + p_i \odot c_{t-1}), \quad f_t = \sigma(a_f + p_f \odot c_{t-1}),
        \quad g_t = \tanh(a_g) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        o_t &= \sigma(a_o + p_o \odot c_t), \qquad s_t = o_t \odot \tanh(c_t), \qquad y_t = W_y s_t + b_y
        \end{aligned}

    Shapes as :class:`LSTMCell`, plus the peephole vectors ``p_i, p_f, p_o (H,)`` (diagonal matrices
    stored as their diagonals).
    """

    def _build_extra(self) -> None:
        H = self.hidden_size
        bound = 1.0 / np.sqrt(H)
        for gate in ("i", "f", "o"):
            setattr(self, f"p_{gate}", Parameter(self._rng.uniform(-bound, bound, H).astype(self.dtype),
                                                 name=f"p_{gate}"))

    def _recur(self, u, state, w):
        s, c = state
        a_i, a_f, a_g, a_o = self._gates(u, s, w)
        i = ops.sigmoid(ops.add(a_i, ops.mul(self.p_i, c)))
        f = ops.sigmoid(ops.add(a_f, ops.mul(self.p_f, c)))
        g = ops.tanh(a_g)
        c_new = ops.add(ops.mul(f, c), ops.mul(i, g))
        o = ops.sigmoid(ops.add(a_o, ops.mul(self.p_o, c_new)))
        return (ops.mul(o, ops.tanh(c_new)), c_new)


# -------------------------------------------------------------------------------------- GRU
class GRUCell(RecurrentCell):
    r"""The gated recurrent unit, gates in the order **r, z, n** (reset, update, candidate).

    .. math::
        \begin{aligned}
        [a_r; a_z; a_n] &= W_x x_t + b_x, \qquad [h_r; h_z; h_n] = W_s s_{t-1} + b_s \\
        r_t &= \sigma(a_r + h_r), \qquad z_t = \sigma(a_z + h_z) \\
        n_t &= \tanh\big(a_n + r_t \odot h_n\big) &&\text{reset="after" (default)} \\
        n_t &= \tanh\big(a_n + W_{s,n} (r_t \odot s_{t-1}) + b_{s,n}\big) &&\text{reset="before"} \\
        s_t &= (1 - z_t) \odot n_t + z_t \odot s_{t-1} &&\text{update="keep" (default)} \\
        s_t &= z_t \odot n_t + (1 - z_t) \odot s_{t-1} &&\text{update="replace"} \\
        y_t &= W_y s_t + b_y
        \end{aligned}

    Where the reset gate acts is the one difference between the two published forms. The default,
    ``reset="after"``, is the cuDNN / PyTorch placement: ``r_t`` scales the *result* of the recurrent
    product, ``r_t ⊙ (W_{s,n} s_{t-1} + b_{s,n})``, so one matrix product per step serves all three
    gates (weights load directly from ``torch.nn.GRUCell``). ``reset="before"`` is the original of
    Cho et al. (2014): ``r_t`` scales the *previous state* before the product, ``W_{s,n}(r_t ⊙ s_{t-1})``.

    The update gate's role is the other convention that differs between texts. With the default
    ``update="keep"`` (Cho et al. 2014, eq. 7; PyTorch, Keras) ``z_t`` is the share of the old state
    kept; with ``update="replace"`` (Chung et al. 2014, eq. 5; the Wikipedia article) ``z_t`` is the
    share of the candidate let in. The two compute different functions of the same weights (``z``
    swapped for ``1 − z``), so a derivation must say which one it follows.

    Shapes: ``W_x (3H, D)``, ``b_x (3H,)``, ``W_s (3H, H)``, ``b_s (3H,)`` (rows stacked r, z, n;
    ``W_{s,n}`` and ``b_{s,n}`` are the n-rows), ``W_y (O, H)``, ``b_y (O,)``.

    ``unroll(..., fused=True)`` records the same function bracketed for speed: the recurrent biases
    that are only added join ``b_x`` in the one input projection of all steps, the r, z rows and the
    n rows of ``W_s`` are two products per step, and ``s_t = n_t + z_t ⊙ (s_{t-1} - n_t)``.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None, *,
                 reset: str = "after", update: str = "keep", **kwargs):
        super().__init__(input_size, hidden_size, output_size, **kwargs)
        if reset not in ("after", "before"):
            raise ValueError(f"GRUCell: reset must be 'after' (cuDNN/PyTorch) or 'before' (Cho et al. 2014), "
                             f"got {reset!r}")
        if update not in ("keep", "replace"):
            raise ValueError(f"GRUCell: update must be 'keep' (s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_(t−1); PyTorch, "
                             f"Cho et al. 2014) or 'replace' (s_t = z_t ⊙ n_t + (1 − z_t) ⊙ s_(t−1); Chung et al. "
                             f"2014), got {update!r}")
        self.reset, self.update = reset, update
        H, D = self.hidden_size, self.input_size
        self.input_layer = self._dense(D, 3 * H, "W_x", "b_x")
        self.recurrent_layer = self._dense(H, 3 * H, "W_s", "b_s")
        self._finish_init()

    def _step(self, x, state):
        # the literal step, term by term as in the equations above (what the figures draw)
        H, s = self.hidden_size, state
        a_rz, a_n = _cols_split(self.input_layer(x), H)
        if self.reset == "after":
            h = self._recurrent(s)                                   # [h_r; h_z; h_n] = W_s s + b_s
            r, z = _split2(ops.sigmoid(ops.add(a_rz, _cols(h, 0, 2 * H))), H)
            n = ops.tanh(ops.add(a_n, ops.mul(r, _cols(h, 2 * H, 3 * H))))
        else:
            layer = self.recurrent_layer
            with scope(layer.name):  # the r, z rows and the n rows of W_s and b_s
                w_rz, b_rz, w_n, b_n = _gru_rows(layer, H)
                h_rz = ops.linear(s, w_rz, b_rz)
            r, z = _split2(ops.sigmoid(ops.add(a_rz, h_rz)), H)
            with scope(layer.name):
                h_n = ops.linear(ops.mul(r, s), w_n, b_n)
            n = ops.tanh(ops.add(a_n, h_n))
        if self.update == "replace":
            return ops.add(ops.mul(z, n), ops.mul(ops.sub(1.0, z), s))
        return ops.add(ops.mul(ops.sub(1.0, z), n), ops.mul(z, s))

    # The fused unrolling records the same function bracketed for speed (fewer nodes, no slicing of a
    # per-step product): the recurrent biases that are simply added (b_{s,r}, b_{s,z}; all of b_s for
    # reset="before") join b_x in the one input projection of all steps; the r, z rows and the n rows
    # of W_s are two products per step; and s_t = n_t + z_t ⊙ (s_{t-1} - n_t).
    def _project(self, x):
        layer, rec = self.input_layer, self.recurrent_layer
        with scope(rec.name):
            folded = rec.bias if self.reset == "before" else ops.mul(rec.bias, self._rz_mask())
        with scope(layer.name):
            return ops.linear(x, layer.weight, ops.add(layer.bias, folded))

    def _rz_mask(self):
        H = self.hidden_size
        mask = self.xp.zeros(3 * H, dtype=self.recurrent_layer.bias.dtype)
        mask[: 2 * H] = 1
        return mask

    def _split_projection(self, u_all):
        return _cols_split(u_all, self.hidden_size)

    def _recurrent_weights(self):
        H, layer = self.hidden_size, self.recurrent_layer
        with scope(layer.name):       # b_{s,r}, b_{s,z} (and b_{s,n} for reset="before") are in the projection
            w = layer.weight
            return w[: 2 * H], w[2 * H:], layer.bias[2 * H:] if self.reset == "after" else None

    def _recur(self, u, s, w):
        a_rz, a_n = u
        w_rz, w_n, b_n = w
        after = self.reset == "after"
        with scope(self.recurrent_layer.name):       # W_s's r, z rows (+ projected input); its n rows
            pre_rz = ops.linear(s, w_rz, a_rz)
            h_n = ops.linear(s, w_n, b_n) if after else None
        r, z = _split2(ops.sigmoid(pre_rz), self.hidden_size)
        if after:
            n = ops.tanh(ops.add(a_n, ops.mul(r, h_n)))
        else:
            reset = ops.mul(r, s)
            with scope(self.recurrent_layer.name):
                pre_n = ops.linear(reset, w_n, a_n)
            n = ops.tanh(pre_n)
        if self.update == "replace":             # s_t = s_{t-1} + z_t ⊙ (n_t - s_{t-1})
            return ops.add(s, ops.mul(z, ops.sub(n, s)))
        return ops.add(n, ops.mul(z, ops.sub(s, n)))

    def extra_repr(self) -> str:
        extra = f", update={self.update!r}" if self.update != "keep" else ""
        return f"{super().extra_repr()}, reset={self.reset!r}{extra}"


# ------------------------------------------------------------------------ four-gate LSTM
class FourGateLSTMCell(RecurrentCell):
    r"""The LSTM as taught in the notes with four named gates (learn, forget, remember, use), exactly as
    written there; ``E_t`` is the input ("event"), ``STM`` the short-term and ``LTM`` the long-term memory.

    .. math::
        \begin{aligned}
        \text{learn:}\quad & N_t = \tanh(W_n[\text{STM}_{t-1}, E_t] + b_n), \quad
                             i_t = \sigma(W_i[\text{STM}_{t-1}, E_t] + b_i) \\
        \text{forget:}\quad & f_t = \sigma(W_f[\text{STM}_{t-1}, E_t] + b_f) \\
        \text{remember:}\quad & \text{LTM}_t = \text{LTM}_{t-1} \cdot f_t + N_t \cdot i_t \\
        \text{use:}\quad & U_t = \tanh(W_u\, \text{LTM}_{t-1} \cdot f_t + b_u), \quad
                           V_t = \sigma(W_v[\text{STM}_{t-1}, E_t] + b_v), \quad
                           \text{STM}_t = U_t \cdot V_t
        \end{aligned}

    ``[STM_{t-1}, E_t]`` is the concatenation (STM first), · the element-wise product, and
    ``W_u LTM_{t-1}·f_t`` is read as ``W_u (LTM_{t-1} ⊙ f_t)``. The state is ``(STM_t, LTM_t)``;
    ``y_t = W_y STM_t + b_y``. Shapes: ``W_n, W_i, W_f, W_v (H, H + D)``, ``W_u (H, H)``, biases ``(H,)``.

    How it differs from :class:`LSTMCell` (with N ↔ g, i ↔ i, f ↔ f, V ↔ o, LTM ↔ c, STM ↔ s): the
    memory update is the same, but the output is not ``o_t ⊙ tanh(c_t)``. The use gate squashes a
    *learned linear map* ``W_u`` (plus bias ``b_u``) of the *forgotten old memory* ``LTM_{t-1} ⊙ f_t``,
    so what was learned at step t (``N_t ⊙ i_t``) reaches ``STM_t`` only one step later; it has one
    more weight matrix (``W_u``) and separate (unstacked) per-gate weights.
    """

    state_names = ("STM", "LTM")
    _GATES = ("n", "i", "f", "v")

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None, **kwargs):
        super().__init__(input_size, hidden_size, output_size, **kwargs)
        H, D = self.hidden_size, self.input_size
        self.learn_layer = self._dense(H + D, H, "W_n", "b_n")
        self.ignore_layer = self._dense(H + D, H, "W_i", "b_i")
        self.forget_layer = self._dense(H + D, H, "W_f", "b_f")
        self.use_layer = self._dense(H, H, "W_u", "b_u")
        self.v_layer = self._dense(H + D, H, "W_v", "b_v")
        self._finish_init()

    def _layers(self):
        return (self.learn_layer, self.ignore_layer, self.forget_layer, self.v_layer)

    def _step(self, x, state):
        stm, ltm = state
        if stm.shape[:-1] != x.shape[:-1]:  # an unbatched learned STM_0 meets a batch of inputs
            stm = ops.add(stm, self.zeros(x.shape[:-1] + (self.hidden_size,)))
        joined = ops.concat([stm, x], axis=-1)
        a_n, a_i, a_f, a_v = (layer(joined) for layer in self._layers())
        return self._gates(a_n, a_i, a_f, a_v, ltm, self.use_layer)

    # The fused unrolling splits each [STM, E] product: the E-columns of W_n, W_i, W_f, W_v act on all
    # inputs in one product before the loop, the STM-columns stay in it. Same function, other bracketing.
    def _gates(self, a_n, a_i, a_f, a_v, ltm, use):
        n, i, f = ops.tanh(a_n), ops.sigmoid(a_i), ops.sigmoid(a_f)
        kept = ops.mul(ltm, f)                       # forget gate: LTM_{t-1} · f_t
        ltm_new = ops.add(kept, ops.mul(n, i))       # remember gate
        u = ops.tanh(use(kept))                      # use gate
        v = ops.sigmoid(a_v)
        return (ops.mul(u, v), ltm_new)

    def _project(self, x):
        H = self.hidden_size
        layers = self._layers()
        w = ops.concat([layer.weight for layer in layers], axis=0)
        b = ops.concat([layer.bias for layer in layers], axis=0)
        return ops.linear(x, w[:, H:], b)

    def _recurrent_weights(self):
        w = ops.concat([layer.weight for layer in self._layers()], axis=0)
        return w[:, : self.hidden_size]

    def _recur(self, u, state, w):
        stm, ltm = state
        a_n, a_i, a_f, a_v = ops.chunk(ops.add(u, ops.linear(stm, w)), 4, axis=-1)
        return self._gates(a_n, a_i, a_f, a_v, ltm, self.use_layer)


def __getattr__(name):
    if name == "CELLS":   # the table of cell kinds lives in registry.py (it names these classes)
        from .registry import CELLS

        return CELLS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
