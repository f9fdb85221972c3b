"""Training end to end on a tiny generated dataset: the loss falls, runs are deterministic, a
stopped run resumes."""

import csv
from pathlib import Path

import torch
from training_helpers import TINY

from app.training.config import load_config
from app.training.train import train

ALL_FOR_TRAINING = ["data.val_fraction=0.0", "data.test_fraction=0.0"]


def _run(manifest: Path, out: Path, *extra: str, resume: bool = False) -> Path:
    cfg = load_config(
        None,
        [
            *TINY,
            *ALL_FOR_TRAINING,
            f"data.manifest={manifest}",
            f"data.cache_dir={manifest.parent / 'cache'}",
            f"train.out_dir={out}",
            *extra,
        ],
    )
    return train(cfg, resume=resume)


def _epoch_losses(run: Path) -> dict[int, float]:
    rows = [r for r in csv.DictReader((run / "metrics.csv").open()) if r["loss"]]
    epochs: dict[int, list[float]] = {}
    for row in rows:
        epochs.setdefault(int(row["epoch"]), []).append(float(row["loss"]))
    return {e: sum(v) / len(v) for e, v in epochs.items()}


def test_loss_decreases_on_a_tiny_overfit_run(tiny_manifest, tmp_path):
    run = _run(tiny_manifest, tmp_path / "run", "train.epochs=30")
    losses = _epoch_losses(run)
    assert losses[29] < 0.5 * losses[0], losses
    assert (run / "model.pt").exists() and (run / "tokenizer.json").exists()


def test_training_is_deterministic_and_resumes(tiny_manifest, tmp_path):
    manifest = tiny_manifest
    first = torch.load(_run(manifest, tmp_path / "a", "train.epochs=2") / "model.pt")
    second = torch.load(_run(manifest, tmp_path / "b", "train.epochs=2") / "model.pt")
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name
    resumed = _run(manifest, tmp_path / "a", "train.epochs=3", resume=True)
    assert sorted(_epoch_losses(resumed)) == [0, 1, 2]  # epochs 0-1 kept, only 2 was run


def test_sentence_sampling_keeps_a_present_sentence_and_never_invents_one():
    from app.training.train import sample_sentences

    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    for seed in range(20):
        kept = sample_sentences(mask, 0.3, torch.Generator().manual_seed(seed))
        assert (kept <= mask).all() and (kept.sum(dim=1) >= 1).all()
    same = [sample_sentences(mask, 0.5, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*same)
