"""Loading one function out of a script or a notebook: only its imports, definitions and constants run,
never the training loop, plots or file I/O; globals that cannot be defined safely are reported by name
with the reason, and can be supplied; every error names the file and line (and the notebook cell)."""
import json
import textwrap

import numpy as np
import pytest

from gradlab.check import DerivationError, load_function, needed_globals


def _script(tmp_path, text, name="course.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


SIDE_EFFECTS = """
    import numpy as np
    import module_that_is_not_installed_anywhere
    from math import pi, sqrt

    open(SENTINEL, "w").write("the script ran")
    data = open("input.txt").read()
    H = 4
    N = 2 * H
    scale = sqrt(N)
    W = np.random.randn(N, N)

    def helper(v):
        return np.tanh(v) * scale

    class Box:
        factor = H
        def twice(self, v):
            return 2 * v * self.factor

    def step(v):
        return helper(v) + Box().twice(v) + np.zeros(N)

    while True:
        W = W - 0.1 * step(W)
    raise SystemExit("trained")
"""


def test_a_script_that_trains_at_import_gives_its_function_without_running_anything_else(tmp_path):
    sentinel = tmp_path / "ran.txt"
    path = _script(tmp_path, SIDE_EFFECTS.replace("SENTINEL", repr(str(sentinel))))
    step = load_function(path, "step")
    assert not sentinel.exists()                      # no top-level I/O, no loop, no unused import ran
    v = np.array([0.5, -1.0, 0.25, 0.0, 1.0, 2.0, -2.0, 0.1])
    np.testing.assert_allclose(step(v), np.tanh(v) * np.sqrt(8) + 8 * v)
    assert needed_globals(step) == {}                 # H, N, scale, helper, Box are all safe to define
    assert "data" not in step.__globals__ and "W" not in step.__globals__


def test_a_guarded_script_and_the_last_definition_in_the_file_are_what_is_loaded(tmp_path):
    path = _script(tmp_path, """
        def f(x):
            return x + 1

        def f(x):
            return x + 2

        if __name__ == "__main__":
            raise SystemExit("main ran")
    """)
    assert load_function(path, "f")(1) == 3


def test_globals_that_are_not_safe_to_define_are_named_with_the_reason_and_can_be_supplied(tmp_path):
    path = _script(tmp_path, """
        import numpy as np
        text = open("input.txt").read()
        chars = sorted(set(text))
        vocab_size = len(chars)
        Wxh = np.random.randn(3, vocab_size) * 0.01
        for step in range(10):
            lr = 0.1 / (step + 1)

        def loss(x):
            return float(np.sum(Wxh @ x)) * lr + vocab_size
    """)
    f = load_function(path, "loss")
    needs = needed_globals(f)
    assert set(needs) == {"Wxh", "lr", "vocab_size"}
    assert "line 6: `Wxh = np.random.randn(3, vocab_size) * 0.01` calls np.random.randn()" in needs["Wxh"]
    assert "inside a for loop (line 7)" in needs["lr"]
    assert "line 3: `text = open(\"input.txt\").read()` calls open('input.txt').read()" in needs["vocab_size"]
    with pytest.raises(NameError, match="name 'Wxh' is not defined: .*calls np.random.randn\\(\\). Supply it"):
        f(np.ones(2))
    g = load_function(path, "loss", globals={"Wxh": np.ones((3, 2)), "lr": 0.5, "vocab_size": 2})
    assert needed_globals(g) == {} and g(np.ones(2)) == pytest.approx(6 * 0.5 + 2)


def test_a_global_set_only_by_a_function_or_never_defined_is_reported(tmp_path):
    path = _script(tmp_path, """
        def init():
            global W
            W = 1.0

        def f(x):
            return W * x + undefined_thing
    """)
    needs = needed_globals(load_function(path, "f"))
    assert "set only by init() (a global statement)" in needs["W"]
    assert needs["undefined_thing"] == "the file never defines it"


def test_helpers_beside_the_script_and_star_imports_are_loaded(tmp_path):
    (tmp_path / "course_utils_for_loader.py").write_text("import numpy as np\ndef softmax(z):\n"
                                                         "    e = np.exp(z - z.max())\n    return e / e.sum()\n")
    path = _script(tmp_path, """
        from course_utils_for_loader import *
        import numpy as np

        def probs(z):
            return softmax(np.asarray(z, float))
    """)
    np.testing.assert_allclose(load_function(path, "probs")([0.0, 0.0]), [0.5, 0.5])


def test_a_method_is_loaded_as_class_dot_method(tmp_path):
    path = _script(tmp_path, """
        import numpy as np
        class Model:
            def __init__(self):
                raise RuntimeError("never called by the loader")
            def forward(self, x):
                return self.W @ x
            def loss(self, x):
                return float(np.sum(self.forward(x)))
        model = Model()
    """)
    loss = load_function(path, "Model.loss")
    obj = loss.__gradlab_loaded__.owner.__new__(loss.__gradlab_loaded__.owner)
    obj.W = np.eye(2)
    assert loss(obj, np.array([1.0, 2.0])) == 3.0
    with pytest.raises(DerivationError, match="class Model has no method 'los'.*\n  hint: did you mean Model.loss"):
        load_function(path, "Model.los")


def test_a_missing_function_says_what_the_file_defines_and_the_closest_name(tmp_path):
    path = _script(tmp_path, """
        def lossFun(inputs):
            return 0

        if __name__ == "__main__":
            def sample():
                return 1
    """)
    with pytest.raises(DerivationError, match=r"defines no function or class 'lossfun' at the top level \(it "
                                              r"defines lossFun\)\n  hint: did you mean 'lossFun'\?"):
        load_function(path, "lossfun")
    with pytest.raises(DerivationError, match=r"course.py:6: sample is defined inside `if __name__ == \"__main__\":`"):
        load_function(path, "sample")
    with pytest.raises(DerivationError, match="no such file"):
        load_function(str(tmp_path / "nowhere.py"), "f")


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = _script(tmp_path, "def f(x):\n    return x +\n")
    with pytest.raises(DerivationError, match=r"course.py:2: SyntaxError"):
        load_function(path, "f")


def _notebook(tmp_path, cells):
    nb = {"cells": [{"cell_type": kind, "metadata": {}, "source": src, **({"outputs": [], "execution_count": None}
                                                                          if kind == "code" else {})}
                    for kind, src in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "lab.ipynb"
    path.write_text(json.dumps(nb))
    return str(path)


def test_a_notebooks_code_cells_load_with_magics_skipped_and_cells_named(tmp_path):
    path = _notebook(tmp_path, [
        ("markdown", "# The lab"),
        ("code", "import numpy as np\n%matplotlib inline\n!pip install nothing"),
        ("code", "%%bash\necho this is not python"),
        ("code", "H = 3\nW = np.random.randn(H, H)\nfiles = !ls"),
        ("code", "%%time\ndef f(x):\n    return np.tanh(W @ x) + H\n"),
        ("code", "for i in range(10):\n    print(f(np.ones(H)))\nplt.plot([1, 2])"),
        ("code", "this cell does not parse ("),
    ])
    f = load_function(path, "f")
    needs = needed_globals(f)
    assert list(needs) == ["W"]
    assert needs["W"].endswith("lab.ipynb, cell 4, line 2: `W = np.random.randn(H, H)` calls np.random.randn()")
    f.__globals__["W"] = np.zeros((3, 3))
    np.testing.assert_allclose(f(np.ones(3)), [3.0, 3.0, 3.0])
    assert f.__code__.co_filename.endswith("lab.ipynb, cell 5")


def test_a_syntax_error_in_the_notebook_cell_that_defines_the_function_names_the_cell(tmp_path):
    path = _notebook(tmp_path, [("markdown", "text"), ("code", "import numpy as np"),
                                ("code", "def f(x):\n    return x +\n")])
    with pytest.raises(DerivationError, match=r"lab.ipynb, cell 3, line 2: SyntaxError"):
        load_function(path, "f")
