"""The lecture notebooks in examples/notebooks/ run in a real Jupyter kernel (one per notebook) without an
error or a warning, and what they show is rich: graphs and plots as SVG, the derivation as LaTeX/Markdown,
check reports as HTML tables, training as a plot redrawn in place. They are committed without outputs."""
import json
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "examples" / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

# what each notebook must show, by MIME type: the least number of outputs of each
EXPECTED = {
    "01_bptt_by_hand.ipynb": {"image/svg+xml": 1, "text/latex": 1, "text/markdown": 1, "text/html": 3},
    "02_vanishing_exploding.ipynb": {"image/svg+xml": 6, "live": 2},
    "03_lstm_gru_memory.ipynb": {"image/svg+xml": 4, "live": 1},
}
# of those SVGs, the Graphviz figures: without the `dot` program they show their DOT source as text instead
GRAPHS = {"01_bptt_by_hand.ipynb": 1, "02_vanishing_exploding.ipynb": 1, "03_lstm_gru_memory.ipynb": 2}


def test_there_are_the_three_lecture_notebooks_committed_without_outputs():
    assert NAMES == sorted(EXPECTED)
    for name in NAMES:
        nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code), name


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernel spec for this interpreter (not whatever "python3" a machine's Jupyter knows)."""
    pytest.importorskip("nbclient", reason="nbclient is in the dev extra: pip install -e '.[dev]'")
    pytest.importorskip("nbformat", reason="nbformat is in the dev extra")
    kernelspec = pytest.importorskip("ipykernel.kernelspec", reason="ipykernel is in the dev extra")
    from jupyter_client.kernelspec import KernelSpecManager

    root = tmp_path_factory.mktemp("kernels")
    kernelspec.write_kernel_spec(str(root / "gradlab-test"))
    spec = json.loads((root / "gradlab-test" / "kernel.json").read_text())
    spec["argv"][0] = sys.executable
    (root / "gradlab-test" / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(root)])


def _execute(name, specs):
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    km = KernelManager(kernel_name="gradlab-test", kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()                     # errors in cells are kept as outputs (allow_errors) and asserted on
    except Exception as exc:  # noqa: BLE001 - the kernel could not start here: say so, visibly
        if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
            pytest.skip(f"a Jupyter kernel could not be started here ({type(exc).__name__}: {exc})")
        raise
    return nb


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_a_kernel_and_shows_rich_output(name, kernel_specs):
    nb = _execute(name, kernel_specs)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert errors == [], f"{name}: {[e.ename + ': ' + e.evalue for e in errors]}"
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert stderr == [], f"{name} wrote to stderr (a warning in front of a class): {stderr}"
    counts = {}
    for o in outputs:
        for mime in o.get("data", {}):
            counts[mime] = counts.get(mime, 0) + 1
    # a live training plot: one display_data per run, redrawn in place (an SVG)
    counts["live"] = sum(o.output_type == "display_data" and "image/svg+xml" in o.data for o in outputs)
    from gradlab.render import dot_available

    expected = dict(EXPECTED[name])
    if not dot_available():
        expected["image/svg+xml"] -= GRAPHS[name]
        assert sum("not installed" in o.get("data", {}).get("text/plain", "") for o in outputs) >= GRAPHS[name]
    for mime, least in expected.items():
        assert counts.get(mime, 0) >= least, f"{name}: {counts.get(mime, 0)} outputs of {mime}, expected {least}+"
    for o in outputs:
        if "text/html" in o.get("data", {}):
            assert "<table" in o.data["text/html"] or "no counterexample" in o.data["text/html"]
    if name.startswith("01"):
        html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
        assert "PASS" in html[0] and "WRONG" in html[1] and "smallest failing case" in html[2]
