"""Training end to end on a tiny generated dataset: the loss falls, runs are deterministic, a
stopped run resumes."""

import csv
from pathlib import Path

import pytest
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
            f"data.manifests=['{manifest}']",
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


def test_sentence_sampling_keeps_a_sentence_of_each_text_and_never_invents_one():
    from app.training.train import sample_sentences

    counts = [3, 1, 4]
    for seed in range(20):
        kept = sample_sentences(counts, 0.3, torch.Generator().manual_seed(seed))
        assert [len(row) for row in kept] == counts and all(any(row) for row in kept)
    same = [sample_sentences(counts, 0.5, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert same[0] == same[1]


def test_locked_tower_stays_as_loaded(tiny_manifest, tmp_path):
    from app.model.pretrained import read_tower_files, tower_state_dict

    run = _run(tiny_manifest, tmp_path / "run", "train.epochs=1")
    trained = torch.load(run / "model.pt")["model"]
    for name, tensor in tower_state_dict(read_tower_files()).items():
        assert torch.equal(trained[f"text.tower.{name}"], tensor), name
    assert (run / "tokenizer.json").read_bytes() == read_tower_files().tokenizer_json


def test_partial_unfreezing_trains_only_the_top_layers(tiny_manifest, tmp_path):
    from app.model.pretrained import read_tower_files, tower_state_dict

    run = _run(tiny_manifest, tmp_path / "run", "train.epochs=1", "model.text_trainable_layers=1")
    trained = torch.load(run / "model.pt")["model"]
    pretrained = tower_state_dict(read_tower_files())
    assert torch.equal(
        trained["text.tower.encoder.layer.4.output.dense.weight"],
        pretrained["encoder.layer.4.output.dense.weight"],
    )
    assert not torch.equal(
        trained["text.tower.encoder.layer.5.output.dense.weight"],
        pretrained["encoder.layer.5.output.dense.weight"],
    )


def test_site_repeats_weigh_a_site_up_without_touching_the_others(tmp_path):
    from app.training.data import StudyRecord
    from app.training.train import repeated

    real = StudyRecord("p1", tmp_path, "Normal.", site="acdc")
    synthetic = StudyRecord("s1", tmp_path, "Normal.", site="site_a")
    assert repeated([real, synthetic], {"acdc": 3}) == [real, real, real, synthetic]
    assert repeated([real, synthetic], {}) == [real, synthetic]
    with pytest.raises(ValueError, match="greater than or equal to 1"):  # never dropped
        load_config(None, ["data.manifests=['m.csv']", "data.site_repeats={ acdc = 0 }"])
