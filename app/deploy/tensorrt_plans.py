"""Native TensorRT plans: the faster GPU option, built on a GPU machine with TensorRT.

    python -m app.deploy.tensorrt_plans --source model_repository \
        --out build/model_repository/tensorrt_plan            # or: make trt-plan

Writes the `tensorrt_plan` variant of the production repository (app.deploy.triton_repository)
and builds each model's `1/model.plan` from its ONNX file with `trtexec`: FP16, and the very
optimisation profile of the production config (its trt_profile_min/opt/max_shapes: batch 1,
opt, max_batch_size), so every batch Triton forms fits the engine. Compared with the onnxruntime
backend's TensorRT accelerator, Triton then loads a finished engine (no build at startup, no
engine cache volume) and runs it without onnxruntime in between.

A plan only runs on the GPU model and the TensorRT version it was built with: build it on the
serving nodes' GPU type in the NGC `tensorrt` image of the same release as Dockerfile.triton's
Triton (`--fp16` needs TensorRT 10; TensorRT 11 drops it for strongly typed networks). Exits
with status 2 and says why where no `trtexec` (or $TRTEXEC) or no NVIDIA GPU is found.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from app.deploy.triton_repository import PROFILE_KEYS, TENSORRT_PLAN, write_variant
from app.inference.model_config import read_model_config

TRTEXEC_ENV = "TRTEXEC"
TRTEXEC_DEFAULT = Path("/usr/src/tensorrt/bin/trtexec")  # where NGC's tensorrt image has it
TRTEXEC_FLAGS = {
    "trt_profile_min_shapes": "--minShapes",
    "trt_profile_opt_shapes": "--optShapes",
    "trt_profile_max_shapes": "--maxShapes",
}


class TensorRTUnavailableError(RuntimeError):
    """No trtexec or no GPU here: the message says what to do instead."""


def find_trtexec() -> Path:
    """$TRTEXEC, `trtexec` on PATH or NGC's location; raises TensorRTUnavailableError."""
    candidates = [os.environ.get(TRTEXEC_ENV), shutil.which("trtexec"), str(TRTEXEC_DEFAULT)]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise TensorRTUnavailableError(
        "trtexec not found (set $TRTEXEC or put it on PATH): build TensorRT plans on a GPU "
        "machine with TensorRT, e.g. in nvcr.io/nvidia/tensorrt:<Triton's release>-py3; "
        "the gpu variant (onnxruntime + TensorRT accelerator) needs no plans"
    )


def require_gpu() -> None:
    """Raises TensorRTUnavailableError unless nvidia-smi lists a GPU."""
    smi = shutil.which("nvidia-smi")
    listed = ""
    if smi is not None:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True).stdout.strip()
    if not listed:
        raise TensorRTUnavailableError(
            "no NVIDIA GPU visible (nvidia-smi -L lists none): a TensorRT plan is built for the "
            "GPU it will run on, so build it on a node of the serving GPU type"
        )


def trtexec_command(trtexec: Path, model_dir: Path, source_config: Path) -> list[str]:
    """The trtexec call that builds `model_dir`/1/model.plan from the source's ONNX file with
    the production config's optimisation profile."""
    accelerator = read_model_config(source_config).optimization.execution_accelerators
    parameters = accelerator.gpu_execution_accelerator[0].parameters
    return [
        str(trtexec),
        f"--onnx={source_config.parent / '1' / 'model.onnx'}",
        f"--saveEngine={model_dir / '1' / 'model.plan'}",
        "--fp16",
        "--skipInference",
        *(f"{TRTEXEC_FLAGS[key]}={parameters[key]}" for key in PROFILE_KEYS),
    ]


def build_plans(source: Path, out: Path) -> list[Path]:
    """Write the tensorrt_plan variant of `source` into `out` and build its plans. Returns the
    plans. Raises TensorRTUnavailableError (nothing written) or CalledProcessError."""
    trtexec = find_trtexec()
    require_gpu()
    write_variant(source, out, TENSORRT_PLAN)
    plans = []
    for config in sorted(source.glob("*/config.pbtxt")):
        model_dir = out / config.parent.name
        subprocess.run(trtexec_command(trtexec, model_dir, config), check=True)
        plans.append(model_dir / "1" / "model.plan")
    return plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.deploy.tensorrt_plans", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--source", type=Path, default=Path("model_repository"))
    parser.add_argument("--out", type=Path, default=Path("build/model_repository/tensorrt_plan"))
    args = parser.parse_args(argv)
    try:
        plans = build_plans(args.source, args.out)
    except TensorRTUnavailableError as error:
        print(f"cannot build TensorRT plans here: {error}", file=sys.stderr)
        return 2
    print(f"tensorrt_plan variant -> {args.out}: {', '.join(map(str, plans))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
