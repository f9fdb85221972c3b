"""What one training step costs on CPU for each video-encoder stem stride: forward + backward
of a batch of `batch_size` random studies through a configuration's CMR-CLIP (the demo's by
default), the strides interleaved, median of --repeats steps (after one warm-up each). The text
side starts from the locked tower's cached output, as in training (6 sentences of 24 tokens per
impression).

    python bench/bench_train_step.py [--config app/training/gpu.toml] [--strides 2,4] [--repeats 3]
        [--batch N]

It also counts the step's floating-point operations (torch's FlopCounterMode), and from them
estimates what the step would take on an H200 (989 TFLOP/s dense bf16) at 20-40 % of its peak:
an estimate for planning a GPU run, not a measurement.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from app.model.clip import clip_loss
from app.training.config import load_config
from app.training.train import build_model

ROOT = Path(__file__).resolve().parents[1]
SENTENCES, TOKENS = 6, 24  # per impression
H200_BF16_FLOPS = 989e12  # dense bf16 peak of one H200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "app/training/demo.toml")
    parser.add_argument("--strides", default="2,4")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, help="studies per step (default: the config's)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True, warn_only=True)  # as training runs
    base = load_config(args.config)
    spec, b = base.input, args.batch or base.train.batch_size
    shape = (spec.frames, spec.crop_px, spec.crop_px)
    sax, lax = torch.rand(b, spec.sax_slices, *shape), torch.rand(b, len(spec.lax_views), *shape)
    present = torch.ones(b, len(spec.lax_views))
    states = torch.randn(b * SENTENCES, TOKENS, 384)  # the tower's width
    text_mask = torch.ones(b * SENTENCES, TOKENS, dtype=torch.int64)
    weights = torch.repeat_interleave(torch.eye(b), SENTENCES, dim=1) / SENTENCES  # (B, B*S)
    strides = [int(s) for s in args.strides.split(",")]
    models = {
        s: build_model(
            base.model_copy(update={"model": base.model.model_copy(update={"stem_stride": s})})
        )
        for s in strides
    }

    def step(stride: int) -> float:
        model = models[stride]
        started = time.perf_counter()
        video, text = model(sax, lax, present, states, text_mask, weights)
        clip_loss(video, text, model.scale()).backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - started

    for stride in strides:
        step(stride)  # warm-up
    times: dict[int, list[float]] = {s: [] for s in strides}
    for _ in range(args.repeats):
        for stride in strides:
            times[stride].append(step(stride))
    for stride in strides:
        with FlopCounterMode(display=False) as counter:
            step(stride)
        flops = counter.get_total_flops()
        low, high = (flops / (H200_BF16_FLOPS * u) * 1e3 for u in (0.4, 0.2))
        print(
            f"stem stride {stride}: forward + backward of {b} studies "
            f"{statistics.median(times[stride]):.2f} s on CPU (median of {args.repeats}); "
            f"{flops / b / 1e9:.1f} GFLOP per study; H200 estimate {low:.1f}-{high:.1f} ms "
            "per step at 40-20 % of bf16 peak"
        )


if __name__ == "__main__":
    main()
