r"""Synthetic "spectrograms" of formant sweeps at a chosen time offset: the shift-invariance experiment
for the time-delay neural network.

**What this is, and is not.** Waibel, Hanazawa, Hinton, Shikano and Lang (IEEE Trans. ASSP 37(3),
1989) trained their TDNN on the Japanese syllables /b/, /d/, /g/ of the ATR speech database, as 16
mel-scale coefficients per 10 ms frame. That data cannot be obtained here, so nothing in this module
is speech. It is a *synthetic imitation* of the one property of those tokens the TDNN paper is about:
the three classes differ in the direction of a formant transition (how a resonance moves in frequency
over a few frames after the consonant's release), and where in the input window that transition sits
varies from token to token. A classifier that has learnt the transition at some positions in time
should recognise it at others: that is the claim ("the time-delay arrangement enables the network to
discover acoustic-phonetic features … independently of position in time", the paper's abstract), and
this generator lets it be tested by training on one range of positions and testing on another.

**A token.** ``channels`` frequency channels (default 16, channel 0 lowest) × ``frames`` time frames
(default 32), all zero, plus a pattern of ``length`` frames (default 9) starting at frame ``offset``:

* a first "formant" F1 that rises from channel 1 to channel 3 over the pattern, the same in every class
  (after any voiced stop the first formant rises; it carries no class information here);
* a second "formant" F2 whose centre moves linearly over the pattern by ``span`` channels (drawn
  uniformly in [3, 5]) up (class 0, ``"rising"``), down (class 1, ``"falling"``) or not at all (class 2,
  ``"flat"``), starting at a random channel chosen so that the whole sweep lies in channels 6 … 15 (for
  16 channels; in general from ``channels // 2 − 2`` to the top). A single frame therefore does not tell
  the class: the start channel varies, and it is the *direction over frames* that does;
* each formant is a Gaussian bump across channels (standard deviation 0.8 channels, evaluated at the
  channel centres), with one amplitude per token drawn uniformly in [0.7, 1.0] (F2 at 0.8 of F1);
* independent Gaussian noise of standard deviation ``noise`` (default 0.2) on every channel of every
  frame, inside and outside the pattern.

The rising / falling / flat labels only loosely echo b / d / g (whose second-formant transitions
depend on the following vowel); the mapping is not a claim about phonetics.

``offsets`` is an int (every token at that frame) or an inclusive range ``(lo, hi)`` drawn uniformly
per token; 0 ≤ lo ≤ hi ≤ frames − length. The result is time first, ``inputs (frames, n, channels)``,
as :class:`gradlab.nn.tdnn.TDNN` and :func:`gradlab.nn.unroll` read sequences.

>>> from gradlab.data import formant_sweeps
>>> batch = formant_sweeps(5, offsets=(0, 4), rng=0)
>>> batch.inputs.shape, batch.labels.shape, bool(batch.offsets.max() <= 4)
((32, 5, 16), (5,), True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pathological import _generator

__all__ = ["SWEEP_CLASSES", "SweepBatch", "formant_sweeps", "sweep_offsets"]

#: the class names, by label index
SWEEP_CLASSES = ("rising", "falling", "flat")
_BANDWIDTH = 0.8          # standard deviation of a formant across channels
_F1 = (1.0, 3.0)          # F1 rises from channel 1 to 3 in every class
_SPAN = (3.0, 5.0)        # F2 moves by this many channels (rising / falling)


@dataclass(frozen=True)
class SweepBatch:
    r"""A batch of synthetic formant-sweep tokens.

    ``inputs`` ``(frames, n, channels)``: the noisy spectrograms, time first; ``labels`` ``(n,)``: the class
    index (0 rising, 1 falling, 2 flat; :data:`SWEEP_CLASSES`); ``offsets`` ``(n,)``: the frame at which each
    token's pattern starts; ``length``: the pattern's number of frames."""

    inputs: np.ndarray
    labels: np.ndarray
    offsets: np.ndarray
    length: int

    @property
    def size(self) -> int:
        """The number of tokens n."""
        return int(self.labels.shape[0])

    def flat(self) -> np.ndarray:
        """Return the inputs as one row per token, ``(n, frames · channels)`` (time-major within a row): what
        a multilayer perceptron over the whole window reads."""
        T, n, C = self.inputs.shape
        return np.ascontiguousarray(self.inputs.transpose(1, 0, 2).reshape(n, T * C))




def _int(who: str, what: str, n, least: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < least:
        raise ValueError(f"{who}: {what} must be an int of at least {least}, got {n!r}")
    return int(n)


def sweep_offsets(offsets, *, frames: int, length: int, who: str = "formant_sweeps") -> tuple:
    r"""Return ``offsets`` (an int or an inclusive ``(lo, hi)``) as ``(lo, hi)``, checked to lie in
    0 … frames − length (the pattern must fit in the window)."""
    if isinstance(offsets, (int, np.integer)) and not isinstance(offsets, bool):
        lo = hi = int(offsets)
    else:
        try:
            lo, hi = offsets
        except (TypeError, ValueError):
            raise ValueError(f"{who}: offsets must be an int or a pair (lo, hi), got {offsets!r}") from None
        for v in (lo, hi):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"{who}: offsets must be ints, got {offsets!r}")
        lo, hi = int(lo), int(hi)
    last = frames - length
    if not 0 <= lo <= hi <= last:
        raise ValueError(f"{who}: offsets {(lo, hi)} must satisfy 0 <= lo <= hi <= frames - length = {last} "
                         f"(a pattern of {length} frames in a window of {frames})")
    return lo, hi


def formant_sweeps(n: int, *, offsets=(0, 7), frames: int = 32, channels: int = 16, length: int = 9,
                   noise: float = 0.2, labels=None, rng=0) -> SweepBatch:
    r"""Return a :class:`SweepBatch` of ``n`` synthetic tokens (see the module docstring for what a token is).

    ``offsets``: the frame where each pattern starts, an int or an inclusive range ``(lo, hi)`` drawn
    uniformly; ``frames`` × ``channels``: the window; ``length``: the pattern's frames (at least 2: a
    direction needs two frames); ``noise``: the standard deviation of the additive Gaussian noise;
    ``labels``: None to draw the classes uniformly, or ``n`` class indices to use; ``rng``: an int seed or
    a ``numpy.random.Generator`` (the same seed gives the same batch, bit for bit)."""
    who = "formant_sweeps"
    n = _int(who, "n", n, 1)
    frames = _int(who, "frames", frames, 2)
    channels = _int(who, "channels", channels, 12)
    length = _int(who, "length", length, 2)
    if length > frames:
        raise ValueError(f"{who}: the pattern (length = {length} frames) is longer than the window "
                         f"(frames = {frames})")
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"{who}: noise must be a finite standard deviation >= 0, got {noise!r}")
    lo, hi = sweep_offsets(offsets, frames=frames, length=length, who=who)
    g = _generator(rng, who)
    if labels is None:
        y = g.integers(0, len(SWEEP_CLASSES), size=n)
    else:
        y = np.asarray(labels)
        if y.shape != (n,) or y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= len(SWEEP_CLASSES))):
            raise ValueError(f"{who}: labels must be {n} class indices in 0 .. {len(SWEEP_CLASSES) - 1}, "
                             f"got {labels!r}")
        y = y.astype(np.int64)
    start = g.integers(lo, hi + 1, size=n)
    span = g.uniform(*_SPAN, size=n)
    bottom, top = channels // 2 - 2, channels - 1
    direction = np.array([1.0, -1.0, 0.0])[y]
    moved = np.abs(direction) * span
    c0 = bottom + g.uniform(0.0, 1.0, size=n) * (top - bottom - moved)       # lowest channel of the sweep
    c0 = np.where(direction < 0, c0 + moved, c0)                               # falling sweeps start at the top
    amp = g.uniform(0.7, 1.0, size=n)
    frac = np.arange(length) / (length - 1)                                    # 0 … 1 over the pattern
    f1 = _F1[0] + (_F1[1] - _F1[0]) * frac                                     # (length,)
    f2 = c0[:, None] + direction[:, None] * span[:, None] * frac[None, :]     # (n, length)
    ch = np.arange(channels, dtype=np.float64)

    def bump(centre):
        return np.exp(-0.5 * ((ch - centre[..., None]) / _BANDWIDTH) ** 2)

    pattern = amp[:, None, None] * (bump(f1)[None] + 0.8 * bump(f2))          # (n, length, channels)
    x = g.normal(0.0, noise, size=(frames, n, channels)) if noise > 0 else np.zeros((frames, n, channels))
    rows = start[:, None] + np.arange(length)[None, :]                          # (n, length) frame indices
    x[rows, np.arange(n)[:, None], :] += pattern
    return SweepBatch(inputs=x, labels=y, offsets=start.astype(np.int64), length=length)
