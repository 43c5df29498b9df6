"""(Planted mistake: goes back bptt_truncate + 1 steps, not the declared truncation.)

A word-level recurrent language model in NumPy, in the style of the popular tutorial: the next
word is predicted from the words so far, s_t = tanh(U x_t + W s_{t-1}), o_t = softmax(V s_t), with
words as indices (x_t is one-hot, so U x_t is a column of U), no biases, and backpropagation through
time truncated after bptt_truncate steps. Running (or importing) this file trains the model."""
import sys
from datetime import datetime

import numpy as np

from lm_utils import read_sentences, softmax

vocabulary_size = 8000
hidden_dim = 100


class RNNNumpy:
    """U (hidden_dim, word_dim), V (word_dim, hidden_dim), W (hidden_dim, hidden_dim)."""

    def __init__(self, word_dim, hidden_dim=100, bptt_truncate=4):
        self.word_dim = word_dim
        self.hidden_dim = hidden_dim
        self.bptt_truncate = bptt_truncate
        bound_in, bound_h = np.sqrt(1.0 / word_dim), np.sqrt(1.0 / hidden_dim)
        self.U = np.random.uniform(-bound_in, bound_in, (hidden_dim, word_dim))
        self.V = np.random.uniform(-bound_h, bound_h, (word_dim, hidden_dim))
        self.W = np.random.uniform(-bound_h, bound_h, (hidden_dim, hidden_dim))

    def forward_propagation(self, x):
        """The states s (T + 1, hidden_dim; s[-1] is the zero initial state) and the outputs o (T, word_dim)."""
        T = len(x)
        s = np.zeros((T + 1, self.hidden_dim))
        o = np.zeros((T, self.word_dim))
        for t in range(T):
            s[t] = np.tanh(self.U[:, x[t]] + self.W.dot(s[t - 1]))
            o[t] = softmax(self.V.dot(s[t]))
        return o, s

    def predict(self, x):
        o, _ = self.forward_propagation(x)
        return np.argmax(o, axis=1)

    def total_loss(self, xs, ys):
        """The cross-entropy summed over every word of every sentence."""
        loss = 0.0
        for x, y in zip(xs, ys):
            o, _ = self.forward_propagation(x)
            loss += -np.sum(np.log(o[np.arange(len(y)), y]))
        return loss

    def mean_loss(self, xs, ys):
        return self.total_loss(xs, ys) / sum(len(y) for y in ys)

    def bptt(self, x, y):
        """Gradients of the summed cross-entropy with respect to U, V and W, by BPTT truncated after
        bptt_truncate steps."""
        T = len(y)
        o, s = self.forward_propagation(x)
        dLdU = np.zeros(self.U.shape)
        dLdV = np.zeros(self.V.shape)
        dLdW = np.zeros(self.W.shape)
        delta_o = o
        delta_o[np.arange(T), y] -= 1.0                 # softmax + cross-entropy
        for t in np.arange(T)[::-1]:
            dLdV += np.outer(delta_o[t], s[t])
            delta_t = self.V.T.dot(delta_o[t]) * (1 - s[t] ** 2)
            for step in np.arange(max(0, t - self.bptt_truncate - 1), t + 1)[::-1]:
                dLdW += np.outer(delta_t, s[step - 1])
                dLdU[:, x[step]] += delta_t
                delta_t = self.W.T.dot(delta_t) * (1 - s[step - 1] ** 2)
        return [dLdU, dLdV, dLdW]

    def sgd_step(self, x, y, learning_rate):
        dLdU, dLdV, dLdW = self.bptt(x, y)
        self.U -= learning_rate * dLdU
        self.V -= learning_rate * dLdV
        self.W -= learning_rate * dLdW


def train_with_sgd(model, X, Y, learning_rate=0.005, epochs=100, report_every=5):
    losses = []
    seen = 0
    for epoch in range(epochs):
        if epoch % report_every == 0:
            loss = model.mean_loss(X, Y)
            losses.append((seen, loss))
            print(f"{datetime.now():%H:%M:%S}: loss after {seen} examples, epoch {epoch}: {loss:.4f}")
            if len(losses) > 1 and losses[-1][1] > losses[-2][1]:
                learning_rate *= 0.5
            sys.stdout.flush()
        for x, y in zip(X, Y):
            model.sgd_step(x, y, learning_rate)
            seen += 1
    return losses


sentences, vocabulary = read_sentences("reddit-comments.txt", vocabulary_size)
X_train = [np.asarray(s[:-1]) for s in sentences]
Y_train = [np.asarray(s[1:]) for s in sentences]
model = RNNNumpy(len(vocabulary), hidden_dim)
train_with_sgd(model, X_train, Y_train)
