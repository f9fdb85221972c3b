"""The python-backend variant keeps the production interface; the exporter writes the version."""

from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from app.deploy.triton_repository import PYTHON_MODEL, write_python_backend_variant
from app.inference.model_config import read_model_config
from app.model_card import MODEL_VERSION_PARAMETER, load_model_card, sha256_file

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
MODELS = ["cmr_video_encoder", "cmr_text_encoder"]
KEPT = ["name", "input", "output", "max_batch_size", "dynamic_batching", "version_policy"]


@pytest.mark.parametrize("model", MODELS)
def test_variant_keeps_the_production_interface(triton_repository: Path, model: str) -> None:
    production = read_model_config(REPOSITORY / model / "config.pbtxt")
    variant = read_model_config(triton_repository / model / "config.pbtxt")
    assert production.backend == "onnxruntime"
    assert production.optimization.execution_accelerators.gpu_execution_accelerator
    for field in KEPT:
        assert getattr(variant, field) == getattr(production, field), field
    assert dict(variant.parameters) == dict(production.parameters)
    assert variant.backend == "python"
    assert not variant.HasField("optimization")
    assert [(g.kind, g.count) for g in variant.instance_group] == [
        (mc.ModelInstanceGroup.KIND_CPU, 1)
    ]
    version_dir = triton_repository / model / "1"
    assert sha256_file(version_dir / "model.onnx") == sha256_file(
        REPOSITORY / model / "1" / "model.onnx"
    )
    assert (version_dir / "model.py").read_text() == PYTHON_MODEL.read_text()


def test_variant_carries_the_card_and_tokenizer(triton_repository: Path) -> None:
    for name in ("model_card.json", "tokenizer.json"):
        assert sha256_file(triton_repository / name) == sha256_file(REPOSITORY / name)


def test_regenerating_replaces_the_model_folders(tmp_path: Path) -> None:
    out = write_python_backend_variant(REPOSITORY, tmp_path)
    (out / MODELS[0] / "1" / "stale.onnx").write_bytes(b"old")
    write_python_backend_variant(REPOSITORY, out)
    assert not (out / MODELS[0] / "1" / "stale.onnx").exists()
    assert sorted(p.parent.name for p in out.glob("*/config.pbtxt")) == sorted(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_released_configs_carry_the_card_version(model: str) -> None:
    config = read_model_config(REPOSITORY / model / "config.pbtxt")
    card = load_model_card(REPOSITORY)
    assert config.parameters[MODEL_VERSION_PARAMETER].string_value == card.version


def test_exporter_writes_the_version_parameter(tmp_path: Path) -> None:
    from app.training.export import _config_pbtxt  # torch: only this test needs it

    text = _config_pbtxt(
        "cmr_text_encoder",
        [("input_ids", "TYPE_INT64", [-1]), ("attention_mask", "TYPE_INT64", [-1])],
        [("embedding", "TYPE_FP32", [128])],
        max_batch=64,
        version="2.3.4-rc1",
        max_tokens=48,
    )
    (tmp_path / "config.pbtxt").write_text(text)
    config = read_model_config(tmp_path / "config.pbtxt")
    assert config.parameters[MODEL_VERSION_PARAMETER].string_value == "2.3.4-rc1"
    assert config.max_batch_size == 64
