"""The examples of the pathological-problems comparison and the clipping figures run, in tiny configurations."""
from PIL import Image

from test_examples import Lines, load


def test_the_comparison_example_prints_a_table_per_problem_with_all_four_rows(tmp_path):
    out = Lines()
    figure = tmp_path / "comparison.png"
    results = load("pathological_problems").run(seeds=1, lengths={"temporal_order": (15,)}, max_updates=100,
                                                figure=str(figure), progress=False, out=out, run_limit=5)
    assert set(results) == {"temporal_order"}
    assert "| 15 | " in out.text and "Hochreiter & Schmidhuber" in out.text
    assert "not yet available" not in out.text and "Elman + Hessian-free" in out.text
    (hf,) = results["temporal_order"].runs("Elman + Hessian-free", 15)
    assert hf.reports and all(rep.cg_iterations >= 1 for rep in hf.reports)
    with Image.open(figure) as im:
        assert im.size == (1280, 720)


def test_the_comparison_example_reports_a_T_too_small_for_a_problem_without_a_traceback(capsys):
    assert load("pathological_problems").main(["--adding", "5", "--order", "--no-figure"]) == 2
    err = capsys.readouterr().err
    assert "T=5 is too small" in err and "Traceback" not in err


def test_the_lecture_figures_include_the_clipping_cliff_and_the_gradient_norms(tmp_path):
    paths = load("lecture_figures").clipping_figures(str(tmp_path), "png")
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["clipping_cliff.png", "clipping_gradient_norms.png"]
    for path in paths:
        with Image.open(path) as im:
            assert im.size == (1280, 720)
