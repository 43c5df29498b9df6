"""Helpers of the word-level language model: a softmax and a tiny text reader."""
import numpy as np


def softmax(z):
    """The softmax of a vector of scores, computed without overflow."""
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def read_sentences(path, vocabulary_size):
    """Return (sentences as lists of word indices, vocabulary): the most frequent words of the file,
    every other word as UNKNOWN, each sentence framed by START and END."""
    with open(path, encoding="utf-8") as fh:
        lines = [line.lower().split() for line in fh if line.strip()]
    counts = {}
    for words in lines:
        for w in words:
            counts[w] = counts.get(w, 0) + 1
    vocabulary = ["UNKNOWN", "START", "END"] + sorted(counts, key=counts.get, reverse=True)[: vocabulary_size - 3]
    index = {w: i for i, w in enumerate(vocabulary)}
    sentences = [[1] + [index.get(w, 0) for w in words] + [2] for words in lines]
    return sentences, vocabulary
