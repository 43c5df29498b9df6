r"""Sequence modes of the lecture: which steps read an input and which steps are scored.

* **many-to-many, synchronous**: an input and a target at every step (:func:`many_to_many`, which is
  :func:`~gradlab.nn.unroll`);
* **many-to-one**: a sequence in, one answer at the end (:func:`many_to_one`: only ``y_T`` is computed);
* **one-to-many**: one input vector, a sequence out (:func:`one_to_many`);
* **many-to-many, asynchronous** (sequences of different lengths): an encoder reads the input sequence,
  its final state starts a decoder that writes the output sequence (:class:`EncoderDecoder`).

All of them return an :class:`~gradlab.nn.Unrolled`, so :func:`~gradlab.nn.sequence_loss` and the
analysis functions work on each.
"""
from __future__ import annotations


import numpy as np

from ..engine import ops
from ..engine.context import scope
from ..engine.tensor import Tensor
from .cells import RecurrentCell
from .module import Dense, Module, make_rng
from .unroll import Unrolled, as_sequence, unroll

__all__ = ["many_to_many", "many_to_one", "one_to_many", "EncoderDecoder"]


def many_to_many(cell: RecurrentCell, xs, state=None, *, fused: bool = False) -> Unrolled:
    r"""Return the unrolled network with an output ``y_t`` at every step (synchronous many-to-many)."""
    return unroll(cell, xs, state, fused=fused)


def many_to_one(cell: RecurrentCell, xs, state=None, *, fused: bool = False) -> Unrolled:
    r"""Return the unrolled network with one output, ``y_T`` after the last input (``.output``)."""
    return unroll(cell, xs, state, fused=fused, outputs="last")


def _vector(x, cell: RecurrentCell, who: str) -> Tensor:
    x = x if isinstance(x, Tensor) else Tensor(cell.as_array(x))
    if x.ndim == 0 or x.shape[-1] != cell.input_size:
        raise ValueError(f"{who} {cell.describe()}: expected an input with {cell.input_size} features "
                         f"(input_size), got shape {x.shape}")
    return x


def _check_feedback(cell: RecurrentCell, who: str) -> None:
    out = cell.output_size or cell.hidden_size
    if out != cell.input_size:
        raise ValueError(f"{who} {cell.describe()}: feedback='output' feeds y_(t-1) back as the next input, "
                         f"but outputs have {out} features and inputs {cell.input_size}; "
                         f"use feedback='zeros' or a cell with output_size == input_size")


def _generate(cell, first, steps, state, feedback, start):
    """Run ``steps`` steps from input ``first``; later inputs are zeros or the previous output."""
    zeros = cell.zeros(first.shape)
    states, ys, x = [], [], first
    times = list(range(start, start + steps))
    for t in times:
        with scope(t=t):
            state = cell.step(x, state)
            y = cell.emit(state)
        states.append(state)
        ys.append(y)
        x = y if feedback == "output" else zeros
    return states, ys, times


def one_to_many(cell: RecurrentCell, x, steps: int, state=None, *, feedback: str = "zeros") -> Unrolled:
    r"""Return the network unrolled for ``steps`` steps from one input vector ``x`` (``(B, D)`` or ``(D,)``).

    ``x`` is the input at t = 1. At t > 1 the input is zeros (``feedback="zeros"``, the default: the
    one-to-many figure, where only the first step has an input arrow) or the previous output
    ``y_{t-1}`` (``feedback="output"``, generation; needs output size == input size).
    """
    who = "one_to_many"
    if feedback not in ("zeros", "output"):
        raise ValueError(f"{who}: feedback must be 'zeros' or 'output', got {feedback!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise ValueError(f"{who}: steps must be a positive int (the output length), got {steps!r}")
    x = _vector(x, cell, who)
    if feedback == "output":
        _check_feedback(cell, who)
    batch = tuple(x.shape[:-1])
    state = cell.initial_state(batch) if state is None else cell.check_state(state, batch, where=f"({who})")
    states, ys, times = _generate(cell, x, int(steps), state, feedback, 1)
    return Unrolled(cell, states, state, times=times, outputs=ys)


class EncoderDecoder(Module):
    r"""Sequence to sequence for different lengths: an encoder cell reads ``x_1 … x_{T_in}``, its final state
    starts a decoder cell that produces ``y_{T_in+1} … y_{T_in+T_out}``.

    The decoder's initial state is the encoder's final state as it is (the two cells must have the same
    kind of state and hidden size) or, with ``bridge=True``, a learned map of the encoder's last hidden
    state, :math:`s^{dec}_0 = \tanh(W_c s^{enc}_{T_{in}} + b_c)` (other state parts start at zero).
    The decoder reads either given inputs (teacher forcing) or, when none are given, its own previous
    output (``start`` at its first step, zeros by default). Time steps continue across the two: the
    decoder's first step is ``t = T_in + 1``, and the cells are scoped ``encoder`` and ``decoder`` (a cell
    still carrying the default name ``"cell"`` is renamed to its role). ``parameters_by_name()`` prefixes
    each cell's lecture names with the cell's name (``"encoder.W_s"``).
    """

    def __init__(self, encoder: RecurrentCell, decoder: RecurrentCell, *, bridge: bool = False, rng=None,
                 name: str | None = None):
        super().__init__(name)
        for role, cell in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(cell, RecurrentCell):
                raise TypeError(f"EncoderDecoder: the {role} must be a RecurrentCell, got {type(cell).__name__}")
        if encoder is decoder:
            raise ValueError("EncoderDecoder: the encoder and the decoder must be two different cells")
        for role, cell in (("encoder", encoder), ("decoder", decoder)):
            if cell.name in (None, "cell"):
                object.__setattr__(cell, "name", role)
        if encoder.name == decoder.name:
            raise ValueError(f"EncoderDecoder: both cells are named {encoder.name!r}; give them distinct names")
        self.encoder = encoder
        self.decoder = decoder
        if bridge:
            self.bridge = Dense(encoder.hidden_size, decoder.hidden_size, name="W_c", weight_name="W_c",
                                bias_name="b_c", rng=make_rng(rng), dtype=decoder.dtype)
        else:
            self.bridge = None

    def parameters_by_name(self) -> dict:
        """Return {"encoder.W_s": P, "decoder.W_s": P, "W_c": P, ...}: cell parameters prefixed by the cell."""
        out = {}
        for cell in (self.encoder, self.decoder):
            for key, p in cell.parameters_by_name().items():
                out[f"{cell.name}.{key}"] = p
        if self.bridge is not None:
            out.update(self.bridge.parameters_by_name())
        return out

    def encode(self, xs, state=None, *, fused: bool = False) -> Unrolled:
        """Return the encoder unrolled over ``xs`` (no outputs are computed)."""
        return unroll(self.encoder, xs, state, fused=fused, outputs="none")

    def context(self, enc: Unrolled, batch_shape):
        """Return the decoder's initial state made from the encoder's final state."""
        dec = self.decoder
        final = enc.final_state
        if self.bridge is None:
            try:
                return dec.check_state(final, batch_shape, where="(initial state from the encoder)")
            except (TypeError, ValueError) as e:
                raise ValueError(f"EncoderDecoder: the encoder's final state does not fit the decoder ({e}); "
                                 f"use cells with the same state, or bridge=True") from None
        with scope(dec.name):
            s0 = ops.tanh(self.bridge(self.encoder.hidden(final)))
        parts = [s0] + [dec.zeros(tuple(batch_shape) + (size,)) for size in dec.state_sizes()[1:]]
        return dec._pack(parts)

    def forward(self, xs, decoder_inputs=None, *, steps: int | None = None, start=None, state=None,
                fused: bool = False) -> Unrolled:
        r"""Return the decoder's :class:`Unrolled` (its ``.encoder`` attribute holds the encoder's).

        With ``decoder_inputs`` (``(T_out, ..., D_dec)``) the decoder reads them (teacher forcing);
        otherwise it runs ``steps`` steps feeding back its previous output, starting from ``start``.
        """
        _, batch_shape, _ = as_sequence(xs, self.encoder)
        enc = self.encode(xs, state, fused=fused)
        s0 = self.context(enc, batch_shape)
        first_t = enc.times[-1] + 1
        if decoder_inputs is not None:
            if steps is not None:
                raise ValueError("EncoderDecoder: give decoder_inputs or steps, not both")
            out = unroll(self.decoder, decoder_inputs, s0, fused=fused, start=first_t)
        else:
            if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
                raise ValueError(f"EncoderDecoder: without decoder_inputs, steps must be a positive int "
                                 f"(the output length), got {steps!r}")
            _check_feedback(self.decoder, "EncoderDecoder")
            first = (self.decoder.zeros(tuple(batch_shape) + (self.decoder.input_size,))
                     if start is None else _vector(start, self.decoder, "EncoderDecoder start"))
            states, ys, times = _generate(self.decoder, first, int(steps), s0, "output", first_t)
            out = Unrolled(self.decoder, states, s0, times=times, outputs=ys)
        out.encoder = enc
        return out
