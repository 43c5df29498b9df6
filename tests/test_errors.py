"""Bad input gets a clear error naming the op, the scope and the shapes; dtypes are documented."""
import numpy as np
import pytest

import gradlab
from gradlab import Parameter, tensor


def test_matmul_shape_error_names_op_scope_and_both_shapes():
    W = Parameter(np.ones((4, 5)), name="W_s")
    s = tensor(np.ones((3, 5)))
    with gradlab.scope("cell", "W_s", t=3):
        with pytest.raises(ValueError) as e:
            W @ s
    msg = str(e.value)
    assert msg.startswith("matmul at cell.W_s (t=3): inner dimensions differ: (4, 5) @ (3, 5)")


def test_broadcast_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: cannot broadcast shapes \(2, 3\) and \(4,\)"):
        tensor(np.ones((2, 3))) + tensor(np.ones(4))


def test_concat_and_stack_errors_show_all_shapes():
    with pytest.raises(ValueError, match="stack: all shapes must be equal"):
        gradlab.stack([tensor(np.ones(2)), tensor(np.ones(3))])
    with pytest.raises(ValueError, match="concat"):
        gradlab.concat([tensor(np.ones((2, 2))), tensor(np.ones((3, 3)))], axis=0)


def test_reduction_axis_error_names_the_axis():
    with pytest.raises(ValueError, match="axis 3 is out of range for shape"):
        tensor(np.ones((2, 2))).sum(axis=3)
    with pytest.raises(ValueError, match="mean: axis 5"):
        tensor(np.ones((2, 2))).mean(axis=5)


def test_integer_and_boolean_data_become_float64():
    assert tensor([1, 2, 3]).dtype == np.float64
    assert tensor(np.array([True, False])).dtype == np.float64


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([object(), 1], dtype=object)])
def test_non_numeric_data_is_refused_with_its_dtype(bad):
    with pytest.raises(TypeError, match=f"dtype {bad.dtype}"):
        tensor(bad)


def test_float32_is_kept_and_python_numbers_do_not_upcast_it():
    x = tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * 2 + 1.5).sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_backward_of_a_non_scalar_needs_an_explicit_gradient():
    x = Parameter(np.ones((5, 2)), name="x")
    with pytest.raises(ValueError, match=r"output has shape \(5, 2\).*backward\(g\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"g has shape \(3,\) but the output has shape \(5, 2\)"):
        (x * 2).backward(np.ones(3))


def test_indexing_with_a_tensor_is_refused_with_a_hint():
    x = tensor(np.ones(4))
    with pytest.raises(TypeError, match="use .data"):
        x[tensor(np.array([0, 1]))]


def test_scope_names_are_validated():
    with pytest.raises(ValueError, match="without dots"):
        gradlab.scope("cell.W_s")
    with pytest.raises(TypeError, match="int time step"):
        gradlab.scope(t=1.5)
