r"""A deliberately wrong backward of additive attention: the softmax Jacobian taken as diagonal.

The forward is attention_additive.py's. The slip is in one line: treating each α_j as a function of its
own score only, as for an element-wise sigmoid,

    ∂E/∂e_j = α_j (1 − α_j) ∂E/∂α_j             (wrong: only the diagonal of the Jacobian)

instead of ∂E/∂e_j = α_j (∂E/∂α_j − Σ_i α_i ∂E/∂α_i), which keeps the off-diagonal terms −α_i α_j
(raising one score lowers every other weight). Every gradient that passes through the scores is then
wrong: dq, dW_q, dW_k, db_a, dv and the score part of dH. The checker must name exactly these.
"""
import numpy as np

import gradlab

EXPECT = "wrong"
WRONG = ("dq", "dH", "dW_q", "dW_k", "db_a", "dv")


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
    de = alpha * (1 - alpha) * dalpha                  # the slip: the diagonal of the softmax Jacobian only
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
