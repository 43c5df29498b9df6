"""The data-figure helpers: slide size, atomic writes, clear errors."""
import os

import numpy as np
import pytest

from gradlab.render import plots


def test_a_slide_figure_is_1280_by_720_pixels(tmp_path):
    fig, ax = plots.new()
    plots.lines(ax, np.arange(4), {"a": [1, 2, 3, 4], "b": [4, 3, 2, 1]}, xlabel="t", ylabel="y")
    out = plots.save(fig, tmp_path / "f.png")
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (1280, 720)


def test_save_leaves_no_temporary_file_and_refuses_a_missing_folder(tmp_path):
    fig, ax = plots.new(size="square")
    plots.heatmap(ax, np.eye(3), xlabels="abc", ylabels="xyz", colorbar="weight")
    plots.save(fig, tmp_path / "h.svg")
    assert sorted(os.listdir(tmp_path)) == ["h.svg"]
    assert "gradlab" in (tmp_path / "h.svg").read_text()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plots.save(fig, tmp_path / "missing" / "h.png")
    with pytest.raises(ValueError, match="format"):
        plots.save(fig, tmp_path / "h.jpg")


def test_bad_shapes_are_named():
    fig, ax = plots.new()
    with pytest.raises(ValueError, match="'a' has \\(2,\\) values for \\(3,\\) x positions"):
        plots.lines(ax, np.arange(3), {"a": [1, 2]})
    with pytest.raises(ValueError, match="non-empty matrix"):
        plots.heatmap(ax, np.ones(3))
    with pytest.raises(ValueError, match="2 tick labels for 3"):
        plots.heatmap(ax, np.ones((3, 3)), ylabels=["a", "b"])


def test_surface_on_a_log_scale_keeps_the_cliff_visible(tmp_path):
    w, b = np.meshgrid(np.linspace(-2, 2, 20), np.linspace(-2, 2, 20))
    Z = np.where(w > 1, 1e3, 1e-3) * (1 + b ** 2)
    fig, ax = plots.new(size="square")
    cs = plots.surface(ax, w, b, Z, xlabel="w", ylabel="b")
    assert cs.levels.min() < -2 and cs.levels.max() > 3     # both sides of the cliff get their own colours
