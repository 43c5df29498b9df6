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


# ------------------------------------------------------ no silent wrong numbers (issue 17)
def test_a_parameter_holds_its_own_copy_of_the_callers_array():
    a = np.array([1.0, 2.0])
    w = Parameter(a, name="w")
    y = (w * w).sum()
    a[:] = 10.0                                   # the caller changes its array after recording
    y.backward()
    np.testing.assert_allclose(w.data, [1.0, 2.0])
    np.testing.assert_allclose(w.grad, [2.0, 4.0])
    assert tensor(a, requires_grad=True).data is not a and tensor(a).data is a   # a constant leaf: no copy


def test_the_value_of_a_recorded_node_cannot_be_changed_before_backward():
    x = Parameter(np.array([0.5, -0.5]), name="x")
    with gradlab.scope("cell", t=2):
        y = gradlab.tanh(x)
    with pytest.raises(ValueError, match=r"op=tanh.*cell \(t=2\).*cannot be replaced.*use the value tanh computed"):
        y.data = np.zeros(2)
    with pytest.raises(ValueError, match="read-only"):
        y.data[0] = 0.0                           # in place: NumPy refuses, the array is flagged read-only
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 1 - np.tanh([0.5, -0.5]) ** 2)
    x.data = np.array([1.0, 1.0])                 # a leaf's value may be replaced (an optimiser does)


@pytest.mark.parametrize("fused", [False, True])
def test_the_states_of_an_unrolled_network_are_separate_read_only_arrays(fused):
    from gradlab import nn

    cell = nn.ElmanCell(3, 64, 2, rng=0)
    out = nn.unroll(cell, np.random.default_rng(0).standard_normal((4, 40, 3)), fused=fused)
    datas = [s.data for s in out.states]
    assert not any(d.flags.writeable for d in datas)
    assert not any(np.shares_memory(a, b) for i, a in enumerate(datas) for b in datas[i + 1:])


@pytest.mark.parametrize("method", ["replay", "gradient"])
def test_a_replayed_leaf_value_of_the_wrong_shape_names_the_leaf_and_both_shapes(method):
    W = Parameter(np.ones((2, 3)), name="W")
    g = gradlab.Graph(gradlab.tanh(W).sum())
    call = (lambda v: g.replay(v)) if method == "replay" else (lambda v: g.gradient([W], v))
    with pytest.raises(ValueError, match=rf"{method}: the value given for .*name='W'.* has shape \(3, 2\), but the "
                                         rf"leaf was recorded with shape \(2, 3\)"):
        call({W: np.ones((3, 2))})


def test_a_linear_bias_that_would_broadcast_the_result_up_is_an_error():
    x, W = tensor(np.ones(3)), Parameter(np.ones((4, 3)), name="W")
    with pytest.raises(ValueError, match=r"linear: the bias \(4, 1\) must be \(4,\) or the result's shape \(4,\)"):
        gradlab.linear(x, W, tensor(np.ones((4, 1))))
    assert gradlab.linear(tensor(np.ones((5, 3))), W, tensor(np.ones(4))).shape == (5, 4)
    assert gradlab.linear(tensor(np.ones((5, 3))), W, tensor(np.ones((5, 4)))).shape == (5, 4)


def test_complex_inputs_to_a_cell_are_refused_not_cast_to_real():
    from gradlab import nn

    cell = nn.ElmanCell(2, 3, 1, rng=0)
    with pytest.raises(TypeError, match=r"ElmanCell 'cell': got complex values \(dtype complex128\)"):
        nn.unroll(cell, np.ones((2, 2)) + 1j)


# ------------------------------------------------------------------ clear messages (issue 17)
def test_the_mean_of_an_empty_tensor_says_so():
    with pytest.raises(ValueError, match=r"mean: there are no elements to average over axis 0 of the shape \(0, 3\)"):
        gradlab.mean(tensor(np.ones((0, 3))), axis=0)
    with pytest.raises(ValueError, match=r"mean: there are no elements.*\(0,\)"):
        gradlab.mean(tensor(np.ones(0)))


def test_a_list_of_tensors_given_to_an_op_suggests_stack_or_concat():
    with pytest.raises(TypeError, match=r"sum: input 0: got a list holding Tensors.*gradlab\.stack\(xs\)"):
        gradlab.sum([tensor([1.0, 2.0])])
    with pytest.raises(TypeError, match=r"tensor: got a list holding Tensors"):
        tensor([[tensor([1.0])]])


def test_ragged_lists_and_text_are_refused_with_what_was_wrong():
    with pytest.raises(ValueError, match="tensor: the nested lists do not form an array"):
        tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="add: input 1: the nested lists do not form an array"):
        tensor([1.0, 2.0]) + [[1.0], [2.0, 3.0]]
    with pytest.raises(TypeError, match=r"tensor: data of dtype <U3 \('abc'\) is not numbers"):
        tensor("abc")
    with pytest.raises(TypeError, match=r"mul: input 1: got the text 'x'"):
        tensor([1.0]) * "x"


def test_a_graph_of_a_plain_array_says_what_it_needs():
    with pytest.raises(TypeError, match=r"Graph: output 0 is a ndarray of shape \(2,\), not a Tensor"):
        gradlab.Graph(np.ones(2))
