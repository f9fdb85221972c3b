"""The model repository variants: generated from the one production config, parsed as Triton's
ModelConfig, and in agreement with the ONNX files they serve."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from deploy_helpers import PROJECT_ROOT, REPOSITORY
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from app.deploy import tensorrt_plans
from app.deploy.triton_repository import (
    CPU,
    GPU,
    INTERFACE,
    PREFERRED_BATCH_SIZES,
    PROFILE_KEYS,
    PYTHON,
    TENSORRT_PLAN,
    TRT_ENGINE_CACHE,
    config_text,
    gpu_config,
    main,
    profile_shapes,
    read_model_config,
    write_production_configs,
    write_variant,
)
from app.model_card import MODEL_VERSION_PARAMETER, load_model_card, sha256_file

MODELS = ("cmr_video_encoder", "cmr_text_encoder")
VARIANTS = (GPU, CPU, PYTHON, TENSORRT_PLAN)
ONNX_TYPES = {
    onnx.TensorProto.FLOAT: mc.TYPE_FP32,
    onnx.TensorProto.INT64: mc.TYPE_INT64,
}


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """variant -> a repository written by the generator (the plans are not built here)."""
    root = tmp_path_factory.mktemp("variants")
    return {v: write_variant(REPOSITORY, root / v, v) for v in VARIANTS}


def configs(repository: Path) -> dict[str, mc.ModelConfig]:
    return {model: read_model_config(repository / model / "config.pbtxt") for model in MODELS}


def onnx_tensors(model: str) -> dict[str, tuple[int, list[int | str]]]:
    """name -> (Triton dtype, dims with the batch axis) of the released ONNX file."""
    graph = onnx.load(REPOSITORY / model / "1" / "model.onnx", load_external_data=False).graph
    return {
        t.name: (
            ONNX_TYPES[t.type.tensor_type.elem_type],
            [d.dim_param or d.dim_value for d in t.type.tensor_type.shape.dim],
        )
        for t in [*graph.input, *graph.output]
    }


def test_the_committed_configs_are_the_generated_gpu_variant(tmp_path: Path) -> None:
    """Nobody edits model_repository/*/config.pbtxt by hand: regenerating changes nothing, and
    the card's sha256 entries are those of the files."""
    max_tokens = load_model_card(REPOSITORY).text.max_tokens
    for model, config in configs(REPOSITORY).items():
        text = (REPOSITORY / model / "config.pbtxt").read_text()
        assert text == config_text(gpu_config(config, max_tokens), GPU)
    card = load_model_card(REPOSITORY)
    assert {p: sha256_file(REPOSITORY / p) for p in card.files} == card.files


def test_regenerating_in_place_refreshes_the_card_hashes(tmp_path: Path) -> None:
    for name in ("model_card.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((REPOSITORY / name).read_bytes())
    for model in MODELS:
        (tmp_path / model / "1").mkdir(parents=True)
        onnx_file = f"{model}/1/model.onnx"
        (tmp_path / onnx_file).write_bytes((REPOSITORY / onnx_file).read_bytes())
        (tmp_path / model / "config.pbtxt").write_text(
            (REPOSITORY / model / "config.pbtxt").read_text().replace("2000", "1000")
        )
    changed = write_production_configs(tmp_path)
    assert sorted(changed) == sorted(tmp_path / m / "config.pbtxt" for m in MODELS)
    card = load_model_card(tmp_path)
    for model in MODELS:
        path = f"{model}/config.pbtxt"
        assert (tmp_path / path).read_text() == (REPOSITORY / path).read_text()
        assert card.files[path] == sha256_file(tmp_path / path)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_keeps_the_interface_and_matches_the_onnx_files(
    variants: dict[str, Path], variant: str
) -> None:
    production = configs(REPOSITORY)
    version = load_model_card(REPOSITORY).version
    for model, config in configs(variants[variant]).items():
        assert text_format.Parse(text_format.MessageToString(config), mc.ModelConfig()) == config
        for field in INTERFACE:
            assert getattr(config, field) == getattr(production[model], field), (model, field)
        assert config.dynamic_batching == production[model].dynamic_batching
        assert config.parameters[MODEL_VERSION_PARAMETER].string_value == version
        assert list(config.version_policy.specific.versions) == [1]
        graph = onnx_tensors(model)
        declared = [*config.input, *config.output]
        assert sorted(t.name for t in declared) == sorted(graph)
        for tensor in declared:
            dtype, dims = graph[tensor.name]
            assert tensor.data_type == dtype, (model, tensor.name)
            assert isinstance(dims[0], str), "the batch axis of the ONNX file is dynamic"
            assert len(dims) == 1 + len(tensor.dims), (model, tensor.name)
            for onnx_dim, dim in zip(dims[1:], tensor.dims, strict=True):
                # a named ONNX dim takes any value; a variable config dim needs one
                assert isinstance(onnx_dim, str) or onnx_dim == dim, (model, tensor.name)
                assert dim != -1 or isinstance(onnx_dim, str), (model, tensor.name)
        assert served_output_dims(model, config) == {t.name: list(t.dims) for t in config.output}


def served_output_dims(model: str, config: mc.ModelConfig) -> dict[str, list[int]]:
    """Non-batch dims of the outputs onnxruntime computes at batch 2 for inputs of the config's
    dims (variable dims: 5): what Triton checks each response against."""
    session = ort.InferenceSession(str(REPOSITORY / model / "1" / "model.onnx"))
    numpy_types = {mc.TYPE_FP32: np.float32, mc.TYPE_INT64: np.int64}
    feeds = {
        t.name: np.ones([2, *(5 if d == -1 else d for d in t.dims)], numpy_types[t.data_type])
        for t in config.input
    }
    outputs = session.run(None, feeds)
    names = [o.name for o in session.get_outputs()]
    return {name: list(out.shape[1:]) for name, out in zip(names, outputs, strict=True)}


def test_gpu_variant_is_onnxruntime_with_tensorrt_fp16_and_a_fixed_profile() -> None:
    max_tokens = load_model_card(REPOSITORY).text.max_tokens
    for model, config in configs(REPOSITORY).items():
        assert config.backend == "onnxruntime" and not config.platform
        assert [(g.kind, g.count) for g in config.instance_group] == [
            (mc.ModelInstanceGroup.KIND_GPU, 1)
        ]
        (trt,) = config.optimization.execution_accelerators.gpu_execution_accelerator
        assert trt.name == "tensorrt"
        assert trt.parameters["precision_mode"] == "FP16"
        assert trt.parameters["trt_engine_cache_enable"] == "true"
        assert trt.parameters["trt_engine_cache_path"] == TRT_ENGINE_CACHE
        shapes = profile_shapes(config, max_tokens)
        opt = max(b for b in PREFERRED_BATCH_SIZES if b <= config.max_batch_size)
        for key, bound in zip(PROFILE_KEYS, ("min", "opt", "max"), strict=True):
            entries = dict(item.split(":") for item in trt.parameters[key].split(","))
            assert list(entries) == [t.name for t in config.input], (model, key)
            batches = {int(shape.split("x")[0]) for shape in entries.values()}
            assert batches == {{"min": 1, "opt": opt, "max": config.max_batch_size}[bound]}
            assert [list(map(int, s.split("x"))) for s in entries.values()] == shapes[bound]
        for tensor in config.input:  # video dims fixed; token length covered up to max_tokens
            index = list(config.input).index(tensor)
            for bound, length in (("min", 1), ("max", max_tokens)):
                expected = [length if d == -1 else d for d in tensor.dims]
                assert shapes[bound][index][1:] == expected
        (warmup,) = config.model_warmup
        assert warmup.batch_size == config.max_batch_size
        assert set(warmup.inputs) == {t.name for t in config.input}
        batching = config.dynamic_batching
        assert list(batching.preferred_batch_size) and batching.max_queue_delay_microseconds > 0
        policy = batching.default_queue_policy
        assert policy.timeout_action == mc.ModelQueuePolicy.REJECT
        assert policy.default_timeout_microseconds > 0 and policy.max_queue_size > 0


def test_cpu_python_and_plan_variants_differ_only_where_they_must(
    variants: dict[str, Path],
) -> None:
    cpu_kind = [(mc.ModelInstanceGroup.KIND_CPU, 1)]
    for model in MODELS:
        cpu, python, plan = (configs(variants[v])[model] for v in (CPU, PYTHON, TENSORRT_PLAN))
        assert cpu.backend == "onnxruntime" and not cpu.HasField("optimization")
        assert [(g.kind, g.count) for g in cpu.instance_group] == cpu_kind
        assert cpu.model_warmup
        assert python.backend == "python" and python.model_warmup == cpu.model_warmup
        assert [(g.kind, g.count) for g in python.instance_group] == cpu_kind
        assert (variants[PYTHON] / model / "1" / "model.py").exists()
        assert (plan.backend, plan.platform) == ("tensorrt", "tensorrt_plan")
        assert not plan.HasField("optimization") and plan.model_warmup
        assert plan.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
        assert not list((variants[TENSORRT_PLAN] / model / "1").iterdir())
        for variant in (CPU, PYTHON):
            onnx_file = variants[variant] / model / "1" / "model.onnx"
            assert sha256_file(onnx_file) == sha256_file(REPOSITORY / model / "1" / "model.onnx")


def test_the_cli_writes_a_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--variant", CPU, "--source", str(REPOSITORY), "--out", str(tmp_path)])
    assert "cpu variant" in capsys.readouterr().out
    assert sorted(p.parent.name for p in tmp_path.glob("*/config.pbtxt")) == sorted(MODELS)
    with pytest.raises(ValueError, match="in place"):
        write_variant(REPOSITORY, REPOSITORY, CPU)


def test_trtexec_builds_with_the_production_profile(tmp_path: Path) -> None:
    for model, config in configs(REPOSITORY).items():
        command = tensorrt_plans.trtexec_command(
            Path("/usr/bin/trtexec"), tmp_path / model, REPOSITORY / model / "config.pbtxt"
        )
        (trt,) = config.optimization.execution_accelerators.gpu_execution_accelerator
        assert f"--saveEngine={tmp_path / model / '1' / 'model.plan'}" in command
        assert "--fp16" in command
        for key, flag in tensorrt_plans.TRTEXEC_FLAGS.items():
            assert f"{flag}={trt.parameters[key]}" in command


def test_trt_plan_fails_here_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No trtexec or no GPU: exit status 2 and what to do, nothing written."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(tensorrt_plans.TRTEXEC_ENV, str(tmp_path / "missing"))
    monkeypatch.setattr(tensorrt_plans, "TRTEXEC_DEFAULT", tmp_path / "missing")
    out = tmp_path / "plans"
    assert tensorrt_plans.main(["--source", str(REPOSITORY), "--out", str(out)]) == 2
    assert "trtexec not found" in capsys.readouterr().err
    assert not out.exists()
    fake = tmp_path / "trtexec"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv(tensorrt_plans.TRTEXEC_ENV, str(fake))
    assert tensorrt_plans.main(["--source", str(REPOSITORY), "--out", str(out)]) == 2
    assert "no NVIDIA GPU visible" in capsys.readouterr().err
    assert not out.exists()


def test_make_trt_plan_runs_the_builder() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    target = makefile[makefile.index("\ntrt-plan:") :].split("\n\n")[0]
    assert "-m app.deploy.tensorrt_plans" in target
