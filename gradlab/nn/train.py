r"""Training: one update step, truncated BPTT, and a loop with a progress bar and a running loss.

Truncated BPTT, BPTT(k1, k2) (Williams & Peng 1990; Sutskever 2013): walk along a long sequence
k1 steps at a time; after each k1 steps, back-propagate the loss of those k1 steps through the last
k2 ≥ k1 steps only, and update. The state is carried from one window to the next *detached*: it is
a constant, so no gradient flows past the window's start. With k1 = k2 this is the usual
"chunked" training of char-RNNs; with k1 = k2 ≥ T there is one window and the gradient is exactly
full BPTT,

.. math::  \frac{∂E}{∂θ} = \sum_{t=1}^{T} \frac{∂E_t}{∂θ}.

When k2 > k1 each window re-runs the k2 − k1 steps before it from the state stored there, with the
current weights (so a window costs k2 forward steps, and the stored state itself stays the value
computed when it was first reached).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..engine.tensor import Tensor
from .clip import clip_grad_norm, clip_grad_value, grad_norm

__all__ = ["train_step", "truncated_bptt", "TBPTTResult", "fit", "History", "ProgressBar", "detach_state"]


def detach_state(state):
    """Return the state with every Tensor in it detached (a constant leaf), keeping tuples/lists as they are."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state


def train_step(loss: Tensor, optimizer, *, clip_norm: float | None = None, clip_value: float | None = None) -> float:
    r"""Zero the gradients, back-propagate ``loss``, clip, and update; return the global gradient norm
    before clipping."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"train_step: loss must be a gradlab Tensor, got {type(loss).__name__}")
    if loss.data.size != 1:
        raise ValueError(f"train_step: the loss must be a single number, got shape {loss.shape}; "
                         f"reduce it first (e.g. .sum())")
    optimizer.zero_grad()
    loss.backward()
    if clip_value is not None:
        clip_grad_value(optimizer.params, clip_value)
    norm = clip_grad_norm(optimizer.params, clip_norm) if clip_norm is not None else grad_norm(optimizer.params)
    optimizer.step()
    return norm


# ------------------------------------------------------------------------------------ truncated BPTT
@dataclass
class TBPTTResult:
    """What :func:`truncated_bptt` did: the summed window losses, the final state (detached), the
    number of windows (= updates when an optimiser was given) and each window's gradient norm."""

    loss: float
    final_state: object
    windows: int
    grad_norms: list = field(default_factory=list)


def _step_states(run, n: int) -> list:
    """The states after steps 1..n of an unroll (dropping s_0 if the unroll lists it)."""
    states = list(run.states)
    if len(states) == n + 1:
        states = states[1:]
    if len(states) != n:
        raise ValueError(f"truncated_bptt: unroll returned {len(states)} states for {n} steps")
    return states


def truncated_bptt(cell, xs, targets, loss_fn, k1: int, k2: int | None = None, *, state=None, optimizer=None,
                   clip_norm: float | None = None, clip_value: float | None = None, fused: bool = False,
                   unroll=None) -> TBPTTResult:
    r"""Run BPTT(k1, k2) of ``cell`` over the sequence ``xs`` (T, B, D) or (T, D); return a :class:`TBPTTResult`.

    Every k1 steps, ``loss_fn(outputs, targets[a:b])`` is called with the outputs y_t of the k1 steps
    a+1..b just taken (a list of Tensors) and must return a scalar Tensor; it is back-propagated
    through steps a−(k2−k1)+1..b, i.e. k2 steps back from the window's end (k2 ≥ k1, default k1;
    the last window may be shorter when k1 does not divide T), and then, if an ``optimizer`` is given, the
    gradients are clipped and the parameters updated. Without an optimiser the window gradients
    accumulate in ``.grad``, so their sum can be compared with full BPTT. ``state`` is the initial
    state s_0 (the cell's default when None); it is used as given (gradients reach it) in windows
    that start at t = 0, and every later window starts from a detached state. Steps keep their
    position in the whole sequence as time step (window steps are t = a+1..b). ``fused`` is passed to
    :func:`~gradlab.nn.unroll`; ``unroll`` replaces it (a function ``(cell, xs, state) -> Unrolled``).
    """
    if unroll is None:
        from .unroll import unroll as _unroll

        def unroll(cell, xs, state, start):
            return _unroll(cell, xs, state, start=start, fused=fused)
    else:
        custom = unroll

        def unroll(cell, xs, state, start):
            return custom(cell, xs, state)
    for what, k in (("k1", k1), ("k2", k2)):
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"truncated_bptt: {what} must be a positive int, got {k!r}")
    k2 = k1 if k2 is None else k2
    if k2 < k1:
        raise ValueError(f"truncated_bptt: k2={k2} < k1={k1}; the loss of the last k1 steps must be "
                         f"back-propagated through at least those k1 steps (use k2 >= k1)")
    T = len(xs)
    if T == 0:
        raise ValueError("truncated_bptt: the input sequence is empty (T = 0)")
    if targets is not None and len(targets) != T:
        raise ValueError(f"truncated_bptt: {len(targets)} targets for a sequence of T={T} steps "
                         f"(xs has shape {tuple(getattr(xs, 'shape', (T,)))})")
    saved = {0: state}          # position (steps consumed) -> state there; detached except at 0
    total, windows, norms = 0.0, 0, []
    pos = 0
    while pos < T:
        end = min(pos + k1, T)
        start = max(0, pos - (k2 - k1))
        run = unroll(cell, xs[start:end], saved[start], start + 1)
        outputs = list(run.outputs)[pos - start:]
        loss = loss_fn(outputs, None if targets is None else targets[pos:end])
        if not isinstance(loss, Tensor) or loss.data.size != 1:
            raise ValueError(f"truncated_bptt: loss_fn must return a scalar Tensor, got {loss!r} "
                             f"for steps {pos + 1}..{end}")
        if optimizer is not None:
            norms.append(train_step(loss, optimizer, clip_norm=clip_norm, clip_value=clip_value))
        else:
            loss.backward()
        total += float(loss.item())
        windows += 1
        next_start = max(0, end - (k2 - k1))
        for j, s in enumerate(_step_states(run, end - start), start=start + 1):
            if j >= next_start and j not in saved:
                saved[j] = detach_state(s)
        for j in [j for j in saved if j < next_start]:
            del saved[j]
        pos = end
    return TBPTTResult(total, saved[T], windows, norms)


# ------------------------------------------------------------------------------------ progress bar
class ProgressBar:
    """Deprecated: use :func:`gradlab.progress.progress_bar` (a ``tqdm`` bar; :func:`fit` uses it).

    Kept for code written against gradlab's former hand-drawn bar, with the same arguments: ``total``,
    ``desc``, ``stream``, ``enabled`` (True / False / None: only on a terminal or in a notebook, after
    ``after`` seconds); ``interval`` and ``width`` are ignored. ``update(n, info)`` advances the bar and shows
    ``info`` after it. Constructing one warns with a ``DeprecationWarning``."""

    def __init__(self, total: int | None = None, desc: str = "", *, stream=None, enabled: bool | None = None,
                 after: float = 1.0, interval: float = 5.0, width: int = 24):
        import warnings

        from ..progress import progress_bar

        warnings.warn("gradlab.nn.ProgressBar is deprecated: gradlab draws its progress with tqdm; use "
                      "gradlab.progress.progress_bar(total, desc, enabled=..., stream=...)", DeprecationWarning,
                      stacklevel=2)
        self._bar = progress_bar(total, desc, enabled=enabled, stream=stream, delay=after)

    @property
    def n(self) -> int:
        """The number of steps counted so far."""
        return self._bar.n

    def update(self, n: int = 1, info: str | None = None) -> None:
        """Advance by ``n`` steps and set the text shown after the bar (e.g. the running loss)."""
        if info is not None:
            self._bar.set_postfix_str(info, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ------------------------------------------------------------------------------------ the loop
@dataclass(repr=False)
class History:
    """What :func:`fit` recorded: the loss and gradient norm of every step, the mean loss of each
    epoch, the wall-clock seconds, whether a callback stopped the run early, and the reports of steps that
    update the parameters themselves (e.g. :class:`~gradlab.nn.hessian_free.HFReport`: λ, CG iterations)."""

    losses: list = field(default_factory=list)
    grad_norms: list = field(default_factory=list)
    reports: list = field(default_factory=list)
    epoch_losses: list = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def steps(self) -> int:
        """The number of steps taken."""
        return len(self.losses)

    def curve(self, points: int = 10) -> list:
        """Return about ``points`` pairs (step, mean loss over the steps since the previous pair)."""
        n = len(self.losses)
        if n == 0:
            return []
        edges = sorted({round(n * i / points) for i in range(points + 1)})
        return [(b, sum(self.losses[a:b]) / (b - a)) for a, b in zip(edges, edges[1:]) if b > a]

    def summary(self) -> str:
        """Return the run in one line: steps, first and last loss, the largest gradient norm, seconds."""
        if not self.losses:
            return "History: no steps"
        parts = [f"{self.steps} steps", f"loss {self.losses[0]:.4g} → {self.losses[-1]:.4g}"]
        if self.grad_norms:
            parts.append(f"largest gradient norm {max(self.grad_norms):.3g}")
        if self.stopped_early:
            parts.append("stopped early")
        parts.append(f"{self.seconds:.2f} s")
        return "History: " + ", ".join(parts)

    def __repr__(self) -> str:
        return f"<{self.summary()}>"

    def figure(self, *, title: str | None = None, size="wide"):
        """Return a Matplotlib figure of the loss and the gradient norm at every step
        (:func:`gradlab.display.history_figure`); write it with :func:`gradlab.render.plots.save`."""
        from ..display import history_figure

        return history_figure(self, title=title, size=size)

    def _repr_svg_(self):
        """Jupyter: the run as a plot (nothing for a run without steps)."""
        if not self.losses:
            return None
        from ..display import figure_svg

        return figure_svg(self.figure())

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.summary())


def fit(step, batches, optimizer=None, *, epochs: int = 1, clip_norm: float | None = None,
        clip_value: float | None = None, callback=None, progress: bool | None = None, desc: str = "train",
        stream=None, smoothing: float = 0.95, live: bool | None = None) -> History:
    r"""Train for ``epochs`` passes over ``batches``; return the :class:`History`.

    ``step(batch)`` returns either a scalar loss Tensor, which ``fit`` back-propagates, clips
    (``clip_norm`` / ``clip_value``) and applies with ``optimizer`` (see :func:`train_step`), or a
    plain number when the step already updated the parameters itself (e.g. one call of
    :func:`truncated_bptt`), or a report with ``.loss`` (kept in ``History.reports``; its ``summary()``,
    e.g. a Hessian-free step's λ and CG iterations, is shown beside the running loss). ``batches`` is an iterable (``range(n)`` for generated data) or a
    function ``epoch -> iterable`` (to reshuffle each epoch). ``callback(step_index, loss, history)``
    runs after every step; returning True stops training (early stopping).

    Progress is a ``tqdm`` bar (:func:`gradlab.progress.progress_bar`) with the running loss (an exponential
    average with factor ``smoothing``): by default shown on a terminal or in a notebook once a run lasts more
    than a second, never when standard error is a file or a pipe; ``progress`` True/False forces it on/off;
    ``stream`` sends the text bar there instead of standard error. In a Jupyter notebook ``live`` draws the
    loss and the gradient norm of every step as a plot redrawn in place (:class:`gradlab.display.LivePlot`):
    None (default) when the progress bar would be shown there and the run lasts more than a second, True
    from the first step, False never; outside a notebook the text bar alone reports. The returned
    :class:`History` displays as that plot.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive int, got {epochs!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"fit: smoothing must lie in [0, 1), got {smoothing!r}")
    total = None
    if not callable(batches):
        try:
            total = len(batches) * epochs
        except TypeError:
            total = None
    history = History()
    running, weight = 0.0, 0.0
    t0 = time.perf_counter()
    from ..display import LivePlot
    from ..progress import progress_bar

    plot = LivePlot(history, title=desc,
                    enabled=live if live is not None else (False if progress is False or stream is not None else None))
    with progress_bar(total, desc, enabled=progress, stream=stream, unit="step") as bar:
        for epoch in range(epochs):
            source = batches(epoch) if callable(batches) else batches
            epoch_sum, epoch_n = 0.0, 0
            for batch in source:
                out = step(batch)
                if isinstance(out, Tensor):
                    if optimizer is None:
                        raise ValueError("fit: step returned a loss Tensor but no optimizer was given")
                    history.grad_norms.append(train_step(out, optimizer, clip_norm=clip_norm, clip_value=clip_value))
                    value = float(out.item())
                else:
                    value = float(getattr(out, "loss", out))
                    if hasattr(out, "loss"):
                        history.reports.append(out)
                history.losses.append(value)
                epoch_sum, epoch_n = epoch_sum + value, epoch_n + 1
                running, weight = smoothing * running + (1 - smoothing) * value, smoothing * weight + (1 - smoothing)
                extra = out.summary() if callable(getattr(out, "summary", None)) else ""
                bar.set_postfix_str(f"loss {running / weight:.4g}" + (f", {extra}" if extra else ""), refresh=False)
                bar.update(1)
                plot.update()
                if callback is not None and callback(history.steps - 1, value, history):
                    history.stopped_early = True
                    break
            if epoch_n == 0:
                raise ValueError(f"fit: epoch {epoch + 1} had no batches (an iterator can be used only once; "
                                 f"pass a list or a function epoch -> iterable)")
            history.epoch_losses.append(epoch_sum / epoch_n)
            if history.stopped_early:
                break
    history.seconds = time.perf_counter() - t0
    plot.close()
    return history
