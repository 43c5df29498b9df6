r"""``gradlab lecture CELL --T N -o DIR``: the material of one RNN lecture from one command.

The pack is a short slide deck about one cell of the registry:

* the folded and the unfolded network, the cell's interior and the gradient flow through time (the
  figures of :mod:`gradlab.render`, as they are);
* the forward pass and the BPTT recursion in matrix form (:mod:`gradlab.symbolic.matrix`), checked
  against the engine before they are written;
* one *wrong* derivation, checked: the same matrix form derived with tanh's derivative forgotten
  (δ ⊙ (1 − s²) written as δ), turned into a gradient function and run through the checker
  (:func:`gradlab.check.check_gradient`); its report goes on a slide with what went wrong.

Written into DIR: ``lecture.tex`` (Beamer), ``lecture.pdf`` (when ``pdflatex`` with Beamer is present),
``lecture.md`` (the same slides as Markdown, figures as images, maths in ``$$``), the figures
``folded.png``, ``unfolded.png``, ``cell.png``, ``gradients.png`` and ``wrong_report.txt``. Every file is
written by :mod:`gradlab.files` (atomically; a file gradlab did not write is kept unless ``force``).

>>> pack = lecture_pack("elman", 4, "lecture_elman")        # doctest: +SKIP
>>> sorted(p.name for p in pack.files)                       # doctest: +SKIP
['cell.png', 'folded.png', 'gradients.png', 'lecture.md', 'lecture.pdf', 'lecture.tex', 'unfolded.png', 'wrong_report.txt']
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["lecture_pack", "LecturePack", "wrong_derivation", "add_arguments", "run"]

FIGURES = (("folded", "The network, folded", "the cell once; the recurrent edge passes through a delay (one step)"),
           ("unfolded", "The network, unfolded in time", "the same weights at every step: BPTT sums their gradients"),
           ("cell", "Inside the cell", "one time step: layers as boxes, element-wise operations as circles"),
           ("gradients", "Gradient flow through time", "each state coloured by the size of its gradient"))


@dataclass
class LecturePack:
    """What :func:`lecture_pack` wrote: ``files`` (paths), ``pdf`` (the compiled deck or None, with
    ``pdf_reason`` saying why not), the checked ``derivation``, the ``report`` on the wrong one and
    ``notes`` on what was left out (figures without Graphviz)."""

    folder: Path
    files: list = field(default_factory=list)
    pdf: Path | None = None
    pdf_reason: str = ""
    derivation: object = None
    report: object = None
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------------ the planted mistake
def _forgot_tanh_prime():
    """The vector rules with tanh's derivative forgotten: g passes through tanh unchanged."""
    from .symbolic.matrix import RULES

    rules = dict(RULES)
    rules["tanh"] = lambda g, out, x: [g]
    return rules


def wrong_derivation(derivation):
    r"""Return ``(matrix_form, gradient)`` for the planted mistake: the matrix form of ``derivation``'s
    model derived with the derivative of tanh left out (δ ⊙ (1 − s²) written as δ), and a function
    ``gradient(params, data)`` that evaluates it, as a student's derivation would be handed in."""
    from .symbolic.matrix import matrix_form
    from .symbolic.model import symbolic_model

    model = derivation.model
    wrong = matrix_form(model, _forgot_tanh_prime())
    forms = {(model.T, model.sizes["D"], model.sizes["H"]): wrong}

    def gradient(params, data):
        # the checker may call with other sizes (it shortens T to localise a mistake): derive for those
        xs = np.asarray(data["xs"])
        key = (xs.shape[0], xs.shape[-1], np.shape(params["W_s"])[-1] if "W_s" in params else model.sizes["H"])
        if key not in forms:
            T, D, _ = key
            m = symbolic_model(model.kind, T, hidden=model.sizes["H"], inputs=D, outputs=model.sizes["O"],
                               mode=model.spec.mode, loss=model.spec.loss)
            forms[key] = matrix_form(m, _forgot_tanh_prime())
        values = {k: np.asarray(v, dtype=np.float64) for k, v in {**params, **data}.items()}
        return forms[key].evaluate(values)[1]

    return wrong, gradient


def _differing_rows(right, wrong) -> list:
    """The backward rows of ``wrong`` that are not rows of ``right``."""
    have = set(right.backward_rows())
    return [r for r in wrong.backward_rows() if r not in have]


# -------------------------------------------------------------------------------------- text helpers
_ASCII = {"δ": "delta", "∂": "d", "Σ": "sum", "²": "^2", "−": "-", "‖": "||", "⊙": "*", "ᵀ": "^T", "→": "->",
          "≤": "<=", "≥": ">=", "…": "...", "σ": "sigma", "–": "-", "—": "-", "·": "*", "×": "x", "≈": "~",
          "✓": "ok", "✗": "x", "₁": "1", "₀": "0", "ₜ": "t", "∞": "inf", "±": "+/-", "⁻": "-",
          "¹": "1", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9", "⁰": "0", "’": "'",
          "“": '"', "”": '"', "⊤": "T", "Δ": "Delta", "ε": "eps", "η": "eta", "λ": "lambda", "μ": "mu", "½": "1/2", "↔": "<->"}


def ascii_text(text: str) -> str:
    """``text`` with Unicode maths spelled in ASCII (δ → delta, ² → ^2, ⊙ → *), for a verbatim slide."""
    return "".join(_ASCII.get(ch, ch if ord(ch) < 128 else "?") for ch in text)


def _math_name(name: str) -> str:
    """A parameter's name as inline maths: ``W_s`` -> ``$W_{s}$`` (a name without ``_`` in roman)."""
    base, _, sub = str(name).partition("_")
    if not base.isalnum() or (sub and not sub.isalnum()):
        return r"\texttt{" + "".join("\\" + c if c in "_&%$#{}" else c for c in str(name)) + "}"
    return f"${base}_{{{sub}}}$" if sub else f"${base}$"


def _report_frame(report, report_text: str) -> list:
    """Beamer lines for the checker's report: a table of verdicts and worst relative errors per reference,
    then the report's explanation lines (``where:``, what the error looks like) at a readable size; the
    whole report is in ``wrong_report.txt``."""
    params = list(getattr(report, "params", []) or [])
    refs = []
    for p in params:
        refs += [r for r in p.per_reference if r not in refs]
    head = " & ".join([r"parameter", "verdict"] + [_tex_escape(r) for r in refs]) + r" \\ \hline"
    rows = [" & ".join([_math_name(p.name), p.verdict.upper() if p.verdict != "ok" else "ok"]
                       + [f"{p.per_reference[r]:.1e}" if r in p.per_reference else "" for r in refs]) + r" \\"
            for p in params]
    table = [r"\begin{center}\small", r"\begin{tabular}{ll" + "r" * len(refs) + "}", head, *rows,
             r"\end{tabular}\end{center}", r"\footnotesize worst relative error of the derivation against each "
             r"reference; every element of each gradient was compared"]
    lines = report_text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("where:")), None)
    words = []
    if start is not None:
        for ln in lines[start:]:
            if ln.strip().startswith(("references agree", "cost:")):
                break
            words.append(ln.strip())
    where = ascii_text(" ".join(words).removeprefix("where:").strip())
    frames = [r"\begin{frame}{The checker's report on it}", *table, r"\end{frame}"]
    if where:
        frames += [r"\begin{frame}{Where the checker says it goes wrong}", r"\small",
                   _tex_escape(where[:900]), r"\par\vspace{1em}\footnotesize (the whole report: "
                   r"\texttt{wrong\_report.txt})", r"\end{frame}"]
    return frames


def _tex_escape(text: str) -> str:
    """Plain text for LaTeX: the special characters escaped."""
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(table.get(c, c) for c in text)


# ------------------------------------------------------------------------------------------ the pack
def lecture_pack(cell: str, T: int, folder, *, hidden: int = 2, inputs: int = 1, outputs: int = 1,
                 force: bool = False, pdf: bool = True) -> LecturePack:
    r"""Write the lecture pack for ``cell`` (any name or alias of the registry) unrolled for ``T`` steps
    into ``folder`` (made if missing) and return a :class:`LecturePack`. ``pdf=False`` skips compiling;
    without ``pdflatex`` (or Beamer) the deck is written as source only and ``pdf_reason`` says so.
    Raises ``ValueError`` for a bad cell or size and :class:`gradlab.files.OutputError` when a file
    cannot be written."""
    from . import render
    from .check import check_gradient
    from .files import write_text
    from .nn.registry import cell_kind
    from .symbolic.derivation import _tex_text, beamer_frames, derive
    from .symbolic.matrix import break_rows

    kind = cell_kind(cell)
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 2:
        raise ValueError(f"lecture: T must be an int >= 2 (a recursion needs two steps), got {T!r}")
    if T > 12:
        raise ValueError(f"lecture: T = {T} makes unreadable slides; use T <= 12")
    folder = Path(folder)
    from .files import check_target

    for name in [f"{v}.png" for v, _, _ in FIGURES] + ["wrong_report.txt", "lecture.tex", "lecture.md", "lecture.pdf"]:
        check_target(folder / name, force=force)        # refuse before writing anything, not half-way
    pack = LecturePack(folder)
    d = derive(kind.name, int(T), hidden=hidden, inputs=inputs, outputs=outputs)
    d.check(forms=("matrix", "recursion"))
    pack.derivation = d
    right = d.matrix_form()

    # the figures
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from .files import OutputError

        raise OutputError(f"{folder}: cannot make this folder: {e.strerror or e}") from None
    figs = []
    if not render.dot_available():
        pack.notes.append("no figures: the Graphviz 'dot' program is not installed (make system-deps installs it)")
    else:
        for view, title, caption in FIGURES:
            path = folder / f"{view}.png"
            fig = render(kind.name, None, view=view, T=int(T))
            try:
                render.write(fig, path, force=force)
            except RuntimeError as e:          # dot failed on this figure: the deck goes on without it
                pack.notes.append(f"no {view} figure: {e}")
                continue
            figs.append((view, title, caption, path))
            pack.files.append(path)

    # the planted mistake, checked
    wrong, gradient = wrong_derivation(d)
    sizes = {"T": int(T), "D": inputs, "H": hidden, "O": outputs}
    report = check_gradient(gradient, d.model.spec, sizes=sizes, seed=0, name="forgot_tanh_prime")
    pack.report = report
    report_text = report.format()
    pack.files.append(write_text(folder / "wrong_report.txt", report_text + "\n", force=force))
    wrong_rows = _differing_rows(right, wrong)
    wrong_names = sorted(getattr(report, "wrong", []) or [])
    verdict = getattr(report, "verdict", "")

    title = f"Backpropagation through time: the {kind.title}"
    mf_secs = d._matrix_sections(compact=True)
    right_names = [n for n in d.model.params if n not in wrong_names]
    explain = (f"The derivative of tanh is missing: where the recursion needs "
               f"$\\delta \\odot (1 - s^2)$ this derivation passes $\\delta$ on unchanged. The checker finds "
               f"{', '.join(map(_math_name, wrong_names)) if wrong_names else 'no parameter'} wrong"
               f"{' (verdict: ' + verdict + ')' if verdict else ''}")
    explain += (f"; the gradients that never pass back through a tanh stay right: "
                f"{', '.join(map(_math_name, right_names))}."
                if right_names else "; every gradient passes back through a tanh, so every one is wrong.")
    # ----------------------------------------------------------------------------- Beamer
    tex = [r"\documentclass[10pt]{beamer}", r"\usepackage{amsmath,amssymb}", r"\usepackage[utf8]{inputenc}",
           r"\usepackage{graphicx}", r"\setbeamertemplate{navigation symbols}{}",
           rf"\title{{{_tex_text(title)}}}", rf"\subtitle{{{_tex_text(d.title)}}}",
           r"\date{written by gradlab lecture}", r"\begin{document}", r"\begin{frame}\titlepage\end{frame}"]
    for view, ftitle, caption, path in figs:
        tex += [rf"\begin{{frame}}{{{ftitle}}}", r"\centering",
                rf"\includegraphics[width=\textwidth,height=0.72\textheight,keepaspectratio]{{{path.name}}}",
                r"\par\vspace{0.5em}{\footnotesize " + _tex_text(caption) + r"\par}", r"\end{frame}"]
    tex += beamer_frames([(h, break_rows(r, 46.0), n) for h, r, n in mf_secs])
    tex += [r"\begin{frame}{A wrong derivation}", r"\small",
            "A planted mistake: the same derivation with the derivative of tanh forgotten. Its lines that differ:",
            r"\begin{align*}", " \\\\\n".join(break_rows(wrong_rows[:5], 46.0)) or r"&\text{(none)}", r"\end{align*}",
            r"\end{frame}",
            *_report_frame(report, report_text),
            r"\begin{frame}{What went wrong}", _tex_text(explain), r"\end{frame}", r"\end{document}"]
    tex_text = "\n".join(tex) + "\n"
    pack.files.append(write_text(folder / "lecture.tex", tex_text, force=force))

    # ----------------------------------------------------------------------------- Markdown
    md = [f"# {title}", "", d.title, ""]
    for view, ftitle, caption, path in figs:
        md += [f"## {ftitle}", "", f"![{ftitle}]({path.name})", "", caption[0].upper() + caption[1:] + ".", ""]
    for h, rows, note in mf_secs:
        md += [f"## {h}", "", note, "", "$$", r"\begin{aligned}", " \\\\\n".join(break_rows(rows, 80.0)),
               r"\end{aligned}", "$$", ""]
    md += ["## A wrong derivation", "", "The same derivation with the derivative of tanh forgotten; its lines that "
           "differ:", "", "$$", r"\begin{aligned}", " \\\\\n".join(wrong_rows[:5]), r"\end{aligned}", "$$", "",
           "## The checker's report on it", "", "```text", report_text, "```", "", "## What went wrong", "",
           explain, ""]
    pack.files.append(write_text(folder / "lecture.md", "\n".join(md), force=force))

    # ----------------------------------------------------------------------------- PDF
    if not pdf:
        pack.pdf_reason = "not asked for (--no-pdf)"
    elif shutil.which("pdflatex") is None:
        pack.pdf_reason = "pdflatex is not installed (make system-deps installs it where apt-get is allowed)"
    else:
        pack.pdf, pack.pdf_reason = _compile(tex_text, figs, folder, force)
        if pack.pdf is not None:
            pack.files.append(pack.pdf)
    return pack


def _compile(tex_text, figs, folder, force):
    """Compile the deck in a scratch folder and write ``lecture.pdf`` into ``folder``; return
    (path or None, reason)."""
    from .files import write_bytes

    with tempfile.TemporaryDirectory(prefix="gradlab-lecture-") as tmp:
        Path(tmp, "lecture.tex").write_text(tex_text, encoding="utf-8")
        for _, _, _, path in figs:
            shutil.copyfile(path, Path(tmp, path.name))
        try:
            r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "lecture.tex"], cwd=tmp,
                               capture_output=True, text=True, timeout=180)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"pdflatex failed to run: {e}"
        pdf = Path(tmp, "lecture.pdf")
        if r.returncode != 0 or not pdf.exists():
            log = Path(tmp, "lecture.log")
            first = next((ln for ln in (log.read_text(errors="replace").splitlines() if log.exists() else [])
                          if ln.startswith("!")), "see the log")
            return None, f"pdflatex could not compile the deck: {first}"
        return write_bytes(folder / "lecture.pdf", pdf.read_bytes(), force=force), ""


# ------------------------------------------------------------------------------------ command line
def add_arguments(parser) -> None:
    """Add the ``lecture`` options to ``parser``."""
    from .cli import add_cell_arguments

    add_cell_arguments(parser, sizes=(1, 2, 1))
    parser.add_argument("--T", type=int, default=4, help="number of time steps (default 4; 2 to 12)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="the folder to write the pack into")
    parser.add_argument("--no-pdf", action="store_true", help="write the Beamer source without compiling it")
    parser.add_argument("--force", action="store_true",
                        help="replace files in DIR that gradlab did not write (and links, never their targets)")


def run(args) -> int:
    """Run ``gradlab lecture``; return 0, 2 for a usage error, 3 when a file could not be written."""
    from .files import OutputError

    try:
        pack = lecture_pack(args.cell, args.T, args.output, hidden=args.hidden_size, inputs=args.input_size,
                            outputs=args.output_size, force=args.force, pdf=not args.no_pdf)
    except OutputError as e:
        print(f"gradlab lecture: {e}", file=sys.stderr)
        return 3
    except ValueError as e:
        print(f"gradlab lecture: {str(e).removeprefix('lecture: ').removeprefix('derive: ')}", file=sys.stderr)
        return 2
    for p in pack.files:
        print(f"wrote {p}")
    for note in pack.notes:
        print(f"gradlab lecture: {note}", file=sys.stderr)
    if pack.pdf is None:
        print(f"gradlab lecture: no PDF: {pack.pdf_reason}", file=sys.stderr)
    return 0
