"""The pathological problems: each generator is deterministic per seed, has the properties its source states,
and judges hand-made outputs by the source's criterion (a hit and a near miss)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlab.data import (PROBLEMS, AddingProblem, MultiplicationProblem, TemporalOrderProblem, XORProblem,
                          make_problem)

ALL = [AddingProblem(30), MultiplicationProblem(30), TemporalOrderProblem(30), TemporalOrderProblem(30, relevant=3),
       XORProblem(100)]


def _marked(batch):
    """(positions, values) of the pairs whose marker is 1, one row per sequence (two per row)."""
    markers = batch.inputs[..., 1].T
    pos = np.array([np.flatnonzero(row == 1.0) for row in markers])
    vals = batch.inputs[..., 0].T[np.arange(batch.size)[:, None], pos]
    return pos, vals


# ------------------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("problem", ALL, ids=repr)
def test_each_generator_gives_the_same_batch_for_the_same_seed_and_another_for_another(problem):
    a, b, c = problem.sample(40, rng=7), problem.sample(40, rng=7), problem.sample(40, rng=8)
    for field in ("inputs", "lengths", "targets", "positions"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.inputs[:20], c.inputs[:20])
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(problem.sample(5, g1).inputs, problem.sample(5, g2).inputs)


def test_generators_never_touch_numpys_global_random_state():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for problem in ALL:
        problem.sample(10, rng=0)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("problem", ALL, ids=repr)
def test_sequences_are_zero_after_their_end_and_lengths_lie_in_the_stated_range(problem):
    batch = problem.sample(200, rng=1)
    lo, hi = problem.lengths_range
    assert batch.lengths.min() >= lo and batch.lengths.max() <= hi
    assert batch.inputs.shape == (batch.lengths.max(), 200, problem.input_size)
    after = np.arange(batch.inputs.shape[0])[:, None] >= batch.lengths[None, :]
    assert not batch.inputs[after].any()
    mask = batch.mask()
    assert mask.sum() == 200 and np.all(mask[batch.lengths - 1, np.arange(200)] == 1)


# ------------------------------------------------------------------------------------------ adding, multiplication
@given(T=st.integers(11, 150), seed=st.integers(0, 2 ** 32 - 1))
def test_adding_marks_exactly_two_pairs_in_the_source_ranges_and_scales_their_sum(T, seed):
    batch = AddingProblem(T).sample(16, rng=seed)
    pos, vals = _marked(batch)
    assert pos.shape == (16, 2)                                   # exactly two marked pairs per sequence
    first, second = batch.positions[:, 0], batch.positions[:, 1]
    assert np.all(first < 10)                                     # X1 among the first ten pairs
    assert np.all(second != first) and np.all(second < T // 2)    # X2 among the first T/2 - 1 unmarked pairs
    np.testing.assert_array_equal(np.sort(batch.positions, axis=1), pos)
    markers = batch.inputs[..., 1].T
    last = markers[np.arange(16), batch.lengths - 1]
    assert np.all(last == -1.0)                                   # the final pair's marker
    assert np.all((markers[:, 0] == -1.0) | (pos[:, 0] == 0))     # the first pair's marker, unless marked
    assert np.all(np.isin(markers, (-1.0, 0.0, 1.0)))
    assert np.all(np.abs(batch.inputs[..., 0]) <= 1.0)
    assert np.all(vals[pos == 0] == 0.0)                          # a marked first pair counts as 0
    np.testing.assert_allclose(batch.targets[:, 0], 0.5 + vals.sum(axis=1) / 4.0)
    assert np.all((batch.targets >= 0) & (batch.targets <= 1))


def test_multiplication_uses_values_in_the_unit_interval_and_their_product():
    batch = MultiplicationProblem(40).sample(500, rng=2)
    pos, vals = _marked(batch)
    assert np.all((batch.inputs[..., 0] >= 0) & (batch.inputs[..., 0] <= 1))
    np.testing.assert_allclose(batch.targets[:, 0], vals.prod(axis=1))
    assert np.all(vals[pos == 0] == 1.0) and (pos == 0).any()     # a marked first pair counts as 1


def test_the_first_marked_position_is_spread_over_all_ten_first_pairs():
    first = AddingProblem(100).sample(2000, rng=0).positions[:, 0]
    assert set(first.tolist()) == set(range(10))


# ------------------------------------------------------------------------------------------ temporal order
@pytest.mark.parametrize("relevant", [2, 3])
@given(T=st.integers(20, 150), seed=st.integers(0, 2 ** 32 - 1))
def test_temporal_order_places_each_relevant_symbol_in_its_window_and_classes_follow_their_order(relevant, T, seed):
    problem = TemporalOrderProblem(T, relevant=relevant)
    batch = problem.sample(16, rng=seed)
    x = batch.inputs
    inside = np.arange(x.shape[0])[:, None] < batch.lengths[None, :]
    assert np.all(x[inside].sum(axis=-1) == 1.0)                  # one-hot at every real step
    symbols = np.argmax(x, axis=-1).T                              # (B, L)
    for b in range(16):
        seq = symbols[b, : batch.lengths[b]]
        assert seq[0] == 6 and seq[-1] == 7                       # starts with E, ends with the trigger B
        relevant_at = np.flatnonzero(np.isin(seq, (4, 5)))
        assert len(relevant_at) == relevant
        for k, (lo, hi) in enumerate(problem.windows):            # 1-based windows of the source
            assert lo - 1 <= relevant_at[k] <= hi - 1
        assert np.all(np.isin(np.delete(seq, np.r_[0, relevant_at, len(seq) - 1]), (0, 1, 2, 3)))
        bits = seq[relevant_at] - 4                                # X = 0, Y = 1
        assert batch.targets[b] == int("".join(map(str, bits)), 2)


def test_temporal_order_at_T_100_uses_the_windows_of_the_source():
    assert TemporalOrderProblem(100).windows == ((10, 20), (50, 60))
    assert TemporalOrderProblem(100, relevant=3).windows == ((10, 20), (33, 43), (66, 76))
    assert TemporalOrderProblem(100).lengths_range == (100, 110)
    assert TemporalOrderProblem(100, relevant=3).output_size == 8


# ------------------------------------------------------------------------------------------ XOR
@given(T=st.integers(15, 300), seed=st.integers(0, 2 ** 32 - 1))
def test_xor_marks_two_bits_in_their_windows_announces_the_answer_and_targets_their_xor(T, seed):
    problem = XORProblem(T)
    batch = problem.sample(16, rng=seed)
    (a1, b1), (a2, b2) = problem.windows
    pos, bits = _marked(batch)
    assert np.all((a1 <= pos[:, 0]) & (pos[:, 0] < b1) & (a2 <= pos[:, 1]) & (pos[:, 1] < b2))
    markers = batch.inputs[..., 1].T
    assert np.all(markers[:, 0] == -1.0)
    assert np.all(markers[np.arange(16), batch.lengths - 4] == -1.0)   # three steps before the answer
    assert np.all(np.isin(batch.inputs[..., 0], (0.0, 1.0)))
    np.testing.assert_array_equal(batch.targets, bits[:, 0].astype(int) ^ bits[:, 1].astype(int))


def test_xor_at_T_100_has_the_lengths_of_sutskevers_generator():
    assert XORProblem(100).lengths_range == (51, 55)
    assert XORProblem(100).windows == ((1, 10), (15, 25))


# ------------------------------------------------------------------------------------------ the criteria
def test_adding_and_multiplication_count_an_error_below_0_04_as_correct_and_not_one_above():
    for problem in (AddingProblem(20), MultiplicationProblem(20)):
        d = np.array([[0.6], [0.6], [0.6], [0.6]])
        y = np.array([[0.6399], [0.5601], [0.6401], [0.5599]])       # two hits, two near misses
        np.testing.assert_array_equal(problem.correct(y, d), [True, True, False, False])
        assert problem.error_rate(y, d) == pytest.approx(0.5)
        np.testing.assert_array_equal(problem.correct(y[:, 0], d[:, 0]), [True, True, False, False])


def test_temporal_order_needs_every_output_within_0_3_of_the_one_hot_target():
    problem = TemporalOrderProblem(20)
    p = np.array([[0.71, 0.29, 0.0, 0.0],          # hit
                  [0.69, 0.31, 0.0, 0.0],          # near miss: the target output is 0.31 away
                  [0.72, 0.0, 0.0, 0.28],          # hit
                  [0.75, 0.0, 0.0, 0.30]])         # near miss: a wrong class's output is not below 0.3
    np.testing.assert_array_equal(problem.correct(p, np.zeros(4, dtype=int)), [True, False, True, False])


def test_xor_counts_the_predicted_class():
    p = np.array([[0.49, 0.51], [0.51, 0.49], [0.2, 0.8]])
    np.testing.assert_array_equal(XORProblem(100).correct(p, np.array([1, 1, 0])), [True, False, False])


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("cls, T, needed", [(AddingProblem, 10, 11), (MultiplicationProblem, 3, 11),
                                            (TemporalOrderProblem, 14, 15), (XORProblem, 14, 15)])
def test_a_T_too_small_for_the_definition_names_the_smallest_that_works(cls, T, needed):
    with pytest.raises(ValueError, match=rf"T={T} is too small.*T >= {needed}"):
        cls(T)
    cls(needed)


def test_bad_arguments_get_clear_errors():
    with pytest.raises(TypeError, match="T must be an int"):
        AddingProblem(20.0)
    with pytest.raises(TypeError, match="global random state"):
        AddingProblem(20).sample(4, rng=None)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        AddingProblem(20).sample(0)
    with pytest.raises(ValueError, match="relevant must be 2"):
        TemporalOrderProblem(50, relevant=4)
    with pytest.raises(ValueError, match="unknown problem 'addition'"):
        make_problem("addition", 20)
    with pytest.raises(ValueError, match=r"\(B, 4\) class probabilities"):
        TemporalOrderProblem(20).correct(np.zeros((3, 2)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="do not match targets"):
        AddingProblem(20).correct(np.zeros((3, 1)), np.zeros((4, 1)))


def test_make_problem_knows_every_problem_by_its_names():
    assert type(make_problem("Temporal order", 30)) is TemporalOrderProblem
    assert make_problem("temporal-order", 30, relevant=3).relevant == 3
    assert set(PROBLEMS) == {"adding", "multiplication", "temporal_order", "xor"}
    assert "§5.4" in AddingProblem(20).describe() and "Sutskever" in XORProblem(20).describe()
