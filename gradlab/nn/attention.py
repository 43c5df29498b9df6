r"""Attention over encoder states: additive (Bahdanau) and dot-product (Luong) scores, a masked softmax
and the context vector, as modules on the recorded graph.

Notation. The encoder reads :math:`x_1 \dots x_{T_{in}}` and leaves its states
:math:`h_j = s^{enc}_j` (:math:`j = 1 \dots T_{in}`), Bahdanau's *annotations*. At decoder step
:math:`t` a decoder state, the *query* :math:`q_t` (:math:`s_{t-1}` in Bahdanau's wiring,
:math:`s_t` in Luong's, see :class:`~gradlab.nn.EncoderDecoder`), scores every encoder step; the
scores are normalised over the encoder steps, and the encoder states are averaged with those weights:

.. math::
    e_{t,j} = \operatorname{score}(q_t, h_j), \qquad
    \alpha_{t,j} = \frac{m_j \exp e_{t,j}}{\sum_k m_k \exp e_{t,k}}, \qquad
    c_t = \sum_{j=1}^{T_{in}} \alpha_{t,j}\, h_j ,

with :math:`m_j \in \{0, 1\}` the mask (0 at padding: a padded step gets weight exactly 0, and the
weights of each sequence sum to 1 over its real steps). The scores:

.. math::
    \text{additive (Bahdanau et al. 2015):}\quad \operatorname{score}(q, h) = v^\top \tanh(W_q\, q + W_k\, h + b_a)

    \text{dot product (Luong et al. 2015):}\quad \operatorname{score}(q, h) = h^\top q
    \quad (\text{scaled: } h^\top q / \sqrt{K})

Shapes, time axis first as everywhere in gradlab (``...`` is the batch shape, empty for one sequence):
keys :math:`h`: ``(T_in, ..., K)``; query :math:`q_t`: ``(..., Q)``; mask: ``(T_in, ...)``; scores
:math:`e_t` and weights :math:`\alpha_t`: ``(T_in, ...)``; context :math:`c_t`: ``(..., K)``.
Parameters of the additive score (attention size A): ``W_q`` (A, Q), ``W_k`` (A, K), ``b_a`` (A,),
``v`` (1, A). The dot product has none (and needs Q = K).

Every quantity is an ordinary node (``linear``, ``tanh``, ``softmax``, ``mul``, ``sum``), recorded in the
module's scope (``attention``) and at the decoder step's ``t``: the checker, the references and the
renderer read attention like any other layer. The mask enters as a constant added to the scores
(0 where :math:`m_j = 1`, :data:`MASKED_SCORE` where :math:`m_j = 0`), so :math:`\exp` gives exactly 0
there and no gradient reaches a padded score.
"""
from __future__ import annotations

import math

import numpy as np

from ..engine import ops
from ..engine.backend import get_xp
from ..devices import as_numpy
from ..engine.tensor import Tensor
from .module import Dense, Module, make_rng

__all__ = ["Attention", "AdditiveAttention", "DotProductAttention", "Memory", "MASKED_SCORE", "ATTENTIONS",
           "assert_reads_encoder"]

#: the score given to a padded encoder step: exp of it (minus any real score) is exactly 0 in float32 and float64
MASKED_SCORE = -1e30


def _tensor(x, dtype, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an array of numbers, got {type(x).__name__}") from None
    return Tensor(arr)


class Memory:
    r"""The encoder states made ready for attention, once per sequence: the keys :math:`h_j`
    (``(T_in, ..., K)``), what the score needs of them that does not depend on the query (the additive
    score's :math:`W_k h_j + b_a`), and the mask as an additive constant on the scores.

    Made by :meth:`Attention.memory`; every decoder step then calls the attention with it.
    """

    def __init__(self, keys: Tensor, projected, mask, bias):
        self.keys = keys
        self.projected = projected
        self.mask = mask        # (T_in, ...) float array of 0/1, or None
        self.bias = bias        # Tensor of 0 / MASKED_SCORE, or None

    @property
    def steps(self) -> int:
        """The number of encoder steps :math:`T_{in}`."""
        return self.keys.shape[0]

    @property
    def batch_shape(self) -> tuple:
        """The batch shape ``...`` of the keys (``()`` for one sequence)."""
        return tuple(self.keys.shape[1:-1])

    def __repr__(self) -> str:
        masked = "" if self.mask is None else f", {int((self.mask == 0).sum())} padded"
        return f"Memory(keys {tuple(self.keys.shape)}{masked})"


class Attention(Module):
    r"""Base class: checks the inputs, applies the mask and the softmax over the encoder steps, and forms
    the context :math:`c_t = \sum_j \alpha_{t,j} h_j`. Subclasses give the score
    (:meth:`scores`) and what of the keys can be computed once per sequence (:meth:`project`).

    Calling ``attention(query, keys_or_memory, mask=None)`` returns ``(c_t, alpha_t)`` with shapes
    ``(..., K)`` and ``(T_in, ...)`` (see the module docstring).
    """

    kind = "attention"

    def __init__(self, query_size: int, key_size: int, *, name: str | None = "attention", dtype=np.float64):
        super().__init__(name)
        cls = type(self).__name__
        for what, n in (("query_size", query_size), ("key_size", key_size)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
                raise ValueError(f"{cls}: {what} must be a positive int, got {n!r}")
        self.query_size, self.key_size = int(query_size), int(key_size)
        self.dtype = np.dtype(dtype)

    def describe(self) -> str:
        """Return the class and name, e.g. ``"AdditiveAttention 'attention'"``, for messages."""
        return f"{type(self).__name__} {self.name!r}"

    # ------------------------------------------------------------------ the keys, once per sequence
    def memory(self, keys, mask=None) -> Memory:
        r"""Return the :class:`Memory` of encoder states ``keys`` (``(T_in, ..., K)``, or a list of
        :math:`T_{in}` states ``(..., K)``) with an optional ``mask`` ``(T_in, ...)`` (1 = a real step,
        0 = padding; each sequence needs at least one real step)."""
        who = self.describe()
        if isinstance(keys, (list, tuple)):
            if not keys:
                raise ValueError(f"{who}: empty sequence: there are no encoder states to attend over")
            keys = ops.stack([_tensor(k, self.dtype, f"{who}: encoder state {j}") for j, k in enumerate(keys, 1)],
                             axis=0)
        keys = _tensor(keys, self.dtype, f"{who}: the encoder states")
        if keys.ndim < 2:
            raise ValueError(f"{who}: the encoder states must have shape (T_in, ..., K) = (T_in, {self.key_size}) "
                             f"or (T_in, B, {self.key_size}), got {tuple(keys.shape)}")
        if keys.shape[0] == 0:
            raise ValueError(f"{who}: empty sequence: the encoder states have 0 time steps "
                             f"(shape {tuple(keys.shape)})")
        if keys.shape[-1] != self.key_size:
            raise ValueError(f"{who}: the encoder states have {keys.shape[-1]} features, expected "
                             f"key_size = {self.key_size} (shape {tuple(keys.shape)} = (T_in, ..., K))")
        m, bias = self._mask(mask, keys)
        projected = self.project(keys)
        return Memory(keys, projected, m, bias)

    def _mask(self, mask, keys: Tensor):
        if mask is None:
            return None, None
        who = self.describe()
        m = as_numpy(mask.data if isinstance(mask, Tensor) else mask)
        if not isinstance(m, np.ndarray) or m.dtype.kind not in "biuf":
            raise TypeError(f"{who}: the mask must hold 0/1 numbers or booleans, got {getattr(m, 'dtype', type(m))}")
        want = tuple(keys.shape[:-1])
        if tuple(m.shape) != want:
            raise ValueError(f"{who}: mask of shape {tuple(m.shape)} does not match the encoder states of shape "
                             f"{tuple(keys.shape)}: expected {want} = (T_in, ...), the states' shape without the "
                             f"feature axis")
        if not np.all((m == 0) | (m == 1)):
            raise ValueError(f"{who}: the mask must be 0 (padding) or 1 (a real step); got values "
                             f"{sorted(set(np.unique(m).tolist()) - {0, 1})[:3]}")
        m = m.astype(keys.dtype)
        empty = m.sum(axis=0) == 0
        if np.any(empty):
            which = "" if m.ndim == 1 else f" for the sequence at batch index {tuple(map(int, np.argwhere(empty)[0]))}"
            raise ValueError(f"{who}: the mask leaves no encoder step to attend to{which}: every position is "
                             f"padding (0)")
        bias = get_xp(keys.data).asarray(np.where(m == 0, MASKED_SCORE, 0.0).astype(keys.dtype))  # keys' device
        return m, Tensor(bias, name="mask")

    def project(self, keys: Tensor):
        """What the score needs of the keys alone, computed once per sequence (None: nothing)."""
        return None

    # ------------------------------------------------------------------------------- one step
    def scores(self, query: Tensor, memory: Memory) -> Tensor:
        r"""Return the scores :math:`e_{t,j}`, shape ``(T_in, ...)``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement scores()")

    def _check_query(self, query, memory: Memory) -> Tensor:
        who = self.describe()
        q = _tensor(query, self.dtype, f"{who}: the query")
        if q.ndim == 0 or q.shape[-1] != self.query_size:
            raise ValueError(f"{who}: the query (decoder state) must have {self.query_size} features "
                             f"(query_size), got shape {tuple(q.shape)}")
        if tuple(q.shape[:-1]) != memory.batch_shape:
            raise ValueError(f"{who}: batch mismatch: the query has batch shape {tuple(q.shape[:-1])} but the "
                             f"encoder states {tuple(memory.keys.shape)} have batch shape {memory.batch_shape}")
        return q

    def forward(self, query, keys, mask=None):
        r"""Return ``(c_t, alpha_t)``: the context ``(..., K)`` and the weights ``(T_in, ...)`` for the
        query ``(..., Q)`` over ``keys`` (a :class:`Memory`, or encoder states ``(T_in, ..., K)`` with an
        optional ``mask``)."""
        if isinstance(keys, Memory):
            if mask is not None:
                raise ValueError(f"{self.describe()}: the mask belongs to the Memory; give it to memory(keys, mask)")
            memory = keys
        else:
            memory = self.memory(keys, mask)
        q = self._check_query(query, memory)
        e = self.scores(q, memory)
        if memory.bias is not None:
            e = ops.add(e, memory.bias)
        alpha = ops.softmax(e, axis=0)
        weights = ops.reshape(alpha, tuple(alpha.shape) + (1,))
        context = ops.sum(ops.mul(weights, memory.keys), axis=0)
        return context, alpha


class AdditiveAttention(Attention):
    r"""Bahdanau's additive score :math:`e_{t,j} = v^\top \tanh(W_q q_t + W_k h_j + b_a)`, built from three
    :class:`~gradlab.nn.Dense` layers: ``W_q`` (A, Q) without bias, ``W_k`` (A, K) with bias ``b_a`` (A,),
    and ``v`` (1, A). :math:`W_k h_j + b_a` does not depend on t and is computed once per sequence
    (:meth:`memory`). ``attention_size`` A defaults to the query size.
    """

    kind = "additive"

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None, *, rng=None,
                 name: str | None = "attention", dtype=np.float64):
        super().__init__(query_size, key_size, name=name, dtype=dtype)
        A = self.query_size if attention_size is None else attention_size
        if isinstance(A, bool) or not isinstance(A, (int, np.integer)) or A <= 0:
            raise ValueError(f"AdditiveAttention: attention_size must be a positive int, got {attention_size!r}")
        self.attention_size = int(A)
        rng = make_rng(rng)
        self.query_layer = Dense(self.query_size, self.attention_size, bias=False, name="W_q", weight_name="W_q",
                                 rng=rng, dtype=dtype)
        self.key_layer = Dense(self.key_size, self.attention_size, name="W_k", weight_name="W_k", bias_name="b_a",
                               rng=rng, dtype=dtype)
        self.score_layer = Dense(self.attention_size, 1, bias=False, name="v", weight_name="v", rng=rng, dtype=dtype)

    def project(self, keys: Tensor) -> Tensor:
        r""":math:`W_k h_j + b_a` for every encoder step: ``(T_in, ..., A)``."""
        return self.key_layer(keys)

    def scores(self, query: Tensor, memory: Memory) -> Tensor:
        r""":math:`e_{t,j} = v^\top \tanh(W_q q_t + W_k h_j + b_a)`: ``(T_in, ...)``."""
        hidden = ops.tanh(ops.add(memory.projected, self.query_layer(query)))   # (T_in, ..., A), q broadcast
        e = self.score_layer(hidden)                                            # (T_in, ..., 1)
        return ops.reshape(e, tuple(e.shape[:-1]))

    def __repr__(self) -> str:
        return f"AdditiveAttention(Q={self.query_size}, K={self.key_size}, A={self.attention_size})"


class DotProductAttention(Attention):
    r"""Luong's dot score :math:`e_{t,j} = h_j^\top q_t` (``scaled=True``: divided by :math:`\sqrt{K}`, as in
    the Transformer). No parameters; the query and the keys must have the same size K."""

    kind = "dot"

    def __init__(self, size: int, *, scaled: bool = False, name: str | None = "attention", dtype=np.float64):
        super().__init__(size, size, name=name, dtype=dtype)
        self.scaled = bool(scaled)

    def scores(self, query: Tensor, memory: Memory) -> Tensor:
        r""":math:`e_{t,j} = h_j^\top q_t` (over :math:`\sqrt{K}` when scaled): ``(T_in, ...)``."""
        e = ops.sum(ops.mul(memory.keys, query), axis=-1)                     # q broadcast over j
        return ops.mul(e, 1.0 / math.sqrt(self.key_size)) if self.scaled else e

    def __repr__(self) -> str:
        return f"DotProductAttention(K={self.key_size}{', scaled' if self.scaled else ''})"


#: the attention kinds by name, as ``EncoderDecoder(..., attention="additive")`` takes them
ATTENTIONS = {"additive": AdditiveAttention, "dot": DotProductAttention}


def assert_reads_encoder(attend, query, keys, *, rng=None, tol: float = 1e-9) -> None:
    r"""Raise ``AssertionError`` unless the attention weights returned by ``attend(query, keys)`` (a callable
    returning ``(context, weights)`` with weights ``(T_in, ...)``, e.g. an :class:`Attention`) depend on
    the encoder states, as they must: :math:`\alpha_{t,j}` is a function of :math:`h_j`.

    Two properties are checked on the given ``query`` ``(..., Q)`` and ``keys`` ``(T_in, ..., K)``:

    * *permutation*: permuting the encoder steps permutes the weights the same way (content-based
      attention does not know positions except through the states);
    * *sensitivity*: the Jacobian :math:`\partial \alpha_{t,j} / \partial h_j` (engine reverse mode) is not 0.

    A decoder whose "attention" computes the weights from its own state alone (a known bug of a widely
    used tutorial) fails both. Needs at least two encoder steps with different states.
    """
    from ..engine.context import enable_grad

    rng = make_rng(rng)
    keys = np.asarray(keys.data if isinstance(keys, Tensor) else keys, dtype=np.float64)
    query = np.asarray(query.data if isinstance(query, Tensor) else query, dtype=np.float64)
    T = keys.shape[0]
    if T < 2:
        raise ValueError("assert_reads_encoder: needs at least two encoder steps")
    with enable_grad():
        _, alpha = attend(Tensor(query), Tensor(keys))
    alpha = np.asarray(alpha.data)
    if alpha.shape != keys.shape[:-1]:
        raise AssertionError(f"the attention weights have shape {alpha.shape}, expected {keys.shape[:-1]} = (T_in, ...)"
                             f": one weight per encoder step")
    perm = rng.permutation(T)
    while np.array_equal(perm, np.arange(T)):
        perm = rng.permutation(T)
    _, alpha_p = attend(Tensor(query), Tensor(keys[perm]))
    alpha_p = np.asarray(alpha_p.data)
    if not np.allclose(alpha_p, alpha[perm], rtol=0, atol=tol):
        moved = float(np.max(np.abs(alpha_p - alpha[perm])))
        raise AssertionError(f"permuting the encoder states (order {perm.tolist()}) did not permute the attention "
                             f"weights (largest difference {moved:.3g}): the weights do not follow the encoder "
                             f"states; are they computed from the decoder state alone?")
    h = Tensor(keys, requires_grad=True)
    with enable_grad():
        _, a = attend(Tensor(query), h)
        probe = rng.normal(size=a.shape)
        ops.sum(ops.mul(a, probe)).backward()
    size = float(np.max(np.abs(h.grad))) if h.grad is not None else 0.0
    if not size > tol:
        raise AssertionError("the attention weights do not depend on the encoder states: ∂α/∂h = 0 "
                             "(they are computed from the decoder state alone)")
