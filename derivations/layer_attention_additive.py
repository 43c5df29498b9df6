r"""Additive (Bahdanau) attention, one decoder step, forward and hand-derived backward (CS231n layout).

Layout as in the CS231n assignments: batch first, row vectors, weights on the right (x @ W).
    q    (N, Q)      the query: the decoder state s_{t-1}
    H    (N, T, K)   the encoder states h_1 … h_T
    W_q  (Q, A), W_k (K, A), b_a (A,), v (A,)
    mask (N, T)      1 at real encoder steps, 0 at padding (optional)

Forward:
    u        = q W_q                                  (N, A)
    P_j      = h_j W_k + b_a                          (N, T, A)
    Z_j      = tanh(P_j + u)                          (N, T, A)
    e_j      = Z_j v          (−∞ where mask = 0)     (N, T)
    α        = softmax_j(e)                           (N, T)
    c        = Σ_j α_j h_j                            (N, K)   the layer's output

Backward, given dc = ∂E/∂c:
    ∂E/∂α_j  = dc · h_j
    ∂E/∂h_j  = α_j dc  + (path through the score, below)
    softmax:  ∂α_i/∂e_j = α_i (δ_ij − α_j), so  ∂E/∂e_j = α_j (∂E/∂α_j − Σ_i α_i ∂E/∂α_i)
    ∂E/∂Z_j  = ∂E/∂e_j v,          ∂E/∂v   = Σ_{n,j} ∂E/∂e_j Z_j
    ∂E/∂pre_j = ∂E/∂Z_j ⊙ (1 − Z_j²)
    ∂E/∂u    = Σ_j ∂E/∂pre_j,      ∂E/∂q = ∂E/∂u W_qᵀ,   ∂E/∂W_q = qᵀ ∂E/∂u
    ∂E/∂W_k  = Σ_{n,j} h_jᵀ ∂E/∂pre_j,   ∂E/∂b_a = Σ_{n,j} ∂E/∂pre_j,   ∂E/∂h_j += ∂E/∂pre_j W_kᵀ

The same layer on gradlab's recorded graph is gradlab.nn.AdditiveAttention (lecture layout: W_q there is
this W_q transposed, the keys are time-first). tests/test_attention_derivations.py checks this pair
against gradlab's reverse mode and central differences, and `gradlab check` against the VJP of
attention_forward itself (the layer-mode declaration at the end; the optional mask keeps its default).
"""
import numpy as np

import gradlab


def attention_forward(q, H, W_q, W_k, b_a, v, mask=None):
    """Return (c, cache): the context c (N, K) and what the backward pass needs."""
    u = q @ W_q
    Z = np.tanh(H @ W_k + b_a + u[:, None, :])
    e = Z @ v
    if mask is not None:
        e = np.where(mask > 0, e, -np.inf)
    e = e - e.max(axis=1, keepdims=True)
    alpha = np.exp(e)
    alpha /= alpha.sum(axis=1, keepdims=True)
    c = np.einsum("nt,ntk->nk", alpha, H)
    return c, (q, H, W_q, W_k, v, Z, alpha)


def attention_backward(dc, cache):
    """Return (dq, dH, dW_q, dW_k, db_a, dv) for the upstream gradient dc (N, K)."""
    q, H, W_q, W_k, v, Z, alpha = cache
    dalpha = np.einsum("nk,ntk->nt", dc, H)
    dH = alpha[:, :, None] * dc[:, None, :]
    de = alpha * (dalpha - (alpha * dalpha).sum(axis=1, keepdims=True))   # the softmax Jacobian
    dZ = de[:, :, None] * v
    dv = np.einsum("nt,nta->a", de, Z)
    dpre = dZ * (1 - Z ** 2)
    du = dpre.sum(axis=1)
    dq = du @ W_q.T
    dW_q = q.T @ du
    dW_k = np.einsum("ntk,nta->ka", H, dpre)
    db_a = dpre.sum(axis=(0, 1))
    dH += dpre @ W_k.T
    return dq, dH, dW_q, dW_k, db_a, dv


LAYER = gradlab.check.layer(attention_forward, attention_backward, style="cs231n",
                            inputs="q: N,Q; H: N,T,K; W_q: Q,A; W_k: K,A; b_a: A; v: A")
