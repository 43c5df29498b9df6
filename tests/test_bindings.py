"""The author's own function as a derivation (gradlab.check.call): declarations bind its arguments,
globals, attributes and returns; a declaration that cannot be right is refused at its own line; an
error inside the author's code points at the author's line. And the forward: a returned loss that is
not the model's E, or gradients that belong to another model, are reported as such and do not blame
the backward; a truncation other than the declared one and a 1/T on one gradient are named."""
import importlib.util
import os
import sys

import numpy as np
import pytest

import gradlab
from gradlab import specs
from gradlab.check import DerivationError, call, check_gradient, load_function, verify
from strategies import budget

HERE = os.path.dirname(__file__)
MINCHAR = os.path.join(HERE, "corpus", "minchar", "code", "min_char_rnn.py")
WORDLM = os.path.join(HERE, "corpus", "wordlm", "code", "rnn_lm.py")
CHAR = dict(loss="softmax_cross_entropy", inputs="index", targets="index", layout="column",
            names={"Wxh": "W_x", "Whh": "W_s", "bh": "b_s", "Why": "W_y", "by": "b_y"})
LM = dict(loss="softmax_cross_entropy", inputs="index", targets="index", biases=False, initial_state="zero",
          truncate=4, names={"U": "W_x", "W": "W_s", "V": "W_y"})


def _lossfun(**kw):
    decl = dict(args="inputs=xs, targets=ds, hprev=s_0", globals="Wxh, Whh, Why, bh, by, vocab_size",
                returns="loss, dWxh, dWhh, dWhy, dbh, dby, hprev=s_T")
    decl.update(kw)
    return call(load_function(MINCHAR, "lossFun"), **decl)


def test_the_python_api_checks_and_searches_a_declared_function():
    spec = specs.elman(**CHAR)
    gradient = _lossfun(clip=5)
    assert check_gradient(gradient, spec).verdict == "pass"
    assert verify(gradient, spec, max_examples=budget(5)).ok
    assert gradlab.testing.assert_gradient_matches(gradient, spec).verdict == "pass"


def test_a_method_gets_an_instance_made_from_its_declared_attributes():
    gradient = call(load_function(WORDLM, "RNNNumpy.bptt"), args="x=xs, y=ds", returns="dLdU, dLdV, dLdW",
                    self="U, V, W, word_dim=vocab_size, hidden_dim=hidden_size, bptt_truncate=truncate")
    report = check_gradient(gradient, specs.elman(**LM))
    assert report.verdict == "pass" and report.sizes == {"T": 7, "V": 4, "H": 3}


def test_a_bound_method_of_an_existing_instance_is_called_and_left_as_it_was():
    class Net:
        def __init__(self):
            self.W_x, self.W_s, self.W_y = "not", "the", "weights"

        def grads(self, xs, ds):
            s, total = np.zeros(self.W_s.shape[0]), {}
            from gradlab.check.references import engine_gradient
            p = specs.elman(biases=False, initial_state="zero").draw({"T": len(xs), "D": xs.shape[1],
                                                                     "H": s.size, "O": ds.shape[1]})
            p = p.copy({"W_x": self.W_x, "W_s": self.W_s, "W_y": self.W_y}, {"xs": xs, "ds": ds})
            total, _ = engine_gradient(p.record())
            return total["W_x"], total["W_s"], total["W_y"]

    net = Net()
    gradient = call(net.grads, self="W_x, W_s, W_y", returns="dW_x, dW_s, dW_y")
    assert check_gradient(gradient, specs.elman(biases=False, initial_state="zero")).verdict == "pass"
    assert (net.W_x, net.W_s, net.W_y) == ("not", "the", "weights")


def test_a_parameters_dict_argument_and_a_dict_of_gradients_need_no_returns():
    spec = specs.elman(names={"Wax": "W_x", "Waa": "W_s", "ba": "b_s", "Wya": "W_y", "by": "b_y"})

    def backward(x, y, a0, parameters):          # Coursera style: a dict in, {"dWax": ...} out
        from gradlab.check.references import engine_gradient
        p = spec.draw({"T": x.shape[0], "D": x.shape[1], "H": a0.size, "O": parameters["by"].size})
        g, _ = engine_gradient(p.copy(parameters, {"xs": x, "ds": y, "s_0": a0}).record())
        return {"d" + k: v for k, v in g.items()}

    gradient = call(backward, args="a0=s_0, parameters=params")     # x, y bound by their usual names
    assert check_gradient(gradient, spec).verdict == "pass"


def test_a_declaration_that_cannot_be_right_is_refused_at_its_own_line():
    line = sys._getframe().f_lineno
    with pytest.raises(DerivationError, match=rf"test_bindings.py:{line + 3}: args= binds 'input', but lossFun\(\) "
                                              r"has no argument 'input'.*\n  hint: did you mean 'inputs'\?"):
        _lossfun_at_line = call(load_function(MINCHAR, "lossFun"), args="input=xs", globals="Wxh")  # noqa: F841
    with pytest.raises(DerivationError, match=r"lossFun\(\) reads the global Whh, which gradlab did not define "
                                              r"\(.*min_char_rnn.py, line 22: `Whh = np.random.randn"):
        call(load_function(MINCHAR, "lossFun"), globals="Wxh")
    with pytest.raises(DerivationError, match=r"globals= sets 'Wxhh', which lossFun\(\) never reads.*\n  hint: did "
                                              r"you mean 'Wxh'\?"):
        _lossfun(globals="Wxh, Whh, Why, bh, by, vocab_size, Wxhh")


@pytest.mark.parametrize("kw, message", [
    (dict(args="inputs=xs, targets=ds, hprev=s0"), r"args=: 's0' is not a quantity of .*\n  hint: did you mean 's_0'\?"),
    (dict(returns="loss, dWxh, dWhh, dWhy, dbh, dby, hnext"), r"returns=: 'hnext' is neither a gradient"),
    (dict(returns="loss, dWxh, dWhh, dWhy, dbh, hprev=s_T"), r"returns= names no gradient of by"),
    (dict(globals="Wxh, Whh, Why, by, vocab_size"), r"the parameter bh is not given to lossFun\(\)"),
])
def test_a_binding_the_model_does_not_have_is_named_with_the_closest_quantity(kw, message):
    with pytest.raises(DerivationError, match=message):
        check_gradient(_lossfun(**kw), specs.elman(**CHAR))


def test_returning_more_or_fewer_values_than_declared_points_at_the_authors_return():
    with pytest.raises(DerivationError, match=r"min_char_rnn.py:60: lossFun\(\) returned 7 values, but returns= "
                                              r"names 6"):
        check_gradient(_lossfun(returns="loss, dWxh, dWhh, dWhy, dbh, dby"), specs.elman(**CHAR))


def test_an_error_inside_the_authors_code_points_at_the_authors_line_with_the_shapes_passed():
    spec = specs.elman(**{**CHAR, "layout": "vector"})
    with pytest.raises(DerivationError) as info:
        check_gradient(_lossfun(), spec)
    text = str(info.value)
    assert "min_char_rnn.py:39: ValueError in lossFun()" in text and "scores = Why @ h[t] + by" in text
    assert "hprev=(3,)" in text and "layout='vector'" in text
    with pytest.raises(DerivationError, match=r"rnn_lm.py:31: AttributeError in forward_propagation\(\): 'RNNNumpy' "
                                              r"object has no attribute 'hidden_dim'(.|\n)*self=\"…, hidden_dim="):
        check_gradient(call(load_function(WORDLM, "RNNNumpy.bptt"), args="x=xs, y=ds", returns="dLdU, dLdV, dLdW",
                            self="U, V, W, bptt_truncate=truncate"), specs.elman(**LM))


# ------------------------------------------------------------------------------------ forward
def _lstm_derivation():
    path = os.path.join(HERE, "..", "derivations", "lstm_bptt.py")
    spec_ = importlib.util.spec_from_file_location("lstm_bptt_for_bindings", path)
    mod = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(mod)
    return mod


def _lstm_loss(params, data, c_0):
    W_x, W_s, b_s, W_y, b_y = (params[k] for k in ("W_x", "W_s", "b_s", "W_y", "b_y"))
    H = len(data["s_0"])
    s, c, E = data["s_0"], c_0, 0.0

    def sig(a):
        return 1 / (1 + np.exp(-a))
    for t in range(len(data["xs"])):
        a = W_x @ data["xs"][t] + W_s @ s + b_s
        c = sig(a[H:2 * H]) * c + sig(a[:H]) * np.tanh(a[2 * H:3 * H])
        s = sig(a[3 * H:]) * np.tanh(c)
        E += 0.5 * np.sum((W_y @ s + b_y - data["ds"][t]) ** 2)
    return E


def _naive_lstm(return_loss):
    """An LSTM whose forward hard-codes c_0 = 0 (as code that takes only h0 does), backward right for that."""
    mod = _lstm_derivation()

    def gradient(params, data):
        d = dict(data)
        d["c_0"] = np.zeros_like(d["s_0"])
        g = {k: v for k, v in mod.gradient(params, d).items() if not k.startswith("delta")}
        if return_loss:
            g["E"] = _lstm_loss(params, data, d["c_0"])
        return g
    return gradient


def test_a_forward_that_starts_from_c0_zero_is_another_model_not_every_parameter_wrong():
    report = check_gradient(_naive_lstm(False), specs.lstm())
    assert report.verdict == "fail" and report.wrong == []
    assert {p.verdict for p in report.params} == {"unjudged"}
    model = [f for f in report.findings if f.kind == "model"]
    assert len(model) == 1 and "c_0 fixed to zero (initial_state={'c_0': 'zero'})" in model[0].message
    assert "starts from c_0 = 0 where the data give c_0" in model[0].message
    assert check_gradient(_naive_lstm(False), specs.lstm(initial_state={"c_0": "zero"})).verdict == "pass"


def test_a_returned_loss_that_differs_says_your_forward_computes_a_different_E_with_the_equations():
    report = check_gradient(_naive_lstm(True), specs.lstm())
    text = report.format()
    assert report.verdict == "fail" and report.wrong == []
    assert "your forward computes a different E (E: yours" in text
    assert "c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t" in text and "s_0, c_0 given in the data" in text
    assert "Your E is the E of the same model with c_0 fixed to zero" in text
    assert "Against that model your gradient is right" in text


def test_a_right_loss_value_does_not_excuse_a_wrong_backward_and_a_wrong_value_alone_is_named():
    mod = _lstm_derivation()

    def right_E_wrong_W_y(params, data):
        g = {k: v for k, v in mod.gradient(params, data).items() if not k.startswith("delta")}
        g["W_y"] = 2 * g["W_y"]
        g["E"] = _lstm_loss(params, data, data["c_0"])
        return g
    report = check_gradient(right_E_wrong_W_y, specs.lstm())
    assert report.wrong == ["W_y"] and not any(f.kind == "forward" for f in report.findings)

    def wrong_E_only(params, data):
        g = {k: v for k, v in mod.gradient(params, data).items() if not k.startswith("delta")}
        g["E"] = _lstm_loss(params, data, data["c_0"]) + 1.0
        return g
    report = check_gradient(wrong_E_only, specs.lstm())
    assert report.verdict == "fail" and report.wrong == []
    assert "only the loss value you return is off" in report.format()


def test_gradients_of_E_averaged_over_time_name_the_option():
    mod = _lstm_derivation()

    def averaged(params, data):
        T = len(data["xs"])
        return {k: v / T for k, v in mod.gradient(params, data).items() if not k.startswith("delta")}
    report = check_gradient(averaged, specs.lstm())
    # a mean instead of a sum is a factor on every gradient: wrong against the declared model, named on
    # evidence from two draws, with the option that declares the other model
    assert report.wrong == list(specs.lstm().param_shapes())
    findings = report.findings + [f for p in report.params for f in p.findings]
    assert [f for f in findings if f.kind == "factor_1/T" and "over_time=\"mean\"" in f.message]
    assert check_gradient(averaged, specs.lstm(over_time="mean")).verdict == "pass"


def test_a_missing_recurrent_term_is_named_as_truncation_after_zero_steps():
    from gradlab.check import load_derivation

    cand = load_derivation(os.path.join(HERE, "..", "derivations", "wrong_elman_no_recurrent_term.py"))
    report = check_gradient(cand)
    found = [f for p in report.params for f in p.findings if f.kind == "truncation"]
    assert report.wrong == ["W_x", "b_s", "W_s"] and len(found) == 1
    assert "no recurrent term at all" in found[0].message and found[0].data["k"] == 0


def test_an_intended_clip_is_declared_and_clipping_is_named_only_when_values_saturate():
    spec = specs.elman(**CHAR)
    big = spec.draw({"T": 8, "V": 3, "H": 2}, seed=0)     # the next character is always 0, rarely predicted:
    big = big.copy(params={"by": np.array([[-10.0], [0.0], [0.0]])}, data={"ds": np.zeros(8, int)})  # |∂E/∂by_0| ≈ 8
    report = check_gradient(_lossfun(clip=5), spec, problem=big)
    assert report.verdict == "pass"
    undeclared = check_gradient(_lossfun(), spec, problem=big)
    clipped = [p for p in undeclared.params if p.verdict == "wrong"]
    assert clipped and all(any(f.kind == "clipped" and "±5" in f.message and "clip=b" in f.message
                               for f in p.findings) for p in clipped)
    assert not undeclared.localisation           # a clip says nothing about time steps
    small = check_gradient(_lossfun(), spec)     # the clip never acts: nothing to declare, nothing named
    assert small.verdict == "pass"


def test_a_forward_that_reads_the_gates_in_another_order_is_named_with_the_option():
    from test_spec_options import _candidate, lstm_ifog_zero_state

    report = check_gradient(_candidate(lstm_ifog_zero_state), specs.lstm(initial_state="zero"))
    model = [f for f in report.findings if f.kind == "model"]
    assert report.wrong == [] and model and "gates=\"ifog\"" in model[0].message


def test_a_declaration_checked_with_another_models_spec_says_so_and_float32_is_not_another_forward():
    from gradlab.check import load_derivation

    cand = load_derivation(os.path.join(HERE, "corpus", "minchar", "min_char_rnn.py"))
    with pytest.raises(DerivationError, match=r"min_char_rnn.py:8: this declaration belongs to .* but it is being "
                                              r"checked with parameters W_x, b_s, W_s, W_y, b_y"):
        check_gradient(cand, specs.elman(loss="softmax_cross_entropy", inputs="index", targets="index"))
    report = check_gradient(cand, dtype=np.float32)      # E computed in float32 is still the model's E
    assert report.verdict == "pass" and [f.kind for f in report.findings] == ["float32"]


def test_a_gradlab_style_gradient_can_be_wrapped_to_declare_an_intended_clip():
    mod = _lstm_derivation()
    spec = specs.lstm()
    big = spec.draw(seed=0).copy(data={"ds": 40.0 * np.ones((3, 2))})       # far targets: gradients beyond 1

    def clipped(params, data):
        return {k: np.clip(v, -1, 1) for k, v in mod.gradient(params, data).items() if not k.startswith("delta")}
    assert check_gradient(call(clipped, clip=1), spec, problem=big).verdict == "pass"
    report = check_gradient(clipped, spec, problem=big)
    assert report.verdict == "fail" and all(any(f.kind == "clipped" for f in p.findings)
                                            for p in report.params if p.verdict == "wrong")
