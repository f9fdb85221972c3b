"""Soft contrastive targets from impression-to-impression similarity, without labels.

In a batch of 32 studies from a handful of conditions, several impressions say the same thing
in other words; plain InfoNCE calls all of them negatives and pushes apart studies that should
sit together. Here each impression is a TF-IDF vector of the words and word pairs of its
*asserted* clauses (a clause opening with a generic negation cue such as "no" or "without" is
dropped, as NegEx would), and a study's target is mostly its own impression, partly the batch
impressions most similar to it. Nothing here knows the condition vocabulary or any label: a
hospital's own reports work the same way.
"""

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from app.text.tokenizer import split_sentences

_CLAUSE_BREAK = re.compile(r"[;,:]|\s(?:but|while|whereas)\s")
_NEGATION_CUE = re.compile(
    r"^(?:no|not|without|negative for|absence of|absent|free of|there (?:is|are|was|were) no)\b"
)
_WORD = re.compile(r"[a-z]+")


def asserted_terms(impression: str) -> Counter[str]:
    """Words and adjacent word pairs of the impression's clauses that are not negated."""
    terms: Counter[str] = Counter()
    for sentence in split_sentences(impression.lower()):
        for clause in _CLAUSE_BREAK.split(sentence):
            clause = clause.strip()
            if not clause or _NEGATION_CUE.match(clause):
                continue
            words = _WORD.findall(clause)
            terms.update(words)
            terms.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return terms


def impression_similarity(impressions: Sequence[str]) -> np.ndarray:
    """Cosine similarity (N, N) float32 of sublinear, smoothed TF-IDF vectors of asserted
    terms (smoothed: a term in every impression still counts, as in scikit-learn)."""
    counts = [asserted_terms(text) for text in impressions]
    document_frequency = Counter(term for terms in counts for term in terms)
    index = {term: i for i, term in enumerate(document_frequency)}
    n_docs = len(counts)
    vectors = np.zeros((n_docs, len(index)), dtype=np.float32)
    for row, terms in enumerate(counts):
        for term, count in terms.items():
            idf = math.log((1 + n_docs) / (1 + document_frequency[term])) + 1  # smoothed
            vectors[row, index[term]] = (1 + math.log(count)) * idf
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    return vectors @ vectors.T


def soft_targets(similarity: np.ndarray, weight: float, temperature: float) -> np.ndarray:
    """Rows summing to 1 (B, B): `1 - weight` on the diagonal (the study's own impression),
    `weight` spread over the other impressions as softmax(similarity / temperature)."""
    size = similarity.shape[0]
    logits = similarity / temperature
    np.fill_diagonal(logits, -np.inf)
    logits = logits - logits.max(axis=1, keepdims=True)
    others = np.exp(logits)
    others /= others.sum(axis=1, keepdims=True)
    return ((1 - weight) * np.eye(size) + weight * others).astype(np.float32)
