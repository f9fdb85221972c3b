"""Train CMR-CLIP on (study, impression) pairs.

    python -m app.training.train --config configs/demo.toml [--set train.epochs=3 ...] [--resume]

Deterministic given the seed (CPU). Checkpoints every epoch and resumes where it stopped; bf16
autocast on GPU; gradient accumulation; DistributedDataParallel when started by torchrun.
"""

import argparse
import csv
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from app.model.clip import ClipConfig, CmrClip, clip_loss
from app.model.pretrained import read_tower_files, tower_state_dict
from app.model.text import TextConfig
from app.model.video import VideoConfig
from app.text.tokenizer import parse_tokenizer
from app.training.augment import augment, key_frames_only
from app.training.config import RunConfig, load_config
from app.training.data import CachedInput, StudyCache, StudyRecord, read_all_records, split_of
from app.training.sentences import SentenceStates
from app.training.targets import impression_similarity, soft_targets
from app.training.text_geometry import TextGeometry


def build_model(cfg: RunConfig) -> CmrClip:
    m, spec = cfg.model, cfg.input
    video = VideoConfig(
        sax_slices=spec.sax_slices,
        lax_views=len(spec.lax_views),
        frames=spec.frames,
        crop_px=spec.crop_px,
        channels=m.channels,
        stem_stride=m.stem_stride,
        width=m.width,
        embed_dim=m.embed_dim,
        single_frame=m.single_frame,
    )
    text = TextConfig(
        trainable_layers=m.text_trainable_layers,
        head_hidden=m.text_head_hidden,
        embed_dim=m.embed_dim,
        max_tokens=cfg.data.max_tokens,
    )
    return CmrClip(ClipConfig(video=video, text=text))


def select_records(cfg: RunConfig, split: str) -> list[StudyRecord]:
    """Studies of the training sites in one split ('train', 'val', 'test'; see split_of)."""
    d = cfg.data
    records = read_all_records(d.manifests)
    sites = d.training_sites or tuple(sorted({r.site for r in records if not r.external}))
    return [
        r
        for r in records
        if r.site in sites and split_of(r, d.val_fraction, d.test_fraction, d.test_fold) == split
    ]


def repeated(records: list[StudyRecord], repeats: dict[str, int]) -> list[StudyRecord]:
    """Each record as many times as its site's repeat count (1 when not named).

    A few dozen real subjects beside hundreds of synthetic studies would otherwise be a small
    voice in every batch; repeating them weighs real anatomy and real noise up without
    weighing their impressions' wording up beyond what the writers produce.
    """
    return [r for r in records for _ in range(repeats.get(r.site, 1))]


class PairBatches:
    """Batches of (video arrays, impression sentences); augmentation draws from the generator
    the training loop seeds per batch."""

    def __init__(
        self,
        inputs: list[CachedInput],
        sentences: SentenceStates,
        sentence_keep: float = 1.0,
        similarity: np.ndarray | None = None,
        soft_target: tuple[float, float] = (0.0, 1.0),
        key_frame_prob: float = 0.0,
    ):
        self.inputs, self.sentences = inputs, sentences
        self.sentence_keep = sentence_keep
        self.similarity = similarity  # (N, N) impression similarity, for soft targets
        self.soft_target_weight, self.soft_target_temperature = soft_target
        self.key_frame_prob = key_frame_prob

    def __len__(self) -> int:
        return len(self.inputs)

    def batch(self, indices: list[int], augment_with: torch.Generator | None) -> dict:
        sax, lax = [], []
        for i in indices:
            s = torch.from_numpy(self.inputs[i].sax.astype(np.float32))
            v = torch.from_numpy(self.inputs[i].lax.astype(np.float32))
            if augment_with is not None:
                if float(torch.rand(1, generator=augment_with)) < self.key_frame_prob:
                    s, v = key_frames_only(s, v)
                s, v = augment(s, v, augment_with)
            sax.append(s)
            lax.append(v)
        keep = None
        if augment_with is not None and self.sentence_keep < 1.0:
            counts = self.sentences.sentence_counts(indices)
            keep = sample_sentences(counts, self.sentence_keep, augment_with)
        present = torch.from_numpy(np.stack([self.inputs[i].lax_present for i in indices]))
        extra = {}
        if self.similarity is not None and self.soft_target_weight > 0:
            similarity = self.similarity[np.ix_(indices, indices)]  # (B, B)
            extra["targets"] = torch.from_numpy(
                soft_targets(similarity, self.soft_target_weight, self.soft_target_temperature)
            )
        return {
            **extra,
            "sax": torch.stack(sax),  # (B, S, T, H, W)
            "lax": torch.stack(lax),  # (B, V, T, H, W)
            "lax_present": present.float(),  # (B, V)
            **self.sentences.batch(indices, keep),
        }


def sample_sentences(
    counts: list[int], keep: float, generator: torch.Generator
) -> list[list[bool]]:
    """Keep each of a text's `counts[i]` sentences with probability `keep`, at least one.

    Zero-shot prompts are single sentences while impressions are several; training on random
    subsets teaches that one sentence alone already points to its study.
    """
    kept = []
    for count in counts:
        row = (torch.rand(count, generator=generator) < keep).tolist()
        if not any(row):
            row[0] = True
        kept.append(row)
    return kept


def _lr(step: int, total: int, cfg: RunConfig) -> float:
    warmup = cfg.train.warmup_steps
    if step < warmup:
        return cfg.train.lr * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return cfg.train.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _param_groups(model: torch.nn.Module, weight_decay: float, tower_lr_scale: float) -> list[dict]:
    """AdamW groups: with and without weight decay, and the unlocked layers of the pretrained
    text tower at `tower_lr_scale` of the learning rate (a rate that trains a projection from
    scratch would wash out what the tower learned). Locked parameters are left out."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:  # the locked text tower
            continue
        plain = param.ndim < 2 or "position" in name or "embed" in name or "logit_scale" in name
        groups.setdefault((plain, name.startswith("text.tower.")), []).append(param)
    return [
        {
            "params": params,
            "weight_decay": 0.0 if plain else weight_decay,
            "lr_scale": tower_lr_scale if tower else 1.0,
        }
        for (plain, tower), params in sorted(groups.items())
    ]


def _loss(model: torch.nn.Module, core: CmrClip, batch: dict, device: torch.device) -> torch.Tensor:
    """`model` is `core` itself or its DistributedDataParallel wrapper."""
    b = {k: v.to(device) for k, v in batch.items()}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        video, text = model(
            b["sax"],
            b["lax"],
            b["lax_present"],
            b["text_states"],
            b["text_mask"],
            b["sentence_weights"],
        )
    return clip_loss(video.float(), text.float(), core.scale(), b.get("targets"))


def train(cfg: RunConfig, resume: bool = False) -> Path:
    """Train per `cfg`; returns the folder holding model.pt, tokenizer.json, metrics.csv.
    Raises PretrainedWeightsError when the text tower's weights are missing or not upstream's."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    device = torch.device(
        f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    )
    torch.manual_seed(cfg.train.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    out = cfg.train.out_dir
    out.mkdir(parents=True, exist_ok=True)

    train_records, val_records = select_records(cfg, "train"), select_records(cfg, "val")
    if len(train_records) < cfg.train.batch_size:
        raise ValueError(f"{len(train_records)} training studies, fewer than one batch")
    tower = read_tower_files()
    tokenizer = parse_tokenizer(tower.tokenizer_json.decode("utf-8"))
    if rank == 0:
        (out / "tokenizer.json").write_bytes(tower.tokenizer_json)  # byte for byte: its sha256
        (out / "config.json").write_text(cfg.model_dump_json(indent=2))
    core = build_model(cfg)
    core.text.load_tower(tower_state_dict(tower))
    cache = StudyCache(cfg.data.cache_dir, cfg.input)
    workers = max(os.cpu_count() or 1, 1)

    def pairs(records: list[StudyRecord]) -> PairBatches:
        texts = [r.impression for r in records]
        d, t = cfg.data, cfg.train
        sentences = SentenceStates(core.text, tokenizer, texts, d.max_tokens, d.max_sentences)
        soft = t.soft_target_weight, t.soft_target_temperature
        similarity = impression_similarity(texts) if soft[0] > 0 else None
        return PairBatches(
            cache.warm(records, workers),
            sentences,
            t.sentence_keep,
            similarity,
            soft,
            t.key_frame_prob,
        )

    train_set = pairs(repeated(train_records, cfg.data.site_repeats))
    geometry = (
        TextGeometry(
            core.text,
            tokenizer,
            train_set.sentences.distinct,
            cfg.train.text_geometry_words,
            cfg.data.max_tokens,
            cfg.train.text_geometry_temperature,
            cfg.train.seed,
        )
        if cfg.train.text_geometry_weight > 0
        else None
    )
    val_set = pairs(val_records) if len(val_records) >= 2 else None

    core = core.to(device)
    t = cfg.train
    groups = _param_groups(core, t.weight_decay, t.text_tower_lr_scale)
    optimizer = torch.optim.AdamW(groups, lr=t.lr)
    start_epoch, step = 0, 0
    checkpoint = out / "checkpoint.pt"
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        core.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step = state["epoch"] + 1, state["step"]
    model: torch.nn.Module = DistributedDataParallel(core) if distributed else core

    per_rank = cfg.train.batch_size // world
    batches_per_epoch = len(train_set) // cfg.train.batch_size
    total_steps = cfg.train.epochs * batches_per_epoch // cfg.train.grad_accum
    log = (out / "metrics.csv").open("a", newline="")
    writer = csv.writer(log)
    if step == 0 and rank == 0:
        writer.writerow(
            ["epoch", "step", "loss", "lr", "logit_scale", "clips_per_s", "val_loss", "geometry"]
        )
    clips_per_study = cfg.input.sax_slices + len(cfg.input.lax_views)
    for epoch in range(start_epoch, cfg.train.epochs):
        model.train()
        order = torch.randperm(
            len(train_set), generator=torch.Generator().manual_seed(cfg.train.seed + epoch)
        )
        bar = tqdm(
            range(batches_per_epoch),
            desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
            disable=rank != 0,
        )
        for i in bar:
            started = time.perf_counter()
            chunk = order[i * cfg.train.batch_size : (i + 1) * cfg.train.batch_size].tolist()
            mine = chunk[rank * per_rank : (rank + 1) * per_rank]
            generator = torch.Generator().manual_seed(cfg.train.seed * 100_003 + epoch * 1_009 + i)
            batch = train_set.batch(mine, generator if cfg.train.augment else None)
            loss = _loss(model, core, batch, device)  # contrastive, what metrics.csv logs
            kept = torch.zeros(())
            if geometry is not None:
                kept = geometry.loss(core.text, t.text_geometry_anchors, generator, device)
            ((loss + t.text_geometry_weight * kept) / cfg.train.grad_accum).backward()
            if (i + 1) % cfg.train.grad_accum == 0:
                for group in optimizer.param_groups:
                    group["lr"] = _lr(step, total_steps, cfg) * group["lr_scale"]
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
            rate = len(mine) * clips_per_study * world / (time.perf_counter() - started)
            scale = float(core.scale().detach())
            bar.set_postfix(
                loss=f"{loss.item():.3f}",
                lr=f"{optimizer.param_groups[0]['lr']:.2e}",
                clips_s=f"{rate:.0f}",
            )
            if rank == 0:
                writer.writerow(
                    [
                        epoch,
                        step,
                        f"{loss.item():.5f}",
                        f"{optimizer.param_groups[0]['lr']:.6g}",
                        f"{scale:.3f}",
                        f"{rate:.1f}",
                        "",
                        f"{kept.item():.5f}",
                    ]
                )
        val_loss = (
            evaluate_loss(core, val_set, cfg.train.batch_size, device) if val_set else float("nan")
        )
        if rank == 0:
            writer.writerow([epoch, step, "", "", "", "", f"{val_loss:.5f}", ""])
            log.flush()
            state = {
                "model": core.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "step": step,
            }
            torch.save(state, checkpoint)
    log.close()
    if rank == 0:
        torch.save({"model": core.state_dict(), "clip_config": asdict(core.cfg)}, out / "model.pt")
        (out / "split.json").write_text(
            json.dumps(
                {
                    "train": [r.study_id for r in train_records],
                    "val": [r.study_id for r in val_records],
                }
            )
        )
    if distributed:
        dist.destroy_process_group()
    return out


@torch.no_grad()
def evaluate_loss(
    model: CmrClip, pairs: PairBatches, batch_size: int, device: torch.device
) -> float:
    model.eval()
    losses = []
    for start in range(0, len(pairs) - 1, batch_size):
        indices = list(range(start, min(start + batch_size, len(pairs))))
        if len(indices) >= 2:
            losses.append(float(_loss(model, model, pairs.batch(indices, None), device)))
    model.train()
    return float(np.mean(losses)) if losses else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.training.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, help="TOML file")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--resume", action="store_true", help="continue from checkpoint.pt")
    args = parser.parse_args(argv)
    out = train(load_config(args.config, args.set), resume=args.resume)
    print(f"model -> {out / 'model.pt'}")


if __name__ == "__main__":
    main()
