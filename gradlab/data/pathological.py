r"""The pathological long-term-dependency problems, generated on the fly, each in a named, cited variant.

Hochreiter & Schmidhuber (1997, "Long Short-Term Memory", Neural Computation 9(8), §5) built these
problems so that the answer depends on inputs far back in a long sequence of irrelevant ones; Martens &
Sutskever (2011) and Pascanu, Mikolov & Bengio (2013) used them (in slightly different variants) to
compare Hessian-free optimisation and gradient clipping with LSTM. Every problem here is one variant,
named with its source, with the sequence length ``T`` a parameter and the source's own criterion for a
correctly processed sequence:

=================================  =======================================  ================================
problem                            variant                                  a sequence is correct when
=================================  =======================================  ================================
:class:`AddingProblem`             HS97 §5.4 (Experiment 4)                 ``|y − target| < 0.04``
:class:`MultiplicationProblem`     HS97 §5.5 (Experiment 5)                 ``|y − target| < 0.04``
:class:`TemporalOrderProblem`      HS97 §5.6 (Experiment 6a / 6b)           every output within 0.3 of one-hot
:class:`XORProblem`                Sutskever's 2011 HF code (``xor``)       the predicted bit is the target
=================================  =======================================  ================================

A batch is many-to-one: ``inputs`` has shape ``(L_max, B, D)`` (time first, as
:func:`gradlab.nn.unroll` reads it), sequence b is ``inputs[:lengths[b], b]`` and is zero after it, and
the network's output after its last step, ``y`` at step ``lengths[b]`` (1-based), is scored against
``targets[b]``. The zero padding after a sequence's end cannot change that output (the network is
causal), so sequences of different lengths share one batch.

Every generator is seeded: ``problem.sample(B, rng)`` with ``rng`` an int seed or a
``numpy.random.Generator`` gives the same batch for the same seed, and nothing reads NumPy's global
random state.

>>> from gradlab.data import AddingProblem
>>> batch = AddingProblem(T=20).sample(4, rng=0)
>>> batch.inputs.shape[1:], batch.targets.shape
((4, 2), (4, 1))
>>> [int(n) for n in (batch.inputs[..., 1] == 1).sum(axis=0)]      # exactly two marked pairs each
[2, 2, 2, 2]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Batch", "PathologicalProblem", "AddingProblem", "MultiplicationProblem", "TemporalOrderProblem",
           "XORProblem", "PROBLEMS", "make_problem"]


def _generator(rng, who: str) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{who}: rng must be an int seed or a numpy.random.Generator, got {rng!r} "
                    f"(gradlab never uses NumPy's global random state)")


def _count(who: str, what: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{who}: {what} must be a positive int, got {n!r}")
    return int(n)


def _scaled(x: float) -> int:
    """Round half up (so that positions scale the same way on every platform)."""
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class Batch:
    r"""A batch of B sequences of one problem.

    ``inputs`` ``(L_max, B, D)``: the sequences, time first, zero after each one's end; ``lengths`` ``(B,)``:
    sequence b has ``lengths[b]`` steps and its output after the last one is scored; ``targets``: ``(B, 1)``
    real values (regression problems) or ``(B,)`` class indices; ``positions`` ``(B, k)``: the 0-based
    time steps of the k relevant inputs (marked pairs, or the X/Y symbols), for inspection and tests.
    """

    inputs: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray
    positions: np.ndarray
    problem: "PathologicalProblem"

    @property
    def size(self) -> int:
        """The number of sequences B."""
        return int(self.lengths.shape[0])

    @property
    def last_steps(self) -> np.ndarray:
        """The 0-based index of each sequence's last step (``lengths − 1``): where its output is read."""
        return self.lengths - 1

    def mask(self) -> np.ndarray:
        """Return the ``(L_max, B)`` mask that is 1 at each sequence's last step and 0 elsewhere (for
        :func:`gradlab.nn.sequence_loss` with the outputs of every step)."""
        m = np.zeros(self.inputs.shape[:2])
        m[self.last_steps, np.arange(self.size)] = 1.0
        return m

    def subset(self, n: int) -> "Batch":
        """Return the first ``n`` sequences as a batch (trimmed to their own longest length)."""
        n = _count("Batch.subset", "n", n)
        if n > self.size:
            raise ValueError(f"Batch.subset: asked for {n} sequences of a batch of {self.size}")
        L = int(self.lengths[:n].max())
        return Batch(self.inputs[:L, :n], self.lengths[:n], self.targets[:n], self.positions[:n], self.problem)


class PathologicalProblem:
    r"""Base class: a long-term-dependency problem of nominal length ``T``.

    Subclasses set ``name``, ``source``, ``kind`` (``"regression"``: one real output, squared error;
    ``"classification"``: ``output_size`` classes, cross-entropy), ``input_size``, ``output_size`` and
    ``_valid(T)`` (whether the source's definition is consistent at that ``T``; :attr:`min_T` is the
    shortest such T), and implement :meth:`_sample` and :meth:`correct`.
    """

    name: str = ""
    source: str = ""
    kind: str = "regression"
    input_size: int = 2
    output_size: int = 1

    def __init__(self, T: int):
        who = type(self).__name__
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)):
            raise TypeError(f"{who}: T must be an int (the nominal sequence length), got {T!r}")
        T = int(T)
        if not self._valid(T):
            raise ValueError(f"{who}: T={T} is too small for this problem's definition: {self._min_T_reason()} "
                             f"(T >= {self.min_T})")
        self.T = T

    def _valid(self, T: int) -> bool:
        """Whether the source's definition is consistent at nominal length ``T``."""
        return T >= 1

    @property
    def min_T(self) -> int:
        """The shortest nominal length T at which the source's definition is consistent."""
        return next(T for T in range(1, 10_000) if self._valid(T))

    def _min_T_reason(self) -> str:
        return "the relevant positions would overlap"

    # ------------------------------------------------------------------------------- interface
    @property
    def lengths_range(self) -> tuple:
        """``(shortest, longest)`` number of steps of a sequence."""
        raise NotImplementedError

    def sample(self, batch_size: int, rng=0) -> Batch:
        """Return a :class:`Batch` of ``batch_size`` fresh sequences drawn with ``rng`` (an int seed or a
        ``numpy.random.Generator``)."""
        n = _count(f"{type(self).__name__}.sample", "batch_size", batch_size)
        return self._sample(n, _generator(rng, f"{type(self).__name__}.sample"))

    def _sample(self, n: int, rng: np.random.Generator) -> Batch:
        raise NotImplementedError

    def correct(self, predictions, targets) -> np.ndarray:
        """Return a boolean array: which sequences the predictions process correctly, by the source's
        criterion. ``predictions`` are ``(B, 1)`` outputs (regression) or ``(B, C)`` class probabilities."""
        raise NotImplementedError

    def error_rate(self, predictions, targets) -> float:
        """Return the fraction of sequences *not* processed correctly."""
        ok = self.correct(predictions, targets)
        return float(1.0 - ok.mean())

    def describe(self) -> str:
        """One line: the problem, its variant and its lengths, e.g. for a table header."""
        lo, hi = self.lengths_range
        return f"{self.name} (T={self.T}: {lo}-{hi} steps; {self.source})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(T={self.T})"

    # --------------------------------------------------------------------------------- helpers
    def _predictions(self, predictions, targets, who: str):
        p = np.asarray(predictions, dtype=float)
        d = np.asarray(targets)
        if self.kind == "regression":
            if p.ndim == 1:
                p = p[:, None]
            if d.ndim == 1:
                d = d[:, None]
            if p.shape != d.shape or p.shape[-1:] != (1,):
                raise ValueError(f"{who}: predictions of shape {np.shape(predictions)} do not match targets of shape "
                                 f"{np.shape(targets)} (expected (B, 1) real values)")
            return p, d.astype(float)
        if p.ndim != 2 or p.shape[1] != self.output_size or d.shape != p.shape[:1]:
            raise ValueError(f"{who}: expected (B, {self.output_size}) class probabilities and (B,) class indices, "
                             f"got predictions {np.shape(predictions)} and targets {np.shape(targets)}")
        return p, d.astype(int)


# ------------------------------------------------------------------------------------ adding, multiplication
class _MarkedPairs(PathologicalProblem):
    r"""Hochreiter & Schmidhuber's marked-pair sequences (§5.4), shared by adding and multiplication.

    Each step is a pair (value, marker). The length is drawn uniformly from T … T + ⌊T/10⌋. Exactly two
    pairs are marked with 1.0: X₁ among the first ten pairs, then X₂ among the first ⌊T/2⌋ − 1 pairs
    still unmarked. Every other marker is 0, except the first and the last pair's, which are −1. When the
    first pair is marked, its value is replaced by the operation's neutral element (0 for the sum, 1 for
    the product), so that the start of a sequence cannot be mistaken for a marked value.
    """

    low, high, neutral = -1.0, 1.0, 0.0

    def _valid(self, T: int) -> bool:
        return T >= 11          # X1 within the first ten pairs, all before the last pair (and T/2 - 1 >= 1)

    def _min_T_reason(self) -> str:
        return ("X1 is marked among the first ten pairs and the last pair carries the end marker -1, so every "
                "sequence needs at least 11 pairs")

    @property
    def lengths_range(self) -> tuple:
        return (self.T, self.T + self.T // 10)

    def _combine(self, x1, x2):
        raise NotImplementedError

    def _sample(self, n, rng):
        lo, hi = self.lengths_range
        lengths = rng.integers(lo, hi + 1, size=n)
        L = int(lengths.max())
        steps = np.arange(L)[:, None]
        values = rng.uniform(self.low, self.high, size=(L, n))
        i1 = rng.integers(0, 10, size=n)
        k = rng.integers(0, self.T // 2 - 1, size=n)         # the k-th of the first ⌊T/2⌋−1 unmarked pairs
        i2 = np.where(k < i1, k, k + 1)
        cols = np.arange(n)
        values[i1, cols] = np.where(i1 == 0, self.neutral, values[i1, cols])
        values[i2, cols] = np.where(i2 == 0, self.neutral, values[i2, cols])
        markers = np.zeros((L, n))
        markers[0, :] = -1.0
        markers[lengths - 1, cols] = -1.0
        markers[i1, cols] = 1.0
        markers[i2, cols] = 1.0
        inside = steps < lengths[None, :]
        inputs = np.stack([values * inside, markers * inside], axis=-1)
        targets = self._combine(values[i1, cols], values[i2, cols])[:, None]
        return Batch(inputs, lengths, targets, np.stack([i1, i2], axis=1), self)

    def correct(self, predictions, targets) -> np.ndarray:
        p, d = self._predictions(predictions, targets, f"{type(self).__name__}.correct")
        return np.abs(p - d)[:, 0] < 0.04


class AddingProblem(_MarkedPairs):
    r"""The adding problem, Hochreiter & Schmidhuber 1997 §5.4 (Experiment 4).

    Values are uniform in [−1, 1]; the target at the sequence end is

    .. math::  d = 0.5 + \frac{X_1 + X_2}{4.0}

    (the sum scaled into [0, 1]), and a sequence is processed correctly when the absolute error of the
    output at its end is below 0.04. Marking as in :class:`_MarkedPairs`. HS97 report LSTM at T = 100 with
    1 wrong sequence in 2560 after 74,000 training sequences (their Table 7).
    """

    name = "adding"
    source = "Hochreiter & Schmidhuber 1997, §5.4"

    def _combine(self, x1, x2):
        return 0.5 + (x1 + x2) / 4.0


class MultiplicationProblem(_MarkedPairs):
    r"""The multiplication problem, Hochreiter & Schmidhuber 1997 §5.5 (Experiment 5).

    As the adding problem, but the values are uniform in [0, 1] and the target is the product
    :math:`d = X_1 X_2`; a marked first pair has the value 1.0. A sequence is processed correctly when the
    absolute error at its end is below 0.04, as for adding.
    """

    name = "multiplication"
    source = "Hochreiter & Schmidhuber 1997, §5.5"
    low, high, neutral = 0.0, 1.0, 1.0

    def _combine(self, x1, x2):
        return x1 * x2


# ------------------------------------------------------------------------------------ temporal order
class TemporalOrderProblem(PathologicalProblem):
    r"""The temporal order problem, Hochreiter & Schmidhuber 1997 §5.6: Experiment 6a (``relevant=2``, 4
    classes) or 6b (``relevant=3``, 8 classes).

    Symbols are one-hot over ``SYMBOLS = (a, b, c, d, X, Y, E, B)``. A sequence starts with E, ends with B
    (the trigger symbol) and is otherwise made of the distractors a–d, except at the relevant positions,
    which hold X or Y. The class is the order of those X/Y symbols read as a binary number with X = 0 and
    Y = 1, first symbol most significant (6a: XX, XY, YX, YY are HS97's classes Q, R, S, U). The source's
    lengths and positions are for T = 100 (lengths 100–110; 6a: t₁ ∈ [10, 20], t₂ ∈ [50, 60];
    6b: t₁ ∈ [10, 20], t₂ ∈ [33, 43], t₃ ∈ [66, 76], 1-based positions); for another T every one of them
    is scaled by T/100 and rounded, the way Sutskever's generators scale their problems. A sequence is
    classified correctly when every output is within 0.3 of the one-hot target (the source's "final
    absolute error of all output units below 0.3"); here the outputs are the class probabilities.
    """

    name = "temporal order"
    kind = "classification"
    input_size = 8
    SYMBOLS = ("a", "b", "c", "d", "X", "Y", "E", "B")
    WINDOWS = {2: ((10, 20), (50, 60)), 3: ((10, 20), (33, 43), (66, 76))}

    def __init__(self, T: int, relevant: int = 2):
        if relevant not in self.WINDOWS:
            raise ValueError(f"TemporalOrderProblem: relevant must be 2 (Experiment 6a) or 3 (6b), got {relevant!r}")
        self.relevant = relevant
        super().__init__(T)
        self.output_size = 2 ** relevant
        self.source = f"Hochreiter & Schmidhuber 1997, §5.6, Experiment {'6a' if relevant == 2 else '6b'}"

    def _min_T_reason(self) -> str:
        return (f"scaled by T/100, the {self.relevant} windows of the relevant symbols must start after the start "
                f"symbol E and must not overlap")

    def _windows(self, T: int) -> tuple:
        f = T / 100.0
        return tuple((_scaled(a * f), _scaled(b * f)) for a, b in self.WINDOWS[self.relevant])

    def _valid(self, T: int) -> bool:
        w = self._windows(T)
        # after E (position 1), in order without overlap, all before the shortest sequence's trigger B
        return (w[0][0] >= 2 and all(a <= b for a, b in w) and all(p[1] < q[0] for p, q in zip(w, w[1:]))
                and w[-1][1] < T)

    @property
    def windows(self) -> tuple:
        """The 1-based ``(first, last)`` position of each relevant symbol at this T."""
        return self._windows(self.T)

    @property
    def lengths_range(self) -> tuple:
        return (self.T, self.T + self.T // 10)

    def _sample(self, n, rng):
        lo, hi = self.lengths_range
        lengths = rng.integers(lo, hi + 1, size=n)
        L = int(lengths.max())
        cols = np.arange(n)
        symbols = rng.integers(0, 4, size=(L, n))                 # distractors a..d
        symbols[0, :] = 6                                          # E
        symbols[lengths - 1, cols] = 7                             # B, the trigger
        which = rng.integers(0, 2, size=(n, self.relevant))        # 0 = X, 1 = Y
        positions = np.stack([rng.integers(a - 1, b, size=n) for a, b in self.windows], axis=1)
        for k in range(self.relevant):
            symbols[positions[:, k], cols] = 4 + which[:, k]
        inputs = np.eye(8)[symbols] * (np.arange(L)[:, None] < lengths[None, :])[..., None]
        weights = 2 ** np.arange(self.relevant - 1, -1, -1)
        targets = which @ weights
        return Batch(inputs, lengths, targets, positions, self)

    def correct(self, predictions, targets) -> np.ndarray:
        p, d = self._predictions(predictions, targets, "TemporalOrderProblem.correct")
        onehot = np.eye(self.output_size)[d]
        return np.all(np.abs(p - onehot) < 0.3, axis=1)


# ------------------------------------------------------------------------------------ XOR
class XORProblem(PathologicalProblem):
    r"""The XOR problem in the variant of Sutskever's 2011 Hessian-free RNN code (problem ``xor``): the
    author-written generators closest to Martens & Sutskever 2011, whose own task text was not available.

    Each step is a pair (bit, marker); the bits are 0 or 1 with probability ½ each. With f = T/100 and
    ⌊·⌉ rounding, the answer is read after 0-based step n, n drawn from ⌊50f⌉ … ⌊55f⌉ − 1 (the source's
    ``randint(T_min, T_max)`` excludes its upper bound), so **at T = 100 the sequences are 51–55 steps
    long**: this variant's T is the source's scale, not a length. Two pairs are marked with 1.0: one at a
    step in [⌊f⌉, ⌊10f⌉) (never the first, which carries −1), one in [⌊15f⌉, ⌊25f⌉); three steps before
    the answer, the marker −1 announces it. The target is the XOR of the two marked bits, one of two
    classes; a sequence is correct when the predicted class is the target (the source compares the sign
    of the pre-sigmoid output with the target). Sutskever notes that HF "can still" solve it at T = 100,
    "but success is very rare".
    """

    name = "XOR"
    kind = "classification"
    output_size = 2
    source = "Sutskever's 2011 HF code (xor), after Martens & Sutskever 2011"

    def _min_T_reason(self) -> str:
        return ("scaled by T/100, the two marked windows, the announcing marker three steps before the answer and "
                "the start of the sequence must not collide")

    def _windows(self, T: int | None = None):
        f = (self.T if T is None else T) / 100.0
        first = (max(1, _scaled(f)), _scaled(10 * f))
        second = (_scaled(15 * f), _scaled(25 * f))
        start = _scaled(50 * f)
        steps = (start, max(_scaled(55 * f), start + 1))       # at least one length, also where 5f rounds to 0
        return first, second, steps

    def _valid(self, T: int) -> bool:
        (a1, b1), (a2, b2), (s0, _) = self._windows(T)
        return a1 < b1 <= a2 < b2 <= s0 - 3          # both marks after step 0 and before the announcing -1

    @property
    def windows(self) -> tuple:
        """The 0-based ``[start, stop)`` step range of each marked bit."""
        first, second, _ = self._windows()
        return first, second

    @property
    def lengths_range(self) -> tuple:
        _, _, (a, b) = self._windows()
        return (a + 1, b)

    def _sample(self, n, rng):
        (a1, b1), (a2, b2), (s0, s1) = self._windows()
        answer = rng.integers(s0, s1, size=n)                      # the step whose output is scored (0-based)
        lengths = answer + 1
        L = int(lengths.max())
        cols = np.arange(n)
        bits = (rng.random(size=(L, n)) < 0.5).astype(float)
        i = rng.integers(a1, b1, size=n)
        j = rng.integers(a2, b2, size=n)
        markers = np.zeros((L, n))
        markers[0, :] = -1.0
        markers[answer - 3, cols] = -1.0
        markers[i, cols] = 1.0
        markers[j, cols] = 1.0
        inside = np.arange(L)[:, None] < lengths[None, :]
        inputs = np.stack([bits * inside, markers * inside], axis=-1)
        targets = (bits[i, cols].astype(int) ^ bits[j, cols].astype(int))
        return Batch(inputs, lengths, targets, np.stack([i, j], axis=1), self)

    def correct(self, predictions, targets) -> np.ndarray:
        p, d = self._predictions(predictions, targets, "XORProblem.correct")
        return p[np.arange(len(d)), d] > 0.5


PROBLEMS = {"adding": AddingProblem, "multiplication": MultiplicationProblem, "temporal_order": TemporalOrderProblem,
            "xor": XORProblem}


def make_problem(name: str, T: int, **options) -> PathologicalProblem:
    """Return the problem called ``name`` (a key of :data:`PROBLEMS`) at nominal length ``T``."""
    key = str(name).lower().replace(" ", "_").replace("-", "_")
    if key not in PROBLEMS:
        raise ValueError(f"make_problem: unknown problem {name!r}; choose one of {sorted(PROBLEMS)}")
    return PROBLEMS[key](T, **options)
