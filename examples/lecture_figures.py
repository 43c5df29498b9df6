r"""Write the lecture figures: folded and unfolded networks, cell interiors, the op-level graph, gradient
flow through time (vanishing in an Elman network, kept by an LSTM, stopped by truncated BPTT), the
checker's findings on a wrong derivation, all drawn from the graphs gradlab records, and the echo-state
and time-delay networks (with two data plots: the echo state property and memory capacity).

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


def figures(out: str, fmt: str, force: bool = False) -> list:
    """Write every figure into ``out`` and return the paths written (``force``: also replace files that
    gradlab did not write, e.g. figures made before gradlab marked its files)."""
    os.makedirs(out, exist_ok=True)
    written = []

    def save(name, fig_or_obj, **options):
        path = os.path.join(out, f"{name}.{fmt}")
        if hasattr(fig_or_obj, "source"):
            from gradlab.render import write

            written.append(str(write(fig_or_obj, path, force=force)))
        else:
            render(fig_or_obj, path, force=force, **options)
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
    # 4. gradient flow: vanishing in Elman, kept by the LSTM's cell state, stopped by truncation. The README's
    # figure is the command  gradlab render elman --T 12 --view gradients --loss-at last --weight-scale 0.8
    #   --wrap 6 --title "Elman, E = E_12 only: ‖∂E/∂s_t‖ vanishes going back" -o elman_gradients_vanishing.png
    save("elman_gradients_vanishing", "elman", view="gradients", T=12, loss_at="last", weight_scale=0.8, wrap=6,
         title="Elman, E = E_12 only: ‖∂E/∂s_t‖ vanishes going back")
    lstm = last_step_loss(nn.cells.LSTMCell(3, 4, 2, forget_bias=2.0, rng=0), T=12, seed=1)
    save("lstm_gradients", lstm, view="gradients", hints={"cell": "LSTM"}, wrap=4,
         title="LSTM (forget bias 2), E = E_12 only: the cell state carries the gradient back")
    save("gru_gradients_truncated", "gru", view="gradients", T=9, truncate=3, wrap=3)   # one band per chunk
    # 5. the checker on a wrong derivation: BPTT that forgets the recurrent term of ∂E/∂s_t
    from gradlab.check.candidate import load_derivation

    wrong = os.path.join(HERE, "..", "derivations", "wrong_elman_no_recurrent_term.py")
    report = gradlab.check_gradient(load_derivation(wrong))
    save("elman_check_wrong_derivation", check_figure(report, title="wrong_elman_no_recurrent_term.py: "
                                                      "the recurrent term of ∂E/∂s_t is missing"))
    # 6. echo-state networks and time-delay networks
    written += reservoir_and_tdnn_figures(save, out, fmt, force=force)
    # 7. exploding gradients: the clipping cliff and the per-step gradient norms (Matplotlib figures)
    written += clipping_figures(out, fmt, force=force)
    # 8. inside the gated cells, unfolded: the whole last cell, grey where no gradient flows
    cell_interior_figures(save)
    return written


# ------------------------------------------------------------ cell interiors unfolded (issue 18)
def cell_interior_figures(save) -> None:
    """The gate-level unfolding of the GRU (its state straight along the top) and of the four-gate LSTM,
    whose last cell is drawn whole, the part no gradient reaches (N_T ⊙ i_T into LTM_T) in grey."""
    save("gru_unfolded_gates", "gru", view="unfolded", detail="gates", T=3)
    save("fourgate_unfolded_gates", "fourgate", view="unfolded", detail="gates", T=3)


# ------------------------------------------------------------ echo-state and time-delay networks (issue 15)
def reservoir_and_tdnn_figures(save, out: str, fmt: str, force: bool = False) -> list:
    r"""Draw the echo-state and time-delay figures: graph figures through ``save`` (the reservoir's fixed
    weights marked ❄, the TDNN's taps shared by every shift), and two data plots written into ``out``
    (the echo state property; memory capacity against its bound N). Return the data plots' paths."""
    from gradlab.nn.reservoir import ReservoirCell, memory_capacity, state_distance
    from gradlab.nn.tdnn import TDNN, tdnn_figure
    from gradlab.render import plots

    esn = ReservoirCell(1, 4, 1, connectivity=0.5, leak_rate=0.5, rng=0)
    save("esn_unfolded", esn, view="unfolded", T=3,
         title="Echo-state network: W<SUB>x</SUB>, W<SUB>s</SUB> fixed (❄), only W<SUB>y</SUB>, b<SUB>y</SUB> trained")
    feedback = ReservoirCell(1, 4, 1, connectivity=0.5, feedback=True, rng=0)
    save("esn_feedback_folded", feedback, view="folded", T=3)
    save("esn_feedback_unfolded", feedback, view="unfolded", T=3,
         title="ESN with output feedback: y<SUB>t−1</SUB> returns through the fixed W<SUB>fb</SUB>")
    save("tdnn_unfolded", tdnn_figure([TDNN(1, 2, 3, rng=0), TDNN(2, 1, 2, weight_name="V", bias_name="c", rng=1)], 7,
                                      title="Two TDNN layers (windows 3 and 2): every shift uses the same taps"))
    ext = fmt if fmt in ("png", "svg", "pdf") else "png"
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, (200, 1))
    a, b = rng.uniform(-1, 1, 30), rng.uniform(-1, 1, 30)
    curves = {f"ρ = {rho:g}": np.maximum(state_distance(
        ReservoirCell(1, 30, None, spectral_radius=rho, input_scaling=0.1, rng=0), u, a, b), 1e-17)
        for rho in (0.5, 0.9, 1.5, 3.0)}
    fig, ax = plots.new(title="Echo state property: two initial states, one input")
    plots.lines(ax, np.arange(1, 201), curves, xlabel="time step t", ylabel=r"$\|s^a_t - s^b_t\|$", logy=True,
                legend="lower left")
    paths = [str(plots.save(fig, os.path.join(out, f"esn_state_distance.{ext}"), force=force))]
    fig, ax = plots.new(title=r"Memory capacity of 30 units: $\sum_k r^2(u_{t-k}, y_k) \leq N$")
    curves = {}
    for label, kw in (("random tanh", {}), ("random linear", {"activation": "identity"}),
                      ("linear cycle", {"activation": "identity", "topology": "cycle"})):
        mc = memory_capacity(ReservoirCell(1, 30, None, input_scaling=0.1, rng=0, **kw), n_train=2000, rng=1)
        curves[f"{label}: MC = {mc.total:.1f}"] = np.cumsum(mc.r2)
    plots.lines(ax, mc.delays, curves, xlabel="delay k", ylabel=r"$\sum_{j \leq k}\, r^2_j$",
                hline=(30, "bound N = 30"), legend="lower right")
    paths.append(str(plots.save(fig, os.path.join(out, f"esn_memory_capacity.{ext}"), force=force)))
    for p in paths:
        print("wrote", p)
    return paths


# ------------------------------------------------------------------------------- attention (issue 16)
def attention_figures(out: str, fmt: str, force: bool = False) -> list:
    r"""Write the attention figures into ``out`` and return their paths: an encoder-decoder with additive
    attention, trained for a few seconds to reverse strings of 4-8 digits, decodes held-out strings
    free-running; drawn are the unfolded network with its α edges (a 4-digit string) and the heat map of
    α, decoder step × encoder step (an 8-digit string)."""
    from gradlab.nn import reversal
    from gradlab.render import plots, write
    from gradlab.render.attention import attention_graph, attention_heatmap

    rng = np.random.default_rng(0)
    model = reversal.build("additive", 16, seed=0)
    train = reversal.digit_strings(rng, 1000, (4, 8))
    reversal.train(model, train, "reverse", steps=500, lr=0.01, seed=1)
    short = reversal.digit_strings(rng, 1, (4, 4), exclude=train)[0]
    long = reversal.digit_strings(rng, 1, (8, 8), exclude=train)[0]
    paths = []
    b = reversal.make_batch([short], "reverse")
    with gradlab.enable_grad():      # recorded: the figure reads the wiring off the graph
        dec = model(b.xs, steps=len(short), start=b.start, mask=b.mask, feedback="argmax")
    pred = np.argmax(np.stack([y.data for y in dec.outputs]), axis=-1)[:, 0]
    fig = attention_graph(dec, source=short, output=pred, inputs=["GO"] + list(pred[:-1]),
                          title="Reversal with additive attention: c<SUB>t</SUB> = Σ<SUB>j</SUB> α<SUB>t,j</SUB> "
                                "h<SUB>j</SUB> (free-running, a held-out string)")
    paths.append(str(write(fig, os.path.join(out, f"attention_unfolded.{fmt}"), force=force)))
    pred, dec = reversal.decode(model, reversal.make_batch([long], "reverse"))
    heat = attention_heatmap(model.attention_weights(dec)[0], source=long, output=pred[:, 0], size="slide",
                             title="Reversal, additive attention: α on a held-out string (free-running)")
    paths.append(str(plots.save(heat, os.path.join(out, f"attention_heatmap.{fmt if fmt != 'dot' else 'png'}"), force=force)))
    for p in paths:
        print("wrote", p)
    return paths


def clipping_figures(out: str, fmt: str, force: bool = False) -> list:
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
    paths_out = [str(plots.save(fig, os.path.join(out, f"clipping_cliff.{ext}"), force=force))]
    fig = gradient_profile_figure(gradient_profile(T=30, hidden=16, spectral_radius=3.0, threshold=1.0, seed=0),
                                  title="Exploding gradients in an Elman network, and what clipping does to them")
    paths_out.append(str(plots.save(fig, os.path.join(out, f"clipping_gradient_norms.{ext}"), force=force)))
    for path in paths_out:
        print("wrote", path)
    return paths_out


def main(argv=None) -> int:
    """Write the figures; return 0."""
    ap = argparse.ArgumentParser(description="Write gradlab's lecture figures.")
    ap.add_argument("--out", default=os.path.join(HERE, "figures"), help="folder (default examples/figures)")
    ap.add_argument("--format", default="png", choices=("png", "svg", "pdf", "dot"), help="file format")
    ap.add_argument("--force", action="store_true", help="replace files in the folder that gradlab did not write")
    args = ap.parse_args(argv)
    if not dot_available() and args.format != "dot":
        print("lecture_figures: the Graphviz 'dot' program is not installed; writing DOT source instead "
              "(apt-get install graphviz / brew install graphviz to get images)")
        warnings.simplefilter("ignore", RuntimeWarning)
    from gradlab.files import OutputError

    try:
        paths = figures(args.out, args.format, force=args.force)
        paths += attention_figures(args.out, args.format, force=args.force)
    except OutputError as e:
        print(f"lecture_figures: {e}", file=sys.stderr)
        return 3
    print(f"{len(paths)} figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
