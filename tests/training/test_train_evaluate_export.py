"""train -> evaluate -> export on a tiny dataset: the whole pipeline runs, the summary has
every figure the issue names, the exported ONNX files match torch and the card validates."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from training_helpers import TINY

from app.model_card import load_model_card, sha256_file
from app.training.config import load_config
from app.training.evaluate import evaluate
from app.training.export import export
from app.training.report import strip_arrays, write_report
from app.training.run import Run
from app.training.train import train


@pytest.fixture(scope="module")
def run_dirs(tiny_manifest: Path, tiny_acdc_manifest: Path, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    common = [
        *TINY,
        "train.epochs=3",
        "data.val_fraction=0.3",
        "data.test_fraction=0.3",
        "data.test_fold=2",
        "train.key_frame_prob=0.5",
        f"data.manifests=['{tiny_manifest}', '{tiny_acdc_manifest}']",
        f"data.cache_dir={tiny_manifest.parent / 'cache'}",
    ]
    video = train(load_config(None, [*common, f"train.out_dir={root / 'video'}"]))
    single = train(
        load_config(None, [*common, "model.single_frame=true", f"train.out_dir={root / 'single'}"])
    )
    return video, single


def test_evaluation_reports_every_figure(run_dirs, realdata_dir, tmp_path):
    video, single = run_dirs
    summary = evaluate(video, single, realdata_dir / "sunnybrook_SCD0000101" / "dicom")
    keys = ("macro_auroc", "balanced_accuracy", "ece_before", "ece_after", "findings_ece_after")
    for key in keys:
        assert key in summary["in_distribution"]
        assert key in summary["paraphrase"]  # computed with the paraphrases, not copied
    assert summary["paraphrase"]["_arrays"]["diagnosis_raw"].tolist() != (
        summary["in_distribution"]["_arrays"]["diagnosis_raw"].tolist()
    )
    fold = summary["acdc_cv"]["folds"]["2"]
    assert fold["n"] == 5 and set(fold["per_condition_auroc"]) >= {"normal"}
    assert summary["data"]["test"] == summary["in_distribution"]["n"]  # ACDC reported apart
    free_text = summary["free_text"]
    assert free_text["n_phrasings"] >= 90 and 0 <= free_text["top1_accuracy"] <= 1
    assert np.isfinite(free_text["ratio_to_shipped"])
    assert len(summary["text_probes"]["cosine"]) == 6
    calibration = summary["calibration"]
    assert {"temperature", "temperature_kept", "platt"} <= set(calibration)
    assert calibration["temperature_kept"] or calibration["temperature"] == 1.0
    assert set(summary["external"]) == {"site_e"}
    assert {"macro_auroc", "balanced_accuracy"} <= set(summary["external"]["site_e"])
    assert summary["ablation"]["motion_condition"] == "myocardial_infarction"
    assert {"single_frame_auroc", "video_auroc", "video_auroc_vs_normal"} <= set(
        summary["ablation"]
    )
    assert "single_frame_auroc_vs_normal" in summary["ablation"]
    retrieval = summary["retrieval"]
    assert retrieval["pool"] >= 2 and 0 <= retrieval["impression_to_study_recall_at_10"] <= 1
    assert "macro_auroc" in summary["paraphrase"]
    ranking = summary["sunnybrook"]["diagnosis_ranking"]
    assert len(ranking) == 5 and abs(sum(p for _, p in ranking) - 1) < 1e-5
    sunnybrook = summary["sunnybrook"]
    assert sunnybrook["findings_present"] == [
        name for name, p in sunnybrook["findings"].items() if p >= 0.5
    ]
    measurements = summary["measurements"]
    assert set(calibration["measurements"]) == {"lvef_pct", "lvedvi_ml_m2", "rvef_pct"}
    lvef = measurements["site_e"]["lvef_pct"]
    assert lvef["mae"] >= 0 and 0 <= lvef["interval_coverage"] <= 1
    assert {"acdc_all", "acdc_held_out_fold", "acdc_cross_fitted"} <= set(measurements)
    assert {"method", "phase_windows"} <= set(summary["explanation"])
    assert {"external_sites", "new_label", "acdc"} <= set(summary["few_shot"])
    write_report(summary, tmp_path)
    assert (tmp_path / "bland_altman_lvef.png").stat().st_size > 1000
    assert json.loads(json.dumps(strip_arrays(summary), default=float))["model_version"]
    assert (tmp_path / "report.md").read_text().startswith("# Evaluation")
    assert (tmp_path / "roc_in_distribution.png").stat().st_size > 1000


def test_export_matches_torch_and_card_validates(run_dirs, tmp_path):
    video, _ = run_dirs
    card = export(video, None, tmp_path / "repo", "0.0.1")
    repo = tmp_path / "repo"
    assert load_model_card(repo) == card
    for path, digest in card.files.items():
        assert sha256_file(repo / path) == digest
    run = Run.load(video)
    spec = card.input_spec
    rng = np.random.default_rng(0)
    sax = rng.random(
        (3, spec.sax_slices, spec.frames, spec.crop_px, spec.crop_px), dtype=np.float32
    )
    lax = rng.random((3, 1, spec.frames, spec.crop_px, spec.crop_px), dtype=np.float32)
    present = np.array([[1.0], [0.0], [1.0]], dtype=np.float32)
    session = ort.InferenceSession(str(repo / "cmr_video_encoder/1/model.onnx"))
    onnx_study, _ = session.run(None, {"sax": sax, "lax": lax, "lax_present": present})
    with torch.no_grad():
        torch_study = run.model.encode_video(*(torch.from_numpy(a) for a in (sax, lax, present)))
    cosine = (onnx_study * torch_study.numpy()).sum(axis=1)
    assert cosine.min() >= 0.9999
    text = (repo / "cmr_text_encoder" / "config.pbtxt").read_text()
    assert 'name: "input_ids"' in text and "TYPE_INT64" in text and "tensorrt" in text
    # the text tower with dynamic batch and length: ONNX matches torch at two shapes
    text_session = ort.InferenceSession(str(repo / "cmr_text_encoder/1/model.onnx"))
    for batch, length in ((1, 5), (3, 17)):
        ids = rng.integers(1000, 30000, (batch, length)).astype(np.int64)
        mask = np.ones_like(ids)
        mask[0, length // 2 :] = 0  # padding changes nothing it should not
        (onnx_text,) = text_session.run(None, {"input_ids": ids, "attention_mask": mask})
        with torch.no_grad():
            torch_text = run.model.text(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        np.testing.assert_allclose(onnx_text, torch_text, rtol=1e-4, atol=1e-4)
    assert (repo / "tokenizer.json").read_bytes() == (video / "tokenizer.json").read_bytes()
    assert "acdc" in card.training_data
