"""Test configuration: the Hypothesis profiles, the array backends, and the `dot` marker.

Profiles: ``ci`` (the default; deterministic: derandomized, no example database, fixed example
counts) and ``explore`` (many more random examples), chosen with ``--hypothesis-profile=explore``
(``make explore``) or ``GRADLAB_HYPOTHESIS_PROFILE=explore``.
"""
import os
import shutil

# One BLAS thread: the tests multiply small matrices, where threads cost more than they give (measured on the
# 2-core CI machine under load: the reservoir example tests took 52 s with the default threads, 18.8 s with one).
# Effective only when NumPy is not imported yet; `make test` also sets it in the environment.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest
from hypothesis import HealthCheck, settings

# function_scoped_fixture: the `engine` fixture chooses the engine for the whole test, all examples alike
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=25, deadline=None, print_blob=True,
    suppress_health_check=_SUPPRESSED,
)
settings.register_profile(
    "explore", max_examples=400, deadline=None, print_blob=True, suppress_health_check=_SUPPRESSED,
)
settings.load_profile(os.environ.get("GRADLAB_HYPOTHESIS_PROFILE", "ci"))

# The corpus is course code and declarations, not tests: its scripts read data files and train when
# imported, so pytest (which imports every module for --doctest-modules) must not collect them (conventions also reuse module names, e.g. rnn_sequence.py, which would clash).
collect_ignore_glob = ["corpus/*"]


def _cupy_usable() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


BACKENDS = [
    "numpy",
    pytest.param("cupy", marks=pytest.mark.skipif(not _cupy_usable(), reason="CuPy with a GPU is not available")),
]


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The array module a test runs on: numpy, and cupy where a GPU is present (a visible skip otherwise)."""
    if request.param == "cupy":
        import cupy

        return cupy
    import numpy

    return numpy


@pytest.fixture(params=["fast", "reference"])
def engine(request):
    """The engine a test records and differentiates with: the fast path (the default) and the reference
    engine (``gradlab.reference()``); the engine's own tests run under both."""
    import gradlab

    with gradlab.use_engine(request.param):
        yield request.param


@pytest.fixture
def gpu_xp():
    """CuPy, for tests that compare the GPU path with NumPy; skipped (visibly) without CuPy and a GPU."""
    if not _cupy_usable():
        pytest.skip("CuPy with a GPU is not available")
    import cupy

    return cupy


def pytest_collection_modifyitems(config, items):
    if shutil.which("dot") is None:
        skip = pytest.mark.skip(reason="the Graphviz `dot` program is not installed (make test installs it)")
        for item in items:
            if "graphviz_exe" in item.keywords:
                item.add_marker(skip)
