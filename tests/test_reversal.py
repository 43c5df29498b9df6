"""The digit reversal / copy experiment: its batches, its accuracy arithmetic, its decoding protocols, and a
CI-sized run (seconds) in which attention is ahead of the plain encoder-decoder on every seed."""
from types import SimpleNamespace

import numpy as np
import pytest

import gradlab
from gradlab.nn import reversal as R


def test_batches_pad_at_the_end_and_teacher_forcing_reads_the_target_shifted_by_one():
    strings = [np.array([3, 1, 4]), np.array([1, 5, 9, 2, 6])]
    b = R.make_batch(strings, "reverse")
    assert b.xs.shape == (5, 2, 10) and b.decoder_inputs.shape == (5, 2, 11) and b.targets.shape == (5, 2)
    np.testing.assert_array_equal(b.mask[:, 0], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(np.argmax(b.xs[:3, 0], -1), [3, 1, 4])
    assert not b.xs[3:, 0].any()                                           # padding is zeros
    np.testing.assert_array_equal(b.targets[:, 1], [6, 2, 9, 5, 1])        # reversed
    np.testing.assert_array_equal(b.targets[:3, 0], [4, 1, 3])
    assert np.all(b.decoder_inputs[0, :, R.GO] == 1) and np.all(b.start[:, R.GO] == 1)
    np.testing.assert_array_equal(np.argmax(b.decoder_inputs[1:5, 1], -1), [6, 2, 9, 5])   # d_{t-1}
    copy = R.make_batch(strings, "copy")
    np.testing.assert_array_equal(copy.targets[:, 1], [1, 5, 9, 2, 6])


def test_held_out_strings_are_new_distinct_and_of_the_asked_lengths():
    rng = np.random.default_rng(0)
    train = R.digit_strings(rng, 300, (3, 4))
    test = R.digit_strings(rng, 100, (3, 4), exclude=train)
    seen = {tuple(s) for s in train}
    assert not any(tuple(s) in seen for s in test)
    assert len({tuple(s) for s in test}) == 100
    assert {len(s) for s in train + test} == {3, 4}


class Oracle:
    """A stand-in model that writes the right answer except at chosen (step, string) places."""

    def __init__(self, task, wrong=()):
        self.task, self.wrong = task, set(wrong)

    def __call__(self, xs, decoder_inputs=None, *, steps=None, start=None, mask=None, feedback=None):
        T, B = mask.shape
        outs = []
        for t in range(T):
            logits = np.zeros((B, 10))
            for b in range(B):
                L = int(mask[:, b].sum())
                digits = np.argmax(xs[:L, b], -1)
                d = R.TASKS[self.task](digits)[t] if t < L else 0
                logits[b, (d + 1) % 10 if (t, b) in self.wrong else d] = 1.0
            outs.append(gradlab.tensor(logits))
        return SimpleNamespace(outputs=outs)


def test_accuracies_count_real_digits_only_and_whole_strings_right():
    strings = [np.array([1, 2, 3]), np.array([4, 5, 6, 7, 8]), np.array([9, 9])]
    assert R.evaluate(Oracle("reverse"), strings) == {"token": 1.0, "sequence": 1.0, "tokens": 10, "strings": 3}
    two_wrong = Oracle("reverse", wrong={(0, 0), (4, 1)})             # both strings get one digit wrong
    got = R.evaluate(two_wrong, strings)
    assert got["token"] == pytest.approx(8 / 10) and got["sequence"] == pytest.approx(1 / 3)
    padded = Oracle("copy", wrong={(3, 0), (4, 2)})                   # "mistakes" in the padding do not count
    assert R.evaluate(padded, strings, "copy")["token"] == 1.0


def test_free_running_decoding_reads_its_own_predictions_and_the_mixed_protocol_reads_the_truth_by_coin():
    model = R.build("dot", 8, seed=3)
    strings = R.digit_strings(np.random.default_rng(1), 4, (4, 6))
    b = R.make_batch(strings, "reverse")
    pred, _ = R.decode(model, b)                                       # free-running
    inputs = np.concatenate([b.start[None], np.eye(11)[pred[:-1]]], axis=0)
    forced_on_own, _ = R.decode(model, R.Batch(b.xs, b.mask, inputs, b.targets, b.start, b.lengths), teacher=1.0)
    np.testing.assert_array_equal(forced_on_own, pred)
    mixed, _ = R.decode(model, b, teacher=0.5, rng=7)
    coins = np.random.default_rng(7).uniform(size=b.xs.shape[0] - 1) < 0.5  # one coin per step for the batch
    rows = [b.start] + [b.decoder_inputs[k + 1] if coins[k] else np.eye(11)[mixed[k]] for k in range(len(coins))]
    replay, _ = R.decode(model, R.Batch(b.xs, b.mask, np.stack(rows), b.targets, b.start, b.lengths), teacher=1.0)
    np.testing.assert_array_equal(replay, mixed)
    assert 0 < coins.sum() < len(coins)


def test_ci_run_attention_is_ahead_of_the_plain_encoder_decoder_free_running_on_every_seed():
    # a shortened version of benchmarks/bench_attention.py: strings of 5-8 digits, 16 units, 300 updates
    runs = R.compare(tasks=("reverse",), variants=("none", "additive", "dot"), seeds=(0, 1), hidden=16,
                     lengths=(5, 8), n_train=500, n_test=200, steps=300, batch_size=16, lr=0.02)
    by = {(r.variant, r.seed): r for r in runs}
    for seed in (0, 1):
        plain = by["none", seed]
        for variant in ("additive", "dot"):
            att = by[variant, seed]
            assert att.token > plain.token + 0.2, (variant, seed, att.token, plain.token)
            assert att.sequence > plain.sequence + 0.2
            assert att.token > 0.7
    assert all(r.final_loss < r.losses[0] for r in runs)
    table = R.format_table(runs)
    assert table.count("\n| reverse |") == 3 and "±" in table


@pytest.mark.parametrize("call,match", [
    (lambda: R.make_batch([np.array([], dtype=int)]), "string 0 is empty"),
    (lambda: R.make_batch([np.array([1, 10])]), "integer digits 0..9"),
    (lambda: R.make_batch([np.array([1, 2])], "sort"), "task must be one of"),
    (lambda: R.make_batch([]), "no strings"),
    (lambda: R.build("bahdanau"), "variant must be one of"),
    (lambda: R.build("none", cell="jordan"), "cell must be one of"),
    (lambda: R.digit_strings(0, 5, (4, 2)), "shortest <= longest"),
    (lambda: R.digit_strings(0, 20, (1, 1)), "could not draw 20 distinct"),
    (lambda: R.train(R.build("none", 4), [np.array([1])], steps=0), "steps must be a positive int"),
    (lambda: R.decode(R.build("none", 4), R.make_batch([np.array([1])]), teacher=2.0), r"teacher must lie in \[0, 1\]"),
])
def test_bad_input_to_the_experiment_is_refused_by_name(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_example_prints_both_models_and_writes_the_heat_map(tmp_path):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "attention_reversal.py"
    spec = importlib.util.spec_from_file_location("gradlab_example_attention_reversal", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    lines = []
    result = example.run(steps=40, lengths=(4, 6), hidden=8, n_train=100, n_test=20, lr=0.02, progress=False,
                         figure=tmp_path / "heat.png", out=lines.append)
    assert [row[0] for row in result["rows"]] == ["none", "additive"]
    assert all(0.0 <= row[1] <= 1.0 for row in result["rows"])
    source, written = result["example"]
    assert set(written) == {"none", "additive"} and all(len(w) == len(source) for w in written.values())
    assert (tmp_path / "heat.png").stat().st_size > 5000
    text = "\n".join(lines)
    assert "input" in text and "wanted" in text and "digits right" in text
