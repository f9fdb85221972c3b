"""The locked text tower's output for every distinct training sentence, computed once.

Impressions are encoded sentence by sentence (`app.text.tokenizer.impression_sentences`). The
tower's locked layers give the same token states for a sentence in every epoch, so they run
once per distinct sentence here, and each batch only runs the trainable layers and the head
(`TextEncoder.from_states`). States are kept unpadded in float16: a few hundred MB at most.
"""

from collections.abc import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer

from app.model.text import TextEncoder
from app.text.tokenizer import encode_batch, impression_sentences


class SentenceStates:
    def __init__(
        self,
        encoder: TextEncoder,
        tokenizer: Tokenizer,
        texts: Sequence[str],
        max_tokens: int,
        max_sentences: int,
        batch_size: int = 128,
    ) -> None:
        per_text = [impression_sentences(text, max_sentences) for text in texts]
        distinct = sorted({sentence for group in per_text for sentence in group})
        self.distinct = distinct
        index = {sentence: i for i, sentence in enumerate(distinct)}
        self.text_sentences = [[index[s] for s in group] for group in per_text]
        self.states: list[torch.Tensor] = [torch.empty(0)] * len(distinct)  # (L_i, width) each
        lengths = [len(tokenizer.encode(s).ids) for s in distinct]
        by_length = sorted(range(len(distinct)), key=lambda i: lengths[i])
        for start in range(0, len(by_length), batch_size):
            chunk = by_length[start : start + batch_size]
            ids, mask = encode_batch(tokenizer, [distinct[i] for i in chunk], max_tokens)
            states = encoder.locked_states(torch.from_numpy(ids), torch.from_numpy(mask))
            for row, i in enumerate(chunk):
                self.states[i] = states[row, : int(mask[row].sum())].to(torch.float16)

    def __len__(self) -> int:
        return len(self.states)

    def batch(
        self, texts: Sequence[int], keep: Sequence[Sequence[bool]] | None = None
    ) -> dict[str, torch.Tensor]:
        """The text inputs of `CmrClip.forward` for texts (indices into the constructor's):
        text_states (N, L, width) float32 and text_mask (N, L) for the N distinct sentences of
        the batch, sentence_weights (B, N) averaging each text's kept sentences (`keep`, per
        text and sentence; all by default)."""
        chosen = [
            [s for j, s in enumerate(self.text_sentences[t]) if keep is None or keep[i][j]]
            for i, t in enumerate(texts)
        ]
        distinct = sorted({s for group in chosen for s in group})
        column = {s: j for j, s in enumerate(distinct)}
        longest = max(self.states[s].shape[0] for s in distinct)
        width = self.states[distinct[0]].shape[1]
        states = torch.zeros(len(distinct), longest, width)
        mask = torch.zeros(len(distinct), longest, dtype=torch.int64)
        for j, s in enumerate(distinct):
            length = self.states[s].shape[0]
            states[j, :length] = self.states[s].float()
            mask[j, :length] = 1
        weights = np.zeros((len(texts), len(distinct)), dtype=np.float32)
        for i, group in enumerate(chosen):
            for s in group:
                weights[i, column[s]] += 1.0 / len(group)
        return {
            "text_states": states,
            "text_mask": mask,
            "sentence_weights": torch.from_numpy(weights),
        }

    def sentence_counts(self, texts: Sequence[int]) -> list[int]:
        return [len(self.text_sentences[t]) for t in texts]
