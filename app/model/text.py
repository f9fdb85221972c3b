"""Text encoder: token ids of an impression sentence (or a zero-shot prompt) -> one embedding.

A pretrained sentence encoder (all-MiniLM-L6-v2: BERT, 6 layers, 384 wide, mean-pooled and
L2-normalised, `app.model.bert`) under a learned projection head, trained LiT-style: the tower's
lower `layers - trainable_layers` layers are locked, so wording the report generator never wrote
("thick septum", "water around the heart", "old heart attack") keeps the meaning the tower
learned from a billion sentence pairs; only the head (and optionally the top layers) learn the
cine space. `forward(ids, mask)` is the whole exported signature (ONNX "input_ids",
"attention_mask" -> "embedding") with dynamic batch and length.

Training never runs the locked part twice: `locked_states` gives the token states that enter the
first trainable layer, cached once per distinct sentence, and `from_states` finishes them.
"""

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from app.model.bert import MINILM_L6, Bert, BertConfig, mean_pool


@dataclass(frozen=True)
class TextConfig:
    tower: BertConfig = field(default_factory=lambda: MINILM_L6)
    trainable_layers: int = 0  # top tower layers fine-tuned; 0 locks the whole tower (LiT)
    head_hidden: int = 0  # 0: a linear projection; else a residual GELU MLP of this width
    embed_dim: int = 128
    max_tokens: int = 64  # longest sentence in tokens, [CLS] and [SEP] included

    def __post_init__(self) -> None:
        if not 0 <= self.trainable_layers <= self.tower.layers:
            raise ValueError(f"trainable_layers must be in 0..{self.tower.layers}")

    @property
    def locked_layers(self) -> int:
        return self.tower.layers - self.trainable_layers


class ProjectionHead(nn.Module):
    """Unit tower vector (B, width) -> (B, embed_dim): linear, plus a GELU MLP branch when
    `hidden` > 0 (the linear path keeps the tower's geometry, the branch bends it)."""

    def __init__(self, width: int, hidden: int, embed_dim: int):
        super().__init__()
        self.linear = nn.Linear(width, embed_dim)
        self.mlp = (
            nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))
            if hidden
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return y if self.mlp is None else y + self.mlp(x)


class TextEncoder(nn.Module):
    """Token ids (B, L) with attention mask (B, L) -> text embedding (B, embed_dim)."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.tower = Bert(cfg.tower)
        self.head = ProjectionHead(cfg.tower.width, cfg.head_hidden, cfg.embed_dim)

    def load_tower(self, state: dict[str, torch.Tensor]) -> None:
        """Load pretrained tower weights (strict) and lock the embeddings and lower layers."""
        self.tower.load_state_dict(state, strict=True)
        self.tower.embeddings.requires_grad_(False)
        for layer in self.tower.encoder.layer[: self.cfg.locked_layers]:
            layer.requires_grad_(False)

    @torch.no_grad()
    def locked_states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Token states (B, L, width) entering the first trainable layer."""
        states = self.tower.embed(ids)
        return self.tower.run_layers(states, mask, 0, self.cfg.locked_layers)

    def from_states(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Finish `locked_states` (B, L, width): trainable layers, pooling, head -> (B, D)."""
        states = self.tower.run_layers(states, mask, self.cfg.locked_layers)
        return self.head(mean_pool(states, mask))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (B, L) int64 WordPiece ids, [CLS] ... [SEP]; mask (B, L) 1 on tokens, 0 on
        padding. Returns (B, embed_dim), not normalised (the CLIP head normalises); padded
        positions never affect the result."""
        states = self.tower.run_layers(self.tower.embed(ids), mask, 0, self.cfg.locked_layers)
        return self.from_states(states, mask)

    def encode_sentences(
        self, ids: torch.Tensor, mask: torch.Tensor, sentence_mask: torch.Tensor
    ) -> torch.Tensor:
        """An impression encoded sentence by sentence, as `app.text.tokenizer.encode_sentences`
        gives it: ids, mask (B, S, L); sentence_mask (B, S) 1 where a sentence is present.
        Returns the mean over present sentences, (B, embed_dim), not normalised."""
        b, s, length = ids.shape
        flat = self(ids.reshape(b * s, length), mask.reshape(b * s, length))  # (B*S, D)
        weights = F.normalize(sentence_mask.to(flat.dtype), p=1, dim=1)  # (B, S), rows sum to 1
        return torch.einsum("bs,bsd->bd", weights, flat.reshape(b, s, -1))  # (B, D)
