"""min-char-rnn with a planted mistake: a factor 1/T on dWhy only."""
import gradlab
from gradlab.check import call, load_function

MODEL = gradlab.specs.elman(loss="softmax_cross_entropy", inputs="index", targets="index", layout="column",
                            names={"Wxh": "W_x", "Whh": "W_s", "bh": "b_s", "Why": "W_y", "by": "b_y"})
gradient = call(load_function("code/min_char_rnn_mean_on_dwhy.py", "lossFun"),
                args="inputs=xs, targets=ds, hprev=s_0", globals="Wxh, Whh, Why, bh, by, vocab_size",
                returns="loss, dWxh, dWhh, dWhy, dbh, dby, hprev=s_T", clip=5)
EXPECT = "wrong"
WRONG = ('Why',)
