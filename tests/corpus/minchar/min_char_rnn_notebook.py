"""min-char-rnn's lossFun checked straight out of a Jupyter notebook (code cells only; the data, the
plots and the training loop in the other cells never run)."""
import gradlab
from gradlab.check import call, load_function

MODEL = gradlab.specs.elman(loss="softmax_cross_entropy", inputs="index", targets="index", layout="column",
                            names={"Wxh": "W_x", "Whh": "W_s", "bh": "b_s", "Why": "W_y", "by": "b_y"})
gradient = call(load_function("code/min_char_rnn.ipynb", "lossFun"),
                args="inputs=xs, targets=ds, hprev=s_0", globals="Wxh, Whh, Why, bh, by, vocab_size",
                returns="loss, dWxh, dWhh, dWhy, dbh, dby, hprev=s_T", clip=5)
