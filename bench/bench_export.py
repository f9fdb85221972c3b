"""onnxruntime (CPU) vs torch latency of the exported encoders, side by side, interleaved.

python bench/bench_export.py [--run runs/demo] [--repo model_repository] [--repeats 20]
"""

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from app.training.run import Run


def _median_ms(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(1000 * (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(2)
    run = Run.load(args.run)
    spec = run.cfg.input
    video = ort.InferenceSession(str(args.repo / "cmr_video_encoder/1/model.onnx"))
    text = ort.InferenceSession(str(args.repo / "cmr_text_encoder/1/model.onnx"))
    rng = np.random.default_rng(0)
    print(f"{'model':<28}{'batch':>6}{'torch ms':>11}{'onnxruntime ms':>16}{'ratio':>8}")
    for batch in (1, 8):
        shape = (batch, spec.sax_slices, spec.frames, spec.crop_px, spec.crop_px)
        sax = rng.random(shape, dtype=np.float32)
        lax = rng.random((batch, len(spec.lax_views), *shape[2:]), dtype=np.float32)
        present = np.ones((batch, len(spec.lax_views)), np.float32)
        tensors = [torch.from_numpy(a) for a in (sax, lax, present)]

        def torch_video(t=tensors):
            with torch.no_grad():
                return run.model.encode_video(*t)

        def onnx_video(s=sax, la=lax, p=present):
            return video.run(None, {"sax": s, "lax": la, "lax_present": p})

        ms = _median_ms({"torch": torch_video, "onnx": onnx_video}, args.repeats)
        ratio = ms["onnx"] / ms["torch"]
        print(
            f"{'video encoder':<28}{batch:>6}{ms['torch']:>11.1f}{ms['onnx']:>16.1f}{ratio:>8.2f}"
        )
    ids = rng.integers(1000, run.model.cfg.text.tower.vocab_size, (16, 24)).astype(np.int64)
    mask = np.ones_like(ids)

    def torch_text():
        with torch.no_grad():
            return run.model.text(torch.from_numpy(ids), torch.from_numpy(mask))

    def onnx_text():
        return text.run(None, {"input_ids": ids, "attention_mask": mask})

    ms = _median_ms({"torch": torch_text, "onnx": onnx_text}, args.repeats)
    ratio = ms["onnx"] / ms["torch"]
    label = "text encoder, 16 prompts"
    print(f"{label:<28}{16:>6}{ms['torch']:>11.1f}{ms['onnx']:>16.1f}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
