r"""Sequence modes of the lecture: which steps read an input and which steps are scored.

* **many-to-many, synchronous**: an input and a target at every step (:func:`many_to_many`, which is
  :func:`~gradlab.nn.unroll`);
* **many-to-one**: a sequence in, one answer at the end (:func:`many_to_one`: only ``y_T`` is computed);
* **one-to-many**: one input vector, a sequence out (:func:`one_to_many`);
* **many-to-many, asynchronous** (sequences of different lengths): an encoder reads the input sequence,
  its final state starts a decoder that writes the output sequence (:class:`EncoderDecoder`), optionally
  attending to all the encoder states at every step (:mod:`gradlab.nn.attention`).

All of them return an :class:`~gradlab.nn.Unrolled`, so :func:`~gradlab.nn.sequence_loss` and the
analysis functions work on each.
"""
from __future__ import annotations


import numpy as np

from ..engine import ops
from ..engine.backend import get_xp
from ..devices import as_numpy
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


def _one_hot(y: Tensor, size: int) -> Tensor:
    """The one-hot rows (``size`` features) of the largest entry of each row of ``y``: a constant."""
    xp = get_xp(y.data)
    k = xp.argmax(y.data, axis=-1)
    return Tensor(xp.asarray(xp.arange(size) == k[..., None], dtype=y.dtype))


class EncoderDecoder(Module):
    r"""Sequence to sequence for different lengths: an encoder cell reads ``x_1 … x_{T_in}``, its final state
    starts a decoder cell that produces ``y_{T_in+1} … y_{T_in+T_out}``; optionally the decoder attends
    to all the encoder states at every step.

    The decoder's initial state is the encoder's final state as it is (the two cells must have the same
    kind of state and hidden size) or, with ``bridge=True``, a learned map of the encoder's last hidden
    state, :math:`s^{dec}_0 = \tanh(W_c s^{enc}_{T_{in}} + b_c)` (other state parts start at zero).
    With a ``mask`` ``(T_in, ...)`` for padded batches (1 … 1 0 … 0 along time) the "final" state of each
    sequence is its state at its last real step, and attention gives its padded steps weight 0.

    The decoder reads either given inputs (teacher forcing) or, when none are given, its own previous
    output (*free-running*; ``start`` at its first step, zeros by default): the output itself
    (``feedback="output"``) or, for a decoder whose outputs are class scores, the one-hot row of the
    predicted class (``feedback="argmax"``, greedy decoding; a constant, no gradient flows through it),
    or whatever a function ``feedback(k, y_t)`` returns after the k-th step (k = 0, 1, …), e.g. the true
    token on some steps and the predicted one on others (scheduled sampling).

    **Attention** (``attention="additive"`` or ``"dot"``, or an :class:`~gradlab.nn.attention.Attention`
    module; see :mod:`gradlab.nn.attention` for the equations and shapes) over the encoder states
    :math:`h_j = s^{enc}_j`, wired in one of two ways (``query``):

    * ``"previous"`` (Bahdanau et al. 2015): the state before the step asks,
      :math:`c_t, \alpha_t = \operatorname{attend}(s_{t-1}, h)`, and the context enters the step:
      :math:`s_t = \operatorname{cell}([x_t; c_t], s_{t-1})`, :math:`y_t = W_y s_t + b_y`. The decoder
      cell's ``input_size`` is then D + K (token features D, encoder hidden size K).
    * ``"current"`` (Luong et al. 2015): the new state asks, :math:`s_t = \operatorname{cell}(x_t, s_{t-1})`,
      :math:`c_t, \alpha_t = \operatorname{attend}(s_t, h)`, and the context enters the output through
      the attentional state :math:`\tilde s_t = \tanh(W_h [c_t; s_t] + b_h)`, :math:`y_t = W_y \tilde s_t + b_y`.

    The attention weights of every decoding step are kept: ``out.attention`` (a list of :math:`\alpha_t`,
    each ``(T_in, ...)``), ``out.contexts`` (the :math:`c_t`) and :meth:`attention_weights` (one array
    ``(..., T_out, T_in)``: decoder step × encoder step).

    Time steps continue across the two: the decoder's first step is ``t = T_in + 1``, and the cells are
    scoped ``encoder`` and ``decoder`` (a cell still carrying the default name ``"cell"`` is renamed to
    its role), the attention ``attention``. ``parameters_by_name()`` prefixes each cell's lecture names
    with the cell's name (``"encoder.W_s"``, ``"attention.W_q"``).
    """

    def __init__(self, encoder: RecurrentCell, decoder: RecurrentCell, *, bridge: bool = False, attention=None,
                 query: str = "previous", attention_size: int | None = None, rng=None, name: str | None = None):
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
        if query not in ("previous", "current"):
            raise ValueError(f"EncoderDecoder: query must be 'previous' (Bahdanau: s_(t-1) asks, the context enters "
                             f"the step) or 'current' (Luong: s_t asks, the context enters the output), got {query!r}")
        self.encoder = encoder
        self.decoder = decoder
        rng = make_rng(rng)
        if bridge:
            self.bridge = Dense(encoder.hidden_size, decoder.hidden_size, name="W_c", weight_name="W_c",
                                bias_name="b_c", rng=rng, dtype=decoder.dtype)
        else:
            self.bridge = None
        self.query = query
        self.attention = self._make_attention(attention, attention_size, rng)
        self.combine = None
        K = encoder.hidden_size
        self.token_size = decoder.input_size
        if self.attention is not None:
            if self.attention.name in (encoder.name, decoder.name):
                raise ValueError(f"EncoderDecoder: the attention and a cell are both named {self.attention.name!r}")
            if query == "previous":
                self.token_size = decoder.input_size - K
                if self.token_size < 1:
                    raise ValueError(f"EncoderDecoder: with attention (query='previous') the decoder reads [x_t; c_t], "
                                     f"so its input_size must be D + K with K = {K} (the encoder's hidden size) and "
                                     f"D >= 1 token features; {decoder.describe()} has input_size {decoder.input_size}")
            else:
                if type(decoder).emit is not RecurrentCell.emit:
                    raise ValueError(f"EncoderDecoder: query='current' computes y_t from the attentional state, which "
                                     f"{decoder.describe()} cannot take (its output is part of its state); "
                                     f"use query='previous'")
                H = decoder.hidden_size
                self.combine = Dense(K + H, H, name="W_h", weight_name="W_h", bias_name="b_h", rng=rng,
                                     dtype=decoder.dtype)

    def _make_attention(self, attention, attention_size, rng):
        from .attention import ATTENTIONS, Attention, DotProductAttention

        enc, dec = self.encoder, self.decoder
        if attention is None:
            if attention_size is not None:
                raise ValueError("EncoderDecoder: attention_size is given but attention is None")
            return None
        if isinstance(attention, str):
            if attention not in ATTENTIONS:
                raise ValueError(f"EncoderDecoder: attention must be one of {sorted(ATTENTIONS)}, an Attention "
                                 f"module or None, got {attention!r}")
            if attention == "dot":
                if enc.hidden_size != dec.hidden_size:
                    raise ValueError(f"EncoderDecoder: dot-product attention scores h_j·s_t, so the encoder and the "
                                     f"decoder need the same hidden size; got {enc.hidden_size} and {dec.hidden_size} "
                                     f"(use attention='additive')")
                if attention_size is not None:
                    raise ValueError("EncoderDecoder: dot-product attention has no attention_size")
                return DotProductAttention(enc.hidden_size, dtype=dec.dtype)
            return ATTENTIONS[attention](dec.hidden_size, enc.hidden_size, attention_size, rng=rng, dtype=dec.dtype)
        if not isinstance(attention, Attention):
            raise TypeError(f"EncoderDecoder: attention must be 'additive', 'dot', an Attention module or None, "
                            f"got {type(attention).__name__}")
        if attention.query_size != dec.hidden_size or attention.key_size != enc.hidden_size:
            raise ValueError(f"EncoderDecoder: {attention.describe()} takes queries of {attention.query_size} and keys "
                             f"of {attention.key_size} features, but the decoder's states have {dec.hidden_size} "
                             f"and the encoder's {enc.hidden_size}")
        return attention

    def parameters_by_name(self) -> dict:
        """Return {"encoder.W_s": P, "decoder.W_s": P, "W_c": P, "attention.W_q": P, "W_h": P, ...}: cell
        and attention parameters prefixed by their module's name."""
        out = {}
        for cell in (self.encoder, self.decoder):
            for key, p in cell.parameters_by_name().items():
                out[f"{cell.name}.{key}"] = p
        if self.attention is not None:
            for key, p in self.attention.parameters_by_name().items():
                out[f"{self.attention.name}.{key}"] = p
        for layer in (self.bridge, self.combine):
            if layer is not None:
                out.update(layer.parameters_by_name())
        return out

    def encode(self, xs, state=None, *, fused: bool = False) -> Unrolled:
        """Return the encoder unrolled over ``xs`` (no outputs are computed)."""
        return unroll(self.encoder, xs, state, fused=fused, outputs="none")

    def last_steps(self, mask, steps: int, batch_shape) -> np.ndarray | None:
        r"""Return, for a padding ``mask`` ``(T_in, ...)``, the one-hot array ``(T_in, ..., 1)`` of each
        sequence's last real step (None when no sequence is padded). ``ValueError`` for a mask of the
        wrong shape, with values other than 0/1, with padding before a real step, or with no real step."""
        if mask is None:
            return None
        who = "EncoderDecoder"
        m = as_numpy(mask.data if isinstance(mask, Tensor) else mask)
        if not isinstance(m, np.ndarray) or m.dtype.kind not in "biuf":
            raise TypeError(f"{who}: the mask must hold 0/1 numbers or booleans, got {getattr(m, 'dtype', type(m))}")
        want = (steps,) + tuple(batch_shape)
        if tuple(m.shape) != want:
            raise ValueError(f"{who}: mask of shape {tuple(m.shape)} does not match the input sequence: expected "
                             f"{want} = (T_in, ...), the inputs' shape without the feature axis")
        if not np.all((m == 0) | (m == 1)):
            raise ValueError(f"{who}: the mask must be 0 (padding) or 1 (a real step)")
        m = m.astype(bool)
        if not np.all(m[0]):
            where = tuple(int(i) for i in np.argwhere(~np.atleast_1d(m[0]))[0])
            raise ValueError(f"{who}: the sequence at batch index {where} has no real step (its mask is all 0); "
                             f"an empty sequence cannot be encoded")
        late = m[1:] & ~m[:-1]
        if np.any(late):
            t, *b = (int(i) for i in np.argwhere(late)[0])
            raise ValueError(f"{who}: the mask must mark padding at the end of each sequence (1 … 1 0 … 0 along "
                             f"time); the sequence at batch index {tuple(b)} has a real step at t={t + 2} after "
                             f"padding")
        if np.all(m):
            return None
        lengths = m.sum(axis=0)
        last = np.arange(steps).reshape((steps,) + (1,) * len(batch_shape)) == (lengths - 1)
        return last[..., None].astype(self.encoder.dtype)

    def _gather(self, enc: Unrolled, last: np.ndarray):
        """Each sequence's state at its last real step: Σ_t [t = last] s_t, per state part."""
        cell = self.encoder
        n = len(cell.state_names)
        parts = []
        with scope(cell.name):
            for k in range(n):
                seq = ops.stack([s if n == 1 else s[k] for s in enc.states], axis=0)
                parts.append(ops.sum(ops.mul(seq, Tensor(cell.xp.asarray(last))), axis=0))
        return cell._pack(parts)

    def context(self, enc: Unrolled, batch_shape, last=None):
        """Return the decoder's initial state made from the encoder's final state (with ``last`` from
        :meth:`last_steps`: each sequence's state at its last real step)."""
        dec = self.decoder
        final = enc.final_state if last is None else self._gather(enc, last)
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

    def _outputs_size(self) -> int:
        return self.decoder.output_size or self.decoder.hidden_size

    def _check_feedback(self, feedback) -> None:
        who = "EncoderDecoder"
        if callable(feedback):
            return
        if feedback not in ("output", "argmax"):
            raise ValueError(f"{who}: feedback must be 'output' (y_(t-1) itself), 'argmax' (the one-hot row of "
                             f"its largest entry) or a function (k, y) -> next input, got {feedback!r}")
        O, D = self._outputs_size(), self.token_size
        if feedback == "output" and O != D:
            raise ValueError(f"{who} {self.decoder.describe()}: feedback='output' feeds y_(t-1) back as the next "
                             f"input, but outputs have {O} features and inputs {D}; use feedback='argmax' for class "
                             f"scores, or a decoder with output_size == input size")
        if feedback == "argmax" and O > D:
            raise ValueError(f"{who} {self.decoder.describe()}: feedback='argmax' feeds the one-hot row of the "
                             f"predicted class back, but there are {O} classes and only {D} input features")

    def _decoder_inputs(self, given, batch_shape):
        who = "EncoderDecoder"
        if isinstance(given, (list, tuple)):
            if not given:
                raise ValueError(f"{who}: empty sequence: decoder_inputs has no time steps")
            steps = [g if isinstance(g, Tensor) else Tensor(self.decoder.as_array(g)) for g in given]
        else:
            whole = given if isinstance(given, Tensor) else Tensor(self.decoder.as_array(given))
            if whole.ndim < 2 or whole.shape[0] == 0:
                raise ValueError(f"{who}: decoder_inputs must have shape (T_out, ..., D) with T_out >= 1, got "
                                 f"{tuple(whole.shape)}" + (" (an empty sequence)" if whole.ndim >= 2 else ""))
            steps = [whole[k] for k in range(whole.shape[0])]
        for k, x in enumerate(steps):
            if x.ndim == 0 or x.shape[-1] != self.token_size or tuple(x.shape[:-1]) != tuple(batch_shape):
                raise ValueError(f"{who}: decoder input {k + 1} has shape {tuple(x.shape)}, expected "
                                 f"{tuple(batch_shape) + (self.token_size,)} (batch shape of the encoder inputs, "
                                 f"{self.token_size} token features)")
        return steps

    def forward(self, xs, decoder_inputs=None, *, steps: int | None = None, start=None, state=None, mask=None,
                feedback: str = "output", fused: bool = False) -> Unrolled:
        r"""Return the decoder's :class:`Unrolled` (its ``.encoder`` attribute holds the encoder's; with
        attention ``.attention`` holds the weights :math:`\alpha_t` of each step and ``.contexts`` the
        :math:`c_t`).

        With ``decoder_inputs`` (``(T_out, ..., D)``) the decoder reads them (teacher forcing);
        otherwise it runs ``steps`` steps feeding back its previous output (``feedback``), starting
        from ``start``. ``mask`` ``(T_in, ...)`` marks the real steps of padded input sequences.
        """
        _, batch_shape, _ = as_sequence(xs, self.encoder)
        enc = self.encode(xs, state, fused=fused)
        last = self.last_steps(mask, len(enc), batch_shape)
        s0 = self.context(enc, batch_shape, last)
        first_t = enc.times[-1] + 1
        memory = None
        if self.attention is not None:
            with scope(self.attention.name):
                memory = self.attention.memory(enc.hidden_sequence, mask)
        given = None
        if decoder_inputs is not None:
            if steps is not None:
                raise ValueError("EncoderDecoder: give decoder_inputs or steps, not both")
            if self.attention is None:
                out = unroll(self.decoder, decoder_inputs, s0, fused=fused, start=first_t)
                out.encoder = enc
                return out
            given = self._decoder_inputs(decoder_inputs, batch_shape)
            first = None
            n = len(given)
        else:
            if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
                raise ValueError(f"EncoderDecoder: without decoder_inputs, steps must be a positive int "
                                 f"(the output length), got {steps!r}")
            self._check_feedback(feedback)
            n = int(steps)
            if start is None:
                first = self.decoder.zeros(tuple(batch_shape) + (self.token_size,))
            else:
                first = start if isinstance(start, Tensor) else Tensor(self.decoder.as_array(start))
                if first.ndim == 0 or tuple(first.shape) != tuple(batch_shape) + (self.token_size,):
                    raise ValueError(f"EncoderDecoder start: expected shape {tuple(batch_shape) + (self.token_size,)} "
                                     f"(batch shape, {self.token_size} token features), got {tuple(first.shape)}")
            if self.attention is None and isinstance(feedback, str) and feedback == "output":
                states, ys, times = _generate(self.decoder, first, n, s0, "output", first_t)
                out = Unrolled(self.decoder, states, s0, times=times, outputs=ys)
                out.encoder = enc
                return out
        out = self._decode(memory, s0, given, first, n, feedback, first_t)
        out.encoder = enc
        return out

    def _decode(self, memory, s0, given, first, n: int, feedback: str, first_t: int) -> Unrolled:
        """The decoding loop, one step at a time (attention, or greedy feedback)."""
        dec, attend = self.decoder, self.attention
        states, ys, alphas, contexts = [], [], [], []
        state, x = s0, first
        times = list(range(first_t, first_t + n))
        for k, t in enumerate(times):
            with scope(t=t):
                x_t = given[k] if given is not None else x
                if attend is None:
                    state = dec.step(x_t, state)
                    y = dec.emit(state)
                elif self.query == "previous":
                    c, a = attend(dec.hidden(state), memory)
                    state = dec.step(ops.concat([x_t, c], axis=-1), state)
                    y = dec.emit(state)
                else:
                    state = dec.step(x_t, state)
                    s_t = dec.hidden(state)
                    c, a = attend(s_t, memory)
                    tilde = ops.tanh(self.combine(ops.concat([c, s_t], axis=-1)))
                    y = dec.output(tilde)
            states.append(state)
            ys.append(y)
            if attend is not None:
                alphas.append(a)
                contexts.append(c)
            if given is None and k + 1 < n:
                x = self._feed(feedback, k, y)
        out = Unrolled(dec, states, s0, times=times, outputs=ys)
        out.attention, out.contexts, out.memory = alphas, contexts, memory
        out.feedback = None if given is not None else feedback     # how a free-running decoder fed itself
        return out

    def _feed(self, feedback, k: int, y: Tensor) -> Tensor:
        """The next decoder input after output ``y`` of decoding step ``k`` (0-based)."""
        if feedback == "output":
            return y
        if feedback == "argmax":
            return _one_hot(y, self.token_size)
        x = feedback(k, y)
        x = x if isinstance(x, Tensor) else Tensor(self.decoder.as_array(x))
        want = tuple(y.shape[:-1]) + (self.token_size,)
        if tuple(x.shape) != want:
            raise ValueError(f"EncoderDecoder: feedback({k}, y) returned shape {tuple(x.shape)}, expected {want} "
                             f"(the next decoder input: batch shape, {self.token_size} token features)")
        return x

    def attention_weights(self, out: Unrolled) -> np.ndarray:
        r"""Return the attention weights of a decoding ``out`` as one NumPy array ``(..., T_out, T_in)``:
        row t − T_in is :math:`\alpha_t` over the encoder steps (``w[b]`` is sequence b's heat map)."""
        alphas = getattr(out, "attention", None)
        if not alphas:
            raise ValueError("EncoderDecoder.attention_weights: this decoding has no attention weights "
                             "(the model has no attention, or `out` is not its output)")
        a = np.stack([as_numpy(al.data) for al in alphas], axis=0)       # (T_out, T_in, ...)
        return np.moveaxis(a, (0, 1), (-2, -1))
