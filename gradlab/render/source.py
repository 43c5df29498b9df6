"""What can be drawn: a recorded graph (an output Tensor or a :class:`gradlab.Graph`), an unrolled
network, a cell, or a cell's name. Cells are unrolled here on a small seeded example so that the figure
is drawn from the very graph the engine computes with.
"""
from __future__ import annotations

import numpy as np

from ..engine.graph import Graph
from ..engine.tensor import Tensor
from ..nn.registry import KINDS, cell_kind
from .structure import Unfolding

__all__ = ["unfolding_of", "make_cell", "CELL_TITLES", "LOSS_AT"]

# class name -> the label figures give the cell (from the one table of cell kinds, gradlab.nn.registry)
CELL_TITLES = {k.cls.__name__: k.label for k in KINDS.values()}


def make_cell(name: str, *, input_size: int = 3, hidden_size: int = 4, output_size: int = 2, rng=0):
    """Return a cell of the kind ``name`` (``"elman"``, ``"lstm"``, ``"peephole_lstm"`` or ``"peephole"``, ...:
    any spelling ``gradlab.nn.cell_kind`` accepts)."""
    try:
        kind = cell_kind(name)
    except ValueError as e:
        raise ValueError(f"render: {e}") from None
    return kind.cls(input_size, hidden_size, output_size, rng=rng)


def _is_cell(obj) -> bool:
    return all(hasattr(obj, a) for a in ("step", "initial_state", "input_size", "state_names"))


LOSS_AT = ("all", "last")


def _scaled(cell, weight_scale):
    """Return ``cell`` with every weight multiplied by ``weight_scale`` (a copy: the caller's cell is kept)."""
    if weight_scale is None:
        return cell
    if isinstance(weight_scale, bool) or not isinstance(weight_scale, (int, float)) or not np.isfinite(weight_scale):
        raise ValueError(f"render: weight_scale must be a finite number (every weight is multiplied by it), "
                         f"got {weight_scale!r}")
    import copy

    cell = copy.deepcopy(cell)
    for p in cell.parameters():
        p.data = p.data * weight_scale
    return cell


def _unroll_cell(cell, T: int, rng, loss_at: str = "all"):
    from ..engine import ops
    from ..nn.losses import mse_half
    from ..nn.unroll import unroll

    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"render: T must be a positive int (the number of time steps), got {T!r}")
    rng = np.random.default_rng(rng)
    xs = rng.normal(size=(T, cell.input_size))
    net = unroll(cell, xs)
    return net, _loss_of(net, rng, ops, mse_half, loss_at)


def _loss_of(net, rng, ops, mse_half, loss_at: str = "all"):
    r"""Return (losses E_t, total E): E = Σ_t E_t (``loss_at="all"``) or E = E_T (``"last"``: only the
    last output counts, so ‖∂E/∂s_t‖ shows how far back the error signal reaches)."""
    if loss_at not in LOSS_AT:
        raise ValueError(f"render: loss_at must be one of {', '.join(LOSS_AT)}, got {loss_at!r}")
    outputs = net.outputs[-1:] if loss_at == "last" else net.outputs
    losses = []
    for y in outputs:
        d = Tensor(rng.normal(size=y.shape), name="d")
        losses.append(mse_half(y, d))
    total = losses[0]
    for e in losses[1:]:
        total = ops.add(total, e)
    return losses, total


def _whole_graph(net, total) -> Graph:
    """The recorded graph of the loss ``total`` *and* of the last state: the loss comes first (the
    figures' gradients are of it), the parts of the last step that do not reach it (a four-gate LSTM's
    LTM_T) are recorded too, so that a figure draws the whole cell and greys what no gradient reaches."""
    last = net.states[-1] if net.states else ()
    parts = [p for p in (last if isinstance(last, tuple) else (last,)) if isinstance(p, Tensor)]
    return Graph(total, *parts)


def _hints(net, losses) -> dict:
    cell = net.cell
    names, states, outputs, loss_map = {}, {}, {}, {}
    unpack = lambda s: s if isinstance(s, tuple) else (s,)  # noqa: E731
    for t, st in zip(net.times, net.states):
        parts = list(unpack(st))
        states[t] = parts
        for part, node in zip(getattr(cell, "state_names", ("s",)), parts):
            names[node] = part
    state_nodes = {n for parts in states.values() for n in parts}
    for t, y in zip(net.output_times, net.outputs):
        if y not in state_nodes:
            outputs[t] = [y]
            names[y] = "y"
    for t, e in zip(net.output_times[len(net.output_times) - len(losses):], losses):
        loss_map[t] = [e]
        names[e] = "E"
    init = list(unpack(net.initial_state))
    for part, node in zip(getattr(cell, "state_names", ("s",)), init):
        names[node] = part
    title = CELL_TITLES.get(type(cell).__name__, type(cell).__name__.removesuffix("Cell"))
    return {"states": states, "outputs": outputs, "losses": loss_map, "names": names, "cell": title,
            "initial": init}


def unfolding_of(obj, *, T: int | None = None, rng=0, hints: dict | None = None, loss_at: str = "all",
                 weight_scale: float | None = None) -> Unfolding:
    """Return the :class:`Unfolding` of ``obj``: an output Tensor, a Graph, an ``Unrolled`` network, a
    cell (unrolled over ``T`` steps, default 3, on seeded random data) or a cell's name.

    For a cell (or its name) and an unrolled network gradlab builds the loss: E = Σ_t ½‖y_t − d_t‖²
    (``loss_at="all"``) or the last step's only (``"last"``); ``weight_scale`` multiplies every weight of
    a cell (a copy) before unrolling: below 1 the gradient vanishes faster going back, above it may explode.
    """
    if isinstance(obj, str):
        obj = make_cell(obj, rng=rng)
    if isinstance(obj, Unfolding):
        return obj
    recorded = isinstance(obj, (Tensor, Graph)) or (hasattr(obj, "states") and hasattr(obj, "cell")
                                                     and hasattr(obj, "times"))
    if recorded and weight_scale is not None:
        raise ValueError("render: weight_scale applies to a cell (or a cell name), which gradlab unrolls; "
                         f"this {type(obj).__name__} was computed already: scale the weights before running it")
    if isinstance(obj, (Tensor, Graph)) and loss_at != "all":
        raise ValueError("render: loss_at applies to a cell or an unrolled network, whose loss gradlab builds; "
                         "this graph has its loss already")
    if isinstance(obj, Tensor):
        return Unfolding(Graph(obj), hints)
    if isinstance(obj, Graph):
        return Unfolding(obj, hints)
    if recorded:  # an Unrolled network
        from ..engine import ops
        from ..nn.losses import mse_half

        losses, total = _loss_of(obj, np.random.default_rng(rng), ops, mse_half, loss_at)
        return Unfolding(_whole_graph(obj, total), {**_hints(obj, losses), **(hints or {})})
    if _is_cell(obj):
        net, (losses, total) = _unroll_cell(_scaled(obj, weight_scale), 3 if T is None else T, rng, loss_at)
        return Unfolding(_whole_graph(net, total), {**_hints(net, losses), **(hints or {})})
    raise TypeError(f"render: cannot draw {type(obj).__name__!r}; give an output Tensor (e.g. the loss), a "
                    f"gradlab.Graph, an unrolled network, a recurrent cell or a cell name such as 'lstm'")
