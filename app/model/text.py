"""Text encoder: token ids of an impression (or a zero-shot prompt) -> one embedding.

A small pre-norm transformer over `app.text.tokenizer` ids. Its `forward(ids, mask)` is the whole
exported signature (ONNX "input_ids", "attention_mask" -> "embedding"), so it is written without
data-dependent Python control flow: padding is handled by masks only, and every shape follows
the inputs'.

The blocks are nn.TransformerEncoderLayer's architecture (pre-norm, GELU MLP of 4x width,
batch first) written out with `F.scaled_dot_product_attention`, not the module itself:
nn.MultiheadAttention exported with `torch.onnx.export(dynamo=False)` bakes the traced sequence
length into a Reshape, so the ONNX model fails on any other length (pytorch/pytorch#110347,
#117209, #122321). Written out, the graph is plain MatMul/Softmax that both exporters, onnxruntime
and TensorRT take with dynamic batch and length.

Pooling: the masked mean of the final token states by default, rather than the [CLS] state.
The model is trained from scratch on a few thousand short impressions, and a mean gives every
token a direct gradient path, where [CLS] must first learn to gather; `pooling="cls"` is kept
for comparison.
"""

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TextConfig:
    """Shape of the text encoder. `vocab_size` must cover the tokenizer's vocabulary; the
    default matches `app.text.tokenizer.DEFAULT_VOCAB_SIZE`, an upper bound of what it learns."""

    vocab_size: int = 4096
    width: int = 128
    layers: int = 2
    heads: int = 4
    max_tokens: int = 64  # longest sequence (position embeddings), [CLS] and [SEP] included
    embed_dim: int = 128
    dropout: float = 0.0
    pooling: Literal["mean", "cls"] = "mean"

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"unknown pooling {self.pooling!r}")


class Block(nn.Module):
    """Pre-norm transformer encoder layer: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.width, self.heads = cfg.width, cfg.heads
        self.head_size = cfg.width // cfg.heads
        self.attention_dropout = cfg.dropout
        self.norm1 = nn.LayerNorm(cfg.width)
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width)
        self.out = nn.Linear(cfg.width, cfg.width)
        self.norm2 = nn.LayerNorm(cfg.width)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.width, 4 * cfg.width),
            nn.GELU(),
            nn.Linear(4 * cfg.width, cfg.width),
            nn.Dropout(cfg.dropout),
        )
        self.residual_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        """x (B, L, C); attend (B, 1, 1, L) bool, True for keys that may be attended to."""
        B, L, _ = x.shape  # C = self.width, a constant of the model, not traced
        q, k, v = self.qkv(self.norm1(x)).split(self.width, dim=2)  # 3 x (B, L, C)
        q = q.view(B, L, self.heads, self.head_size).transpose(1, 2)  # (B, nh, L, hs)
        k = k.view(B, L, self.heads, self.head_size).transpose(1, 2)  # (B, nh, L, hs)
        v = v.view(B, L, self.heads, self.head_size).transpose(1, 2)  # (B, nh, L, hs)
        dropout = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(B, L, self.width)  # (B, L, C)
        x = x + self.residual_dropout(self.out(y))
        return x + self.mlp(self.norm2(x))  # (B, L, C)


class TextEncoder(nn.Module):
    """Token ids (B, L) with attention mask (B, L) -> text embedding (B, embed_dim)."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.position_embedding = nn.Embedding(cfg.max_tokens, cfg.width)
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)
        self.project = nn.Linear(cfg.width, cfg.embed_dim)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.01)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (B, L) int64 token ids, L <= max_tokens; mask (B, L) 1 on tokens, 0 on padding.

        Returns (B, embed_dim), not normalised (the CLIP head normalises). Position 0 ([CLS])
        always takes part, so a row that is all padding (an absent sentence) still gives a
        finite embedding instead of NaN; padded positions never affect the result.
        """
        positions = torch.cumsum(torch.ones_like(ids), dim=1) - 1  # (B, L): 0, 1, ..., L-1
        keep = (mask > 0) | (positions == 0)  # (B, L) bool
        # Lookups by indexing rather than calling the nn.Embedding modules: the dynamo ONNX
        # exporter names an embedding node "embedding", which clashes with our output's name.
        tokens = self.token_embedding.weight[ids]  # (B, L, width)
        x = tokens + self.position_embedding.weight[positions]  # (B, L, width)
        x = self.dropout(x)
        attend = keep[:, None, None, :]  # (B, 1, 1, L): every query sees the kept keys
        for block in self.blocks:
            x = block(x, attend)  # (B, L, width)
        if self.cfg.pooling == "cls":
            pooled = x[:, 0]  # (B, width)
        else:
            weights = keep.to(x.dtype).unsqueeze(-1)  # (B, L, 1)
            pooled = (x * weights).sum(dim=1) / weights.sum(dim=1)  # (B, width)
        return self.project(self.norm(pooled))  # (B, embed_dim)

    def encode_sentences(
        self, ids: torch.Tensor, mask: torch.Tensor, sentence_mask: torch.Tensor
    ) -> torch.Tensor:
        """An impression encoded sentence by sentence, as `app.text.tokenizer.encode_sentences`
        gives it: ids, mask (B, S, L); sentence_mask (B, S) 1 where a sentence is present.

        All B*S sentences go through `forward` as one batch; the result is the mean over present
        sentences, (B, embed_dim), not normalised. A text without sentences gives zeros.
        """
        b, s, length = ids.shape
        flat = self(ids.reshape(b * s, length), mask.reshape(b * s, length))  # (B*S, D)
        sentences = flat.reshape(b, s, -1)  # (B, S, D)
        weights = sentence_mask.to(sentences.dtype).unsqueeze(-1)  # (B, S, 1)
        return (sentences * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B, D)
