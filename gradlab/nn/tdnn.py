r"""The time-delay neural network (TDNN; Waibel, Hanazawa, Hinton, Shikano, Lang 1989): a window of the
last k inputs, read with the *same* weights at every time shift.

One TDNN layer with window k maps a sequence x_1 … x_T (each x_t ∈ ℝ^D) to h_k … h_T (each ∈ ℝ^H):

.. math::
    h_t = \varphi\Big(\sum_{j=0}^{k-1} W_j\, x_{t-j} + b\Big), \qquad t = k, \dots, T,

where W_j (H × D) is the weight of delay j (W_0 reads the newest input) and φ is tanh (or the identity).
It is a 1-D convolution over time (a cross-correlation with the taps W_{k−1}, …, W_0). Here each tap
W_j is a :class:`~gradlab.nn.module.Dense` layer, and the same k Dense objects are called at every
shift t: the weights are *shared across shifts* exactly as an unfolded RNN shares W_x, W_s across time
steps, and reverse mode sums their gradient over the shifts,

.. math::  \frac{\partial E}{\partial W_j} = \sum_{t=k}^{T} \delta_t\, x_{t-j}^{\mathsf T}, \qquad
           \delta_t = \frac{\partial E}{\partial a_t} .

Layers stack: a second layer with window k₂ over the outputs of a first with window k₁ sees
k₁ + k₂ − 1 inputs (:func:`receptive_field`): the context grows with depth, as in Waibel et al.'s
network. What no stack of windows has is a *state*: an input further back than the receptive field
cannot influence the output at all, however the weights are trained, whereas a recurrent network's
state can carry it.

``layer(xs)`` (:meth:`TDNN.forward`) computes all shifts with k matrix products (one per tap, each over
all shifts); :meth:`TDNN.unfold` records one copy per shift, each inside ``gradlab.scope(t=t)``, the
picture :func:`tdnn_figure` draws. Both give the same values and gradients.

:class:`TDNNClassifier` is the arrangement of Waibel et al.'s phoneme classifier: stacked layers whose
last one has one unit per class at every shift, integrated over time into one score per class.
"""
from __future__ import annotations

import math

import numpy as np

from ..engine import ops
from ..engine.context import scope
from ..engine.tensor import Tensor
from .module import ACTIVATIONS, Dense, Module, make_rng

__all__ = ["TDNN", "TDNNClassifier", "receptive_field", "tdnn_figure"]


def _positive(who: str, what: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"{who}: {what} must be a positive int, got {n!r}")
    return int(n)


class TDNN(Module):
    r"""One time-delay layer: ``TDNN(D, H, k)`` reads windows of k inputs of size D and gives H features.

    Parameters (lecture names with ``weight_name="W"``, ``bias_name="b"``): the taps ``W_0 … W_{k−1}``
    (each ``(H, D)``; W_j multiplies x_{t−j}) and the bias ``b (H,)``, stored as the Dense layers
    ``tap0 … tap{k−1}`` (the bias lives in ``tap0``). ``activation`` is ``"tanh"`` (default),
    ``"sigmoid"``, ``"relu"`` or ``"identity"`` (a plain 1-D convolution). Weights are uniform in
    ±1/√(kD) (the fan-in of a window). A second layer in a stack needs other names
    (``weight_name="V"``, ``bias_name="c"``) so that every parameter keeps a distinct lecture name.

    Inputs are sequences ``(T, D)`` or ``(T, B, D)``; the output has ``T − k + 1`` steps, the one at
    index i belonging to input time t = i + k (the newest input it reads).

    >>> import numpy as np
    >>> layer = TDNN(1, 2, 3, rng=0)
    >>> layer(np.zeros((5, 1))).shape
    (3, 2)
    """

    def __init__(self, in_features: int, out_features: int, window: int, *, activation: str = "tanh",
                 weight_name: str = "W", bias_name: str = "b", name: str | None = "tdnn", rng=None,
                 dtype=np.float64):
        super().__init__(name)
        who = f"TDNN {name!r}" if name else "TDNN"
        self.in_features = _positive(who, "in_features", in_features)
        self.out_features = _positive(who, "out_features", out_features)
        self.window = _positive(who, "window", window)
        if activation not in ACTIVATIONS:
            raise ValueError(f"{who}: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.weight_name, self.bias_name = str(weight_name), str(bias_name)
        rng = make_rng(rng)
        bound = 1.0 / math.sqrt(self.window * self.in_features)
        self.taps = []
        for j in range(self.window):
            tap = Dense(self.in_features, self.out_features, bias=j == 0, name=f"{weight_name}_{j}",
                        weight_name=f"{weight_name}_{j}", bias_name=bias_name, rng=rng, dtype=dtype)
            tap.weight.data = rng.uniform(-bound, bound, tap.weight.shape).astype(dtype)
            setattr(self, f"tap{j}", tap)
            self.taps.append(tap)

    @property
    def who(self) -> str:
        """The layer as named in messages, e.g. ``"TDNN 'tdnn'"``."""
        return f"TDNN {self.name!r}" if self.name else "TDNN"

    def weights(self) -> np.ndarray:
        """Return the taps stacked as one array ``(k, H, D)`` (``[j]`` is W_j), a copy."""
        return np.stack([tap.weight.numpy() for tap in self.taps])

    def set_weights(self, W, b) -> None:
        """Set the taps from ``W`` of shape ``(k, H, D)`` and the bias from ``b`` of shape ``(H,)``."""
        W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
        k, H, D = self.window, self.out_features, self.in_features
        if W.shape != (k, H, D) or b.shape != (H,):
            raise ValueError(f"{self.who}: set_weights needs W of shape {(k, H, D)} and b of shape {(H,)}, "
                             f"got {W.shape} and {b.shape}")
        for j, tap in enumerate(self.taps):
            tap.weight.data = W[j].astype(tap.weight.dtype)
        self.taps[0].bias.data = b.astype(self.taps[0].bias.dtype)

    def _check(self, T: int, D: int, shape) -> None:
        if T == 0:
            raise ValueError(f"{self.who}: empty sequence: the input has 0 time steps (shape {shape})")
        if D != self.in_features:
            raise ValueError(f"{self.who}: expected inputs with {self.in_features} features on the last axis, "
                             f"got shape {shape}")
        if T < self.window:
            raise ValueError(f"{self.who}: the window (k = {self.window}) is longer than the sequence "
                             f"(T = {T} steps, input shape {shape}); give at least {self.window} steps")

    def forward(self, xs) -> Tensor:
        r"""Return h for every shift, ``(T − k + 1, …, H)``: tap j is one matrix product over all shifts
        (x_{t−j} for t = k … T), the taps are added, then φ."""
        x = xs if isinstance(xs, Tensor) else Tensor(np.asarray(xs, dtype=self.taps[0].weight.dtype), name="xs")
        if x.ndim < 2:
            raise ValueError(f"{self.who}: inputs must have shape (T, D) or (T, B, D), got {x.shape}")
        T = x.shape[0]
        self._check(T, x.shape[-1], x.shape)
        k = self.window
        a = None
        for j, tap in enumerate(self.taps):
            shifted = x[k - 1 - j: T - j]            # x_{t-j} for t = k .. T
            term = tap(shifted)
            a = term if a is None else ops.add(a, term)
        return ACTIVATIONS[self.activation](a)

    def unfold(self, xs, times=None):
        r"""Return ``(times, outputs)``: the layer applied shift by shift, each shift t recorded inside
        ``gradlab.scope(t=t)`` and calling the same tap layers (the unfolded picture).

        ``xs`` is a list of per-step inputs (Tensors or arrays, each ``(…, D)``) with their ``times``
        (default 1 … T), e.g. the outputs of a previous layer's ``unfold``; or one array ``(T, …, D)``,
        sliced step by step (each x_t recorded at its own t). The outputs are h_t for t = times[k−1:]."""
        if isinstance(xs, (list, tuple)):
            steps = [x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64)) for x in xs]
            if not steps:
                raise ValueError(f"{self.who}: empty sequence: no inputs to unfold")
            times = list(range(1, len(steps) + 1)) if times is None else list(times)
            if len(times) != len(steps):
                raise ValueError(f"{self.who}: {len(times)} times for {len(steps)} inputs")
            self._check(len(steps), steps[0].shape[-1] if steps[0].ndim else 0, f"{len(steps)} × {steps[0].shape}")
        else:
            whole = xs if isinstance(xs, Tensor) else Tensor(np.asarray(xs, dtype=np.float64), name="xs")
            if whole.ndim < 2:
                raise ValueError(f"{self.who}: inputs must have shape (T, D) or (T, B, D), got {whole.shape}")
            self._check(whole.shape[0], whole.shape[-1], whole.shape)
            times = list(range(1, whole.shape[0] + 1)) if times is None else list(times)
            steps = []
            for i, t in enumerate(times):
                with scope(t=t):
                    steps.append(whole[i])
        k, act = self.window, ACTIVATIONS[self.activation]
        outs = []
        for i in range(k - 1, len(steps)):
            with scope(t=times[i]):
                a = None
                for j, tap in enumerate(self.taps):
                    term = tap(steps[i - j])
                    a = term if a is None else ops.add(a, term)
                outs.append(act(a))
        return times[k - 1:], outs

    def __repr__(self) -> str:
        return (f"TDNN(name={self.name!r}, D={self.in_features}, H={self.out_features}, k={self.window}, "
                f"{self.activation})")


_WEIGHT_NAMES, _BIAS_NAMES = ("W", "V", "U", "Q", "R"), ("b", "c", "e", "f", "g")


class TDNNClassifier(Module):
    r"""Stacked TDNN layers with one unit per class in the last, integrated over time: a sequence classifier
    whose every weight is shared across time shifts, so that what it learns at one position in time it
    applies at every other.

    ``TDNNClassifier(D, hidden, windows, classes)``: layer i has window ``windows[i]``; the hidden layers
    have ``hidden[i]`` tanh units, the last has ``classes`` units with ``last_activation`` (default
    ``"identity"``). The default, ``TDNNClassifier()``, is the arrangement of Waibel, Hanazawa, Hinton,
    Shikano & Lang (1989) for /b/, /d/, /g/ as it is usually described: 16 input coefficients per frame,
    8 units reading 3 frames, 3 units reading 5 frames of those (a receptive field of 7 frames), and one
    output per class integrating its row over time. The abstract gives the three-layer time-delay
    arrangement and the classes; the sizes are not checked against the paper, and the integration here
    is the *mean* over shifts of a linear last layer, used as the logits of a softmax (modern choices:
    the paper's units and training criterion may differ).

    ``model(xs)`` with ``xs (T, B, D)`` returns the logits ``(B, classes)`` (``(classes,)`` for one
    sequence ``(T, D)``); :meth:`scores` returns the per-shift outputs before the integration. The layers
    are ``layer0, layer1, …`` (weights W, V, U, … with biases b, c, e, …).

    >>> import numpy as np
    >>> model = TDNNClassifier(rng=0)
    >>> model(np.zeros((15, 4, 16))).shape, model.receptive_field, model.num_parameters
    ((4, 3), 7, 515)
    """

    def __init__(self, in_features: int = 16, hidden=(8,), windows=(3, 5), classes: int = 3, *,
                 activation: str = "tanh", last_activation: str = "identity", name: str | None = "tdnn_classifier",
                 rng=None):
        super().__init__(name)
        who = f"TDNNClassifier {name!r}" if name else "TDNNClassifier"
        hidden, windows = tuple(hidden), tuple(windows)
        if len(windows) != len(hidden) + 1:
            raise ValueError(f"{who}: {len(hidden)} hidden layers need {len(hidden) + 1} windows (one per layer, "
                             f"the last for the class layer), got windows={windows!r}")
        if len(windows) > len(_WEIGHT_NAMES):
            raise ValueError(f"{who}: at most {len(_WEIGHT_NAMES)} layers, got {len(windows)}")
        sizes = (_positive(who, "in_features", in_features),
                 *(_positive(who, f"hidden[{i}]", h) for i, h in enumerate(hidden)),
                 _positive(who, "classes", classes))
        rng = make_rng(rng)
        self.layers = []
        for i, k in enumerate(windows):
            last = i == len(windows) - 1
            layer = TDNN(sizes[i], sizes[i + 1], k, activation=last_activation if last else activation,
                         weight_name=_WEIGHT_NAMES[i], bias_name=_BIAS_NAMES[i], name=f"layer{i}", rng=rng)
            setattr(self, f"layer{i}", layer)
            self.layers.append(layer)
        self.classes = sizes[-1]

    @property
    def receptive_field(self) -> int:
        """How many input frames one output shift sees: 1 + Σ (k_i − 1)."""
        return receptive_field(*self.layers)

    @property
    def num_parameters(self) -> int:
        """The number of trained numbers (weights and biases)."""
        return int(sum(p.data.size for p in self.parameters()))

    def scores(self, xs) -> Tensor:
        """Return the last layer's outputs at every shift, ``(T − receptive_field + 1, …, classes)``."""
        x = xs
        for layer in self.layers:
            x = layer(x)
        return x

    def forward(self, xs) -> Tensor:
        """Return the logits: the per-shift class scores averaged over the shifts (axis 0)."""
        return ops.mean(self.scores(xs), axis=0)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"TDNNClassifier({inner}; mean over time)"


def receptive_field(*layers: TDNN) -> int:
    r"""Return how many inputs one output of the stacked ``layers`` sees: 1 + Σ (k_i − 1)."""
    if not layers:
        raise ValueError("receptive_field: give at least one TDNN layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, TDNN):
            raise TypeError(f"receptive_field: item {i} is {type(layer).__name__}, not a TDNN layer")
    return 1 + sum(layer.window - 1 for layer in layers)


def tdnn_figure(layers, T: int, *, title: str | None = None, rng=0):
    r"""Return the unfolded figure (a :class:`gradlab.render.Figure`) of the stacked TDNN ``layers`` run
    shift by shift on T seeded random inputs, with the loss E = Σ_t ½‖y_t − d_t‖² on the last layer.

    Inputs x_t are drawn at the bottom, the last layer's outputs y_t above them, hidden layers (if any)
    as h_t in between; every edge x_{t−j} → h_t is labelled with the tap W_j that carries it, in one
    colour per tap, so the same W_j appears at every shift (:func:`gradlab.render.windows.window_figure`)."""
    from ..engine.graph import Graph
    from ..render.structure import Unfolding
    from ..render.windows import window_figure
    from .losses import mse_half

    if isinstance(layers, TDNN):
        layers = [layers]
    layers = list(layers)
    receptive = receptive_field(*layers)
    if isinstance(T, bool) or not isinstance(T, int) or T < receptive:
        raise ValueError(f"tdnn_figure: T must be an int of at least the receptive field ({receptive}), got {T!r}")
    rng = make_rng(rng)
    whole = Tensor(rng.normal(size=(T, layers[0].in_features)), name="xs")
    inputs = {}
    for t in range(1, T + 1):
        with scope(t=t):
            inputs[t] = whole[t - 1]                  # x_t, recorded at its own step
    times, seq = list(inputs), list(inputs.values())
    hidden = []
    for k, layer in enumerate(layers):
        if k > 0:
            hidden.append(dict(zip(times, seq)))
        times, seq = layer.unfold(seq, times=times)
    losses, total = {}, None
    for t, y in zip(times, seq):
        losses[t] = mse_half(y, rng.normal(size=y.shape))
        total = losses[t] if total is None else ops.add(total, losses[t])
    names = {x: "x" for x in inputs.values()}
    states = {t: [] for t in inputs}
    for h in hidden:
        for t, node in h.items():
            states[t].append(node)
            names[node] = "h"
    names.update({y: "y" for y in seq})
    hints = {"inputs": {t: [x] for t, x in inputs.items()}, "states": states,
             "outputs": {t: [y] for t, y in zip(times, seq)}, "losses": {t: [losses[t]] for t in times},
             "names": names, "cell": "TDNN", "initial": []}
    return window_figure(Unfolding(Graph(total), hints), title=title)
