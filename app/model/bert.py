"""A BERT encoder (post-norm, GELU) that loads the weights of the pretrained text tower.

Written out with `F.scaled_dot_product_attention` and plain tensor ops, for the same reason as
the video encoder's attention: both ONNX exporters, onnxruntime and TensorRT take the graph with
dynamic batch and length, where nn.MultiheadAttention bakes the traced length into a Reshape.
Parameter names follow the Hugging Face BERT checkpoint layout (`embeddings.word_embeddings`,
`encoder.layer.N.attention.self.query`, ...) so a safetensors state dict loads as it is.

The encoder runs in two parts so that training can cache what a locked tower computes:
`embed` + `run_layers(start=0, stop=k)` gives the token states entering layer k, and
`run_layers(start=k)` finishes them. A fully locked tower (k = layers) caches its last states.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    width: int = 384
    layers: int = 6
    heads: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12


MINILM_L6 = BertConfig()  # sentence-transformers/all-MiniLM-L6-v2


class _Dense(nn.Module):
    """`dense` followed by residual LayerNorm, as BERT's attention and feed-forward outputs."""

    def __init__(self, width_in: int, width_out: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(width_in, width_out)
        self.LayerNorm = nn.LayerNorm(width_out, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.query = nn.Linear(cfg.width, cfg.width)
        self.key = nn.Linear(cfg.width, cfg.width)
        self.value = nn.Linear(cfg.width, cfg.width)


class _Attention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.self = _SelfAttention(cfg)
        self.output = _Dense(cfg.width, cfg.width, cfg.layer_norm_eps)


class _Intermediate(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.width, cfg.intermediate)


class Layer(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.width, self.heads = cfg.width, cfg.heads
        self.head_size = cfg.width // cfg.heads
        self.attention = _Attention(cfg)
        self.intermediate = _Intermediate(cfg)
        self.output = _Dense(cfg.intermediate, cfg.width, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        """x (B, L, C); attend (B, 1, 1, L) bool, True for keys that may be attended to."""
        B, L, _ = x.shape  # C = self.width, a constant of the model, not traced
        attention = self.attention.self

        def heads(projection: nn.Linear) -> torch.Tensor:
            y = projection(x).view(B, L, self.heads, self.head_size)  # (B, L, nh, hs)
            return y.transpose(1, 2)  # (B, nh, L, hs)

        y = F.scaled_dot_product_attention(
            heads(attention.query), heads(attention.key), heads(attention.value), attn_mask=attend
        )  # (B, nh, L, hs)
        y = y.transpose(1, 2).reshape(B, L, self.width)  # (B, L, C)
        h = self.attention.output(y, x)  # (B, L, C)
        return self.output(F.gelu(self.intermediate.dense(h)), h)  # (B, L, C)


class _Embeddings(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.width)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.width)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.width)
        self.LayerNorm = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)


class _Encoder(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg) for _ in range(cfg.layers))


class Bert(nn.Module):
    """Token ids (B, L) -> token states (B, L, width). Single-segment input (type id 0)."""

    def __init__(self, cfg: BertConfig = MINILM_L6):
        super().__init__()
        self.cfg = cfg
        self.embeddings = _Embeddings(cfg)
        self.encoder = _Encoder(cfg)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, L) int64 -> (B, L, width), the states entering layer 0."""
        e = self.embeddings
        positions = torch.cumsum(torch.ones_like(ids), dim=1) - 1  # (B, L): 0, 1, ..., L-1
        # Lookups by indexing, not by calling the modules: the dynamo ONNX exporter names an
        # embedding node "embedding", which clashes with the text encoder's output name.
        x = e.word_embeddings.weight[ids] + e.position_embeddings.weight[positions]
        return e.LayerNorm(x + e.token_type_embeddings.weight[0])  # (B, L, width)

    def run_layers(
        self, x: torch.Tensor, mask: torch.Tensor, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """Layers [start, stop) over states x (B, L, width); mask (B, L) 1 on tokens. Padded
        positions are never attended to, so they never change a token's state. Position 0
        ([CLS]) always is: a row of padding alone (an absent sentence) stays finite."""
        positions = torch.cumsum(torch.ones_like(mask), dim=1) - 1  # (B, L)
        attend = ((mask > 0) | (positions == 0))[:, None, None, :]  # (B, 1, 1, L)
        for layer in self.encoder.layer[start:stop]:
            x = layer(x, attend)
        return x

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.run_layers(self.embed(ids), mask)


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unit sentence vectors (B, width) from token states (B, L, width) and mask (B, L): the
    masked mean, L2-normalised, as sentence-transformers pools all-MiniLM-L6-v2."""
    weights = mask.to(states.dtype).unsqueeze(-1)  # (B, L, 1)
    pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)  # (B, width)
    return F.normalize(pooled, dim=-1)
