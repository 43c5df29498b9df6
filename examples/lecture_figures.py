r"""Write the lecture figures: folded and unfolded networks, cell interiors, the op-level graph, gradient
flow through time (vanishing in an Elman network, kept by an LSTM, stopped by truncated BPTT) and the
checker's findings on a wrong derivation, all drawn from the graphs gradlab records.

    python examples/lecture_figures.py                  # PNG figures into examples/figures/
    python examples/lecture_figures.py --out figs --format svg

Without the Graphviz `dot` program every figure is written as DOT source instead (with a note saying
what to install).
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import gradlab  # noqa: E402
from gradlab import nn  # noqa: E402
from gradlab.nn.losses import mse_half  # noqa: E402
from gradlab.nn.unroll import unroll  # noqa: E402
from gradlab.render import check_figure, dot_available, render  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def last_step_loss(cell, T: int, seed: int, scale: float = 1.0):
    r"""Return E = E_T = ½‖y_T − d‖² of ``cell`` unrolled over T steps of seeded data (weights times ``scale``):
    only the last output counts, so ∂E/∂s_t shows how far back the error signal reaches."""
    rng = np.random.default_rng(seed)
    for p in cell.parameters():
        p.data = p.data * scale
    net = unroll(cell, rng.normal(size=(T, cell.input_size)))
    return mse_half(net.outputs[-1], rng.normal(size=net.outputs[-1].shape))


def figures(out: str, fmt: str) -> list:
    """Write every figure into ``out`` and return the paths written."""
    os.makedirs(out, exist_ok=True)
    written = []

    def save(name, fig_or_obj, **options):
        path = os.path.join(out, f"{name}.{fmt}")
        if hasattr(fig_or_obj, "source"):
            from gradlab.render import write

            written.append(str(write(fig_or_obj, path)))
        else:
            render(fig_or_obj, path, **options)
            written.append(path if dot_available() or fmt == "dot" else path + ".dot")
        print("wrote", written[-1])

    # 1. the textbook pair: folded with its delay, unfolded with the shared weights on every copy
    save("elman_folded", "elman", view="folded", T=3)
    save("elman_unfolded", "elman", view="unfolded", T=4)
    save("elman_unfolded_shared_once", "elman", view="unfolded", T=4, shared="once")
    save("elman_unfolded_long", "elman", view="unfolded", T=40, elide=2)
    save("jordan_unfolded", "jordan", view="unfolded", T=4)
    # 2. gated cells: one box per step, then their insides
    for cell in ("lstm", "gru"):
        save(f"{cell}_folded", cell, view="folded", T=3)
        save(f"{cell}_unfolded", cell, view="unfolded", T=4)
        save(f"{cell}_cell", cell, view="cell", T=3)
    save("peephole_cell", "peephole", view="cell", T=3)
    save("fourgate_cell", "fourgate", view="cell", T=3)
    save("lstm_unfolded_gates", "lstm", view="unfolded", detail="gates", T=3)
    # 3. the engine lesson: every primitive op of an unrolled Elman network
    save("elman_ops", "elman", view="ops", T=3)
    # 4. gradient flow: vanishing in Elman, kept by the LSTM's cell state, stopped by truncation
    elman = last_step_loss(nn.cells.ElmanCell(3, 4, 2, rng=0), T=12, seed=1, scale=0.8)
    save("elman_gradients_vanishing", elman, view="gradients",
         title="Elman, E = E<SUB>12</SUB> only: ‖∂E/∂s<SUB>t</SUB>‖ vanishes going back")
    lstm = last_step_loss(nn.cells.LSTMCell(3, 4, 2, forget_bias=2.0, rng=0), T=12, seed=1)
    save("lstm_gradients", lstm, view="gradients", hints={"cell": "LSTM"},
         title="LSTM (forget bias 2), E = E<SUB>12</SUB> only: the cell state carries the gradient back")
    save("gru_gradients_truncated", "gru", view="gradients", T=9, truncate=3)
    # 5. the checker on a wrong derivation: BPTT that forgets the recurrent term of ∂E/∂s_t
    from gradlab.check.candidate import load_derivation

    wrong = os.path.join(HERE, "..", "derivations", "wrong_elman_no_recurrent_term.py")
    report = gradlab.check_gradient(load_derivation(wrong))
    save("elman_check_wrong_derivation", check_figure(report, title="wrong_elman_no_recurrent_term.py: "
                                                      "the recurrent term of ∂E/∂s_t is missing"))
    # 6. exploding gradients: the clipping cliff and the per-step gradient norms (Matplotlib figures)
    written += clipping_figures(out, fmt)
    return written


def clipping_figures(out: str, fmt: str) -> list:
    r"""Write the two figures on exploding gradients and clipping; return their paths.

    ``clipping_cliff``: the error surface of Pascanu et al.'s one-unit network (2013, Fig. 6) over (w, b),
    computed on the whole grid with NumPy, with two gradient-descent paths from the same start whose
    gradients come from gradlab's engine: without clipping one step on the wall throws the parameters off
    the plot; clipped at ‖g‖ = 0.5 they stay and descend. ``clipping_gradient_norms``: ‖∂E/∂s_t‖ against t
    for an Elman network with ρ(W_s) = 3, before and after norm clipping.
    """
    from gradlab.nn.cliff import cliff_error, descend, gradient_profile
    from gradlab.render import plots
    from gradlab.render.training import cliff_figure, gradient_profile_figure

    ext = fmt if fmt in ("png", "svg", "pdf") else "png"       # Matplotlib figures: no DOT form
    W, B = np.meshgrid(np.linspace(3.0, 7.0, 241), np.linspace(-4.0, 0.5, 241))
    start = (4.5, -3.0)
    paths = [descend(start, lr=0.1, steps=120), descend(start, lr=0.1, steps=120, clip=0.5)]
    fig = cliff_figure(W, B, cliff_error(W, B), paths, title="The cliff (Pascanu, Mikolov & Bengio 2013, Fig. 6)",
                       subtitle="xₜ = w σ(xₜ₋₁) + b,  x₀ = 0.5,  E = (σ(x₅₀) − 0.7)²")
    paths_out = [str(plots.save(fig, os.path.join(out, f"clipping_cliff.{ext}")))]
    fig = gradient_profile_figure(gradient_profile(T=30, hidden=16, spectral_radius=3.0, threshold=1.0, seed=0),
                                  title="Exploding gradients in an Elman network, and what clipping does to them")
    paths_out.append(str(plots.save(fig, os.path.join(out, f"clipping_gradient_norms.{ext}"))))
    for path in paths_out:
        print("wrote", path)
    return paths_out


def main(argv=None) -> int:
    """Write the figures; return 0."""
    ap = argparse.ArgumentParser(description="Write gradlab's lecture figures.")
    ap.add_argument("--out", default=os.path.join(HERE, "figures"), help="folder (default examples/figures)")
    ap.add_argument("--format", default="png", choices=("png", "svg", "pdf", "dot"), help="file format")
    args = ap.parse_args(argv)
    if not dot_available() and args.format != "dot":
        print("lecture_figures: the Graphviz 'dot' program is not installed; writing DOT source instead "
              "(apt-get install graphviz / brew install graphviz to get images)")
        warnings.simplefilter("ignore", RuntimeWarning)
    paths = figures(args.out, args.format)
    print(f"{len(paths)} figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
