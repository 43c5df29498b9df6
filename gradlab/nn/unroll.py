r"""Unfolding: the same cell applied along a sequence, one recorded copy per time step.

:func:`unroll` is the lecture's unfolded picture made literal: for t = 1 … T it calls the cell inside
``gradlab.scope(t=t)``, so every node knows its time step, and all steps share the cell's Parameter
objects. Backpropagation through time is then plain reverse mode on that graph:

.. math::
    \frac{\partial E}{\partial W_s} = \sum_{t=1}^{T} \Big(\text{contribution of the copy at step } t\Big)

``fused=True`` records the same function with fewer, larger nodes (the speed path): the
non-recurrent input projections of all steps are one matrix product before the loop, and the output
layer is one matrix product after it. Gradients are the same; only the per-step drawing differs
(those fused nodes carry no time step).
"""
from __future__ import annotations

import math

from ..engine import ops
from ..engine.context import scope
from ..engine.tensor import Tensor
from .cells import RecurrentCell

__all__ = ["Unrolled", "unroll", "as_sequence"]


class Unrolled:
    r"""The result of unrolling a cell over T steps.

    ``states[k]`` is the state after step ``times[k]`` (``final_state`` the last one, ``initial_state``
    the one before the first input); ``hiddens[k]`` is its ``s_t``; ``outputs[k]`` is ``y_t``.
    ``output_sequence`` and ``hidden_sequence`` stack them into ``(T, ..., O)`` / ``(T, ..., H)`` Tensors.
    """

    def __init__(self, cell, states, initial_state, *, times, outputs=None, output_sequence=None,
                 output_times=None, fused=False):
        self.cell = cell
        self.states = list(states)
        self.initial_state = initial_state
        self.times = list(times)
        self.output_times = list(self.times if output_times is None else output_times)
        self.fused = fused
        self._outputs = None if outputs is None else list(outputs)
        self._output_sequence = output_sequence
        self._hiddens = None
        self._hidden_sequence = None

    def __len__(self) -> int:
        return len(self.states)

    def __repr__(self) -> str:
        return (f"Unrolled({self.cell.describe()}, T={len(self)}, outputs at t={_span(self.output_times)}, "
                f"fused={self.fused})")

    @property
    def final_state(self):
        """The state after the last step."""
        return self.states[-1]

    @property
    def hiddens(self) -> list:
        """``[s_1, …, s_T]``: the hidden part of each state."""
        if self._hiddens is None:
            self._hiddens = [self.cell.hidden(s) for s in self.states]
        return self._hiddens

    @property
    def outputs(self) -> list:
        """``[y_t for t in output_times]`` (each ``(..., O)``); after a fused unrolling they are read
        lazily out of ``output_sequence`` (one indexing node per step, tagged with its t)."""
        if self._outputs is None:
            seq = self._output_sequence
            outs = []
            for k, t in enumerate(self.output_times):
                with scope(t=t):
                    outs.append(seq[k])
            self._outputs = outs
        return self._outputs

    @property
    def output(self) -> Tensor:
        """The last output ``y_T``."""
        if not self.output_times:
            raise ValueError("Unrolled: no outputs were recorded (unroll was called with outputs='none')")
        return self.outputs[-1]

    @property
    def output_sequence_recorded(self) -> bool:
        """True when the outputs were recorded as one ``(T_out, ..., O)`` node (the fused unrolling's output
        layer); a loss then takes that node rather than stacking the per-step outputs."""
        return self.fused and self._output_sequence is not None

    @property
    def output_sequence(self) -> Tensor:
        """The outputs stacked along a new first axis: ``(T_out, ..., O)``."""
        if self._output_sequence is None:
            self._output_sequence = ops.stack(self._outputs, axis=0)
        return self._output_sequence

    @property
    def hidden_sequence(self) -> Tensor:
        """The hidden states stacked along a new first axis: ``(T, ..., H)``."""
        if self._hidden_sequence is None:
            self._hidden_sequence = ops.stack(self.hiddens, axis=0)
        return self._hidden_sequence


def _span(times) -> str:
    if not times:
        return "[]"
    return str(times[0]) if len(times) == 1 else f"{times[0]}..{times[-1]}"


def as_sequence(xs, cell: RecurrentCell, *, what: str = "xs"):
    r"""Return ``(steps, batch_shape, whole)`` for a sequence: ``steps`` is the list of per-step inputs
    (Tensors or arrays), ``whole`` the ``(T, ..., D)`` Tensor when the input came as one array (else None).

    Raises ``ValueError`` for an empty sequence or a wrong feature size, naming the cell and the step.
    """
    cls = cell.describe()
    if isinstance(xs, (list, tuple)):
        if len(xs) == 0:
            raise ValueError(f"unroll {cls}: empty sequence: {what} has no time steps; give at least one x_t")
        steps = [x if isinstance(x, Tensor) else cell.as_array(x) for x in xs]
        for t, x in enumerate(steps, start=1):
            cell.check_input(x, t=t)
        shapes = {tuple(x.shape[:-1]) for x in steps}
        if len(shapes) > 1:
            raise ValueError(f"unroll {cls}: the inputs x_t have different batch shapes {sorted(shapes)}")
        if not any(isinstance(x, Tensor) for x in steps):
            whole = Tensor(cell.xp.stack(steps, axis=0), name=what)
            return None, tuple(shapes.pop()), whole
        return steps, tuple(shapes.pop()), None
    whole = xs if isinstance(xs, Tensor) else Tensor(cell.as_array(xs), name=what)
    if whole.ndim < 2:
        raise ValueError(f"unroll {cls}: {what} must have shape (T, B, D) or (T, D), got {whole.shape}")
    if whole.shape[0] == 0:
        raise ValueError(f"unroll {cls}: empty sequence: {what} has 0 time steps (shape {whole.shape}); "
                         f"give at least one x_t")
    if whole.shape[-1] != cell.input_size:
        raise ValueError(f"unroll {cls} at t=1: expected x_t with {cell.input_size} features (input_size), "
                         f"got {whole.shape[-1]}; {what} has shape {whole.shape} = (T, ..., D)")
    return None, tuple(whole.shape[1:-1]), whole


def unroll(cell: RecurrentCell, xs, state=None, *, fused: bool = False, start: int = 1,
           outputs: str = "all") -> Unrolled:
    r"""Return the :class:`Unrolled` network: ``cell`` applied to x_start … x_{start+T-1}, each step
    recorded inside ``gradlab.scope(t=t)``.

    ``xs`` is ``(T, B, D)`` (or any batch shape ``(T, ..., D)``), an unbatched ``(T, D)`` sequence (then
    states are ``(H,)`` and outputs ``(O,)``), or a list of per-step inputs. ``state`` is the initial
    state: None gives ``cell.initial_state`` (zeros, or the learned ``s_0``), else an array / Tensor /
    tuple of the cell's state shape. ``outputs`` is ``"all"`` (y_t at every step), ``"last"`` (only y_T,
    the many-to-one mode) or ``"none"``. ``fused=True`` computes the input projections of all steps in
    one matrix product and the output layer in one more (same gradients, fewer nodes).
    """
    if not isinstance(cell, RecurrentCell):
        raise TypeError(f"unroll: cell must be a RecurrentCell (ElmanCell, LSTMCell, ...), got {type(cell).__name__}")
    if outputs not in ("all", "last", "none"):
        raise ValueError(f"unroll: outputs must be 'all', 'last' or 'none', got {outputs!r}")
    if isinstance(start, bool) or not isinstance(start, int):
        raise TypeError(f"unroll: start must be an int time step, got {start!r}")
    steps, batch_shape, whole = as_sequence(xs, cell)
    T = len(steps) if steps is not None else whole.shape[0]
    if state is None:
        state = cell.initial_state(batch_shape)
    else:
        state = cell.check_state(state, batch_shape, where="(initial state given to unroll)")
    initial = state
    times = list(range(start, start + T))
    out_times = {"all": times, "last": times[-1:], "none": []}[outputs]
    states = []
    name_scope = (cell.name,) if cell.name else ()

    if not fused:
        ys = []
        for k, t in enumerate(times):
            with scope(t=t):
                x_t = steps[k] if steps is not None else whole[k]
                state = cell.step(x_t, state)
                states.append(state)
                if outputs == "all" or (outputs == "last" and k == T - 1):
                    ys.append(cell.emit(state))
        return Unrolled(cell, states, initial, times=times, outputs=ys, output_times=out_times)

    if whole is None:
        whole = ops.stack(steps, axis=0)
    with scope(*name_scope):
        n = math.prod(batch_shape) if batch_shape else None
        flat = whole if n is None else ops.reshape(whole, (T * n, cell.input_size))
        u_all = cell._project(flat)
        if n is not None:
            u_all = ops.reshape(u_all, (T,) + batch_shape + (u_all.shape[-1],))
        weights = cell._recurrent_weights()
        parts = cell._split_projection(u_all)
    single = isinstance(parts, Tensor)
    step_of = ops._getitem             # parts[k] as a node, without the user-facing index checks
    for k, t in enumerate(times):
        with scope(*name_scope, t=t):
            u_k = step_of(parts, key=k) if single else tuple([step_of(p, key=k) for p in parts])
            state = cell._recur(u_k, state, weights)
        states.append(state)
    if outputs == "none":
        return Unrolled(cell, states, initial, times=times, outputs=[], output_times=[], fused=True)
    if not cell.output_after_loop or cell.__dict__.get("output_layer") is None:
        chosen = states if outputs == "all" else states[-1:]
        ys = []
        for st, t in zip(chosen, out_times):
            with scope(t=t):
                ys.append(cell.emit(st))
        return Unrolled(cell, states, initial, times=times, outputs=ys, output_times=out_times, fused=True)
    if outputs == "last":
        with scope(t=times[-1]):
            y = cell.emit(states[-1])
        return Unrolled(cell, states, initial, times=times, outputs=[y], output_times=out_times, fused=True)
    hs = ops.stack([cell.hidden(st) for st in states], axis=0)
    H = cell.hidden_size
    y = cell.output(hs if n is None else ops.reshape(hs, (T * n, H)))
    if n is not None:
        y = ops.reshape(y, (T,) + batch_shape + (y.shape[-1],))
    result = Unrolled(cell, states, initial, times=times, output_sequence=y, output_times=out_times, fused=True)
    result._hidden_sequence = hs
    return result

