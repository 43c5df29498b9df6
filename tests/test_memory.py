"""The buffer pool (gradlab/memory.py): values are exact, a chunk is never handed out twice while a view
of it is alive, free chunks are reused, and the engine's results do not depend on the pool."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import gradlab
from gradlab import memory, nn


@pytest.fixture
def fresh_pool(monkeypatch):
    """An empty pool for this test (the thread's pool object is replaced, then restored)."""
    monkeypatch.setattr(memory._LOCAL, "pool", memory._Pool(), raising=False)
    return memory._LOCAL.pool


def big(seed, shape=(64, 64)):
    return np.random.default_rng(seed).standard_normal(shape)


def test_small_or_view_arrays_are_left_alone(fresh_pool):
    small = np.ones(memory.MIN_BYTES // 8 - 1)
    assert memory.pooled_copy(small) is small
    base = big(0)
    view = base[1:]
    assert memory.pooled_copy(view) is view
    assert fresh_pool.chunks == []


def test_pooled_copy_has_the_same_values_and_lives_in_a_chunk(fresh_pool):
    a = big(1)
    b = memory.pooled_copy(a)
    assert b is not a and b.base is not None and b.flags.c_contiguous
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b, a)
    assert any(b.base is c for c in fresh_pool.chunks)


def test_a_chunk_in_use_is_never_reused(fresh_pool, monkeypatch):
    monkeypatch.setattr(memory, "CHUNK_BYTES", 64 * 64 * 8)      # one array fills a chunk
    kept = memory.pooled_copy(big(2))
    expected = kept.copy()
    others = [memory.pooled_copy(big(10 + k)) for k in range(3)]
    assert len({id(o.base) for o in others} | {id(kept.base)}) == 4   # each in its own chunk
    del others
    again = [memory.pooled_copy(big(20 + k)) for k in range(3)]
    np.testing.assert_array_equal(kept, expected)                     # untouched by the reuse
    assert all(a.base is not kept.base for a in again)
    assert len(fresh_pool.chunks) == 4                                # the three freed chunks came back


def test_free_chunks_are_reused_and_released(fresh_pool):
    a = memory.pooled_copy(big(3))
    chunk_id, chunk_size = id(a.base), a.base.size     # no reference to the chunk itself: that would pin it
    del a
    b = memory.pooled_zeros(big(4))                                   # the current chunk continues
    assert id(b.base) == chunk_id and not b.any()
    del b
    fresh_pool.offset = chunk_size                                    # full: the next take must look for a free one
    c = memory.pooled_empty((64, 64), np.float64)
    assert id(c.base) == chunk_id and len(fresh_pool.chunks) == 1
    assert memory.release_memory() == 0                               # `c` keeps the only chunk in use
    del c
    assert memory.release_memory() == chunk_size
    assert fresh_pool.chunks == []


def test_idle_chunks_beyond_the_cap_are_dropped(fresh_pool, monkeypatch):
    monkeypatch.setattr(memory, "CHUNK_BYTES", 64 * 64 * 8)
    monkeypatch.setattr(memory, "MAX_IDLE_BYTES", 2 * 64 * 64 * 8)
    arrays = [memory.pooled_copy(big(k)) for k in range(6)]
    assert len(fresh_pool.chunks) == 6
    del arrays
    fresh_pool.current = None
    memory.pooled_copy(big(99))                                        # one taken, two kept idle, the rest dropped
    assert len(fresh_pool.chunks) == 3


def _elman_grads(cell, xs, ds):
    for p in cell.parameters():
        p.grad = None
    out = nn.unroll(cell, xs, fused=True)
    E = nn.mse_half(out.output_sequence, ds)
    E.backward()
    return out, {n: p.grad.copy() for n, p in cell.parameters_by_name().items()}


def test_engine_results_do_not_depend_on_the_pool(fresh_pool, monkeypatch):
    rng = np.random.default_rng(5)
    cell = nn.ElmanCell(16, 64, 8, rng=np.random.default_rng(6))
    xs, ds = rng.standard_normal((12, 40, 16)), rng.standard_normal((12, 40, 8))   # (40, 64) states: 20 KiB
    kept, first = _elman_grads(cell, xs, ds)
    assert fresh_pool.chunks, "a graph of this size should use the pool"
    kept_values = [s.data.copy() for s in kept.states]
    _, second = _elman_grads(cell, xs, ds)                             # reuses chunks while `kept` is alive
    monkeypatch.setattr(memory, "MIN_BYTES", 1 << 60)                  # pool off: plain forwards,
    monkeypatch.setattr(sys.modules["gradlab.tensor"], "_POOL_MIN", 1 << 60)  # apply: no `into` path
    _, plain = _elman_grads(cell, xs, ds)
    for n in first:
        np.testing.assert_array_equal(first[n], second[n])
        np.testing.assert_array_equal(first[n], plain[n])
    for s, v in zip(kept.states, kept_values):
        np.testing.assert_array_equal(s.data, v)


def test_no_grad_values_are_not_pooled(fresh_pool):
    x = gradlab.Parameter(big(7))
    with gradlab.no_grad():
        y = gradlab.tanh(x)
    assert y.data.base is None and fresh_pool.chunks == []


def _into_cases():
    from gradlab.ops import OPS
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((40, 64)), rng.standard_normal((40, 64))
    W, b = rng.standard_normal((48, 64)), rng.standard_normal(48)
    args = {"add": (x, y), "sub": (x, y), "mul": (x, y), "tanh": (x,), "exp": (x,),
            "sigmoid": (np.concatenate([x, [[-800.0] * 64, [800.0] * 64]]),),
            "linear": (x, W, b), "stack": (x, y, x)}
    attrs = {"stack": {"axis": -2}}
    with_into = sorted(n for n, op in OPS.items() if op.into is not None)
    assert with_into == sorted(args), "every op with an `into` forward needs a case here"
    return [(OPS[n], args[n], attrs.get(n, {})) for n in with_into]


@pytest.mark.parametrize("op, args, attrs", _into_cases(), ids=lambda v: getattr(v, "name", ""))
def test_into_forwards_equal_the_plain_forwards_bit_for_bit(op, args, attrs):
    got = op.into(lambda shape, dtype: np.full(shape, np.nan, dtype), *args, **attrs)
    np.testing.assert_array_equal(got, op.forward(*args, xp=np, **attrs))


def test_stack_into_declines_unequal_inputs_and_a_bad_axis():
    from gradlab.ops import OPS
    x = np.ones((3, 4))
    alloc = lambda shape, dtype: np.empty(shape, dtype)  # noqa: E731
    assert OPS["stack"].into(alloc, x, x[:2], axis=0) is None
    assert OPS["stack"].into(alloc, x, x.astype(np.float32), axis=0) is None
    assert OPS["stack"].into(alloc, x, x, axis=3) is None and OPS["stack"].into(alloc, x, x, axis=-4) is None
    assert OPS["stack"].into(alloc, x, x, axis=-3).shape == (2, 3, 4)


@pytest.mark.parametrize("op, args", [(c[0], c[1]) for c in _into_cases() if c[0].name in ("add", "mul")],
                         ids=lambda v: getattr(v, "name", ""))
def test_into_declines_broadcasting_and_mixed_dtypes(op, args):
    x, y = args
    alloc = lambda shape, dtype: np.empty(shape, dtype)  # noqa: E731
    assert op.into(alloc, x, y[:1]) is None
    assert op.into(alloc, x, y.astype(np.float32)) is None


def test_pooled_vjps_equal_the_plain_expressions_bit_for_bit(fresh_pool):
    from gradlab.ops import OPS
    rng = np.random.default_rng(9)
    x, y, g = (rng.standard_normal((40, 64)) for _ in range(3))
    cases = {"tanh": (lambda: np.tanh(x), lambda out: g * (1 - out * out)),
             "sigmoid": (lambda: 1.0 / (1.0 + np.exp(-x)), lambda out: g * out * (1 - out)),
             "exp": (lambda: np.exp(x), lambda out: g * out)}
    for name, (forward, plain) in cases.items():
        out = forward()
        got = OPS[name].vjp[0](g, out, x, xp=np)
        assert memory.is_pooled(got), name
        np.testing.assert_array_equal(got, plain(out), err_msg=name)
    got = [OPS["mul"].vjp[i](g, x * y, x, y, xp=np) for i in (0, 1)]
    assert all(memory.is_pooled(a) for a in got)
    np.testing.assert_array_equal(got[0], g * y)
    np.testing.assert_array_equal(got[1], g * x)
    small = OPS["tanh"].vjp[0](g[:2], np.tanh(x[:2]), x[:2], xp=np)   # under MIN_BYTES: plain NumPy
    assert not memory.is_pooled(small)
    assert not memory.is_pooled(OPS["mul"].vjp[0](g, x, x, y[:1], xp=np))   # broadcasting: plain


def test_gradients_handed_to_callers_are_not_pool_views(fresh_pool):
    # a caller may keep what reverse mode returns; a pool view would pin its chunk (and every later
    # graph would allocate a new one), so results are copied out of the pool
    rng = np.random.default_rng(10)
    cell = nn.ElmanCell(16, 64, 8, rng=np.random.default_rng(11))
    xs = gradlab.tensor(rng.standard_normal((12, 40, 16)), requires_grad=True)  # sliced per step
    out = nn.unroll(cell, xs, fused=True)
    E = nn.mse_half(out.output_sequence, rng.standard_normal((12, 40, 8)))
    hidden = nn.analysis.hidden_gradients(E, out)
    by_graph = gradlab.Graph(E).gradient([xs, cell.W_s])
    E.backward()
    assert fresh_pool.chunks, "a graph of this size should use the pool"
    returned = [*hidden.values(), *by_graph.values(), xs.grad, *(p.grad for p in cell.parameters())]
    assert not any(memory.is_pooled(a) for a in returned)
    np.testing.assert_allclose(by_graph[xs], xs.grad, rtol=1e-12)


def test_stack_makes_computed_pooled_inputs_views_of_their_rows(fresh_pool):
    # equal values stored once: a weight's batched sum over s_0 … s_{T-1} then finds them as one array
    rng = np.random.default_rng(12)
    leaf = gradlab.Parameter(big(13, (40, 64)))
    steps = [gradlab.tanh(gradlab.tensor(rng.standard_normal((40, 64)), requires_grad=True)) for _ in range(3)]
    small = gradlab.tanh(gradlab.tensor(rng.standard_normal((2, 3)), requires_grad=True))
    before = [s.data.copy() for s in steps]
    own = leaf.data
    hs = gradlab.stack([*steps, leaf], axis=0)
    for k, (s, v) in enumerate(zip(steps, before)):
        np.testing.assert_array_equal(s.data, v)
        assert np.shares_memory(s.data, hs.data) and np.array_equal(hs.data[k], v)
    assert leaf.data is own and not np.shares_memory(leaf.data, hs.data)   # a leaf keeps its array
    small_stack = gradlab.stack([small, small], axis=0)                   # not pooled: nothing changes
    assert not np.shares_memory(small.data, small_stack.data)
    other_axis = gradlab.stack(steps[:2], axis=1)                          # rows only along axis 0
    assert not np.shares_memory(steps[0].data, other_axis.data)


def test_rows_of_one_array_are_split_into_runs_without_copies():
    from gradlab.ops import _runs

    b = np.arange(48.0).reshape(12, 4)
    (first, n, view), = _runs([b[0:2], b[2:3], b[3:6]])
    assert (first, n) == (0, 6) and np.shares_memory(view, b) and np.array_equal(view, b[:6])
    runs = _runs([b[0:2], np.ones((1, 4)), b[3:6], b[6:8]])
    assert [(f, n) for f, n, _ in runs] == [(0, 2), (2, 1), (3, 5)]
    np.testing.assert_array_equal(runs[2][2], b[3:8])
    assert [(f, n) for f, n, _ in _runs([b[2:4], b[0:2]])] == [(0, 2), (2, 2)]          # out of order
    assert [(f, n) for f, n, _ in _runs([np.ones((2, 4)), np.ones((2, 4))])] == [(0, 2), (2, 2)]
    assert [(f, n) for f, n, _ in _runs([b[0:2, :2], b[2:4, :2]])] == [(0, 2), (2, 2)]  # not contiguous


def test_bptt_weight_sums_take_the_stacked_states_and_tiled_deltas_without_copying(fresh_pool, monkeypatch):
    # ∂E/∂W_s = Σ_t δ_t s_{t-1}ᵀ: the δ_t are already joined in the projection's gradient and the states
    # in the stacked sequence, so the fused Elman backward needs no concatenation; and it agrees with the
    # plain path (pool off, every row copied) to rounding
    rng = np.random.default_rng(14)
    cell = nn.ElmanCell(16, 256, 8, rng=np.random.default_rng(15))
    xs, ds = rng.standard_normal((32, 16, 16)), rng.standard_normal((32, 16, 8))   # δ's: 1 MiB
    joined = []
    concatenate = np.concatenate

    def counting(arrays, *args, **kwargs):
        joined.append(len(arrays))
        return concatenate(arrays, *args, **kwargs)

    cell.zero_grad()
    out = nn.unroll(cell, xs, fused=True)
    E = nn.mse_half(out.output_sequence, ds)
    monkeypatch.setattr(np, "concatenate", counting)
    E.backward()
    monkeypatch.undo()
    assert joined == [], f"backward joined rows of {joined} arrays"
    fast = {n: p.grad.copy() for n, p in cell.parameters_by_name().items()}
    monkeypatch.setattr(memory, "MIN_BYTES", 1 << 60)
    monkeypatch.setattr(sys.modules["gradlab.tensor"], "_POOL_MIN", 1 << 60)
    _, plain = _elman_grads(cell, xs, ds)
    for n in fast:
        np.testing.assert_allclose(fast[n], plain[n], rtol=1e-12, atol=1e-14, err_msg=n)


@pytest.mark.parametrize("cls", [nn.ElmanCell, nn.LSTMCell, nn.PeepholeLSTMCell, nn.GRUCell])
def test_fused_unrolling_computes_the_states_into_one_sequence_that_stack_does_not_copy(fresh_pool, cls,
                                                                                       monkeypatch):
    from gradlab.ops import _address

    rng = np.random.default_rng(16)
    cell = cls(16, 64, 8, rng=np.random.default_rng(17))
    xs = rng.standard_normal((6, 40, 16))                                 # (40, 64) states: 20 KiB each
    copies = []
    stack = np.stack
    monkeypatch.setattr(np, "stack", lambda *a, **k: copies.append(len(a[0])) or stack(*a, **k))
    fused = nn.unroll(cell, xs, fused=True)
    monkeypatch.undo()
    assert copies == [], f"the states were copied into the sequence ({copies})"
    hs = fused._hidden_sequence.data
    for k, st in enumerate(fused.states):
        h = cell.hidden(st).data
        assert _address(h) == _address(hs[k]), f"step {k} was copied into the sequence"
    literal = nn.unroll(cell, xs)
    for a, b in zip(fused.states, literal.states):
        np.testing.assert_allclose(cell.hidden(a).data, cell.hidden(b).data, rtol=1e-12, atol=1e-14)
    with gradlab.no_grad():                                               # nothing pooled: plain stack
        plain = nn.unroll(cell, xs, fused=True)
    assert not np.shares_memory(plain._hidden_sequence.data, cell.hidden(plain.states[0]).data)
    np.testing.assert_array_equal(plain.output_sequence.data, fused.output_sequence.data)


def test_a_destination_is_used_only_when_it_fits(fresh_pool):
    x = gradlab.tensor(big(18, (40, 64)), requires_grad=True)
    dest = memory.pooled_empty((40, 64), np.float64)
    y = gradlab.tanh(x, _out=dest)
    assert y.data is dest and np.array_equal(dest, np.tanh(x.data))
    for wrong in (memory.pooled_empty((40, 32), np.float64), memory.pooled_empty((40, 64), np.float32)):
        z = gradlab.tanh(x, _out=wrong)
        assert not np.shares_memory(z.data, wrong) and np.array_equal(z.data, np.tanh(x.data))
    frozen = memory.pooled_empty((40, 64), np.float64)
    frozen.flags.writeable = False
    assert not np.shares_memory(gradlab.tanh(x, _out=frozen).data, frozen)
    np.testing.assert_array_equal(gradlab.tanh(x, _out=[0.0]).data, np.tanh(x.data))   # not an array
    with gradlab.no_grad():
        assert not np.shares_memory(gradlab.tanh(x, _out=dest).data, dest)
    rows = memory.pooled_empty((3, 40, 64), np.float64)
    parts = [gradlab.tanh(x * float(k + 1), _out=rows[k]) for k in range(3)]
    assert _same_memory(gradlab.stack(parts, axis=0).data, rows)              # consecutive rows: a view
    swapped = gradlab.stack([parts[1], parts[0], parts[2]], axis=0).data      # out of order: a copy
    assert not np.shares_memory(swapped, rows)
    np.testing.assert_array_equal(swapped, rows[[1, 0, 2]])


def _same_memory(a, b):
    from gradlab.ops import _address

    return _address(a) == _address(b) and a.shape == b.shape and a.strides == b.strides
