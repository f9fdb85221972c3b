"""A trained run loaded for inference in torch: its model, tokenizer and configuration, and
the encoders applied to studies (through the training cache) and to texts."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from app.model.clip import CmrClip
from app.text.tokenizer import encode_sentences, load_tokenizer
from app.training.config import RunConfig
from app.training.data import CachedInput, StudyCache, StudyRecord
from app.training.train import build_model
from app.zeroshot.condition_sets import ConditionSet
from app.zeroshot.scoring import ensemble


@dataclass
class Run:
    model: CmrClip
    tokenizer: Tokenizer
    cfg: RunConfig

    @classmethod
    def load(cls, folder: Path) -> "Run":
        cfg = RunConfig.model_validate_json((folder / "config.json").read_text())
        tokenizer = load_tokenizer(folder / "tokenizer.json")
        model = build_model(cfg)
        model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu")["model"])
        return cls(model.eval(), tokenizer, cfg)

    @property
    def scale(self) -> float:
        return float(self.model.scale().detach())

    def inputs(self, records: list[StudyRecord]) -> list[CachedInput]:
        """The preprocessed studies (through the training cache)."""
        return StudyCache(self.cfg.data.cache_dir, self.cfg.input).warm(records, workers=1)

    @torch.no_grad()
    def encode_studies(self, records: list[StudyRecord], batch: int = 16) -> np.ndarray:
        inputs = self.inputs(records)
        out = []
        for start in range(0, len(inputs), batch):
            chunk = inputs[start : start + batch]
            sax = torch.from_numpy(np.stack([c.sax for c in chunk]).astype(np.float32))
            lax = torch.from_numpy(np.stack([c.lax for c in chunk]).astype(np.float32))
            present = torch.from_numpy(np.stack([c.lax_present for c in chunk])).float()
            out.append(self.model.encode_video(sax, lax, present).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.cfg.video.embed_dim))

    @torch.no_grad()
    def encode_arrays(
        self, sax: np.ndarray, lax: np.ndarray, lax_present: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Model input arrays (B, S, T, H, W), (B, V, T, H, W), (B, V) -> unit study (B, D) and
        unit clip embeddings (B, S + V, D), as the exported encoder returns them."""
        study, clips = self.model.video(
            torch.from_numpy(sax.astype(np.float32)),
            torch.from_numpy(lax.astype(np.float32)),
            torch.from_numpy(lax_present.astype(np.float32)),
        )
        return F.normalize(study, dim=-1).numpy(), F.normalize(clips, dim=-1).numpy()

    @torch.no_grad()
    def encode_texts(self, texts: list[str], batch: int = 64) -> np.ndarray:
        d = self.cfg.data
        out = []
        for start in range(0, len(texts), batch):
            arrays = encode_sentences(
                self.tokenizer, texts[start : start + batch], d.max_tokens, d.max_sentences
            )
            out.append(self.model.encode_text(*(torch.from_numpy(a) for a in arrays)).numpy())
        return np.concatenate(out)

    def ensembles(
        self, condition_set: ConditionSet, prompts: dict[str, tuple[str, ...]] | None = None
    ) -> np.ndarray:
        """Positive prompt ensembles (C, D); `prompts` replaces a condition's prompts."""
        return np.stack(
            [
                ensemble(self.encode_texts(list((prompts or {}).get(c.label, c.prompts))))
                for c in condition_set.conditions
            ]
        )

    def negative_ensembles(self, condition_set: ConditionSet) -> np.ndarray:
        """Negative prompt ensembles (C, D) of a findings set."""
        return np.stack(
            [
                ensemble(self.encode_texts(list(c.negative_prompts)))
                for c in condition_set.conditions
            ]
        )
