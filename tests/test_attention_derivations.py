"""The hand-derived additive-attention layer (CS231n style forward/backward pair in derivations/attention/)
against gradlab's reverse mode through gradlab.nn.AdditiveAttention and against central differences of the
author's own forward: the right backward agrees to rounding, the planted softmax-Jacobian slip is caught and
the wrong gradients are named in the author's names."""
import importlib.util
import pathlib

import numpy as np
import pytest

import gradlab
from gradlab.nn import AdditiveAttention

FOLDER = pathlib.Path(__file__).resolve().parent.parent / "derivations" / "attention"
NAMES = ("dq", "dH", "dW_q", "dW_k", "db_a", "dv")
INPUTS = ("q", "H", "W_q", "W_k", "b_a", "v")


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"gradlab_derivation_{name}", FOLDER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case(seed: int, N=3, T=5, Q=4, K=3, A=4):
    """Inputs in the author's layout (batch first, x @ W), a padding mask and an upstream gradient."""
    rng = np.random.default_rng(seed)
    args = {"q": rng.normal(size=(N, Q)), "H": rng.normal(size=(N, T, K)), "W_q": rng.normal(0, 0.7, (Q, A)),
            "W_k": rng.normal(0, 0.7, (K, A)), "b_a": rng.normal(0, 0.3, A), "v": rng.normal(size=A)}
    lengths = rng.integers(2, T + 1, size=N)
    lengths[0] = T
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(float)
    return args, mask, rng.normal(size=(N, K))


def engine_vjp(args, mask, dc) -> dict:
    """∂(Σ dc ⊙ c)/∂input by gradlab's reverse mode on the recorded graph of gradlab.nn.AdditiveAttention,
    mapped to the author's layout (W transposed, keys batch-first)."""
    Q, A = args["W_q"].shape
    K = args["W_k"].shape[0]
    attend = AdditiveAttention(Q, K, A)
    P = attend.parameters_by_name()
    P["W_q"].data, P["W_k"].data = args["W_q"].T.copy(), args["W_k"].T.copy()
    P["b_a"].data, P["v"].data = args["b_a"].copy(), args["v"][None, :].copy()
    q = gradlab.tensor(args["q"], requires_grad=True)
    keys = gradlab.tensor(args["H"].transpose(1, 0, 2), requires_grad=True)
    c, _ = attend(q, keys, mask=mask.T)
    gradlab.sum(c * dc).backward()
    return {"dq": q.grad, "dH": keys.grad.transpose(1, 0, 2), "dW_q": P["W_q"].grad.T, "dW_k": P["W_k"].grad.T,
            "db_a": P["b_a"].grad, "dv": P["v"].grad[0]}


def central_differences(forward, args, mask, dc, h=1e-6) -> dict:
    """∂(Σ dc ⊙ c)/∂input by central differences of the author's forward, treated as a black box."""
    out = {}
    for name, grad_name in zip(INPUTS, NAMES):
        x = args[name]
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus, minus = dict(args), dict(args)
            plus[name], minus[name] = x.copy(), x.copy()
            plus[name][idx] += h
            minus[name][idx] -= h
            g[idx] = (np.sum(forward(**plus, mask=mask)[0] * dc) - np.sum(forward(**minus, mask=mask)[0] * dc)) / (2 * h)
        out[grad_name] = g
    return out


def relative_errors(theirs: dict, reference: dict) -> dict:
    return {k: float(np.max(np.abs(theirs[k] - reference[k])) / max(np.max(np.abs(reference[k])), 1e-300))
            for k in NAMES}


def author_gradients(module, args, mask, dc) -> dict:
    c, cache = module.attention_forward(**args, mask=mask)
    grads = module.attention_backward(dc, cache)
    assert len(grads) == len(NAMES)
    return dict(zip(NAMES, grads))


def test_the_forward_is_the_same_layer_as_gradlab_attention():
    right = load("attention_additive")
    args, mask, dc = case(0)
    Q, A = args["W_q"].shape
    attend = AdditiveAttention(Q, args["W_k"].shape[0], A)
    P = attend.parameters_by_name()
    P["W_q"].data, P["W_k"].data, P["b_a"].data, P["v"].data = args["W_q"].T, args["W_k"].T, args["b_a"], args["v"][None]
    c, _ = attend(args["q"], args["H"].transpose(1, 0, 2), mask=mask.T)
    np.testing.assert_allclose(right.attention_forward(**args, mask=mask)[0], c.data, rtol=1e-13)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_hand_derived_backward_agrees_with_the_engine_and_central_differences(seed):
    right = load("attention_additive")
    args, mask, dc = case(seed)
    theirs = author_gradients(right, args, mask, dc)
    engine = relative_errors(theirs, engine_vjp(args, mask, dc))
    fd = relative_errors(theirs, central_differences(right.attention_forward, args, mask, dc))
    assert max(engine.values()) < 1e-10, engine
    assert max(fd.values()) < 1e-7, fd
    assert np.all(theirs["dH"][mask == 0] == 0.0)           # padded encoder states get no gradient


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_planted_softmax_jacobian_slip_is_caught_and_the_wrong_gradients_are_named(seed):
    wrong = load("attention_additive_wrong_softmax")
    args, mask, dc = case(seed)
    theirs = author_gradients(wrong, args, mask, dc)
    engine = relative_errors(theirs, engine_vjp(args, mask, dc))
    fd = relative_errors(theirs, central_differences(wrong.attention_forward, args, mask, dc))
    named_engine = tuple(k for k in NAMES if engine[k] > 1e-6)
    named_fd = tuple(k for k in NAMES if fd[k] > 1e-4)
    assert wrong.EXPECT == "wrong"
    assert named_engine == named_fd == tuple(wrong.WRONG)
    assert min(engine[k] for k in wrong.WRONG) > 1e-3        # not a rounding-level difference
