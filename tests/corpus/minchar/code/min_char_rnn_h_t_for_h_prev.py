"""(Planted mistake: h_t where h_{t−1} belongs in the gradient of Whh.)

A character-level language model: a vanilla RNN trained with Adagrad on a text file, in the
style of the well-known minimal char-RNN script (column vectors, characters as indices, the
weights as module globals). Running (or importing) this file reads input.txt and trains."""
import numpy as np

# the text and its alphabet
text = open("input.txt", "r").read()
alphabet = sorted(set(text))
n_chars, vocab_size = len(text), len(alphabet)
print(f"{n_chars} characters, {vocab_size} distinct")
index_of = {ch: i for i, ch in enumerate(alphabet)}
char_of = {i: ch for i, ch in enumerate(alphabet)}

# hyper-parameters
hidden_size = 100
seq_length = 25
learning_rate = 1e-1
max_steps = 20000

# the model: h_t = tanh(Wxh x_t + Whh h_{t-1} + bh), y_t = Why h_t + by, p_t = softmax(y_t)
Wxh = np.random.randn(hidden_size, vocab_size) * 0.01
Whh = np.random.randn(hidden_size, hidden_size) * 0.01
Why = np.random.randn(vocab_size, hidden_size) * 0.01
bh = np.zeros((hidden_size, 1))
by = np.zeros((vocab_size, 1))


def lossFun(inputs, targets, hprev):
    """inputs, targets: lists of character indices (targets[t] is the character after inputs[t]);
    hprev: the (hidden_size, 1) state before the first input. Returns the cross-entropy summed over
    the steps, the gradients of Wxh, Whh, Why, bh, by, and the last hidden state."""
    x, h, p = {}, {}, {}
    h[-1] = np.copy(hprev)
    loss = 0.0
    for t in range(len(inputs)):
        x[t] = np.zeros((vocab_size, 1))          # one-hot column for the t-th character
        x[t][inputs[t]] = 1.0
        h[t] = np.tanh(Wxh @ x[t] + Whh @ h[t - 1] + bh)
        scores = Why @ h[t] + by
        e = np.exp(scores - np.max(scores))
        p[t] = e / np.sum(e)                      # probabilities of the next character
        loss += -np.log(p[t][targets[t], 0])
    # backward through time
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dh_later = np.zeros_like(h[0])                # what flows into h[t] from step t + 1
    for t in reversed(range(len(inputs))):
        dscores = np.copy(p[t])
        dscores[targets[t]] -= 1.0                # softmax + cross-entropy: p - onehot(target)
        dWhy += dscores @ h[t].T
        dby += dscores
        dh = Why.T @ dscores + dh_later
        da = (1.0 - h[t] ** 2) * dh               # through tanh
        dbh += da
        dWxh += da @ x[t].T
        dWhh += da @ h[t].T
        dh_later = Whh.T @ da
    for g in (dWxh, dWhh, dWhy, dbh, dby):
        np.clip(g, -5, 5, out=g)                  # against exploding gradients
    return loss, dWxh, dWhh, dWhy, dbh, dby, h[len(inputs) - 1]


def sample(h, first, n):
    """Draw n characters from the model, starting from state h and the character index first."""
    x = np.zeros((vocab_size, 1))
    x[first] = 1
    out = []
    for _ in range(n):
        h = np.tanh(Wxh @ x + Whh @ h + bh)
        y = Why @ h + by
        prob = np.exp(y) / np.sum(np.exp(y))
        ix = np.random.choice(range(vocab_size), p=prob.ravel())
        x = np.zeros((vocab_size, 1))
        x[ix] = 1
        out.append(ix)
    return out


# training: Adagrad on consecutive chunks of seq_length characters
mWxh, mWhh, mWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
mbh, mby = np.zeros_like(bh), np.zeros_like(by)
smooth_loss = -np.log(1.0 / vocab_size) * seq_length
pos = 0
for step in range(max_steps):
    if pos + seq_length + 1 >= len(text) or step == 0:
        hprev = np.zeros((hidden_size, 1))
        pos = 0
    inputs = [index_of[ch] for ch in text[pos:pos + seq_length]]
    targets = [index_of[ch] for ch in text[pos + 1:pos + seq_length + 1]]
    if step % 1000 == 0:
        print("".join(char_of[i] for i in sample(hprev, inputs[0], 200)))
    loss, dWxh, dWhh, dWhy, dbh, dby, hprev = lossFun(inputs, targets, hprev)
    smooth_loss = smooth_loss * 0.999 + loss * 0.001
    if step % 1000 == 0:
        print(f"step {step}, loss {smooth_loss:.3f}")
    for param, dparam, mem in zip([Wxh, Whh, Why, bh, by], [dWxh, dWhh, dWhy, dbh, dby],
                                  [mWxh, mWhh, mWhy, mbh, mby]):
        mem += dparam * dparam
        param += -learning_rate * dparam / np.sqrt(mem + 1e-8)
    pos += seq_length
