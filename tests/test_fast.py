"""The fast path (gradlab/fast/): it gives the reference engine's values and gradients, to rounding, for
every op and every cell; and its parts each do what they claim (the buffer pool never hands out memory
in use, the into-forwards and pooled VJPs equal the table's bit for bit, the batched weight sums read
joined rows without copying, the symmetric shortcut computes one VJP)."""
from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab import nn
from gradlab.engine.ops import OPS, mask
from gradlab.fast import batched, memory, record, reverse

from .strategies import CELL_KINDS, CELL_OPTIONS, OP_CASES, budget


@pytest.fixture
def fresh_pool(monkeypatch):
    """An empty pool for this test (the thread's pool object is replaced, then restored)."""
    monkeypatch.setattr(memory._LOCAL, "pool", memory._Pool(), raising=False)
    return memory._LOCAL.pool


def big(seed, shape=(64, 64)):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------ fast = reference, to rounding
def _op_run(engine, op, inputs, attrs, uses, seed=0):
    """Values and gradients of Σ_k <v_k, op(inputs)> with the op applied ``uses`` times to the same
    leaves (a shared input, as a weight at every step), recorded and differentiated by ``engine``."""
    rng = np.random.default_rng(seed)
    with gradlab.use_engine(engine):
        leaves = [mask(a) if a.dtype == bool else gradlab.Parameter(a, name=f"x{i}") for i, a in enumerate(inputs)]
        outs = [gradlab.apply(op, *leaves, **attrs) for _ in range(uses)]
        loss = None
        for o in outs:
            term = (o * rng.standard_normal(o.shape)).sum()
            loss = term if loss is None else loss + term
        loss.backward()
    return [o.data for o in outs] + [p.grad for p in leaves if p.requires_grad]


def _assert_same(fast, ref, what):
    assert len(fast) == len(ref)
    for k, (a, b) in enumerate(zip(fast, ref)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{what}: result {k}")


@pytest.mark.parametrize("name", sorted(OP_CASES))
@settings(max_examples=budget(8))
@given(data=st.data())
def test_fast_path_gives_the_reference_values_and_gradients_for_every_op(name, data):
    inputs, attrs = data.draw(OP_CASES[name])
    uses = data.draw(st.integers(1, 3), label="uses")
    _assert_same(_op_run("fast", OPS[name], inputs, attrs, uses), _op_run("reference", OPS[name], inputs, attrs, uses),
                 name)


def _large_cases():
    """Inputs large enough for the pool (≥ 16 KiB), for every op the fast path treats specially."""
    rng = np.random.default_rng(3)
    x, y, W, b = rng.standard_normal((48, 64)), rng.standard_normal((48, 64)), rng.standard_normal((48, 64)), \
        rng.standard_normal(48)
    seq = rng.standard_normal((6, 40, 64))
    return {
        "add": ((x, y), {}), "sub": ((x, y), {}), "mul": ((x, y), {}), "tanh": ((x,), {}), "exp": ((x,), {}),
        "sigmoid": ((np.concatenate([x, np.full((2, 64), -800.0), np.full((2, 64), 800.0)]),), {}),
        "linear": ((x, W, b), {}), "stack": ((x, y, x), {"axis": 0}),
        "getitem": ((seq,), {"key": 2}), "add_bias": ((x, y[0]), {}),
    }


_SPECIAL = {op.name for table in (record.INTO, reverse.POOLED_VJP, batched.BATCH_VJP, reverse.SYMMETRIC)
            for op in table}


def test_every_op_the_fast_path_treats_specially_has_a_large_case():
    assert _SPECIAL <= set(_large_cases()), "a fast-path rule for a new op needs a large case here"


@pytest.mark.parametrize("name", sorted(_large_cases()))
def test_fast_path_gives_the_reference_values_and_gradients_on_pooled_arrays(name, fresh_pool):
    inputs, attrs = _large_cases()[name]
    op = OPS[name.split("_")[0]]
    fast = _op_run("fast", op, inputs, attrs, uses=3)
    assert fresh_pool.chunks, "the large case should use the pool"
    _assert_same(fast, _op_run("reference", op, inputs, attrs, uses=3), name)
    if len(inputs) == 2 and inputs[0].shape == inputs[1].shape:           # op(x, x): the symmetric shortcut
        same = (inputs[0], inputs[0])
        _assert_same(_op_run("fast", op, same, attrs, 2), _op_run("reference", op, same, attrs, 2), f"{name}(x, x)")


def _cell_run(engine, cell, xs, ds, fused):
    cell.zero_grad()
    with gradlab.use_engine(engine):
        net = nn.unroll(cell, xs, fused=fused)
        E = nn.sequence_loss(net, ds)
        E.backward()
    return ([np.asarray(E.data)] + [cell.hidden(s).data for s in net.states]
            + [p.grad for p in cell.parameters()])


@pytest.mark.parametrize("kind", CELL_KINDS)
@pytest.mark.parametrize("B, H", [(None, 3), (40, 64)], ids=["unbatched", "pooled"])
def test_fast_path_gives_the_reference_values_and_gradients_for_every_cell(kind, B, H):
    rng = np.random.default_rng(7)
    for options in CELL_OPTIONS[kind]:
        cell = nn.CELLS[kind](5, H, 4, rng=np.random.default_rng(8), learn_initial_state=True, **options)
        for p in cell.parameters():
            p.data = rng.normal(0.0, 0.5, p.shape)
        batch = () if B is None else (B,)
        xs, ds = rng.standard_normal((4,) + batch + (5,)), rng.standard_normal((4,) + batch + (4,))
        for fused in (False, True):
            _assert_same(_cell_run("fast", cell, xs, ds, fused), _cell_run("reference", cell, xs, ds, fused),
                         f"{kind} {options} fused={fused}")


# -------------------------------------------------------------------------------- the buffer pool
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
    assert gradlab.fast.release_memory() == 0                         # `c` keeps the only chunk in use
    del c
    assert gradlab.memory.release_memory() == chunk_size              # the old path still works
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
    cell.zero_grad()
    out = nn.unroll(cell, xs, fused=True)
    nn.mse_half(out.output_sequence, ds).backward()
    return out, {n: p.grad.copy() for n, p in cell.parameters_by_name().items()}


def test_kept_graphs_keep_their_values_while_the_pool_is_reused(fresh_pool):
    rng = np.random.default_rng(5)
    cell = nn.ElmanCell(16, 64, 8, rng=np.random.default_rng(6))
    xs, ds = rng.standard_normal((12, 40, 16)), rng.standard_normal((12, 40, 8))   # (40, 64) states: 20 KiB
    kept, first = _elman_grads(cell, xs, ds)
    assert fresh_pool.chunks, "a graph of this size should use the pool"
    kept_values = [s.data.copy() for s in kept.states]
    _, second = _elman_grads(cell, xs, ds)                             # reuses chunks while `kept` is alive
    for n in first:
        np.testing.assert_array_equal(first[n], second[n])
    for s, v in zip(kept.states, kept_values):
        np.testing.assert_array_equal(s.data, v)


def test_no_grad_values_are_not_pooled(fresh_pool):
    x = gradlab.Parameter(big(7))
    with gradlab.no_grad():
        y = gradlab.tanh(x)
    assert y.data.base is None and fresh_pool.chunks == []


def test_the_reference_engine_never_uses_the_pool(fresh_pool):
    rng = np.random.default_rng(5)
    cell = nn.ElmanCell(16, 64, 8, rng=np.random.default_rng(6))
    with gradlab.reference():
        _elman_grads(cell, rng.standard_normal((12, 40, 16)), rng.standard_normal((12, 40, 8)))
    assert fresh_pool.chunks == []


# ------------------------------------------------------------- into-forwards and pooled VJPs
def _into_cases():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((40, 64)), rng.standard_normal((40, 64))
    W, b = rng.standard_normal((48, 64)), rng.standard_normal(48)
    args = {"add": (x, y), "sub": (x, y), "mul": (x, y), "tanh": (x,), "exp": (x,),
            "sigmoid": (np.concatenate([x, [[-800.0] * 64, [800.0] * 64]]),),
            "linear": (x, W, b), "stack": (x, y, x)}
    attrs = {"stack": {"axis": -2}}
    names = sorted(op.name for op in record.INTO)
    assert names == sorted(args), "every op with an `into` forward needs a case here"
    return [(OPS[n], args[n], attrs.get(n, {})) for n in names]


@pytest.mark.parametrize("op, args, attrs", _into_cases(), ids=lambda v: getattr(v, "name", ""))
def test_into_forwards_equal_the_plain_forwards_bit_for_bit(op, args, attrs):
    got = record.INTO[op](lambda shape, dtype: np.full(shape, np.nan, dtype), *args, **attrs)
    np.testing.assert_array_equal(got, op.forward(*args, xp=np, **attrs))


def test_stack_into_declines_unequal_inputs_and_a_bad_axis():
    x = np.ones((3, 4))
    into = record.INTO[OPS["stack"]]
    alloc = lambda shape, dtype: np.empty(shape, dtype)  # noqa: E731
    assert into(alloc, x, x[:2], axis=0) is None
    assert into(alloc, x, x.astype(np.float32), axis=0) is None
    assert into(alloc, x, x, axis=3) is None and into(alloc, x, x, axis=-4) is None
    assert into(alloc, x, x, axis=-3).shape == (2, 3, 4)


@pytest.mark.parametrize("name", ["add", "mul"])
def test_into_declines_broadcasting_and_mixed_dtypes(name):
    x, y = big(1, (40, 64)), big(2, (40, 64))
    alloc = lambda shape, dtype: np.empty(shape, dtype)  # noqa: E731
    assert record.INTO[OPS[name]](alloc, x, y[:1]) is None
    assert record.INTO[OPS[name]](alloc, x, y.astype(np.float32)) is None


def test_pooled_vjps_equal_the_table_vjps_bit_for_bit(fresh_pool):
    rng = np.random.default_rng(9)
    x, y, g = (rng.standard_normal((40, 64)) for _ in range(3))
    for op, pooled in reverse.POOLED_VJP.items():
        args = (x,) if len(pooled) == 1 else (x, y)
        out = op.forward(*args, xp=np)
        for k, f in enumerate(pooled):
            got = f(g, out, *args, xp=np)
            assert memory.is_pooled(got), op.name
            np.testing.assert_array_equal(got, op.vjp[k](g, out, *args, xp=np), err_msg=f"{op.name} input {k}")
    tanh = reverse.POOLED_VJP[OPS["tanh"]][0]
    assert not memory.is_pooled(tanh(g[:2], np.tanh(x[:2]), x[:2], xp=np))          # under MIN_BYTES: plain
    assert not memory.is_pooled(reverse.POOLED_VJP[OPS["mul"]][0](g, x, x, y[:1], xp=np))   # broadcasting: plain


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


# ------------------------------------------------------------------------- batched weight sums
def test_bptt_weight_sums_take_the_stacked_states_and_tiled_deltas_without_copying(fresh_pool, monkeypatch):
    # ∂E/∂W_s = Σ_t δ_t s_{t-1}ᵀ: the δ_t are already joined in the projection's gradient and the states
    # in the stacked sequence, so the fused Elman backward needs no concatenation; and it agrees with the
    # reference engine (every contribution added one by one) to rounding
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
    with gradlab.reference():
        _, plain = _elman_grads(cell, xs, ds)
    for n in fast:
        np.testing.assert_allclose(fast[n], plain[n], rtol=1e-12, atol=1e-14, err_msg=n)


def test_joined_rows_are_views_only_where_the_index_knows_them_as_consecutive_rows():
    b = np.arange(48.0).reshape(12, 4)
    parts = [b[0:2].copy(), b[2:3].copy(), b[3:6].copy(), np.ones((1, 4)), b[6:8].copy()]
    index = batched.RowIndex()
    for a, lo, n in ((parts[0], 0, 2), (parts[1], 2, 1), (parts[2], 3, 3), (parts[4], 6, 2)):
        index.note(a, b, lo, n)
    blocks = batched._blocks(parts, index)
    assert [(first, n) for first, n, _ in blocks] == [(0, 6), (6, 1), (7, 2)]
    assert np.shares_memory(blocks[0][2], b) and np.array_equal(blocks[0][2], b[:6])
    assert not np.shares_memory(blocks[1][2], b)                 # unknown: its own block
    np.testing.assert_array_equal(batched.joined(parts, np, index), np.concatenate(parts))
    assert np.shares_memory(batched.joined(parts[:3], np, index), b)
    assert [(f, n) for f, n, _ in batched._blocks([parts[2], parts[0]], index)] == [(0, 3), (3, 2)]   # out of order
    stale = batched.RowIndex()
    stale.note(parts[1], b, 0, 2)
    stale.array[id(parts[0])] = stale.array.pop(id(parts[1]))    # an id now naming another array
    assert not np.shares_memory(batched._blocks(parts[:1], stale)[0][2], b)


def test_tiles_accepts_exact_covers_only():
    def tiles(keys, shape):
        return batched.tiling(keys, shape) is not None

    assert tiles([0, 1, 2], (3, 4)) and tiles([2, -2, 0], (3, 4))
    assert not tiles([0, 1, 1], (3, 4)) and not tiles([0, 1], (3, 4)) and not tiles([0, 1, 5], (3, 4))
    cols = lambda a, b: (Ellipsis, slice(a, b))  # noqa: E731
    assert tiles([cols(2, 4), cols(0, 2)], (3, 4)) and tiles([cols(0, None), cols(4, 4)], (3, 4))
    assert not tiles([cols(0, 2), cols(1, 4)], (3, 4)) and not tiles([cols(0, 3)], (3, 4))
    assert not tiles([(Ellipsis, slice(0, 4, 2)), (Ellipsis, slice(1, 4, 2))], (3, 4))
    assert not tiles([0, cols(0, 4)], (3, 4)) and not tiles([], (3,)) and not tiles([0], ())
    full = slice(None)
    assert tiles([(full, slice(0, 1)), (full, slice(1, 4))], (3, 4))          # split/chunk's keys
    assert tiles([(slice(0, 2), full), 2], (3, 4)) and tiles([(full, full)], (3, 4))
    assert not tiles([(slice(0, 2), slice(0, 2)), (slice(2, 3), slice(2, 4))], (3, 4))
    assert not tiles([(full, slice(0, 2)), (slice(0, 2), full)], (3, 4))      # two different axes
    assert not tiles([(Ellipsis, Ellipsis, slice(0, 4))], (3, 4)) and not tiles([np.array([0, 1, 2])], (3, 4))
    # the parts in the order they cover the axis: a weight's batched sum reads the tiled rows in this order
    assert batched.tiling([2, 0, -2], (3, 4)) == (0, [(0, 1, 1), (1, 2, 2), (2, 3, 0)])
    assert batched.tiling([cols(2, 4), cols(0, 2)], (3, 4)) == (1, [(0, 2, 1), (2, 4, 0)])


# ------------------------------------------------------------------------------ symmetric ops
@pytest.mark.parametrize("name", sorted(op.name for op in reverse.SYMMETRIC))
@given(data=st.data())
def test_symmetric_ops_commute_and_op_of_x_x_computes_its_vjp_once(name, data, monkeypatch):
    # the fast path computes the VJP of op(x, x) once and gives it to both inputs (r * r in ½‖y − d‖²);
    # that is only right for f(x, y) = f(y, x), and the result must still match autograd
    op = OPS[name]
    shape = data.draw(st.sampled_from([(3,), (2, 4)]), label="shape")
    x, y = (np.asarray(data.draw(st.lists(st.floats(-3, 3), min_size=int(np.prod(shape)),
                                          max_size=int(np.prod(shape))), label=k)).reshape(shape) for k in "xy")
    np.testing.assert_array_equal(op.forward(x, y, xp=np), op.forward(y, x, xp=np))
    calls = []
    original = reverse.POOLED_VJP.get(op, op.vjp)

    def counted(k):
        def vjp(*args, **kwargs):
            calls.append(k)
            return original[k](*args, **kwargs)
        return vjp

    with monkeypatch.context() as m:
        m.setitem(reverse.POOLED_VJP, op, (counted(0), counted(1)))
        m.setattr(reverse, "_PLANS", {})                  # the cache of each op's VJPs here
        p = gradlab.Parameter(x, name="x")
        loss = gradlab.apply(op, p, p).sum()
        loss.backward()
    assert calls == [0]
    f = gradlab.Graph(loss).function([p], xp=anp)
    np.testing.assert_allclose(p.grad, autograd.grad(f)(x), rtol=1e-12, atol=1e-14)
