"""Attention over encoder states: the weights are a distribution over the real encoder steps that follows the
encoder states, the context is their weighted sum, both wirings of the decoder compute what their equations
say, gradients agree with HIPS autograd and central differences, and bad input is refused by name."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import gradlab
from gradlab import nn
from gradlab.nn.attention import MASKED_SCORE, AdditiveAttention, Attention, DotProductAttention, assert_reads_encoder


def _attentions(K=4, Q=4, seed=0):
    return {"additive": AdditiveAttention(Q, K, 3, rng=seed), "dot": DotProductAttention(K),
            "scaled dot": DotProductAttention(K, scaled=True)}


def _padded_mask(T, lengths):
    return (np.arange(T)[:, None] < np.asarray(lengths)[None, :]).astype(float)


# ------------------------------------------------------------------------------------- the module
@pytest.mark.parametrize("kind", ["additive", "dot", "scaled dot"])
def test_weights_sum_to_one_over_the_real_steps_and_padding_gets_exactly_zero(kind):
    rng = np.random.default_rng(1)
    attend = _attentions()[kind]
    keys, q = rng.normal(size=(6, 3, 4)), rng.normal(size=(3, 4))
    mask = _padded_mask(6, [6, 2, 4])
    c, alpha = attend(q, keys, mask=mask)
    a = alpha.data
    assert a.shape == (6, 3) and c.shape == (3, 4)
    np.testing.assert_allclose(a.sum(axis=0), 1.0, rtol=0, atol=1e-14)
    assert np.all(a[mask == 0] == 0.0)                 # exactly zero, not merely small
    assert np.all(a[mask == 1] > 0.0)
    np.testing.assert_allclose(c.data, np.einsum("tb,tbk->bk", a, keys), rtol=1e-13)


def test_additive_scores_follow_the_documented_equation():
    rng = np.random.default_rng(2)
    attend = AdditiveAttention(5, 4, 3, rng=3)
    for p in attend.parameters():
        p.data = rng.normal(size=p.shape)
    keys, q = rng.normal(size=(7, 2, 4)), rng.normal(size=(2, 5))
    c, alpha = attend(q, keys)
    W_q, W_k, b_a, v = (attend.parameters_by_name()[k].data for k in ("W_q", "W_k", "b_a", "v"))
    e = np.tanh(keys @ W_k.T + b_a + q @ W_q.T) @ v[0]                   # v^T tanh(W_q q + W_k h_j + b_a)
    ref = np.exp(e - e.max(axis=0)) / np.exp(e - e.max(axis=0)).sum(axis=0)
    np.testing.assert_allclose(alpha.data, ref, rtol=1e-12)
    np.testing.assert_allclose(c.data, (ref[..., None] * keys).sum(axis=0), rtol=1e-12)


def test_unbatched_sequences_and_a_memory_made_once_give_the_same_weights():
    rng = np.random.default_rng(3)
    attend = AdditiveAttention(4, 4, rng=0)
    keys, q = rng.normal(size=(5, 4)), rng.normal(size=(4,))
    c1, a1 = attend(q, keys)
    memory = attend.memory(keys)
    c2, a2 = attend(q, memory)
    assert a1.shape == (5,) and c1.shape == (4,)
    np.testing.assert_allclose(a2.data, a1.data, rtol=1e-15)
    np.testing.assert_allclose(c2.data, c1.data, rtol=1e-15)
    _, a3 = attend(q, [keys[j] for j in range(5)])      # a list of encoder states
    np.testing.assert_allclose(a3.data, a1.data, rtol=1e-15)


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_attention_weights_depend_on_the_encoder_states(kind):
    rng = np.random.default_rng(4)
    assert_reads_encoder(_attentions()[kind], rng.normal(size=(2, 4)), rng.normal(size=(6, 2, 4)), rng=0)


class QueryOnlyAttention(Attention):
    """The bug of a widely used tutorial's decoder (pytorch/tutorials#87, #130): the weights come from a
    layer on the decoder state alone, one output per position; the encoder states only get averaged."""

    def __init__(self, size, max_length, seed=0):
        super().__init__(size, size)
        self.layer = nn.Dense(size, max_length, rng=seed)

    def scores(self, query, memory):
        e = self.layer(query)                                   # (..., max_length): no h_j anywhere
        return gradlab.transpose(e[..., : memory.steps]) if e.ndim > 1 else e[: memory.steps]


def test_an_attention_that_computes_its_weights_from_the_decoder_state_alone_is_caught():
    rng = np.random.default_rng(5)
    buggy = QueryOnlyAttention(4, 10)
    q, keys = rng.normal(size=(2, 4)), rng.normal(size=(6, 2, 4))
    _, alpha = buggy(q, keys)
    np.testing.assert_allclose(alpha.data.sum(axis=0), 1.0)   # it looks like attention ...
    with pytest.raises(AssertionError, match="did not permute"):
        assert_reads_encoder(buggy, q, keys, rng=0)            # ... but the weights ignore the encoder
    # the Jacobian check alone catches weights that permute trivially: uniform "attention" (mean pooling)
    def uniform(q_, k_):
        flat = gradlab.tensor(np.full(k_.shape[:-1], 1.0 / k_.shape[0]))
        return None, flat + 0.0 * gradlab.sum(k_, axis=-1)      # on the graph, yet ∂α/∂h = 0
    with pytest.raises(AssertionError, match="do not depend on the encoder states"):
        assert_reads_encoder(uniform, q, keys, rng=0)


def test_the_decoder_with_attention_reads_the_encoder_states():
    # α_t of a whole encoder-decoder changes when an encoder state changes (the tutorial's decoder fails this)
    rng = np.random.default_rng(6)
    model = nn.EncoderDecoder(nn.ElmanCell(3, 4, rng=0), nn.ElmanCell(2 + 4, 4, 2, rng=1), attention="additive",
                              rng=2)
    xs = gradlab.tensor(rng.normal(size=(5, 2, 3)), requires_grad=True)
    out = model(xs, rng.normal(size=(3, 2, 2)))
    alpha = out.attention[-1]
    gradlab.sum(alpha * rng.normal(size=alpha.shape)).backward()
    assert np.all(np.abs(xs.grad).sum(axis=-1) > 0)           # every encoder step moves the last step's weights


# ------------------------------------------------------------------------- the encoder-decoder
def _numpy_decoder(P, xs, dec_in, kind, query, lengths=None):
    """The documented equations in plain NumPy: Elman encoder and decoder, attention over h_1..h_L."""
    T = xs.shape[0]
    h, hs = np.zeros((xs.shape[1], P["encoder.W_s"].shape[0])), []
    for t in range(T):
        h = np.tanh(xs[t] @ P["encoder.W_x"].T + P["encoder.b_s"] + h @ P["encoder.W_s"].T)
        hs.append(h)
    H = np.stack(hs)
    lengths = np.full(xs.shape[1], T) if lengths is None else np.asarray(lengths)
    mask = np.arange(T)[:, None] < lengths[None, :]
    s = H[lengths - 1, np.arange(xs.shape[1])]

    def attend(q):
        if kind == "additive":
            e = np.tanh(H @ P["attention.W_k"].T + P["attention.b_a"] + q @ P["attention.W_q"].T) @ P["attention.v"][0]
        else:
            e = (H * q).sum(-1)
        e = np.where(mask, e, -np.inf)
        a = np.exp(e - e.max(0)) / np.exp(e - e.max(0)).sum(0)
        return (a[..., None] * H).sum(0), a

    ys, alphas = [], []
    for x in dec_in:
        if query == "previous":
            c, a = attend(s)
            s = np.tanh(np.concatenate([x, c], -1) @ P["decoder.W_x"].T + P["decoder.b_s"] + s @ P["decoder.W_s"].T)
            y = s @ P["decoder.W_y"].T + P["decoder.b_y"]
        else:
            s = np.tanh(x @ P["decoder.W_x"].T + P["decoder.b_s"] + s @ P["decoder.W_s"].T)
            c, a = attend(s)
            tilde = np.tanh(np.concatenate([c, s], -1) @ P["W_h"].T + P["b_h"])
            y = tilde @ P["decoder.W_y"].T + P["decoder.b_y"]
        ys.append(y)
        alphas.append(a)
    return np.stack(ys), np.stack(alphas)


def _model(kind, query, H=4, D=2, O=3, seed=0):
    extra = H if query == "previous" else 0
    return nn.EncoderDecoder(nn.ElmanCell(3, H, rng=seed), nn.ElmanCell(D + extra, H, O, rng=seed + 1),
                             attention=kind, query=query, rng=seed + 2)


@pytest.mark.parametrize("kind", ["additive", "dot"])
@pytest.mark.parametrize("query", ["previous", "current"])
def test_both_wirings_compute_their_documented_equations_on_padded_batches(kind, query):
    rng = np.random.default_rng(7)
    model = _model(kind, query)
    for p in model.parameters():
        p.data = rng.normal(0.0, 0.7, p.shape)
    xs, dec_in = rng.normal(size=(5, 3, 3)), rng.normal(size=(4, 3, 2))
    lengths = [5, 2, 4]
    out = model(xs, dec_in, mask=_padded_mask(5, lengths))
    P = {k: p.data for k, p in model.parameters_by_name().items()}
    ys, alphas = _numpy_decoder(P, xs, dec_in, kind, query, lengths)
    np.testing.assert_allclose(np.stack([y.data for y in out.outputs]), ys, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.stack([a.data for a in out.attention]), alphas, rtol=1e-12, atol=1e-14)
    w = model.attention_weights(out)
    assert w.shape == (3, 4, 5)                                       # (B, T_out, T_in): per sequence a heat map
    np.testing.assert_allclose(w[1], alphas[:, :, 1], rtol=1e-15)


def test_padding_changes_nothing_for_the_sequences_it_pads():
    # a sequence alone, and the same sequence padded with junk in a batch, give the same outputs and gradients
    rng = np.random.default_rng(8)
    for attention in (None, "additive"):
        model = nn.EncoderDecoder(nn.ElmanCell(3, 4, rng=0), nn.ElmanCell(2 + (4 if attention else 0), 4, 2, rng=1),
                                  attention=attention, rng=2)
        x, d_in, d = rng.normal(size=(3, 3)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
        out = model(x[:, None, :], d_in[:, None, :])
        E = nn.sequence_loss(out, d[:, None, :])
        model.zero_grad()
        E.backward()
        alone = {k: p.grad.copy() for k, p in model.parameters_by_name().items()}
        junk = rng.normal(size=(6, 2, 3))
        junk[:3, 0] = x
        out2 = model(junk, np.stack([d_in, rng.normal(size=(2, 2))], axis=1), mask=_padded_mask(6, [3, 6]))
        np.testing.assert_allclose(out2.outputs[-1].data[0], out.outputs[-1].data[0], rtol=1e-13)
        E2 = nn.sequence_loss(out2, np.stack([d, np.zeros((2, 2))], axis=1), mask=np.array([[1.0, 0.0]] * 2))
        model.zero_grad()
        E2.backward()
        for k, g in model.parameters_by_name().items():
            np.testing.assert_allclose(g.grad, alone[k], rtol=1e-11, atol=1e-14, err_msg=f"{attention}: {k}")


@pytest.mark.parametrize("kind,query", [("additive", "previous"), ("dot", "previous"), ("additive", "current"),
                                        ("dot", "current")])
def test_gradients_through_attention_agree_with_hips_autograd(kind, query):
    rng = np.random.default_rng(9)
    model = _model(kind, query)
    for p in model.parameters():
        p.data = rng.normal(0.0, 0.8, p.shape)
    xs = gradlab.tensor(rng.normal(size=(4, 2, 3)), requires_grad=True)
    out = model(xs, rng.normal(size=(3, 2, 2)), mask=_padded_mask(4, [4, 3]))
    E = nn.sequence_loss(out, np.array([[0, 1], [2, 2], [1, 0]]), "softmax_cross_entropy")
    E.backward()
    names, params = zip(*model.parameters_by_name().items())
    leaves = list(params) + [xs]
    f = gradlab.Graph(E).function(leaves, xp=anp)
    theirs = autograd.grad(lambda *a: f(*a), argnum=list(range(len(leaves))))(*[p.data for p in leaves])
    for name, p, g in zip(names + ("xs",), leaves, theirs):
        assert np.any(g != 0), name
        np.testing.assert_allclose(p.grad, g, rtol=1e-9, atol=1e-13, err_msg=name)


def test_attention_gradients_agree_with_central_differences():
    rng = np.random.default_rng(10)
    attend = AdditiveAttention(3, 4, 3, rng=1)
    q = gradlab.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    keys = gradlab.tensor(rng.normal(size=(5, 2, 4)), requires_grad=True)
    mask = _padded_mask(5, [5, 3])
    G = rng.normal(size=(2, 4))
    c, _ = attend(q, keys, mask=mask)
    E = gradlab.sum(c * G)
    E.backward()
    graph = gradlab.Graph(E)
    h = 1e-6
    for leaf in [q, keys] + attend.parameters():
        num = np.zeros(leaf.shape)
        for idx in np.ndindex(leaf.shape):
            plus, minus = leaf.data.copy(), leaf.data.copy()
            plus[idx] += h
            minus[idx] -= h
            num[idx] = (graph.replay({leaf: plus}) - graph.replay({leaf: minus})) / (2 * h)
        np.testing.assert_allclose(leaf.grad, num, rtol=1e-7, atol=1e-9, err_msg=leaf.name or "input")
    assert np.all(keys.grad[3:, 1] == 0.0)     # padded encoder states get no gradient at all


def test_free_running_greedy_decoding_feeds_back_the_predicted_class():
    rng = np.random.default_rng(11)
    model = nn.EncoderDecoder(nn.ElmanCell(3, 4, rng=0), nn.ElmanCell(5 + 4, 4, 4, rng=1), attention="dot", rng=2)
    xs = rng.normal(size=(4, 2, 3))
    start = np.eye(5)[[4, 4]]
    free = model(xs, steps=3, start=start, feedback="argmax")
    pred = np.argmax(np.stack([y.data for y in free.outputs]), axis=-1)
    forced_inputs = np.stack([start, np.eye(5)[pred[0]], np.eye(5)[pred[1]]])
    forced = model(xs, forced_inputs)                  # teacher forcing on its own predictions: the same run
    np.testing.assert_allclose(np.stack([y.data for y in forced.outputs]),
                               np.stack([y.data for y in free.outputs]), rtol=1e-14)
    assert free.feedback == "argmax" and forced.feedback is None


# --------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call,match", [
    (lambda a: a(np.zeros((2, 4)), np.zeros((0, 2, 4))), "empty sequence"),
    (lambda a: a(np.zeros((2, 4)), []), "empty sequence"),
    (lambda a: a(np.zeros((2, 4)), np.zeros((3, 2, 5))), "5 features, expected key_size = 4"),
    (lambda a: a(np.zeros((2, 3)), np.zeros((3, 2, 4))), r"query \(decoder state\) must have 4 features"),
    (lambda a: a(np.zeros((3, 4)), np.zeros((3, 2, 4))), "batch mismatch"),
    (lambda a: a(np.zeros((2, 4)), np.zeros((3, 2, 4)), mask=np.ones((2, 3))), r"mask of shape \(2, 3\) does not match"),
    (lambda a: a(np.zeros((2, 4)), np.zeros((3, 2, 4)), mask=np.ones(3)), r"expected \(3, 2\) = \(T_in, \.\.\.\)"),
    (lambda a: a(np.zeros((2, 4)), np.zeros((3, 2, 4)), mask=np.array([[1, 0]] * 3)), "no encoder step to attend"),
    (lambda a: a(np.zeros((2, 4)), np.zeros((3, 2, 4)), mask=np.full((3, 2), 2)), "must be 0 .padding. or 1"),
    (lambda a: a(np.zeros((2, 4)), np.zeros(4)), r"shape \(T_in, \.\.\., K\)"),
])
def test_bad_input_to_attention_is_refused_by_name(call, match):
    with pytest.raises(ValueError, match=match):
        call(AdditiveAttention(4, 4, rng=0))


def test_bad_encoder_decoder_configurations_and_masks_are_refused_by_name():
    enc = nn.ElmanCell(3, 4, rng=0)
    with pytest.raises(ValueError, match="input_size must be D \\+ K with K = 4"):
        nn.EncoderDecoder(enc, nn.ElmanCell(4, 4, 2), attention="additive")
    with pytest.raises(ValueError, match="same hidden size"):
        nn.EncoderDecoder(enc, nn.ElmanCell(7, 5, 2), attention="dot")
    with pytest.raises(ValueError, match="attention must be one of"):
        nn.EncoderDecoder(enc, nn.ElmanCell(6, 4, 2), attention="bahdanau")
    with pytest.raises(ValueError, match="query must be 'previous'"):
        nn.EncoderDecoder(enc, nn.ElmanCell(6, 4, 2), attention="additive", query="next")
    with pytest.raises(ValueError, match="takes queries of 3"):
        nn.EncoderDecoder(enc, nn.ElmanCell(6, 4, 2), attention=AdditiveAttention(3, 4))
    with pytest.raises(ValueError, match="cannot take"):
        nn.EncoderDecoder(enc, nn.JordanCell(2, 4, 2), attention="additive", query="current")
    model = nn.EncoderDecoder(nn.ElmanCell(3, 4, rng=0), nn.ElmanCell(2 + 4, 4, 2, rng=1), attention="additive")
    xs = np.zeros((4, 2, 3))
    with pytest.raises(ValueError, match="padding at the end"):
        model(xs, np.zeros((2, 2, 2)), mask=np.array([[1, 1], [0, 1], [1, 1], [0, 0]]))
    with pytest.raises(ValueError, match=r"batch index \(1,\) has no real step"):
        model(xs, np.zeros((2, 2, 2)), mask=np.array([[1, 0]] * 4))
    with pytest.raises(ValueError, match=r"mask of shape \(4,\) does not match the input sequence"):
        model(xs, np.zeros((2, 2, 2)), mask=np.ones(4))
    with pytest.raises(ValueError, match="decoder_inputs must have shape"):
        model(xs, np.zeros((0, 2, 2)))
    with pytest.raises(ValueError, match=r"decoder input 1 has shape \(2, 6\)"):
        model(xs, np.zeros((3, 2, 6)))
    with pytest.raises(ValueError, match="feedback must be"):
        model(xs, steps=2, feedback="sample")
    with pytest.raises(ValueError, match="feedback='argmax'.*2 classes"):
        nn.EncoderDecoder(nn.ElmanCell(3, 4), nn.ElmanCell(1 + 4, 4, 2), attention="additive")(xs, steps=2,
                                                                                               feedback="argmax")
    with pytest.raises(ValueError, match=r"feedback\(0, y\) returned shape"):
        model(xs, steps=2, feedback=lambda k, y: np.zeros(3))
    plain = nn.EncoderDecoder(nn.ElmanCell(3, 4), nn.ElmanCell(2, 4, 2))
    with pytest.raises(ValueError, match="has no attention weights"):
        plain.attention_weights(plain(xs, steps=2))
    with pytest.raises(ValueError, match="empty sequence"):
        model(np.zeros((0, 2, 3)), steps=2)


def test_masked_scores_are_a_constant_that_exp_maps_to_zero_in_float32_and_float64():
    for dtype in (np.float32, np.float64):
        e = np.array([0.0, 50.0, MASKED_SCORE], dtype=dtype)
        assert np.exp(e - e.max())[-1] == 0.0
    assert MASKED_SCORE > np.finfo(np.float32).min


def test_parameters_carry_the_attention_prefix_and_are_trained_like_the_cells():
    model = _model("additive", "previous")
    names = set(model.parameters_by_name())
    assert {"attention.W_q", "attention.W_k", "attention.b_a", "attention.v", "encoder.W_s", "decoder.W_y"} <= names
    assert len(model.parameters()) == len(names)
    luong = _model("dot", "current")
    assert {"W_h", "b_h"} <= set(luong.parameters_by_name()) and not any(k.startswith("attention.")
                                                                          for k in luong.parameters_by_name())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_and_the_fused_encoder_attend_the_same_way(cell):
    rng = np.random.default_rng(12)
    Cell = nn.CELLS[cell]
    model = nn.EncoderDecoder(Cell(3, 4, rng=0), Cell(2 + 4, 4, 2, rng=1), attention="additive", rng=2)
    xs, dec_in = rng.normal(size=(5, 2, 3)), rng.normal(size=(3, 2, 2))
    mask = _padded_mask(5, [5, 3])
    runs = []
    for fused in (False, True):
        model.zero_grad()
        out = model(xs, dec_in, mask=mask, fused=fused)
        nn.sequence_loss(out, np.ones((3, 2, 2))).backward()
        runs.append((model.attention_weights(out), {k: p.grad.copy() for k, p in model.parameters_by_name().items()}))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-12)
    for k, g in runs[0][1].items():
        np.testing.assert_allclose(runs[1][1][k], g, rtol=1e-10, atol=1e-13, err_msg=k)
    alone = model(xs[:3, 1:], dec_in[:, 1:])                    # the padded sequence on its own
    np.testing.assert_allclose(model.attention_weights(alone)[0], runs[0][0][1, :, :3], rtol=1e-12)
