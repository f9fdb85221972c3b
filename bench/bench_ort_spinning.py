"""onnxruntime's spinning worker threads: the video encoder (batch 1) with spinning allowed
(onnxruntime's default) and disallowed (the gateway's setting, app/inference/embedded.py).
Prints the median run latency and the CPU the process burns in the 100 ms of idleness after a
run, interleaved over --repeats runs.

    python bench/bench_ort_spinning.py [--repo model_repository] [--repeats 15]
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.inference.embedded import session_options

IDLE_S = 0.1


def session(model: Path, spinning: bool) -> ort.InferenceSession:
    """The gateway's session (default threads), or the same with onnxruntime's spinning."""
    options = session_options(threads=0, spinning=spinning)
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    model = args.repo / "cmr_video_encoder" / "1" / "model.onnx"
    sessions = {"spinning allowed": session(model, True), "no spinning": session(model, False)}
    first = next(iter(sessions.values()))
    feeds = {
        i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
        for i in first.get_inputs()
    }
    run_ms: dict[str, list[float]] = {name: [] for name in sessions}
    idle_cpu_ms: dict[str, list[float]] = {name: [] for name in sessions}
    for s in sessions.values():
        s.run(None, feeds)  # warm-up
    for _ in range(args.repeats):
        for name, s in sessions.items():
            started = time.perf_counter()
            s.run(None, feeds)
            run_ms[name].append((time.perf_counter() - started) * 1000)
            cpu = time.process_time()
            time.sleep(IDLE_S)
            idle_cpu_ms[name].append((time.process_time() - cpu) * 1000)
    for name in sessions:
        print(
            f"{name:17s} video encoder, batch 1: run {statistics.median(run_ms[name]):6.1f} ms, "
            f"CPU burnt in the {IDLE_S * 1000:.0f} ms after a run "
            f"{statistics.median(idle_cpu_ms[name]):5.1f} ms"
        )


if __name__ == "__main__":
    main()
