"""The package: nothing printed or chosen at import, the command line answers --help/--version,
CuPy helpers degrade clearly without a GPU."""
import subprocess
import sys

import numpy as np
import pytest

import gradlab


def test_import_prints_nothing_and_loads_no_heavy_subsystem():
    code = "import sys, gradlab; print(sorted(m for m in ('sympy', 'graphviz', 'cupy', 'hypothesis') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]" and out.stderr == ""


def test_cli_version_and_help():
    v = subprocess.run([sys.executable, "-m", "gradlab.cli", "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.strip() == f"gradlab {gradlab.__version__}"
    h = subprocess.run([sys.executable, "-m", "gradlab.cli", "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "usage: gradlab" in h.stdout


def test_as_numpy_and_to_device_cpu_round_trip():
    t = gradlab.tensor([1.0, 2.0])
    assert isinstance(gradlab.as_numpy(t), np.ndarray)
    assert gradlab.to_device(t, "cpu") is t
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        gradlab.to_device(t, "tpu")


def test_numpy_is_the_default_namespace():
    assert gradlab.get_xp(np.ones(2), 3.0) is np


def test_public_names_have_docstrings():
    missing = [n for n in gradlab.__all__ if n != "__version__" and not (getattr(gradlab, n).__doc__ or "").strip()]
    assert missing == []
