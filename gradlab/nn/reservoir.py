r"""Echo-state networks: a fixed random recurrent *reservoir* and a trained linear *readout*.

The reservoir is an Elman-like cell whose weights are drawn once and never trained; only the output
layer is learned, and because the states do not depend on it, learning it is linear regression on the
recorded states: no gradient flows through time (no BPTT). The leaky-integrator form (Jaeger,
Lukoševičius, Popovici, Siewert 2007), in the lecture's notation:

.. math::
    \begin{aligned}
    \tilde s_t &= \varphi\big(W_x x_t + W_s s_{t-1} + W_{fb}\, y_{t-1} + b_s\big) \\
    s_t &= (1 - \alpha)\, s_{t-1} + \alpha\, \tilde s_t \\
    y_t &= W_y s_t + b_y
    \end{aligned}

with leak rate α ∈ (0, 1] (α = 1: the plain ESN), φ = tanh (or the identity: a linear reservoir) and
the output feedback term W_fb y_{t−1} only when ``feedback=True``. W_x, W_s, b_s and W_fb are
:class:`~gradlab.nn.module.Fixed`: recorded in the graph like any weight (so figures draw them, marked
fixed) but asking for no gradient; W_y, b_y are Parameters.

**Making the reservoir.** W_s is random and sparse (each entry non-zero with probability
``connectivity``, values N(0, 1)) and then scaled so that its spectral radius ρ(W_s) (largest
|eigenvalue|) is ``spectral_radius``; ``topology="cycle"`` is instead the simple cycle reservoir of
Rodan & Tiňo (2011), ρ times a cyclic shift (each unit feeds the next), with input weights of equal
magnitude and random signs. W_x is uniform in ±``input_scaling``, b_s uniform in ±``bias_scaling``
(zero by default), W_fb uniform in ±``feedback_scaling``.

**The echo state property.** The state must be a function of the input history alone: two different
initial states driven by the same input converge. For φ = tanh it holds when the largest singular
value of (1−α) I + α W_s is below 1 (a contraction; Jaeger 2001, Prop. 3a) and in practice when the
*effective* spectral radius ρ((1−α) I + α W_s) is below 1; above 1 the zero state is unstable and it
fails for small inputs. :func:`state_distance` measures it.

**The readout in closed form.** :func:`ridge_readout` minimises, over the states after a washout,

.. math::  E = \tfrac12 \sum_t \lVert W_y s_t + b_y - d_t \rVert^2 + \tfrac{\lambda}{2} \lVert W_y \rVert_F^2

(the bias is not penalised), and :func:`train_readout` reaches the same minimum by gradient descent
through gradlab's engine, to show that the closed form is that loss's minimiser.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine import ops
from ..engine.context import no_grad, scope
from ..engine.tensor import Tensor
from .cells import RecurrentCell
from .module import ACTIVATIONS, Dense, Fixed, Module, make_rng

__all__ = ["ReservoirCell", "spectral_radius", "fixed_weights", "reservoir_states", "ridge_readout", "fit_readout",
           "train_readout", "free_run", "state_distance", "memory_capacity", "MemoryCapacity"]


def _number(who: str, what: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise TypeError(f"{who}: {what} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{who}: {what} must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{who}: {what} must be {'<' if high_open else '<='} {high:g}, got {value!r}")
    return value


def spectral_radius(W) -> float:
    r"""Return ρ(W) = max |λ_i(W)|, the largest absolute eigenvalue of the square matrix ``W``."""
    W = np.asarray(getattr(W, "data", W), dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"spectral_radius: W must be a square matrix, got shape {W.shape}")
    return float(np.max(np.abs(np.linalg.eigvals(W)))) if W.size else 0.0


def fixed_weights(module: Module) -> dict:
    """Return {name: Fixed weight} of ``module`` and its sub-modules (the weights no optimiser sees)."""
    found, stack = {}, [module]
    while stack:
        m = stack.pop(0)
        for value in vars(m).values():
            if isinstance(value, Fixed) and value.name not in found:
                found[value.name] = value
        stack.extend(m._registry("_modules").values())
    return found


def _cycle_signs(rng, N: int, D: int, tries: int = 32) -> np.ndarray:
    r"""Input signs (N, D) for a cycle reservoir: per column, the best of ``tries`` random ±1 patterns by
    the smallest |DFT| coefficient. Driving a cycle, the input column v reaches the states through the
    circulant matrix [v, Pv, P²v, …], which is singular exactly when a DFT coefficient of v is 0 (e.g.
    as many + as − signs): such a pattern would waste units (Rodan & Tiňo ask for an aperiodic one)."""
    cols = []
    for _ in range(D):
        cands = np.where(rng.random((tries, N)) < 0.5, -1.0, 1.0)
        cols.append(cands[np.argmax(np.min(np.abs(np.fft.fft(cands, axis=1)), axis=1))])
    return np.stack(cols, axis=1)


class ReservoirCell(RecurrentCell):
    r"""A leaky-integrator echo-state reservoir with a linear readout (see the module docstring).

    ``ReservoirCell(D, N, O)``: D inputs, N reservoir units, O readout outputs (None: no readout, the
    states are the output). Keyword arguments: ``spectral_radius`` ρ (> 0; default 0.9),
    ``input_scaling`` (default 1), ``bias_scaling`` (default 0), ``connectivity`` (fraction of non-zero
    recurrent weights, in (0, 1]; default 0.1; sparsity is 1 − connectivity), ``leak_rate`` α (in
    (0, 1]; default 1), ``activation`` (``"tanh"`` or ``"identity"``), ``topology`` (``"random"`` or
    ``"cycle"``), ``feedback`` (feed y_{t−1} back through W_fb; needs O) and ``feedback_scaling``.

    Shapes: ``W_x (N, D)``, ``W_s (N, N)``, ``b_s (N,)``, ``W_fb (N, O)`` (fixed); ``W_y (O, N)``, ``b_y (O,)``
    (trained). The state is ``s_t`` (N,), or the pair ``(s_t, y_t)`` with feedback (like the Jordan cell).
    ``cell.W_s`` finds a fixed weight by its lecture name as it finds a parameter.

    >>> cell = ReservoirCell(1, 50, 1, spectral_radius=0.9, rng=0)
    >>> round(spectral_radius(cell.W_s), 6), [p.name for p in cell.parameters()]
    (0.9, ['W_y', 'b_y'])
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None, *,
                 spectral_radius: float = 0.9, input_scaling: float = 1.0, bias_scaling: float = 0.0,
                 connectivity: float = 0.1, leak_rate: float = 1.0, activation: str = "tanh",
                 topology: str = "random", feedback: bool = False, feedback_scaling: float = 1.0,
                 name: str | None = "reservoir", **kwargs):
        super().__init__(input_size, hidden_size, output_size, name=name, **kwargs)
        who = "ReservoirCell"
        self.spectral_radius = _number(who, "spectral_radius", spectral_radius, low=0, low_open=True)
        self.input_scaling = _number(who, "input_scaling", input_scaling, low=0)
        self.bias_scaling = _number(who, "bias_scaling", bias_scaling, low=0)
        self.connectivity = _number(who, "connectivity", connectivity, low=0, high=1, low_open=True)
        self.leak_rate = _number(who, "leak_rate", leak_rate, low=0, high=1, low_open=True)
        self.feedback_scaling = _number(who, "feedback_scaling", feedback_scaling, low=0)
        if activation not in ACTIVATIONS:
            raise ValueError(f"{who}: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if topology not in ("random", "cycle"):
            raise ValueError(f"{who}: topology must be 'random' (sparse random W_s) or 'cycle' (simple cycle "
                             f"reservoir), got {topology!r}")
        self.activation, self.topology, self.feedback = activation, topology, bool(feedback)
        if self.feedback and self.output_size is None:
            raise ValueError(f"{who}: feedback=True feeds y_(t-1) back into the reservoir, so output_size is required")
        if self.feedback:
            self.state_names = ("s", "y")
            self.output_after_loop = False        # y_t feeds the next step: no batched output layer
        N, D, rng = self.hidden_size, self.input_size, self._rng
        W_s = self._recurrent_matrix(rng)
        if topology == "cycle":
            W_x = self.input_scaling * _cycle_signs(rng, N, D)
        else:
            W_x = rng.uniform(-self.input_scaling, self.input_scaling, (N, D))
        b_s = rng.uniform(-self.bias_scaling, self.bias_scaling, N) if self.bias_scaling > 0 else np.zeros(N)
        self.input_layer = self._fixed_dense(W_x, b_s, "W_x", "b_s")
        self.recurrent_layer = self._fixed_dense(W_s, None, "W_s", None)
        if self.feedback:
            W_fb = rng.uniform(-self.feedback_scaling, self.feedback_scaling, (N, self.output_size))
            self.feedback_layer = self._fixed_dense(W_fb, None, "W_fb", None)
        self._finish_init()

    def _recurrent_matrix(self, rng) -> np.ndarray:
        N = self.hidden_size
        if self.topology == "cycle":
            W = np.zeros((N, N))
            W[np.arange(1, N + 1) % N, np.arange(N)] = 1.0       # unit i feeds unit i+1 (and the last the first)
            return self.spectral_radius * W
        for _ in range(20):     # a very sparse draw may have no cycle (ρ = 0): draw again
            W = np.where(rng.random((N, N)) < self.connectivity, rng.normal(size=(N, N)), 0.0)
            rho = spectral_radius(W)
            if rho > 1e-12:
                return W * (self.spectral_radius / rho)
        raise ValueError(f"ReservoirCell: 20 random recurrent matrices drawn with connectivity "
                         f"{self.connectivity:g} for N={N} units all had spectral radius 0 (too few connections "
                         f"to form a cycle); raise connectivity or N")

    def _fixed_dense(self, W, b, weight: str, bias: str | None) -> Dense:
        n_out, n_in = W.shape
        layer = Dense(n_in, n_out, bias=bias is not None, name=weight, weight_name=weight, bias_name=bias or "b",
                      rng=0, dtype=self.dtype)
        layer.weight = Fixed(np.asarray(W, dtype=self.dtype), weight)
        if bias is not None:
            layer.bias = Fixed(np.asarray(b, dtype=self.dtype), bias)
        return layer

    def __getattr__(self, key: str):
        try:
            return super().__getattr__(key)
        except AttributeError:
            if key.startswith("_") or "_modules" not in self.__dict__:
                raise
            found = fixed_weights(self).get(key)
            if found is None:
                raise
            return found

    @property
    def effective_spectral_radius(self) -> float:
        r"""ρ((1 − α) I + α W_s): the spectral radius of the linearised leaky update around 0."""
        a = self.leak_rate
        return spectral_radius((1 - a) * np.eye(self.hidden_size) + a * self.recurrent_layer.weight.numpy())

    def state_sizes(self) -> tuple:
        return (self.hidden_size, self.output_size) if self.feedback else (self.hidden_size,)

    def _recur(self, u, state, w):
        s_prev, y_prev = state if self.feedback else (state, None)
        layer = self.recurrent_layer
        with scope(layer.name):        # W_s s_{t-1} + (W_x x_t + b_s) as one node
            a = ops.linear(s_prev, layer.weight, u)
        if self.feedback:
            a = ops.add(a, self.feedback_layer(y_prev))
        new = ACTIVATIONS[self.activation](a)
        alpha = self.leak_rate
        # s_t = s_{t-1} + α (s̃_t − s_{t-1}), the leaky update (1 − α) s_{t-1} + α s̃_t written with one product
        s = new if alpha == 1.0 else ops.add(s_prev, ops.mul(ops.sub(new, s_prev), alpha))
        return (s, self.output(s)) if self.feedback else s

    def emit(self, state) -> Tensor:
        return state[1] if self.feedback else self.output(state)

    def extra_repr(self) -> str:
        fb = ", feedback" if self.feedback else ""
        return (f"{super().extra_repr()}, rho={self.spectral_radius:g}, leak={self.leak_rate:g}, "
                f"connectivity={self.connectivity:g}, {self.topology}, {self.activation}{fb}")


# ------------------------------------------------------------------------------------ running
def _inputs(cell: ReservoirCell, xs, who: str) -> np.ndarray:
    if not isinstance(cell, ReservoirCell):
        raise TypeError(f"{who}: expected a ReservoirCell, got {type(cell).__name__}")
    x = np.asarray(getattr(xs, "data", xs), dtype=cell.dtype)
    if x.ndim < 2:
        raise ValueError(f"{who}: inputs must have shape (T, D) or (T, B, D), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{who}: empty sequence: the inputs have 0 time steps (shape {x.shape})")
    if x.shape[-1] != cell.input_size:
        raise ValueError(f"{who}: expected inputs with {cell.input_size} features (input_size) on the last axis, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{who}: the inputs contain NaN or Inf")
    return x


def _as_state(cell, state, batch_shape):
    if state is None:
        return cell.initial_state(batch_shape)
    return cell.check_state(state, batch_shape, where="(initial state)")


def reservoir_states(cell: ReservoirCell, xs, *, state=None, teacher=None):
    r"""Drive the reservoir with ``xs`` (T, D) or (T, B, D) and return ``(states, final_state)``: the
    states s_1 … s_T as a NumPy array (T, …, N), and the last state (Tensors) to continue from.

    Nothing is recorded (``no_grad``): these states are data for the readout. With ``feedback=True``,
    ``teacher`` (T, …, O) forces the fed-back value: step t reads ``teacher[t-1]`` instead of its own
    y_{t−1} (teacher forcing; step 1 reads the y of ``state``, zeros by default)."""
    who = "reservoir_states"
    x = _inputs(cell, xs, who)
    T, batch = x.shape[0], x.shape[1:-1]
    if teacher is not None:
        if not cell.feedback:
            raise ValueError(f"{who}: teacher forcing needs a reservoir with feedback=True")
        teacher = np.asarray(getattr(teacher, "data", teacher), dtype=cell.dtype)
        if teacher.shape != (T,) + batch + (cell.output_size,):
            raise ValueError(f"{who}: teacher has shape {teacher.shape}, expected {(T,) + batch + (cell.output_size,)} "
                             f"(one fed-back output per input step)")
    out = np.empty((T,) + batch + (cell.hidden_size,), dtype=cell.dtype)
    with no_grad():
        state = _as_state(cell, state, batch)
        u_all = cell._project(Tensor(x))
        for k in range(T):
            if teacher is not None and k > 0:
                state = (state[0], Tensor(teacher[k - 1]))
            state = cell._recur(u_all[k], state, None)
            out[k] = cell.hidden(state).data
    return out, state


def _design(states, targets, washout: int, who: str):
    S = np.asarray(states, dtype=np.float64)
    D = np.asarray(getattr(targets, "data", targets), dtype=np.float64)
    if S.ndim < 2:
        raise ValueError(f"{who}: states must have shape (T, N) or (T, B, N), got {S.shape}")
    if D.ndim == S.ndim - 1:
        D = D[..., None]
    if D.shape[:-1] != S.shape[:-1]:
        raise ValueError(f"{who}: targets of shape {D.shape} do not match states of shape {S.shape} "
                         f"(one target row per state)")
    if isinstance(washout, bool) or not isinstance(washout, (int, np.integer)) or washout < 0:
        raise ValueError(f"{who}: washout must be an int >= 0, got {washout!r}")
    if washout >= S.shape[0]:
        raise ValueError(f"{who}: the washout ({washout} steps) leaves none of the {S.shape[0]} time steps to fit on")
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(D))):
        raise ValueError(f"{who}: the states or targets contain NaN or Inf")
    N, O = S.shape[-1], D.shape[-1]
    return S[washout:].reshape(-1, N), D[washout:].reshape(-1, O)


def ridge_readout(states, targets, *, ridge: float = 1e-6, washout: int = 0):
    r"""Return ``(W_y, b_y)`` minimising ½Σ_t‖W_y s_t + b_y − d_t‖² + ½λ‖W_y‖² over the steps after
    ``washout`` (λ = ``ridge`` ≥ 0; the bias is not penalised).

    With the states and targets centred (S̄, D̄ their means), W_yᵀ = (S̄ᵀS̄ + λI)⁻¹S̄ᵀD̄ and
    b_y = mean(d) − W_y mean(s). It is computed from the SVD S̄ = UΣVᵀ as W_yᵀ = V diag(σ/(σ² + λ)) UᵀD̄,
    which never forms S̄ᵀS̄ (whose condition number is the square of S̄'s)."""
    who = "ridge_readout"
    lam = _number(who, "ridge", ridge, low=0)
    S, D = _design(states, targets, washout, who)
    ms, md = S.mean(axis=0), D.mean(axis=0)
    U, sig, Vt = np.linalg.svd(S - ms, full_matrices=False)
    if lam == 0:
        keep = sig > sig.max(initial=0.0) * max(S.shape) * np.finfo(np.float64).eps
        gain = np.where(keep, 1.0 / np.where(keep, sig, 1.0), 0.0)
    else:
        gain = sig / (sig ** 2 + lam)
    W = ((Vt.T * gain) @ (U.T @ (D - md))).T
    return W, md - W @ ms


def fit_readout(cell: ReservoirCell, xs, targets, *, ridge: float = 1e-6, washout: int = 0, state=None,
                teacher_forcing: bool = False) -> np.ndarray:
    r"""Train the readout of ``cell`` in closed form (:func:`ridge_readout`) on the states that ``xs``
    drives; write it into ``W_y``, ``b_y`` and return the states (T, …, N).

    ``teacher_forcing=True`` (a reservoir with feedback) feeds back the *targets* while collecting the
    states: y_{t−1} := d_{t−1}, the usual way to train an ESN with output feedback."""
    if cell.output_size is None:
        raise ValueError("fit_readout: the cell has no readout (output_size is None)")
    teacher = targets if teacher_forcing else None
    states, _ = reservoir_states(cell, xs, state=state, teacher=teacher)
    W, b = ridge_readout(states, targets, ridge=ridge, washout=washout)
    if W.shape != tuple(cell.W_y.shape):
        raise ValueError(f"fit_readout: targets with {W.shape[0]} outputs for a readout with {cell.output_size}")
    cell.W_y.data = W.astype(cell.dtype)
    cell.b_y.data = b.astype(cell.dtype)
    return states


def train_readout(cell: ReservoirCell, states, targets, *, ridge: float = 1e-6, washout: int = 0, steps: int = 2000,
                  progress=None, callback=None):
    r"""Train the readout ``W_y, b_y`` of ``cell`` by gradient descent through gradlab's engine on
    E = ½Σ_t‖W_y s_t + b_y − d_t‖² + ½λ‖W_y‖² (the loss :func:`ridge_readout` minimises in closed form);
    return the :class:`~gradlab.nn.train.History`.

    The states are constants of the graph, so reverse mode visits the readout's few nodes only: the
    reservoir's weights never get a gradient. E is a quadratic with Hessian
    H = [[SᵀS + λI, Sᵀ1], [1ᵀS, n]], so heavy-ball momentum with η = 4/(√L + √μ)² and
    β = ((√L − √μ)/(√L + √μ))² (L, μ the extreme eigenvalues of H) converges at the rate
    (√κ − 1)/(√κ + 1) per step, κ = L/μ. ``callback(step, loss, history)`` as in :func:`gradlab.nn.fit`."""
    from .losses import mse_half
    from .optim import Momentum
    from .train import fit

    who = "train_readout"
    if cell.output_size is None:
        raise ValueError(f"{who}: the cell has no readout (output_size is None)")
    lam = _number(who, "ridge", ridge, low=0)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{who}: steps must be a positive int, got {steps!r}")
    S, D = _design(states, targets, washout, who)
    if D.shape[1] != cell.output_size:
        raise ValueError(f"{who}: targets with {D.shape[1]} outputs for a readout with {cell.output_size}")
    n = S.shape[0]
    ones = np.ones((n, 1))
    A = np.hstack([S, ones])
    H = A.T @ A
    H[:-1, :-1] += lam * np.eye(S.shape[1])
    eig = np.linalg.eigvalsh(H)
    L, mu = float(eig[-1]), max(float(eig[0]), float(eig[-1]) * 1e-12)
    lr = 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2
    beta = ((math.sqrt(L) - math.sqrt(mu)) / (math.sqrt(L) + math.sqrt(mu))) ** 2
    s_const, d_const = Tensor(S.astype(cell.dtype)), D.astype(cell.dtype)
    W = cell.W_y

    def step(_):
        E = mse_half(cell.output(s_const), d_const)
        return E if lam == 0 else ops.add(E, ops.mul(ops.sum(ops.mul(W, W)), 0.5 * lam))

    opt = Momentum([cell.W_y, cell.b_y], lr=lr, momentum=min(beta, 0.999999))
    return fit(step, range(int(steps)), opt, progress=progress, callback=callback, desc="readout")


def free_run(cell: ReservoirCell, steps: int, state, *, first_input=None, inputs=None) -> np.ndarray:
    r"""Let the trained network run on its own for ``steps`` steps from ``state``; return y_1 … y_steps
    (steps, …, O) as a NumPy array.

    Without feedback the loop is closed through the input (x_{t+1} := y_t, so D must equal O), starting
    from ``first_input``; with ``feedback=True`` the outputs return through W_fb and the inputs are
    ``inputs`` (steps, …, D) or zeros."""
    who = "free_run"
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{who}: steps must be a positive int, got {steps!r}")
    if cell.output_size is None:
        raise ValueError(f"{who}: the cell has no readout (output_size is None)")
    outs = []
    with no_grad():
        if cell.feedback:
            if inputs is None:
                batch = tuple(cell.hidden(state).shape[:-1]) if state is not None else ()
                inputs = np.zeros((steps,) + batch + (cell.input_size,))
            x = _inputs(cell, inputs, who)
            if x.shape[0] != steps:
                raise ValueError(f"{who}: {x.shape[0]} inputs for {steps} steps")
            state = _as_state(cell, state, x.shape[1:-1])
            for k in range(steps):
                state = cell.step(Tensor(x[k]), state)
                outs.append(state[1].data)
            return np.stack(outs)
        if cell.input_size != cell.output_size:
            raise ValueError(f"{who}: closing the loop feeds y_t back as x_(t+1), so input_size ({cell.input_size}) "
                             f"must equal output_size ({cell.output_size}); or build the cell with feedback=True")
        if first_input is None:
            raise ValueError(f"{who}: give first_input, the input of the first free-running step")
        x = _inputs(cell, np.asarray(first_input, dtype=cell.dtype)[None], who)[0]
        state = _as_state(cell, state, x.shape[:-1])
        for _ in range(steps):
            state = cell.step(Tensor(x), state)
            x = cell.emit(state).data
            outs.append(x)
    return np.stack(outs)


def state_distance(cell: ReservoirCell, xs, state_a, state_b) -> np.ndarray:
    r"""Return ‖s_t^a − s_t^b‖ for t = 1 … T: the distance between two runs of the reservoir driven by the
    same inputs ``xs`` from the initial states ``state_a`` and ``state_b`` (the echo state property says
    it goes to 0)."""
    a, _ = reservoir_states(cell, xs, state=state_a)
    b, _ = reservoir_states(cell, xs, state=state_b)
    return np.sqrt(np.sum((a - b) ** 2, axis=-1))


@dataclass
class MemoryCapacity:
    r"""The result of :func:`memory_capacity`: ``total`` = Σ_k r²_k, ``r2[k-1]`` the squared correlation
    of the readout trained to recall u_{t−k} with u_{t−k}, for ``delays`` k = 1 … k_max; ``units`` N."""

    total: float
    r2: np.ndarray
    delays: np.ndarray
    units: int


def memory_capacity(cell: ReservoirCell, *, k_max: int | None = None, n_train: int = 4000, n_test: int = 1000,
                    washout: int = 200, ridge: float = 1e-9, amplitude: float = 0.8, rng=None) -> MemoryCapacity:
    r"""Return Jaeger's (2001) short-term memory capacity of a reservoir with one input,

    .. math::  MC = \sum_{k=1}^{k_{max}} r^2\big(u_{t-k},\, y_k(t)\big) \le N,

    where u_t is i.i.d. uniform in ±``amplitude`` and y_k is a linear readout (:func:`ridge_readout`)
    trained on ``n_train`` steps to output u_{t−k}; r² is measured on ``n_test`` further steps.
    ``k_max`` defaults to 2N. The first ``max(washout, k_max)`` steps are dropped."""
    who = "memory_capacity"
    if not isinstance(cell, ReservoirCell):
        raise TypeError(f"{who}: expected a ReservoirCell, got {type(cell).__name__}")
    if cell.input_size != 1:
        raise ValueError(f"{who}: the memory capacity is defined for one input, the cell has {cell.input_size}")
    N = cell.hidden_size
    k_max = 2 * N if k_max is None else k_max
    for what, v in (("k_max", k_max), ("n_train", n_train), ("n_test", n_test)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{who}: {what} must be a positive int, got {v!r}")
    if n_train <= N:
        raise ValueError(f"{who}: n_train ({n_train}) must exceed the number of units ({N}) to fit the readouts")
    skip = max(int(washout), int(k_max))
    total = skip + n_train + n_test
    u = make_rng(rng).uniform(-amplitude, amplitude, total)
    states, _ = reservoir_states(cell, u[:, None])
    delays = np.arange(1, k_max + 1)
    targets = np.stack([np.roll(u, k) for k in delays], axis=1)       # column k-1 holds u_{t-k} (t >= k)
    fit_end = skip + n_train
    W, b = ridge_readout(states[skip:fit_end], targets[skip:fit_end], ridge=ridge)
    y = states[fit_end:] @ W.T + b
    d = targets[fit_end:]
    yc, dc = y - y.mean(axis=0), d - d.mean(axis=0)
    denom = np.sum(yc ** 2, axis=0) * np.sum(dc ** 2, axis=0)
    r2 = np.where(denom > 0, np.sum(yc * dc, axis=0) ** 2 / np.where(denom > 0, denom, 1.0), 0.0)
    return MemoryCapacity(float(r2.sum()), r2, delays, N)
