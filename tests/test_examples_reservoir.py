"""The echo-state and time-delay examples run in tiny configurations and show what they claim; the
lecture-figure function draws the fixed reservoir and the shared taps."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from gradlab.render import style

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    key = f"gradlab_example_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


class Lines(list):
    def __call__(self, line=""):
        self.append(str(line))

    @property
    def text(self):
        return "\n".join(self)


# ------------------------------------------------------------------------------------ echo_state.py
def test_echo_state_example_shows_the_property_the_readout_the_cost_and_the_capacity(tmp_path):
    out = Lines()
    res = load("echo_state").run(units=(20,), steps=20, figures=str(tmp_path), n_train=2000, out=out,
                                 progress=False)
    dist = res["distances"]
    assert dist[0.5][-1] < 1e-12 and dist[0.9][-1] < 1e-8 and dist[3.0][-50:].min() > 0.5
    assert "holds" in out.text and "fails" in out.text
    assert res["readout"]["difference"] < 1e-8
    cost = res["no_bptt"]
    assert cost["esn"]["nodes"] < 10 < cost["elman"]["nodes"] and cost["esn"]["updates"] == 0
    mc = res["capacity"]
    assert all(m.total <= 20.2 for m in mc.values())
    assert mc["linear cycle", 20].total > 18.5 > mc["random tanh", 20].total
    assert [pathlib.Path(p).name for p in res["figures"]] == ["esn_state_distance.png", "esn_memory_capacity.png"]
    assert all(pathlib.Path(p).stat().st_size > 10_000 for p in res["figures"])


# ---------------------------------------------------------------------------------- mackey_glass.py
def test_one_step_prediction_matches_reservoirpys_published_error():
    mg = load("mackey_glass")
    one = mg.one_step_reservoirpy_protocol()
    # reservoirpy's README: RMSE 0.0020282, R² 0.99992 (on its own, coarser Mackey–Glass series)
    assert 0.5 * mg.LITERATURE["one_step_rmse"] < one["rmse"] < 2 * mg.LITERATURE["one_step_rmse"]
    assert one["r2"] > 0.9998


def test_free_running_prediction_stays_on_the_attractor_for_84_steps():
    free = load("mackey_glass").free_running_84(units=200, n_train=1500, trials=4, progress=False)
    assert free["nrmse84"] < 0.05


def test_comparison_table_has_every_model_with_finite_errors():
    rows = load("mackey_glass").compare_models(units=5, steps=3, progress=False)
    assert [r["model"].split(" (")[0] for r in rows] == ["ESN", "Elman", "LSTM", "linear 10-tap filter", "TDNN"]
    assert all(np.isfinite(r["nrmse"]) and r["nrmse"] > 0 for r in rows)
    assert rows[3]["nrmse"] < 0.01                       # the 10-sample window holds the next value
    assert rows[0]["updates"] == 0 and rows[1]["updates"] == 3


# ---------------------------------------------------------------------------------- tdnn_window.py
def test_tdnn_layer_facts_hold():
    facts = load("tdnn_window").layer_facts()
    assert facts["conv_diff"] < 1e-12 and facts["sum_diff"] < 1e-12
    assert sorted(facts["parts"]) == list(range(4, 13)) and facts["receptive"] == 7


def test_a_marker_beyond_the_window_is_invisible_to_the_tdnn_but_not_to_a_reservoir():
    table = load("tdnn_window").window_vs_state((3, 12), updates=40, n_ridge=500, progress=False)
    assert 0.4 < table[12]["TDNN (window 10)"] < 0.6            # chance, however it is trained
    assert table[12]["ESN (50 units, ridge)"] > 0.95 and table[3]["ESN (50 units, ridge)"] > 0.95
    assert table[3]["TDNN (window 10)"] > 0.9                   # inside the window it is easy


def test_marker_batches_put_the_sign_lag_steps_before_the_end():
    xs, signs = load("tdnn_window").marker_batch(np.random.default_rng(0), 6, 4)
    assert np.array_equal(xs[25 - 1 - 4, :, 0], signs[:, 0]) and xs[:, :, 1].sum() == 6
    with pytest.raises(ValueError, match="lag"):
        load("tdnn_window").marker_batch(np.random.default_rng(0), 2, 25)


# ------------------------------------------------------------------------------- lecture_figures.py
def test_lecture_figures_mark_the_reservoir_fixed_and_share_the_tdnn_taps(tmp_path):
    import gradlab

    drawn = {}

    def save(name, fig_or_obj, **options):
        drawn[name] = fig_or_obj.source if hasattr(fig_or_obj, "source") else gradlab.to_dot(fig_or_obj, **options).source

    paths = load("lecture_figures").reservoir_and_tdnn_figures(save, str(tmp_path), "svg")
    assert set(drawn) == {"esn_unfolded", "esn_feedback_folded", "esn_feedback_unfolded", "tdnn_unfolded"}
    assert drawn["esn_unfolded"].count(style.FIXED_MARK) >= 6 and "W</I><SUB>y</SUB>" in drawn["esn_unfolded"]
    assert "<SUB>fb</SUB>" in drawn["esn_feedback_unfolded"]
    assert drawn["tdnn_unfolded"].count("<I>W</I><SUB>0</SUB>") == 5
    assert [pathlib.Path(p).name for p in paths] == ["esn_state_distance.svg", "esn_memory_capacity.svg"]
