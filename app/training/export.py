"""Export a trained run to the model repository Triton serves and the embedded backend loads.

    python -m app.training.export --run runs/demo --eval eval/summary.json --out model_repository

Writes cmr_video_encoder/ and cmr_text_encoder/ (config.pbtxt + 1/model.onnx, opset 17, one
self-contained file each, batch axis dynamic), tokenizer.json and model_card.json. The configs
are the production (GPU) Triton configs that every other variant is generated from
(app.deploy.triton_repository).
"""

import argparse
import json
import shutil
from collections import Counter
from importlib import metadata
from pathlib import Path

import torch
from torch import nn
from tritonclient.grpc import model_config_pb2 as mc

from app.deploy.triton_repository import GPU, config_text, gpu_config
from app.inference.backend import TEXT_MODEL, VIDEO_MODEL
from app.model.clip import CmrClip
from app.model.pretrained import UPSTREAM
from app.model_card import MODEL_VERSION_PARAMETER, Calibration, ModelCard, TextSpec, sha256_file
from app.training.run import Run

OPSET = 17
EVALUATION_KEYS = (
    "data",
    "in_distribution",
    "external",
    "acdc_cv",
    "free_text",
    "text_probes",
    "paraphrase",
    "sunnybrook",
    "ablation",
    "retrieval",
    "explanation",
    "measurements",
    "few_shot",
)


LIMITATIONS = (
    "Decision support only: not a medical device, not for diagnosis on its own.",
    "Trained mostly on synthetic studies from a parametric heart (app.synth); the only real hearts "
    "in training are ACDC subjects of one hospital (Dijon), as end-diastole and end-systole key "
    "frames with impressions written by the project's generator from the group and mask volumes.",
    "Real-data figures rest on small numbers: one held-out ACDC fold of 20 subjects (4 per group) "
    "and one Sunnybrook case; no external real site, no second vendor's real cine.",
    "Short-axis cine (plus the 4-chamber view where present) only: no late gadolinium "
    "enhancement, T1/T2 mapping, flow or valve assessment; no infarct territory or hypertrophy "
    "segment is learned from real data.",
    "Labels are the five ACDC groups and the generator's six conditions; other diseases "
    "(amyloidosis, myocarditis, congenital heart disease, valve disease) were never seen.",
    "Free-text prompts go through a general-domain English sentence encoder (all-MiniLM-L6-v2), "
    "locked: clinical abbreviations and negations are understood only as well as it understands "
    "them (eval: free_text, negation_respected). Custom prompt sets are not calibrated.",
)


def training_data_description(run_dir: Path) -> str:
    """Counts per source of the studies the run trained on (split.json), and the text tower."""
    split = json.loads((run_dir / "split.json").read_text())
    sites = Counter(str(study_id).split("-")[0] for study_id in split["train"])
    counts = ", ".join(f"{n} from {site}" for site, n in sorted(sites.items()))
    return (
        f"{len(split['train'])} (study, impression) pairs ({counts}; synthetic sites from "
        f"app.synth of cmr-clip {metadata.version('cmr-clip')}, acdc = real ACDC subjects, "
        f"ED/ES frames, impressions written from group and mask volumes), "
        f"{len(split['val'])} for validation and calibration; text tower {UPSTREAM} "
        f"(locked below the trainable layers, sha256-verified)"
    )


class VideoGraph(nn.Module):
    """sax, lax, lax_present -> unit study embedding (B, D), unit clip embeddings (B, N, D)."""

    def __init__(self, model: CmrClip):
        super().__init__()
        self.video = model.video

    def forward(self, sax, lax, lax_present):
        study, clips = self.video(sax, lax, lax_present)
        return nn.functional.normalize(study, dim=-1), nn.functional.normalize(clips, dim=-1)


class TextGraph(nn.Module):
    """input_ids, attention_mask (B, L) -> sentence embedding (B, D), not normalised: the caller
    averages an impression's sentences, then normalises (as training did)."""

    def __init__(self, model: CmrClip):
        super().__init__()
        self.text = model.text

    def forward(self, input_ids, attention_mask):
        return self.text(input_ids, attention_mask)


def _config_pbtxt(
    name: str,
    inputs: list[tuple[str, str, list[int]]],
    outputs: list[tuple[str, str, list[int]]],
    max_batch: int,
    version: str,
    max_tokens: int,
) -> str:
    """The production (GPU) Triton config of one encoder, from its interface: tensors, max
    batch, and the model version as a parameter so the gateway can check that Triton serves the
    model its card describes. `max_tokens` bounds variable-length inputs in the TensorRT
    profiles (see app.deploy.triton_repository.gpu_config, which every variant derives from).
    """
    interface = mc.ModelConfig(name=name, max_batch_size=max_batch)
    interface.version_policy.specific.versions.append(1)
    interface.parameters[MODEL_VERSION_PARAMETER].string_value = version
    for kind, items in ((interface.input, inputs), (interface.output, outputs)):
        for tensor_name, data_type, dims in items:
            kind.add(name=tensor_name, data_type=mc.DataType.Value(data_type), dims=dims)
    return config_text(gpu_config(interface, max_tokens), GPU)


def export(run_dir: Path, summary_path: Path | None, out: Path, version: str) -> ModelCard:
    run = Run.load(run_dir)
    model, spec, cfg = run.model, run.cfg.input, run.cfg
    s, v, t, c = spec.sax_slices, len(spec.lax_views), spec.frames, spec.crop_px
    d = model.cfg.video.embed_dim
    video_dir, text_dir = out / VIDEO_MODEL / "1", out / TEXT_MODEL / "1"
    video_dir.mkdir(parents=True, exist_ok=True)
    text_dir.mkdir(parents=True, exist_ok=True)
    example = (torch.rand(2, s, t, c, c), torch.rand(2, v, t, c, c), torch.ones(2, v))
    torch.onnx.export(
        VideoGraph(model).eval(),
        example,
        video_dir / "model.onnx",
        dynamo=False,
        opset_version=OPSET,
        input_names=["sax", "lax", "lax_present"],
        output_names=["study_embedding", "clip_embeddings"],
        dynamic_axes={
            name: {0: "batch"}
            for name in ("sax", "lax", "lax_present", "study_embedding", "clip_embeddings")
        },
    )
    ids = torch.randint(1000, model.cfg.text.tower.vocab_size, (2, 7))
    torch.onnx.export(
        TextGraph(model).eval(),
        (ids, torch.ones_like(ids)),
        text_dir / "model.onnx",
        dynamo=False,
        opset_version=OPSET,
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "length"},
            "attention_mask": {0: "batch", 1: "length"},
            "embedding": {0: "batch"},
        },
    )
    (out / VIDEO_MODEL / "config.pbtxt").write_text(
        _config_pbtxt(
            VIDEO_MODEL,
            [
                ("sax", "TYPE_FP32", [s, t, c, c]),
                ("lax", "TYPE_FP32", [v, t, c, c]),
                ("lax_present", "TYPE_FP32", [v]),
            ],
            [("study_embedding", "TYPE_FP32", [d]), ("clip_embeddings", "TYPE_FP32", [s + v, d])],
            max_batch=16,
            version=version,
            max_tokens=cfg.data.max_tokens,
        )
    )
    (out / TEXT_MODEL / "config.pbtxt").write_text(
        _config_pbtxt(
            TEXT_MODEL,
            [("input_ids", "TYPE_INT64", [-1]), ("attention_mask", "TYPE_INT64", [-1])],
            [("embedding", "TYPE_FP32", [d])],
            max_batch=64,
            version=version,
            max_tokens=cfg.data.max_tokens,
        )
    )
    shutil.copyfile(run_dir / "tokenizer.json", out / "tokenizer.json")
    summary = json.loads(summary_path.read_text()) if summary_path else {}
    fitted = summary.get("calibration", {})
    calibration = Calibration(
        temperature=fitted.get("temperature", 1.0),
        findings=fitted.get("platt", {}),
        method=fitted.get("method", "none"),
        measurements=fitted.get("measurements", {}),
    )
    files = {
        p.relative_to(out).as_posix(): sha256_file(p)
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "model_card.json" and p.suffix != ".md"
    }
    card = ModelCard(
        version=version,
        files=files,
        input_spec=spec,
        text=TextSpec(max_tokens=cfg.data.max_tokens, max_sentences=cfg.data.max_sentences),
        embed_dim=d,
        logit_scale=run.scale,
        calibration=calibration,
        training_data=training_data_description(run_dir),
        limitations=LIMITATIONS,
        evaluation={k: summary[k] for k in EVALUATION_KEYS if k in summary},
    )
    (out / "model_card.json").write_text(card.model_dump_json(indent=2))
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.training.export", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--eval", type=Path, help="eval/summary.json of this run")
    parser.add_argument("--out", type=Path, default=Path("model_repository"))
    parser.add_argument("--version", default="0.1.0")
    args = parser.parse_args(argv)
    card = export(args.run, args.eval, args.out, args.version)
    print(f"{card.name} {card.version} -> {args.out} (weights sha256 {card.weights_sha256[:12]})")


if __name__ == "__main__":
    main()
