"""CMR-CLIP: video and text encoders projected into one space, L2-normalised, with a learnable
logit scale; trained with the symmetric InfoNCE loss (open_clip's recipe)."""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from app.model.text import TextConfig, TextEncoder
from app.model.video import VideoConfig, VideoEncoder


@dataclass(frozen=True)
class ClipConfig:
    video: VideoConfig = field(default_factory=VideoConfig)
    text: TextConfig = field(default_factory=TextConfig)
    init_logit_scale: float = math.log(1 / 0.07)
    max_logit_scale: float = math.log(100.0)


class CmrClip(nn.Module):
    def __init__(self, cfg: ClipConfig):
        super().__init__()
        if cfg.video.embed_dim != cfg.text.embed_dim:
            raise ValueError("video and text embeddings must share one dimension")
        self.cfg = cfg
        self.video = VideoEncoder(cfg.video)
        self.text = TextEncoder(cfg.text)
        self.logit_scale = nn.Parameter(torch.tensor(cfg.init_logit_scale))

    def encode_video(
        self, sax: torch.Tensor, lax: torch.Tensor, lax_present: torch.Tensor
    ) -> torch.Tensor:
        """Unit study embeddings (B, D)."""
        study, _ = self.video(sax, lax, lax_present)
        return F.normalize(study, dim=-1)

    def encode_text(
        self, ids: torch.Tensor, mask: torch.Tensor, sentence_mask: torch.Tensor
    ) -> torch.Tensor:
        """Unit text embeddings (B, D) of impressions encoded sentence by sentence:
        ids/mask (B, S, L), sentence_mask (B, S)."""
        return F.normalize(self.text.encode_sentences(ids, mask, sentence_mask), dim=-1)

    def forward(
        self,
        sax: torch.Tensor,
        lax: torch.Tensor,
        lax_present: torch.Tensor,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        sentence_weights: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit video and text embeddings of matching pairs, (B, D) each. Training calls this
        (not the two encoders) so DistributedDataParallel sees a forward and syncs gradients.

        The text side starts from the cached output of the locked tower layers: text_states
        (N, L, width) and text_mask (N, L) for the N sentences of the batch; sentence_weights
        (B, N) averages each impression's sentences (rows sum to 1)."""
        sentences = self.text.from_states(text_states, text_mask)  # (N, D)
        text = F.normalize(sentence_weights @ sentences, dim=-1)  # (B, D)
        return self.encode_video(sax, lax, lax_present), text

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=self.cfg.max_logit_scale).exp()


def clip_loss(
    video: torch.Tensor,
    text: torch.Tensor,
    scale: torch.Tensor,
    targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matching pairs: video (B, D), text (B, D), unit norm.
    `targets` (B, B), rows summing to 1, replaces the identity (soft targets, symmetric)."""
    logits = scale * video @ text.T  # (B, B)
    if targets is None:
        target = torch.arange(video.shape[0], device=video.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets.T))
