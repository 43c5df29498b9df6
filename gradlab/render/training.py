r"""Figures of training experiments: the clipping cliff, gradient norms by time step, and the comparison of
methods on the pathological problems — all through :mod:`gradlab.render.plots` (slide size, one style).

Each function returns a Matplotlib ``Figure``; write it with :func:`gradlab.render.plots.save`.
"""
from __future__ import annotations

import math

import numpy as np

from . import plots

__all__ = ["cliff_figure", "gradient_profile_figure", "comparison_figure"]

_NO_CLIP, _CLIP = "#D55E00", "#FFFFFF"      # vermilion dashed / white outlined in black: both stand out on viridis


def _trajectory(ax, traj, *, colour: str, style: str, label: str, xlim, ylim, zorder: int, skip: int = 0) -> None:
    from matplotlib import patheffects

    pts = traj.points[skip:]
    outline = [patheffects.Stroke(linewidth=4.2, foreground="black"), patheffects.Normal()] if colour == _CLIP else None
    ax.plot(pts[:, 0], pts[:, 1], style, color=colour, lw=2.4, marker="o", ms=3.5, label=label, zorder=zorder,
            path_effects=outline)
    inside = (pts[:, 0] >= xlim[0]) & (pts[:, 0] <= xlim[1]) & (pts[:, 1] >= ylim[0]) & (pts[:, 1] <= ylim[1])
    if not inside.all():
        k = int(np.argmin(inside))              # the first point outside the window: say where the path went
        a, z = pts[k - 1], pts[k]
        u = min([1.0] + [(lim - a[i]) / (z[i] - a[i]) for i, lims in enumerate((xlim, ylim)) for lim in lims
                         if z[i] != a[i] and 0 < (lim - a[i]) / (z[i] - a[i]) < 1])
        exit_ = a + u * (z - a)
        end = pts[-1]
        ax.annotate(f"one step of length {np.linalg.norm(z - a):.1f}\nthrows it off the plot\n"
                    f"(it ends at w = {end[0]:.1f}, b = {end[1]:.1f}, E = {traj.errors[-1]:.2f})",
                    xy=exit_, xytext=(-12, -10), textcoords="offset points", ha="right", va="top", fontsize=10,
                    color="white", bbox=dict(boxstyle="round", fc="#000000aa", ec="none"), zorder=6)


def _label_wall(ax, W, B, logE) -> None:
    """Point at the cliff: the largest jump of log E between neighbouring grid rows, in the column three
    fifths of the way along w."""
    if logE.ndim != 2 or logE.shape[0] < 3:
        return
    j = int(0.8 * (logE.shape[1] - 1))
    jumps = np.abs(np.diff(logE[:, j]))
    i = int(np.argmax(jumps))
    if not jumps[i] > 0.3:                    # no wall in this column: nothing to point at
        return
    x, y = W[i, j], 0.5 * (B[i, j] + B[i + 1, j])
    ax.annotate("the cliff: E jumps\nfrom one plateau to the other", xy=(x, y), xytext=(-4, 48),
                textcoords="offset points", ha="right", fontsize=10, color="black", zorder=6,
                bbox=dict(boxstyle="round", fc="#ffffffcc", ec="none"),
                arrowprops=dict(arrowstyle="->", color="black", lw=1.5))


def _shared(traj, reference) -> int:
    """How many leading points ``traj`` has in common with ``reference`` (0 without a reference)."""
    if reference is None:
        return 0
    n = min(len(traj.points), len(reference.points))
    same = np.all(np.isclose(traj.points[:n], reference.points[:n], rtol=0, atol=1e-12), axis=1)
    return n if same.all() else int(np.argmin(same))


def cliff_figure(W, B, E, trajectories, *, title: str | None = None, subtitle: str | None = None, size="slide",
                 floor: float = 1e-4):
    r"""Return the error surface E(w, b) of the one-unit network (log colour scale) with gradient-descent
    trajectories drawn on it; ``trajectories`` is a list of :class:`~gradlab.nn.cliff.Trajectory` (clipped
    ones drawn solid white, unclipped ones dashed orange), W, B, E the grid from
    :func:`~gradlab.nn.cliff.cliff_error`. An unclipped path is drawn from where it leaves the clipped one
    (before that they are the same steps). Errors below ``floor`` get the floor's colour, so that the colour
    scale is spent on the plateaus and the wall between them rather than on the valley's exact zero."""
    fig, ax = plots.new(size=size, title=title)
    plots.surface(ax, W, B, np.maximum(E, floor), xlabel="w (recurrent weight)", ylabel="b (bias)", levels=40,
                  colorbar="E", title=subtitle)
    xlim, ylim = (float(np.min(W)), float(np.max(W))), (float(np.min(B)), float(np.max(B)))
    _label_wall(ax, np.asarray(W), np.asarray(B), np.log10(np.maximum(np.asarray(E, dtype=float), floor)))
    reference = next((t for t in trajectories if t.clip is not None), None)
    for traj in trajectories:
        if traj.clip is None:
            label = f"gradient descent, η = {traj.lr:g}, no clipping"
            shared = _shared(traj, reference)
            if shared > 1:
                label += f" (the same path for the first {shared - 1} steps)"
            _trajectory(ax, traj, colour=_NO_CLIP, style="--", label=label, xlim=xlim, ylim=ylim, zorder=5,
                        skip=max(shared - 1, 0))
        else:
            label = (f"the same, clipped at ‖g‖ = {traj.clip:g} ({traj.clipped} of {len(traj.grad_norms)} steps "
                     f"clipped; ends at E = {traj.errors[-1]:.1g})")
            _trajectory(ax, traj, colour=_CLIP, style="-", label=label, xlim=xlim, ylim=ylim, zorder=4)
    if trajectories:
        s = trajectories[0].points[0]
        ax.plot([s[0]], [s[1]], marker="*", ms=16, color="#F0E442", mec="black", zorder=7, ls="none")
        ax.annotate("start", xy=(s[0], s[1]), xytext=(12, -4), textcoords="offset points", fontsize=10, zorder=7)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if trajectories:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=10, frameon=False)
    return fig


def gradient_profile_figure(profile, *, title: str | None = None, size="slide"):
    r"""Return ‖∂E/∂s_t‖ against t (log scale) for an exploding Elman network (a
    :class:`~gradlab.nn.cliff.GradientProfile`): the BPTT gradient and the same after norm clipping."""
    fig, ax = plots.new(size=size, title=title)
    t = profile.times
    plots.lines(ax, t, {"BPTT, no clipping": profile.norms,
                        f"after clipping at ‖g‖ = {profile.threshold:g}": profile.clipped},
                xlabel="time step t (the loss is on the last step only)", ylabel="‖∂E/∂sₜ‖", logy=True,
                markers=True, legend="upper right")
    g = f"{profile.grad_norm:,.0f}" if profile.grad_norm >= 100 else f"{profile.grad_norm:.3g}"
    ax.annotate(f"‖∂E/∂θ‖ = {g}; clipping multiplies every ∂E/∂sₜ by {profile.scale:.2g}:\n"
                f"the same direction, a bounded step (spectral radius of W_s: {profile.spectral_radius:g})",
                xy=(0.02, 0.04), xycoords="axes fraction", fontsize=10, va="bottom",
                bbox=dict(boxstyle="round", fc="white", ec="#999999"))
    return fig


def comparison_figure(comparisons, *, title: str | None = None, size="slide"):
    r"""Return the success rate against T per method (left) and the median processor time of its runs against
    T (right, log scale) for a :class:`~gradlab.nn.experiments.Comparison`, or one row per comparison for a
    list of them. Methods that are not available are named in the legend and draw nothing."""
    comparisons = list(comparisons) if isinstance(comparisons, (list, tuple)) else [comparisons]
    if not comparisons:
        raise ValueError("comparison_figure: no comparison to draw")
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig, axes = plots.new(len(comparisons), 2, size=size, title=title)
    axes = np.asarray(axes).reshape(len(comparisons), 2)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    markers = "osD^v<>"
    for row, c in enumerate(comparisons):
        left, right = axes[row]
        Ts = np.array(c.Ts)
        shown = [m for m in c.methods if m.available]
        for k, m in enumerate(c.methods):
            colour = plots.COLOURS[k % len(plots.COLOURS)]
            if not m.available:
                left.plot([], [], color=colour, ls=":", label=f"{m.name}: not yet available")
                continue
            offset = 2.0 * (shown.index(m) - (len(shown) - 1) / 2)        # keep equal rates apart
            rates = [c.success_rate(m.name, T) for T in c.Ts]
            xs = [T for T, r in zip(Ts, rates) if r is not None]
            left.plot(xs, [100 * r + offset for r in rates if r is not None], marker=markers[k % len(markers)],
                      color=colour, label=m.name)
            secs = [np.median([r.cpu_seconds for r in c.runs(m.name, T)]) if c.runs(m.name, T) else math.nan
                    for T in c.Ts]
            right.plot(Ts, secs, marker=markers[k % len(markers)], color=colour, label=m.name)
        left.set_title(f"{c.problem}: seeds solved", fontsize=11)
        left.set_ylabel(f"% of {len(c.seeds)} seeds")
        left.set_ylim(-8, 108)
        right.set_title(f"{c.problem}: median time per run", fontsize=11)
        right.set_ylabel("processor seconds")
        right.set_yscale("log")
        right.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        right.yaxis.set_major_formatter(plain)
        right.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        for ax in (left, right):
            ax.set_xticks(Ts)
        if row == len(comparisons) - 1:
            left.set_xlabel("T (sequence length)")
            right.set_xlabel("T (sequence length)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False, fontsize=10)
    return fig
