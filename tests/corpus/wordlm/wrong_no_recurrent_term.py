"""The word-level RNN language model with a planted mistake: no recurrent term: each step's error reaches back through its own step only."""
import gradlab
from gradlab.check import call, load_function

MODEL = gradlab.specs.elman(loss="softmax_cross_entropy", inputs="index", targets="index", biases=False,
                            initial_state="zero", truncate=4, names={"U": "W_x", "W": "W_s", "V": "W_y"})
gradient = call(load_function("code/rnn_lm_no_recurrent_term.py", "RNNNumpy.bptt"), args="x=xs, y=ds",
                self="U, V, W, word_dim=vocab_size, hidden_dim=hidden_size, bptt_truncate=truncate",
                returns="dLdU, dLdV, dLdW")
EXPECT = "wrong"
WRONG = ('U', 'W')
