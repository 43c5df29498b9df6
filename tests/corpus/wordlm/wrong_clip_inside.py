"""The word-level RNN language model with a planted mistake: clips dLdV at ±0.5 inside bptt."""
import gradlab
from gradlab.check import call, load_function

MODEL = gradlab.specs.elman(loss="softmax_cross_entropy", inputs="index", targets="index", biases=False,
                            initial_state="zero", truncate=4, names={"U": "W_x", "W": "W_s", "V": "W_y"})
gradient = call(load_function("code/rnn_lm_clip_inside.py", "RNNNumpy.bptt"), args="x=xs, y=ds",
                self="U, V, W, word_dim=vocab_size, hidden_dim=hidden_size, bptt_truncate=truncate",
                returns="dLdU, dLdV, dLdW")
EXPECT = "wrong"
WRONG = ('V',)
