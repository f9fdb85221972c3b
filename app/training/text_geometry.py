"""Keep the pretrained tower's neighbourhoods in the projected text space.

The projection head learns from a few hundred distinct generator sentences; left alone it keeps
only the directions that tell those apart, and wording the generator never wrote ("thick
septum", "CMR NAD") lands wherever the head happens to send it (the paraphrase AUROC of the
locked-tower model 0.3.0 fell to 0.54). This term asks that each anchor's nearest neighbours
among the other anchors of a step, by softmax over cosines, stay those the pretrained tower
gives (a KL divergence, as in relational distillation): the head may stretch the space towards
the cine but not reorder what the tower knows.

Anchors are the distinct training sentences plus words drawn from the tower's own vocabulary,
so the constraint also covers language the generator never used. Their pretrained vectors are
computed once, before training moves any unlocked layer.
"""

import random
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from app.model.bert import mean_pool
from app.model.text import TextEncoder
from app.training.sentences import SentenceStates


def vocabulary_words(tokenizer: Tokenizer, count: int, seed: int) -> list[str]:
    """`count` whole words of the WordPiece vocabulary (alphabetic, 4+ letters), drawn with
    `seed`, in a stable order."""
    words = sorted(w for w in tokenizer.get_vocab() if w.isascii() and w.isalpha() and len(w) >= 4)
    return random.Random(seed).sample(words, min(count, len(words)))


class TextGeometry:
    def __init__(
        self,
        encoder: TextEncoder,
        tokenizer: Tokenizer,
        sentences: Sequence[str],
        words: int,
        max_tokens: int,
        temperature: float,
        seed: int,
    ) -> None:
        anchors = sorted(set(sentences)) + vocabulary_words(tokenizer, words, seed)
        self.states = SentenceStates(encoder, tokenizer, anchors, max_tokens, max_sentences=1)
        self.temperature = temperature
        with torch.no_grad():  # the pretrained tower's unit vectors, (A, width)
            batch = self.states.batch(range(len(anchors)))
            states = encoder.tower.run_layers(
                batch["text_states"], batch["text_mask"], encoder.cfg.locked_layers
            )
            order = batch["sentence_weights"].argmax(dim=1)  # anchor i -> its row in `batch`
            self.pretrained = mean_pool(states, batch["text_mask"])[order]

    def __len__(self) -> int:
        return self.pretrained.shape[0]

    def loss(
        self, encoder: TextEncoder, count: int, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """KL(pretrained || projected) of the neighbour distributions of `count` anchors drawn
        with `generator`, averaged over anchors."""
        chosen = torch.randperm(len(self), generator=generator)[:count].tolist()
        batch = self.states.batch(chosen)
        order = batch["sentence_weights"].argmax(dim=1)
        projected = encoder.from_states(
            batch["text_states"].to(device), batch["text_mask"].to(device)
        )
        projected = F.normalize(projected[order.to(device)], dim=-1)
        pretrained = self.pretrained[chosen].to(device)
        off_diagonal = ~torch.eye(len(chosen), dtype=torch.bool, device=device)

        def log_neighbours(vectors: torch.Tensor) -> torch.Tensor:
            logits = vectors @ vectors.T / self.temperature
            return logits.masked_fill(~off_diagonal, float("-inf")).log_softmax(dim=1)

        target, estimate = log_neighbours(pretrained), log_neighbours(projected)
        kl = (target.exp() * (target - estimate)).masked_fill(~off_diagonal, 0.0)
        return kl.sum(dim=1).mean()
