r"""Training experiments on the pathological problems: one harness for first- and second-order optimisers.

The lecture notes name the ways to train a recurrent network across long time lags — LSTM, gradient
clipping, Hessian-free optimisation — and this module measures them side by side: a :class:`Method` (a
cell, an optimiser and its settings) is trained on a problem of :mod:`gradlab.data.pathological` with
several seeds at increasing T, every run through :func:`gradlab.nn.fit` (progress bar, loss and
gradient-norm history), and :func:`compare` tabulates the success rate and the training time.

**A run** trains a fresh network (seeded) on fresh minibatches of the problem (many-to-one: the output
after each sequence's last step is scored), checks it every ``eval_every`` updates on a fixed validation
set, and stops when the validation set *and then* a fresh test set are processed correctly by the
problem's own criterion in at least ``success`` (99 %) of the sequences — the criterion of Pascanu et al.
2013 §4.1 ("under 1 % out of 10000 freshly random generated sequences"), with the per-sequence test of the
problem's source. Otherwise it stops at ``max_updates``, at its time budget, or when the loss stops being
finite (the run *diverged*).

**The loss** is the mean over the minibatch of the per-sequence loss on the scored output z_b:
E = (1/B) Σ_b ½ (z_b − d_b)² for the real-valued problems, E = (1/B) Σ_b −log softmax(z_b)_{d_b} for the
classification problems.

**Two kinds of optimiser** fit the same loop:

* a first-order :class:`~gradlab.nn.optim.Optimizer` (SGD, Adam, …): the harness records the loss, the
  training loop back-propagates it, clips the gradient (``Method.clip_norm``) and calls ``step()``;
* an **objective optimiser**, one that evaluates the loss itself (Hessian-free needs the loss at trial
  points, the gradient on one minibatch and curvature products on a smaller one): any object with
  ``needs_objective = True`` and ``step(objective) -> report``. The harness hands it an
  :class:`Objective` for each minibatch; ``report`` is a number (the loss) or an object with a ``.loss``
  attribute, and every report is kept in :attr:`RunResult.reports`, so λ, CG iterations and the like are
  logged without the harness knowing them. See :class:`ObjectiveOptimizer`.

A method whose optimiser does not exist yet is a :class:`Method` with ``unavailable`` set to the reason:
its row reads "not yet available" and nothing is trained.

The Hessian-free optimiser (:class:`gradlab.nn.hessian_free.HessianFree`) fits the harness as it is; in
outline (the names after ``objective.`` are the interface, the rest is the optimiser's own business)::

    class HessianFree:                         # gradlab/nn/hessian_free.py
        needs_objective = True

        def __init__(self, params, **options): ...

        def step(self, objective):
            E, g = objective.gradient()        # E and ∂E/∂θ on the minibatch
            rec = objective.curvature().record()  # graph on the smaller batch: Gv = Jᵀ H_L J v products,
                                               # H_L from rec.loss_name and rec.scale, s_t in rec.unrolled
            ...                                # CG on (G + λI) δ = −g, structural damping on the s_t
            E_new = objective.loss([p.data + d for p, d in zip(objective.params, delta)])
            ...                                # reduction ratio, λ update, backtracking, then set p.data
            return Report(loss=E, lam=..., cg_iterations=...)

:func:`standard_methods` puts it in its third row, with structural damping and a curvature batch of a fifth
of the minibatch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from .. import ops
from ..context import no_grad
from ..tensor import Tensor
from .cells import ElmanCell, LSTMCell
from .hessian_free import HessianFree, ParameterObjective
from .losses import mse_half, softmax_cross_entropy
from .optim import Adam, Momentum, Optimizer
from .train import History, fit
from .unroll import Unrolled, unroll

__all__ = ["Method", "SequenceModel", "Recorded", "Objective", "ObjectiveOptimizer", "RunResult", "Comparison",
           "standard_methods", "build_model", "train_run", "compare", "NOT_AVAILABLE"]

#: what the table says for a method that cannot be run yet
NOT_AVAILABLE = "not yet available"
CELL_KINDS = ("elman", "lstm")


# ------------------------------------------------------------------------------------------ methods
@dataclass(frozen=True)
class Method:
    r"""One way to train: a cell, an optimiser and its settings.

    ``optimizer(parameters) -> optimiser`` makes a fresh optimiser for a run: a first-order
    :class:`~gradlab.nn.optim.Optimizer` or an :class:`ObjectiveOptimizer`. ``cell`` is ``"elman"`` (tanh)
    or ``"lstm"``; ``hidden`` its hidden size; ``batch_size`` the sequences per update; ``clip_norm`` the
    global gradient-norm threshold (first-order only; None: no clipping); ``spectral_radius`` rescales an
    Elman cell's initial W_s to that spectral radius (None: the default uniform initialisation);
    ``forget_bias`` the LSTM's initial forget-gate bias; ``curvature_batch`` the number of sequences of
    :meth:`Objective.curvature` (None: the whole minibatch). ``unavailable`` (a reason) marks a method that
    cannot be run yet: it is reported as "not yet available", never trained. ``settings`` is a short
    description for tables and figures.
    """

    name: str
    optimizer: Callable | None = None
    cell: str = "elman"
    hidden: int = 32
    batch_size: int = 50
    clip_norm: float | None = None
    spectral_radius: float | None = None
    forget_bias: float = 1.0
    curvature_batch: int | None = None
    unavailable: str | None = None
    settings: str = ""

    def __post_init__(self):
        if self.cell not in CELL_KINDS:
            raise ValueError(f"Method {self.name!r}: cell must be one of {CELL_KINDS}, got {self.cell!r}")
        for what in ("hidden", "batch_size"):
            n = getattr(self, what)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"Method {self.name!r}: {what} must be a positive int, got {n!r}")
        if self.unavailable is None and not callable(self.optimizer):
            raise TypeError(f"Method {self.name!r}: optimizer must be a function parameters -> optimiser "
                            f"(or give unavailable='reason' for a method that cannot run yet)")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"Method {self.name!r}: clip_norm must be > 0 or None, got {self.clip_norm!r}")
        if self.curvature_batch is not None and self.curvature_batch > self.batch_size:
            raise ValueError(f"Method {self.name!r}: curvature_batch={self.curvature_batch} is larger than the "
                             f"minibatch (batch_size={self.batch_size})")

    @property
    def available(self) -> bool:
        """Whether the method can be trained now."""
        return self.unavailable is None


def standard_methods(*, hidden: int = 32, batch_size: int = 50, sgd_lr: float = 0.05, momentum: float = 0.9,
                     clip_norm: float = 0.5, spectral_radius: float = 1.0, adam_lr: float = 0.01,
                     forget_bias: float = 3.0, lstm_hidden: int | None = None, hf_batch_size: int = 300,
                     hf_curvature_batch: int | None = 60, hf_damping: float = 1.0,
                     hf_structural_damping: float = 0.3) -> list:
    r"""Return the four methods of the comparison the lecture notes imply, in their order:

    1. an Elman RNN (tanh) trained with minibatch SGD (classical momentum ``momentum``, learning rate
       ``sgd_lr``);
    2. the same network, data and SGD, with the gradient's global norm clipped at ``clip_norm`` (Pascanu et
       al. 2013, Algorithm 1; they advise a threshold of "half to ten times" the average norm: the average
       is about 0.1 on the adding problem and about 1 on temporal order with these settings);
    3. the Elman RNN trained with Hessian-free optimisation and structural damping (Martens & Sutskever
       2011), on minibatches of ``hf_batch_size`` sequences (Sutskever's code: 300 "can solve the T=100
       versions") with curvature products on the first ``hf_curvature_batch`` of them:
       :class:`~gradlab.nn.hessian_free.HessianFree` with initial λ ``hf_damping`` and structural damping
       μ = ``hf_structural_damping`` (its other options at their defaults);
    4. an LSTM trained with Adam, its forget gates biased by ``forget_bias`` at the start (3: a memory
       kept for about 20 steps, σ(3) ≈ 0.95; with 1 it did not solve adding or temporal order at T = 50 in
       45 processor seconds, with 3 it did).

    Both Elman methods start from the same weights, with W_s rescaled to spectral radius
    ``spectral_radius``. The defaults come from a small sweep on the adding problem (T = 11, 20) and temporal
    order (T = 20): plain SGD without momentum (lr 0.1 to 1) did not solve adding at T = 20 in 4000 updates.
    """
    lstm_hidden = hidden if lstm_hidden is None else lstm_hidden
    elman = f"tanh, H={hidden}, rho(W_s)={spectral_radius:g}, B={batch_size}, lr {sgd_lr:g}, momentum {momentum:g}"

    def sgd(p):
        return Momentum(p, lr=sgd_lr, momentum=momentum)

    def hessian_free(p):
        return HessianFree(p, damping=hf_damping, structural_damping=hf_structural_damping)

    curvature = "the whole minibatch" if hf_curvature_batch is None else f"{hf_curvature_batch} sequences"
    hf_settings = (f"tanh, H={hidden}, rho(W_s)={spectral_radius:g}, B={hf_batch_size}, curvature on {curvature}, "
                   f"lambda {hf_damping:g} (Levenberg-Marquardt), structural damping mu={hf_structural_damping:g} "
                   f"(Martens & Sutskever 2011)")
    return [
        Method("Elman + SGD", sgd, hidden=hidden, batch_size=batch_size, spectral_radius=spectral_radius,
               settings=elman),
        Method("Elman + SGD + clipping", sgd, hidden=hidden, batch_size=batch_size,
               spectral_radius=spectral_radius, clip_norm=clip_norm, settings=f"{elman}, clip ||g|| at {clip_norm:g}"),
        Method("Elman + Hessian-free", hessian_free, hidden=hidden, batch_size=hf_batch_size,
               spectral_radius=spectral_radius, curvature_batch=hf_curvature_batch, settings=hf_settings),
        Method("LSTM + Adam", lambda p: Adam(p, lr=adam_lr), cell="lstm", hidden=lstm_hidden, batch_size=batch_size,
               forget_bias=forget_bias, settings=f"H={lstm_hidden}, forget bias {forget_bias:g}, B={batch_size}, "
                                                 f"lr {adam_lr:g}"),
    ]


# ------------------------------------------------------------------------------------------ the model
def _rescale_radius(W: np.ndarray, radius: float) -> np.ndarray:
    rho = float(np.max(np.abs(np.linalg.eigvals(W))))
    if rho == 0:
        raise ValueError("spectral_radius: the initial W_s is zero; it cannot be rescaled")
    return W * (radius / rho)


def build_model(problem, method: Method, seed: int = 0) -> "SequenceModel":
    """Return a fresh :class:`SequenceModel` of ``method``'s cell for ``problem``, initialised from ``seed``."""
    rng = np.random.default_rng(seed)
    D, O = problem.input_size, problem.output_size
    if method.cell == "elman":
        cell = ElmanCell(D, method.hidden, O, rng=rng)
        if method.spectral_radius is not None:
            cell.W_s.data = _rescale_radius(cell.W_s.data, method.spectral_radius)
    else:
        cell = LSTMCell(D, method.hidden, O, forget_bias=method.forget_bias, rng=rng)
    return SequenceModel(cell, problem)


@dataclass
class Recorded:
    r"""One recorded forward pass on a minibatch: what a curvature product needs.

    ``loss`` is E (a scalar Tensor with its graph); ``outputs`` the scored network outputs z (``(B, O)``
    Tensor), so that E = ``scale`` · Σ_b L(z_b, d_b) with L named by ``loss_name`` (``"mse_half"``: ½(z − d)²,
    whose Hessian in z is the identity; ``"softmax_cross_entropy"``: −log softmax(z)_d, Hessian
    diag(p) − p pᵀ); ``targets`` the d_b; ``unrolled`` the :class:`~gradlab.nn.Unrolled` network, whose
    ``hiddens`` are the s_t (structural damping penalises their change).
    """

    loss: Tensor
    outputs: Tensor
    targets: np.ndarray
    loss_name: str
    scale: float
    unrolled: Unrolled


class SequenceModel:
    r"""A recurrent cell read many-to-one on a problem's batches: the output after each sequence's last step
    is its answer (zero padding after a sequence cannot change it: the network is causal)."""

    def __init__(self, cell, problem):
        self.cell = cell
        self.problem = problem

    def parameters(self) -> list:
        """The cell's Parameters."""
        return self.cell.parameters()

    def record(self, batch) -> Recorded:
        """Run the network on ``batch`` recording the graph; return the :class:`Recorded` loss and outputs."""
        if batch.problem is not self.problem and type(batch.problem) is not type(self.problem):
            raise ValueError(f"SequenceModel: a batch of {batch.problem!r} given to a model of {self.problem!r}")
        run = unroll(self.cell, batch.inputs, fused=True)
        z = ops.getitem(run.output_sequence, (batch.last_steps, np.arange(batch.size)))
        scale = 1.0 / batch.size
        if self.problem.kind == "regression":
            loss, name = ops.mul(mse_half(z, batch.targets), scale), "mse_half"
        else:
            loss, name = softmax_cross_entropy(z, batch.targets, reduction="mean"), "softmax_cross_entropy"
        return Recorded(loss, z, batch.targets, name, scale, run)

    def predict(self, batch) -> np.ndarray:
        """Return the answers to ``batch`` without recording: ``(B, 1)`` values or ``(B, C)`` class probabilities."""
        with no_grad():
            run = unroll(self.cell, batch.inputs, fused=True)
            z = run.output_sequence.data[batch.last_steps, np.arange(batch.size)]
        if self.problem.kind == "regression":
            return np.asarray(z)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def error_rate(self, batch) -> float:
        """Return the fraction of ``batch``'s sequences not processed correctly (the problem's criterion)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self.problem.error_rate(self.predict(batch), batch.targets)


# ------------------------------------------------------------------------------------------ objective
class Objective(ParameterObjective):
    r"""The training loss E(θ) of one model on one minibatch, for optimisers that evaluate it themselves.

    The parameters θ are :attr:`params` (gradlab Parameters; an optimiser changes their ``.data``).

    * :meth:`loss` — E at the current θ, or at other values of the parameters (restored afterwards): for
      line searches, backtracking and reduction ratios;
    * :meth:`gradient` — E and ∂E/∂θ (one array per parameter), without touching any ``.grad``;
    * :meth:`record` — the recorded forward pass (:class:`Recorded`: the loss, the outputs z, the loss's
      name and scale, the unrolled network with its hidden states): the graph on which forward and reverse
      mode give Gauss–Newton and Hessian products;
    * :meth:`curvature` — the same objective on the first ``curvature_size`` sequences of the minibatch (the
      smaller batch for curvature products).
    """

    def __init__(self, model: SequenceModel, batch, curvature_size: int | None = None):
        self.model = model
        self.batch = batch
        self.curvature_size = curvature_size
        self.params = model.parameters()
        self.evaluations = 0

    def record(self) -> Recorded:
        """Return the recorded forward pass on this minibatch at the current parameters."""
        self.evaluations += 1
        return self.model.record(self.batch)

    def curvature(self) -> "Objective":
        """Return the objective on the curvature minibatch (the first ``curvature_size`` sequences)."""
        if self.curvature_size is None or self.curvature_size >= self.batch.size:
            return self
        return Objective(self.model, self.batch.subset(self.curvature_size))


@runtime_checkable
class ObjectiveOptimizer(Protocol):
    r"""What an optimiser that evaluates the loss itself provides (Hessian-free is the case in point).

    ``needs_objective`` is True; ``step(objective)`` takes an :class:`Objective` (one minibatch), changes the
    parameters' ``.data`` and returns the loss before the step — a number, or a report object with a
    ``.loss`` attribute and whatever else it wants logged (λ, CG iterations, the reduction ratio ρ, …).
    """

    needs_objective: bool

    def step(self, objective: Objective):
        """Take one step on the objective's minibatch; return the loss (or a report with ``.loss``)."""


def _is_objective_optimizer(opt) -> bool:
    if isinstance(opt, Optimizer):
        return False
    if getattr(opt, "needs_objective", False) and callable(getattr(opt, "step", None)):
        return True
    raise TypeError(f"the optimiser {opt!r} is neither a gradlab.nn.optim.Optimizer nor an objective optimiser "
                    f"(an object with needs_objective = True and step(objective))")


# ------------------------------------------------------------------------------------------ one run
@dataclass
class RunResult:
    r"""One training run: ``status`` is ``"solved"``, ``"not solved"``, ``"diverged"`` or ``"not yet
    available"``; ``updates`` and ``sequences`` count the training minibatches and sequences used,
    ``seconds`` the wall-clock training time and ``cpu_seconds`` the processor time this process spent on
    it (the same on an idle machine with one BLAS thread; on a shared machine the wall clock also counts
    the waits for a core, so budgets and tables use the processor time), ``test_error`` the fraction of
    the fresh test sequences processed wrongly at the end (None when not trained), ``stop`` why the run
    ended; ``history`` is the
    training loop's :class:`~gradlab.nn.History`, ``reports`` what an objective optimiser returned per step,
    ``model`` the trained :class:`SequenceModel` (None when not trained)."""

    problem: str
    T: int
    method: str
    seed: int
    status: str
    updates: int = 0
    sequences: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    test_error: float | None = None
    stop: str = ""
    history: History | None = None
    reports: list = field(default_factory=list)
    model: SequenceModel | None = field(default=None, repr=False)

    @property
    def solved(self) -> bool:
        """Whether the run met the success criterion."""
        return self.status == "solved"


def train_run(problem, method: Method, seed: int = 0, *, max_updates: int = 2000, eval_every: int = 50,
              val_size: int = 500, test_size: int = 2000, success: float = 0.99, time_budget: float | None = None,
              progress: bool | None = False) -> RunResult:
    r"""Train ``method`` on ``problem`` from ``seed``; return the :class:`RunResult`.

    Fresh minibatches of ``method.batch_size`` sequences, at most ``max_updates`` of them (and at most
    ``time_budget`` seconds of processor time); every ``eval_every`` updates the validation set
    (``val_size`` sequences, fixed for the run) is checked, and when at least ``success`` of it is processed
    correctly so is a fresh test set of ``test_size`` sequences: the run is *solved* when that passes too.
    Initial weights, training data, validation and test sets come from separate generators seeded by
    ``seed``.
    """
    name, T = problem.name, problem.T
    if not method.available:
        return RunResult(name, T, method.name, seed, NOT_AVAILABLE, stop=method.unavailable)
    for what, n in (("max_updates", max_updates), ("eval_every", eval_every), ("val_size", val_size),
                    ("test_size", test_size)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"train_run: {what} must be a positive int, got {n!r}")
    if not 0 < success <= 1:
        raise ValueError(f"train_run: success must be a fraction in (0, 1], got {success!r}")
    model = build_model(problem, method, seed)
    opt = method.optimizer(model.parameters())
    objective_steps = _is_objective_optimizer(opt)
    if objective_steps and method.clip_norm is not None:
        raise ValueError(f"train_run: method {method.name!r} clips the gradient (clip_norm={method.clip_norm}), but "
                         f"its optimiser computes its own steps from the objective; clip inside the optimiser")
    data_rng = np.random.default_rng([seed, 1])
    val = problem.sample(val_size, np.random.default_rng([seed, 2]))
    allowed = 1.0 - success + 1e-12
    state = {"status": "not solved", "stop": f"{max_updates} updates without success", "test": None}
    reports = []
    t0, c0 = time.perf_counter(), time.process_time()

    def step(_):
        batch = problem.sample(method.batch_size, data_rng)
        if objective_steps:
            report = opt.step(Objective(model, batch, method.curvature_batch))
            reports.append(report)
            return report
        return model.record(batch).loss

    def callback(i, loss, history):
        if not math.isfinite(loss):
            state.update(status="diverged", stop=f"loss {loss} at update {i + 1}")
            return True
        if (i + 1) % eval_every == 0 and model.error_rate(val) <= allowed:
            test = problem.sample(test_size, np.random.default_rng([seed, 3, i]))
            err = model.error_rate(test)
            if err <= allowed:
                state.update(status="solved", stop=f"solved at update {i + 1}", test=err)
                return True
        if time_budget is not None and time.process_time() - c0 > time_budget:
            state.update(stop=f"time budget of {time_budget:g} s spent at update {i + 1}")
            return True
        return False

    desc = f"{method.name} {name} T={T} seed {seed}"
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            history = fit(step, range(max_updates), None if objective_steps else opt, clip_norm=method.clip_norm,
                          callback=callback, progress=progress, desc=desc)
        except FloatingPointError as e:        # a non-finite gradient that clipping cannot rescale
            history = None
            state.update(status="diverged", stop=str(e))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    updates = history.steps if history is not None else 0
    if state["test"] is None and state["status"] != "diverged":
        state["test"] = model.error_rate(problem.sample(test_size, np.random.default_rng([seed, 3])))
    return RunResult(name, T, method.name, seed, state["status"], updates, updates * method.batch_size, seconds,
                     cpu, state["test"], state["stop"], history, reports, model)


# ------------------------------------------------------------------------------------------ the comparison
def _median(xs):
    return float(np.median(xs)) if xs else float("nan")


def _seq(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else f"{n:.0f}"


@dataclass
class Comparison:
    r"""The runs of :func:`compare`: ``results`` in the order they ran; ``methods`` and ``Ts`` as asked;
    ``stopped`` says, per method, where and why it stopped climbing in T (empty when it ran every T)."""

    problem: str
    methods: list
    Ts: list
    seeds: list
    results: list = field(default_factory=list)
    stopped: dict = field(default_factory=dict)
    criterion: str = ""

    def runs(self, method: str, T: int) -> list:
        """The runs of ``method`` at ``T``."""
        return [r for r in self.results if r.method == method and r.T == T]

    def success_rate(self, method: str, T: int) -> float | None:
        """The fraction of ``method``'s seeds that solved the problem at ``T`` (None: not run)."""
        runs = [r for r in self.runs(method, T) if r.status != NOT_AVAILABLE]
        return None if not runs else sum(r.solved for r in runs) / len(runs)

    def reached(self, method: str) -> int | None:
        """The largest T at which at least one of ``method``'s seeds solved the problem (None: none)."""
        solved = [r.T for r in self.results if r.method == method and r.solved]
        return max(solved) if solved else None

    def cell(self, method: Method, T: int) -> str:
        """The table entry of ``method`` at ``T``: ``"k/n"`` seeds solved, then the median training sequences and
        processor seconds of the solved runs (or, when none solved, the median seconds the runs took)."""
        if not method.available:
            return NOT_AVAILABLE
        runs = self.runs(method.name, T)
        if not runs:
            return "-"
        solved = [r for r in runs if r.solved]
        head = f"{len(solved)}/{len(runs)}"
        if solved:
            return (f"{head}, {_seq(_median([r.sequences for r in solved]))} seq, "
                    f"{_median([r.cpu_seconds for r in solved]):.1f} s")
        diverged = sum(r.status == "diverged" for r in runs)
        tried = f"{_seq(_median([r.sequences for r in runs]))} seq, {_median([r.cpu_seconds for r in runs]):.1f} s"
        return f"{head} ({diverged} diverged; {tried})" if diverged else f"{head} ({tried})"

    def table(self) -> str:
        r"""Return the Markdown table: T against each method's seeds solved / seeds, and for the solved runs the
        median number of training sequences and the median training time in processor seconds (in
        parentheses when no seed solved it: what the runs used before they stopped)."""
        names = [m.name for m in self.methods]
        head = "| T | " + " | ".join(names) + " |"
        lines = [head, "|---:|" + "|".join("---" for _ in names) + "|"]
        for T in self.Ts:
            lines.append(f"| {T} | " + " | ".join(self.cell(m, T) for m in self.methods) + " |")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line per method: how far it got (the largest T with a success) and why it stopped."""
        out = []
        for m in self.methods:
            if not m.available:
                out.append(f"{m.name}: {NOT_AVAILABLE} ({m.unavailable})")
                continue
            got = self.reached(m.name)
            reach = f"solved up to T = {got}" if got is not None else "solved none of the T it tried"
            why = self.stopped.get(m.name)
            out.append(f"{m.name}: {reach}" + (f"; stopped: {why}" if why else ""))
        return "\n".join(out)


def compare(problem: str, Ts, methods=None, seeds=(0, 1, 2), *, problem_options: dict | None = None,
            method_budget: float | None = None, stop_after_failure: bool = True, progress: bool | None = None,
            **run_options) -> Comparison:
    r"""Train every method at every T (ascending) with every seed; return the :class:`Comparison`.

    ``problem`` is a name of :data:`gradlab.data.PROBLEMS`; ``methods`` defaults to
    :func:`standard_methods`. A method stops climbing in T when no seed solved the previous T
    (``stop_after_failure``) or when its runs have used ``method_budget`` seconds of processor time in all
    (each run gets the rest of the budget as its limit, or ``time_budget`` if that is smaller).
    ``run_options`` go to :func:`train_run`. ``progress`` shows a ``tqdm`` bar over the runs (None: on a
    terminal or in a notebook; see :func:`gradlab.progress.progress_bar`).
    """
    from ..data import make_problem

    methods = standard_methods() if methods is None else list(methods)
    Ts = sorted(int(T) for T in Ts)
    seeds = [int(s) for s in seeds]
    if not Ts or not seeds or not methods:
        raise ValueError("compare: give at least one T, one seed and one method")
    problems = {T: make_problem(problem, T, **(problem_options or {})) for T in Ts}
    first = problems[Ts[0]]
    crit = {"regression": "|error| < 0.04", "classification": "the source's classification test"}[first.kind]
    success = run_options.get("success", 0.99)
    comparison = Comparison(first.name, methods, Ts, seeds,
                            criterion=f"{first.source}; a run succeeds when >= {success:.0%} of fresh test sequences "
                                      f"are correct ({crit})")
    runnable = [m for m in methods if m.available]
    bar = None
    if progress is not False:
        from ..progress import progress_bar

        bar = progress_bar(len(runnable) * len(Ts) * len(seeds), f"{first.name}", enabled=progress, unit="run",
                           leave=False)
    try:
        for m in methods:
            if not m.available:
                comparison.results.extend(train_run(problems[T], m, s) for T in Ts for s in seeds)
                continue
            spent, done = 0.0, 0
            for T in Ts:
                runs = []
                for s in seeds:
                    if method_budget is not None and spent >= method_budget:
                        break
                    if bar is not None:
                        bar.set_postfix_str(f"{m.name}, T={T}, seed {s}")
                    options = dict(run_options)
                    if method_budget is not None:
                        left = method_budget - spent
                        options["time_budget"] = min(options.get("time_budget") or left, left)
                    r = train_run(problems[T], m, s, **options)
                    spent += r.cpu_seconds
                    runs.append(r)
                    done += 1
                    if bar is not None:
                        bar.update(1)
                comparison.results.extend(runs)
                if T == Ts[-1]:
                    break
                if method_budget is not None and spent >= method_budget:
                    comparison.stopped[m.name] = f"its {method_budget:g} s were spent at T = {T}"
                    break
                if stop_after_failure and not any(r.solved for r in runs):
                    comparison.stopped[m.name] = f"no seed solved T = {T}, so longer T were not tried"
                    break
            if bar is not None:
                bar.update(len(Ts) * len(seeds) - done)      # the runs this method skipped
    finally:
        if bar is not None:
            bar.close()
    return comparison
